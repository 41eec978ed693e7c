import type { Insertable, Selectable } from 'kysely';

/**
 * One row per password attempt and throttling key (the submitted account, and the client IP),
 * one per look-up of a firm's sign-in options (`firm_hint`, by client IP: login-options.service.ts),
 * one per passkey sign-in's options (`passkey_options`, by client IP: passkey.service.ts),
 * and one per mail of a phone activation's link (`activation_mail`, by activation: push-enrollment.service.ts).
 * A row is written *before* the password is checked, then its outcome set, so that
 * concurrent attempts can never slip past the hourly cap (see throttle.ts).
 */
export interface AuthAttemptTable {
  id: string;
  scope: 'account' | 'ip' | 'firm_hint' | 'passkey_options' | 'activation_mail';
  key: string;
  at: number;
  outcome: 'pending' | 'failure' | 'success' | 'refused';
}
export type AuthAttempt = Selectable<AuthAttemptTable>;
export type NewAuthAttempt = Insertable<AuthAttemptTable>;
