import type { FactorEnrollment, SecondFactorStep, WebFactor } from './factor';
import type { SecondFactorMethod } from '../api';
import { backupCodesFactor } from './backup-codes/backup-codes.factor';
import { pushFactor } from './push/push.factor';
import { totpFactor } from './totp/totp.factor';
import { webauthnFactor } from './webauthn/webauthn.factor';

/**
 * Every factor of the browser app, in the order enrollment offers them. Adding a factor is a
 * folder and a line here (and its routes on the server, src/factors/registry.ts).
 */
export const FACTORS: readonly WebFactor[] = [totpFactor, pushFactor, webauthnFactor, backupCodesFactor];

/** The methods the enrollment screen can set up, in the order offered. */
export const ENROLLMENTS: readonly FactorEnrollment[] = FACTORS.flatMap((f) => (f.enrollment ? [f.enrollment] : []));

/**
 * The order in which the second-factor page offers the other methods: the ones that start at
 * once (a key, a push) as buttons first, then the typed codes as links.
 */
const OFFER_ORDER: readonly SecondFactorMethod[] = ['webauthn', 'push', 'totp', 'backup_code'];

export const SECOND_FACTOR_STEPS: readonly SecondFactorStep[] = OFFER_ORDER.map((method) => stepFor(method));

export function stepFor(method: SecondFactorMethod): SecondFactorStep {
  const factor = FACTORS.find((f) => f.secondFactor.method === method);
  if (!factor) throw new Error(`No factor answers ${method}`);
  return factor.secondFactor;
}
