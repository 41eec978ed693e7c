import { audit, type Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import { ownedBy, type FactorUser } from '../factors/factor.js';
import { FACTORS } from '../factors/registry.js';
import { forgetRememberedBrowsers } from './remembered-browsers.js';
import { loginUrl, mailSecurityNotice } from '../notify/security-notice.js';
import { templates } from '../notify/templates.js';
import { releaseSeat } from '../subscriptions/seat.service.js';

/** Why an enrollment is reset: by an administrator (of the firm, or another operator), by the user (last authenticator removed), or recycled with the account. */
export type ResetReason = 'admin_reset' | 'operator_reset' | 'self_removed' | 'user_disabled' | 'portal_access_disabled' | 'record_inactivated' | 'user_deleted';

/** A reset the owner is mailed about: someone may have reset it on purpose to take the account over. */
const MAILED: Partial<Record<ResetReason, string>> = { admin_reset: 'by an administrator', operator_reset: 'by another operator' };
/** Resets a person asked for; the others are licence recycling of an account that cannot log in any more. */
const ASKED_FOR: ReadonlySet<ResetReason> = new Set(['admin_reset', 'operator_reset', 'self_removed']);

/**
 * Resets the MFA enrollment of a firm user or an operator (reference A.2.6, A.2.9; issue 8.6),
 * ONE function for both: removes every authenticator and what each factor of the registry
 * keeps (secrets, backup codes, pending pushes, device activations), and the sessions opened
 * with them; then audits and, when someone reset it on purpose, mails the owner.
 *  - a firm user: remembered browsers are forgotten and the seat freed; nothing enrolled means
 *    nothing to do (false, not audited);
 *  - an operator: no seat and no remembered browser; the lockout is lifted too (a reset is
 *    what an operator who lost their factor is waiting for), and it is always audited.
 * Call inside the transaction of the change that causes it. Returns whether anything was enrolled.
 */
export async function resetEnrollment(
  ctx: AppContext,
  db: DbOrTx,
  actor: Actor,
  owner: FactorUser,
  reason: ResetReason,
  /** The session that asks for the reset (the user removing their last authenticator in My security) stays open. */
  options: { keepSessionId?: string } = {},
): Promise<boolean> {
  const operator = owner.firm_id === null;
  for (const factor of FACTORS) await factor.reset(db, owner);
  if (!operator) await forgetRememberedBrowsers(db, owner.id);
  const removed = Number((await db.deleteFrom('authenticators').where(ownedBy('authenticators', owner)).executeTakeFirst()).numDeletedRows);
  const freed = owner.firm_id === null ? false : await releaseSeat(ctx, db, owner.firm_id, owner.id);
  const hadEnrollment = freed || removed > 0;
  if (!operator && !hadEnrollment) return false;
  if (operator) await db.updateTable('operators').set({ mfa_failed_count: 0, mfa_locked_until: null }).where('id', '=', owner.id).execute();

  // A session opened with the old authenticators must not outlive them.
  let ended = db.deleteFrom('sessions').where(operator ? 'operator_id' : 'user_id', '=', owner.id);
  if (options.keepSessionId) ended = ended.where('id', '!=', options.keepSessionId);
  await ended.execute();

  await audit(db, ctx.clock.now(), actor, {
    event: ASKED_FOR.has(reason) ? 'mfa.enrollment_reset' : 'mfa.enrollment_recycled',
    firmId: owner.firm_id,
    subjectType: operator ? 'operator' : 'user',
    subjectId: owner.id,
    details: operator ? { reason, authenticatorsRemoved: removed } : { reason, seatFreed: freed, authenticatorsRemoved: removed },
  });
  const by = MAILED[reason];
  if (by) {
    await mailSecurityNotice(ctx, db, owner, {
      event: 'mfa.enrollment_reset',
      mail: (h) => templates.enrollmentReset({ name: h.name, firmName: h.firmName, reason: by, url: loginUrl(ctx, owner) }),
    });
  }
  return hadEnrollment;
}
