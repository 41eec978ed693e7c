import { backupCodeFactor } from './backup-codes/backup-codes.factor.js';
import type { LoginFactor, LoginMethod } from './factor.js';
import { pushFactor } from './push/push.factor.js';
import { totpFactor } from './totp/totp.factor.js';
import { webauthnFactor } from './webauthn/webauthn.factor.js';

/** Every second factor, in the order the second-factor screen offers them. */
export const FACTORS: readonly LoginFactor[] = [pushFactor, totpFactor, webauthnFactor, backupCodeFactor];

export function factorFor(method: LoginMethod): LoginFactor {
  const f = FACTORS.find((x) => x.method === method);
  if (!f) throw new Error(`unknown factor ${method}`);
  return f;
}
