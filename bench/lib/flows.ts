import { Secret, TOTP } from 'otpauth';

/**
 * Request builders shared by the scenarios and the soak: what a browser or an authenticator
 * app sends, independent of the load generator that sends it.
 */

const totp = (secret: string) => new TOTP({ secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30 });

/** The passcode an authenticator app shows now (or at `at`) for a base32 secret. */
export const passcodeOf = (secret: string, at = Date.now()) => totp(secret).generate({ timestamp: at });

/** A six-digit code that no step of the server's window (previous, current, next) accepts: a typo. */
export function wrongPasscodeOf(secret: string, at = Date.now()): string {
  const valid = new Set([-30_000, 0, 30_000].map((d) => passcodeOf(secret, at + d)));
  let n = Number(passcodeOf(secret, at));
  let code: string;
  do code = String((n = (n + 1) % 1_000_000)).padStart(6, '0');
  while (valid.has(code));
  return code;
}

/** The display name seedFirm gives its i-th user (what an administrator searches for). */
export const seededUserName = (i: number) => `User ${String(i).padStart(6, '0')}`;

/** Admin list pages, spread over the whole list (a large prime step) so no page stays hot in a cache. */
export const listPagePath = (list: string, i: number, pages: number) => `${list}?page=${1 + ((i * 7919) % Math.max(1, pages))}`;

/** An admin search for one seeded user by name, spread the same way. */
export const listSearchPath = (list: string, i: number, users: number) => `${list}?q=${encodeURIComponent(seededUserName((i * 7919) % users))}`;

export const ENROLLED_LIST = '/api/v1/admin/mfa/enrolled';
export const USERS_LIST = '/api/v1/admin/users';
