import type { Actor } from '../../audit/audit.service.js';
import type { AppContext } from '../../context.js';
import { notFound } from '../../core/errors.js';
import type { PendingPrincipal } from '../../http/auth.js';
import { activateAuthenticator, alreadyConfirmed } from '../../core/activation.js';
import {
  DEFAULT_TOTP_LABEL,
  assertMayEnroll,
  type ConfirmInput,
  type ConfirmResult,
} from '../../mfa/enrollment-flow.service.js';
import { phoneE164 } from '../phone-number.js';
import { assertNotLocked, invalidCode, loginPolicyOf, mfaLocked, recordFailure } from '../../core/lockout.js';
import { completeSecondFactor } from '../../mfa/pending-login.js';
import { answer, type Outcome } from '../../core/outcome.js';
import { PLATFORM_NAME } from '../../operators/operator-mail.js';
import { ownedBy } from '../factor.js';
import { beginTotpEnrollment, checkTotpCode, type TotpEnrollment } from './totp.factor.js';

/** Starts an authenticator-app enrollment: a pending authenticator (an older pending one is replaced), issuer = the firm's name (operators: PLATFORM_NAME). */
export async function beginTotp(ctx: AppContext, pending: PendingPrincipal): Promise<TotpEnrollment> {
  await assertMayEnroll(ctx, pending);
  return ctx.db.transaction().execute((tx) => beginTotpEnrollment(ctx, tx, pending.user, pending.firm?.name ?? PLATFORM_NAME));
}

/**
 * Confirms a pending authenticator-app enrollment with one valid code, then in ONE
 * transaction: activates the authenticator (pending -> active, conditionally), takes the
 * seat (none free: everything rolls back, 409 NO_SEAT), issues backup codes at the user's
 * first enrollment, and finishes the login. A wrong code counts toward the lockout like any
 * failed second factor; while locked nothing is checked.
 */
export async function confirmTotp(ctx: AppContext, pending: PendingPrincipal, actor: Actor, authenticatorId: string, input: ConfirmInput): Promise<ConfirmResult> {
  const { user } = pending;
  await assertMayEnroll(ctx, pending);
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

  const outcome = await ctx.db.transaction().execute(async (tx): Promise<Outcome<ConfirmResult>> => {
    const checked = await checkTotpCode(ctx, tx, authenticatorId, input.code);
    if (!checked.ok) {
      const failure = await recordFailure(ctx, tx, actor, user, policy, { method: 'totp', reason: checked.reason, during: 'enrollment' });
      return { ok: false, error: failure.locked ? mfaLocked(failure.until, ctx.clock.now()) : invalidCode(failure.attemptsLeft) };
    }
    const { backupCodes } = await activateAuthenticator(ctx, tx, pending, actor, {
      authenticatorId,
      kind: 'totp',
      set: { label, phone_e164: phone },
      details: { phone: phone !== null },
    });
    const token = await completeSecondFactor(ctx, tx, pending, actor, { method: 'totp', enrolled: true });
    return { ok: true, value: { token, backupCodes } };
  });
  return answer(outcome);
}
