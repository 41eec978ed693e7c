import type { AppContext } from '../context.js';
import { ownedBy } from '../factors/factor.js';
import { pushEnrollmentProgress, type PushEnrollment } from '../factors/push/push-enrollment.service.js';
import { pendingTotpEnrollment, type TotpEnrollment } from '../factors/totp/totp.factor.js';
import { isEnrolled } from './enrolled.js';
import { firmNameOf, type EnrollmentLogin } from './enrollment.js';

/**
 * Where the enrollment of a login stands (issue 16 item 1), read from the server so that a reload,
 * a second tab or a browser closed mid-way continues where the user is:
 *   choose       nothing begun in this login (or what was begun expired): the method picker;
 *   in_progress  an enrollment this login began and not yet confirmed: its setup again (the same
 *                authenticator-app QR code and secret; the same Tessera Authenticator QR code while
 *                its code lives, else `push: null`, a new one is made; a security key's label);
 *   activated    the phone activated the Tessera Authenticator: the login is completed next (and
 *                a first enrollment's backup codes shown), never the picker again;
 *   done         the login is complete and the user enrolled (the screen goes home).
 * What a login began is noted on its attempt (`enrolling_authenticator_id`, noteEnrollment).
 */
export type EnrollmentState =
  | { step: 'choose' }
  | { step: 'in_progress'; method: 'totp'; totp: TotpEnrollment }
  | { step: 'in_progress'; method: 'push'; authenticatorId: string; phone: string | null; push: PushEnrollment | null }
  | { step: 'in_progress'; method: 'webauthn'; authenticatorId: string; label: string }
  | { step: 'activated'; method: 'push'; authenticatorId: string }
  | { step: 'done' };

export async function enrollmentState(ctx: AppContext, login: EnrollmentLogin): Promise<EnrollmentState> {
  const { attempt, subject } = login;
  const begun = await ctx.db
    .selectFrom('login_attempts')
    .innerJoin('authenticators', 'authenticators.id', 'login_attempts.enrolling_authenticator_id')
    .select(['authenticators.id', 'authenticators.kind', 'authenticators.status', 'authenticators.label', 'authenticators.phone_e164'])
    .where('login_attempts.id', '=', attempt.id)
    .where(ownedBy('authenticators', subject))
    .executeTakeFirst();
  if (begun?.kind === 'totp' && begun.status === 'pending') {
    const totp = await pendingTotpEnrollment(ctx, ctx.db, subject, await firmNameOf(ctx.db, subject), begun.id);
    if (totp) return { step: 'in_progress', method: 'totp', totp };
  }
  if (begun?.kind === 'webauthn' && begun.status === 'pending') return { step: 'in_progress', method: 'webauthn', authenticatorId: begun.id, label: begun.label };
  if (begun?.kind === 'push' && subject.firm_id !== null) {
    const progress = await pushEnrollmentProgress(ctx, login, begun.id);
    if (progress?.status === 'active' && !progress.completed) return { step: 'activated', method: 'push', authenticatorId: begun.id };
    if (progress?.status === 'pending') return { step: 'in_progress', method: 'push', authenticatorId: begun.id, phone: begun.phone_e164, push: progress.shown };
  }
  // Nothing (left) in progress: a complete login of an enrolled user is done; else the picker.
  return attempt.stage === 'step_up' && (await isEnrolled(ctx.db, subject)) ? { step: 'done' } : { step: 'choose' };
}
