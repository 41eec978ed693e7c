import { audit, type Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import { unauthorized } from './errors.js';
import type { LoginMethod } from '../factors/kinds.js';
import { amrOf, type Amr, type DecisionReason } from './decision.js';
import { enrollsOnly, type LoginAttempt } from './login-attempt.js';
import type { Door } from './login-attempt.table.js';
import { countLogin } from './login-counts.js';

/** How the second factor of a login was satisfied, or why it was not needed. */
export type SecondFactorOutcome =
  | { satisfied: 'verified'; method: LoginMethod }
  /** The login finished by enrolling this factor (its confirmation was the second factor). */
  | { satisfied: 'enrolled'; method: LoginMethod }
  | { satisfied: 'not_needed'; reason: DecisionReason };

/**
 * What a finished login is, whatever the door: each door turns it into its answer (the web door a
 * session cookie; the OIDC door an authorization code and ID token with this `amr` and
 * `auth_time`; the Duo door `allow`).
 */
export interface Authentication {
  subject: { type: 'user' | 'operator'; id: string };
  firmId: string | null;
  /** RFC 8176 values: 'pwd', and 'otp' / 'hwk' / 'swk' with 'mfa' when a second factor was answered. */
  amr: Amr[];
  /** When the login was completed (epoch ms). */
  authTime: number;
  secondFactor: SecondFactorOutcome;
  /** A second factor answered again in a login that was complete already (a step-up). */
  stepUp: boolean;
  /** Where the login came in, and for which application: a door makes its answer only of its own logins. */
  door: Door;
  applicationId: string | null;
  /** False for an enrollment the Duo door opened (login-attempt.ts enrollsOnly): it signs the user in nowhere. */
  signsIn: boolean;
}

/**
 * Completes a login attempt, in the caller's transaction: the attempt ends, by ONE conditional
 * DELETE (of two requests finishing the same attempt at once, one wins; the other rolls back with
 * 401), so what it bound (a challenge, a push, an activation code) is void from now on; the
 * login is audited (`login.succeeded`, or `login.step_up`, or `duo.enrollment_completed` for an
 * enrollment the Duo door opened, which signs in nowhere; an authenticator added in a complete
 * login is audited `mfa.enrolled` by its activation); and the Authentication is returned.
 */
export async function completeAttempt(ctx: AppContext, db: DbOrTx, attempt: LoginAttempt, actor: Actor, outcome: SecondFactorOutcome): Promise<Authentication> {
  const now = ctx.clock.now();
  const gone = await db.deleteFrom('login_attempts').where('id', '=', attempt.id).executeTakeFirst();
  if (Number(gone.numDeletedRows) === 0) throw unauthorized();
  const stepUp = attempt.stage === 'step_up';
  const subject = { subjectType: attempt.subject.type, subjectId: attempt.subject.id, applicationId: attempt.applicationId } as const;
  const realm = attempt.subject.type === 'operator' ? 'operator' : 'firm';
  const signsIn = !enrollsOnly(attempt);
  if (!signsIn) {
    // Not a sign-in: the authenticator is set up (audited mfa.enrolled by its activation), the user goes back to the application.
    await audit(db, now, actor, { event: 'duo.enrollment_completed', ...subject, details: { realm, ...(outcome.satisfied === 'not_needed' ? {} : { method: outcome.method }), signedIn: false } });
  } else if (outcome.satisfied === 'not_needed') {
    await audit(db, now, actor, {
      event: 'login.succeeded',
      ...subject,
      details: { realm, factors: ['password'], ...(outcome.reason === 'no_seat_bypass' ? { notice: 'mfa_bypassed_no_seat' } : {}), reason: outcome.reason },
    });
  } else if (!stepUp) {
    await audit(db, now, actor, {
      event: 'login.succeeded',
      ...subject,
      details: { realm, factors: ['password', outcome.method], ...(outcome.satisfied === 'enrolled' ? { enrolled: true } : {}) },
    });
  } else if (outcome.satisfied !== 'enrolled') {
    await audit(db, now, actor, { event: 'login.step_up', ...subject, details: { realm, method: outcome.method } });
  }
  // A firm user's login, to Tessera or to the attempt's application (a step-up was counted at its login).
  if (signsIn && !stepUp && attempt.subject.type === 'user' && attempt.firmId !== null) {
    const kind = outcome.satisfied !== 'not_needed' ? 'second_factor' : outcome.reason === 'no_seat_bypass' ? 'bypass' : 'password_only';
    await countLogin(db, { firmId: attempt.firmId, applicationId: attempt.applicationId, at: now, kind });
  }
  return {
    subject: attempt.subject,
    firmId: attempt.firmId,
    amr: amrOf(outcome.satisfied === 'not_needed' ? ['password'] : ['password', outcome.method]),
    authTime: now,
    secondFactor: outcome,
    stepUp,
    door: attempt.door,
    applicationId: attempt.applicationId,
    signsIn,
  };
}
