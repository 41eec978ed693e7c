import { backupCodeFactor } from './backup-codes/backup-codes.factor.js';
import type { LoginFactor } from './factor.js';
import { LOGIN_METHODS, type LoginMethod } from './kinds.js';
import { pushFactor } from './push/push.factor.js';
import { totpFactor } from './totp/totp.factor.js';
import { webauthnFactor } from './webauthn/webauthn.factor.js';

/** Each kind's module: a kind without one, or a module answering another kind, does not compile. */
const BY_METHOD: { [M in LoginMethod]: LoginFactor<M> } = { push: pushFactor, totp: totpFactor, webauthn: webauthnFactor, backup_code: backupCodeFactor };

/** Every second factor, in the order the second-factor screen offers them (the kinds' order). */
export const FACTORS: readonly LoginFactor[] = LOGIN_METHODS.map((m) => BY_METHOD[m]);

export function factorFor(method: LoginMethod): LoginFactor {
  const f = FACTORS.find((x) => x.method === method);
  if (!f) throw new Error(`unknown factor ${method}`);
  return f;
}
