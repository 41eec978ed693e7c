import type { Actor } from '../../audit/audit.service.js';
import type { AppContext } from '../../context.js';
import { notFound } from '../../core/errors.js';
import { activateAuthenticator, alreadyConfirmed } from '../../core/activation.js';
import {
  DEFAULT_TOTP_LABEL,
  activationSubject,
  assertMayBeginEnrollment,
  assertMayEnroll,
  completeEnrollment,
  firmNameOf,
  noteEnrollment,
  type ConfirmInput,
  type EnrollmentConfirmed,
  type EnrollmentLogin,
  type Hold,
} from '../../core/enrollment.js';
import { phoneE164 } from '../phone-number.js';
import { assertNotLocked, invalidCode, loginPolicyOf, mfaLocked, recordFailure } from '../../core/lockout.js';
import { answer, type Outcome } from '../../core/outcome.js';
import { ownedBy } from '../factor.js';
import { beginTotpEnrollment, checkTotpCode, type TotpEnrollment } from './totp.factor.js';

/**
 * Starts an authenticator-app enrollment in a login: a pending authenticator (an older pending one
 * is replaced), issuer = the firm's name (operators: PLATFORM_NAME), noted on the attempt (a reload
 * shows the same QR code). A firm user with no seat and none free is refused first (409 NO_SEAT).
 */
export async function beginTotp(ctx: AppContext, login: EnrollmentLogin): Promise<TotpEnrollment> {
  await assertMayBeginEnrollment(ctx, login);
  const issuer = await firmNameOf(ctx.db, login.subject);
  return ctx.db.transaction().execute(async (tx) => {
    const begun = await beginTotpEnrollment(ctx, tx, login.subject, issuer);
    await noteEnrollment(tx, login.attempt.id, begun.authenticatorId);
    return begun;
  });
}

/**
 * Confirms a pending authenticator-app enrollment with one valid code, then in ONE
 * transaction: activates the authenticator (pending -> active, conditionally), takes the
 * seat (none free: everything rolls back, 409 NO_SEAT), issues backup codes at the user's
 * first enrollment, and completes the login attempt, which the door's `hold` turns into its
 * answer. A wrong code counts toward the lockout like any failed second factor; while locked
 * nothing is checked.
 */
export async function confirmTotp<T>(
  ctx: AppContext,
  login: EnrollmentLogin,
  actor: Actor,
  authenticatorId: string,
  input: ConfirmInput,
  hold: Hold<T>,
): Promise<EnrollmentConfirmed<T>> {
  const { subject: user } = login;
  await assertMayEnroll(ctx, login);
  const authenticator = await ctx.db
    .selectFrom('authenticators')
    .select(['id', 'status'])
    .where('id', '=', authenticatorId)
    .where(ownedBy('authenticators', user))
    .where('kind', '=', 'totp')
    .executeTakeFirst();
  if (!authenticator) throw notFound('The authenticator');
  if (authenticator.status === 'active') throw alreadyConfirmed();
  assertNotLocked(user, ctx.clock.now());
  // Before the code: a right code with a wrong phone must not use up its time step.
  const phone = phoneE164(input.phone);
  const label = input.label?.trim() || DEFAULT_TOTP_LABEL;
  const policy = await loginPolicyOf(ctx.db, user);

  const outcome = await ctx.db.transaction().execute(async (tx): Promise<Outcome<EnrollmentConfirmed<T>>> => {
    const checked = await checkTotpCode(ctx, tx, authenticatorId, input.code);
    if (!checked.ok) {
      const failure = await recordFailure(ctx, tx, actor, user, policy, { method: 'totp', reason: checked.reason, during: 'enrollment' });
      return { ok: false, error: failure.locked ? mfaLocked(failure.until, ctx.clock.now()) : invalidCode(failure.attemptsLeft) };
    }
    const { backupCodes } = await activateAuthenticator(ctx, tx, activationSubject(user), actor, {
      authenticatorId,
      kind: 'totp',
      set: { label, phone_e164: phone },
      details: { phone: phone !== null },
    });
    const { authentication, held } = await completeEnrollment(ctx, tx, login, actor, 'totp', hold);
    return { ok: true, value: { authentication, held, backupCodes } };
  });
  return answer(outcome);
}
