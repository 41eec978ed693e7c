import { Algorithm, hash, verify } from '@node-rs/argon2';
import { dictionary } from '@zxcvbn-ts/language-common';
import { AppError } from '../core/errors.js';

/** argon2id with the OWASP minimum (m=19 MiB, t=2, p=1). */
const ARGON2 = { algorithm: Algorithm.Argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 128;

/** ~49,000 most common passwords, bundled with @zxcvbn-ts/language-common; compared case-insensitively. */
const COMMON = new Set((dictionary['passwords-common'] as string[]).map((p) => p.toLowerCase()));

/**
 * NIST SP 800-63B 5.1.1.2: length 8..128 (counted in Unicode code points after NFKC
 * normalisation), no composition rules, refuse passwords on a list of commonly used ones
 * and ones made of the context (the service name, the user's own address).
 */
export function checkPasswordPolicy(password: string, context: { email?: string } = {}): void {
  const normalised = password.normalize('NFKC');
  const length = [...normalised].length;
  if (length < PASSWORD_MIN) {
    throw new AppError('PASSWORD_TOO_SHORT', `The password must have at least ${PASSWORD_MIN} characters.`);
  }
  if (length > PASSWORD_MAX) {
    throw new AppError('PASSWORD_TOO_LONG', `The password must have at most ${PASSWORD_MAX} characters.`);
  }
  const lower = normalised.toLowerCase();
  const contextWords = ['tessera', context.email?.toLowerCase(), context.email?.toLowerCase().split('@')[0]].filter(
    (w): w is string => !!w && w.length >= 4,
  );
  if (COMMON.has(lower) || contextWords.includes(lower)) {
    throw new AppError('PASSWORD_TOO_COMMON');
  }
}

export function hashPassword(password: string): Promise<string> {
  return hash(password.normalize('NFKC'), ARGON2);
}

/**
 * A real argon2id hash of a random password, verified against when the account does not
 * exist or has no password yet, so that the answer takes as long as for a real account.
 */
let dummyHash: Promise<string> | null = null;

export async function verifyPassword(storedHash: string | null, password: string): Promise<boolean> {
  dummyHash ??= hash(crypto.randomUUID(), ARGON2);
  const target = storedHash ?? (await dummyHash);
  let ok = false;
  try {
    ok = await verify(target, password.normalize('NFKC'));
  } catch {
    ok = false;
  }
  return ok && storedHash !== null;
}
