import { audit, type Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import { FACTORS } from '../factors/registry.js';
import { forgetRememberedBrowsers } from '../login/remembered-browsers.js';
import { loginUrl, mailSecurityNotice } from '../notify/security-notice.js';
import { templates } from '../notify/templates.js';
import { deleteUserSessions } from '../sessions/session.service.js';
import { releaseSeat } from '../subscriptions/seat.service.js';

export type ResetReason = 'admin_reset' | 'self_removed' | 'user_disabled' | 'portal_access_disabled' | 'record_inactivated' | 'user_deleted';

/**
 * Resets a user's MFA enrollment (A.2.6, A.2.9): removes every authenticator and what each
 * factor of the registry keeps (secrets, backup codes), forgets remembered browsers, frees the seat, ends the user's sessions, and audits. An administrator's reset
 * also mails the user (someone may have reset it on purpose to take over their account);
 * recycling of a disabled or deleted user does not: they cannot log in anyway. Call inside the transaction of the change that causes it. Returns whether the
 * user had anything enrolled.
 */
export async function resetEnrollment(
  ctx: AppContext,
  db: DbOrTx,
  actor: Actor,
  firmId: string,
  userId: string,
  reason: ResetReason,
  /** The session that asks for the reset (the user removing their last authenticator in My security) stays open. */
  options: { keepSessionId?: string } = {},
): Promise<boolean> {
  for (const factor of FACTORS) await factor.reset(db, { id: userId, firm_id: firmId });
  await forgetRememberedBrowsers(db, userId);
  const removed = await db.deleteFrom('authenticators').where('firm_id', '=', firmId).where('user_id', '=', userId).executeTakeFirst();
  const freed = await releaseSeat(ctx, db, firmId, userId);
  const hadEnrollment = freed || Number(removed.numDeletedRows) > 0;
  if (!hadEnrollment) return false;
  // A session opened with the old authenticators must not outlive them.
  if (options.keepSessionId) await db.deleteFrom('sessions').where('user_id', '=', userId).where('id', '!=', options.keepSessionId).execute();
  else await deleteUserSessions(db, userId);
  await audit(db, ctx.clock.now(), actor, {
    event: reason === 'admin_reset' || reason === 'self_removed' ? 'mfa.enrollment_reset' : 'mfa.enrollment_recycled',
    firmId,
    subjectType: 'user',
    subjectId: userId,
    details: { reason, seatFreed: freed, authenticatorsRemoved: Number(removed.numDeletedRows) },
  });
  if (reason === 'admin_reset') {
    const account = { id: userId, firm_id: firmId };
    await mailSecurityNotice(ctx, db, account, {
      event: 'mfa.enrollment_reset',
      mail: (h) => templates.enrollmentReset({ name: h.name, firmName: h.firmName, reason: 'by an administrator', url: loginUrl(ctx, account) }),
    });
  }
  return true;
}
