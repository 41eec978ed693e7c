import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import { isStaffKind, type User } from '../directory/user.table.js';
import { enqueueJob } from '../jobs/job.service.js';
import { ENABLEMENT_MAILS_JOB, forgetUncoveredNotices } from './enablement-mail.job.js';
import { isMfaEnabled, loadMfaPolicy } from './mfa-policy.js';

export { ENABLEMENT_MAILS_JOB };

/**
 * Asks for the "MFA is now on" mails of a firm (A.2.5) to be sent in the background:
 * after a configuration change, an activation, or a staff user created or re-enabled.
 * Call it in the transaction of that change. Users the change leaves uncovered are forgotten
 * at once (so a later "on" mails them again); the job (enablement-mail.job.ts) then works out
 * who needs a mail, from the state when it runs: a user covered at the request but no longer
 * by then is not told that MFA is on. `runAt` defers it (e.g. to a subscription's start date).
 */
export async function scheduleEnablementMails(ctx: AppContext, db: DbOrTx, firmId: string, runAt?: number): Promise<void> {
  // Who stopped being covered by this change is decided now, in its transaction (see forgetUncoveredNotices).
  await forgetUncoveredNotices(db, firmId, await loadMfaPolicy(db, firmId, ctx.clock.now()));
  await enqueueMails(ctx, db, firmId, runAt);
}

async function enqueueMails(ctx: AppContext, db: DbOrTx, firmId: string, runAt?: number): Promise<void> {
  const id = await enqueueJob(ctx, db, ENABLEMENT_MAILS_JOB, firmId);
  if (runAt !== undefined && runAt > ctx.clock.now()) await db.updateTable('jobs').set({ run_at: runAt }).where('id', '=', id).execute();
}

/** For a staff user just created or re-activated: schedules the mails when MFA applies to them now. */
export async function scheduleEnablementMailFor(
  ctx: AppContext,
  db: DbOrTx,
  user: Pick<User, 'firm_id' | 'kind' | 'corporation_id' | 'status' | 'portal_access' | 'record_state'>,
): Promise<void> {
  if (!isStaffKind(user.kind)) return;
  const policy = await loadMfaPolicy(db, user.firm_id, ctx.clock.now());
  if (isMfaEnabled(policy, user)) await enqueueMails(ctx, db, user.firm_id);
}

/** A change that may uncover users without queueing mails (a subscription suspended or cancelled): forget their "MFA is on" mail now. */
export async function forgetUncoveredEnablementMails(ctx: AppContext, db: DbOrTx, firmId: string): Promise<void> {
  await forgetUncoveredNotices(db, firmId, await loadMfaPolicy(db, firmId, ctx.clock.now()));
}
