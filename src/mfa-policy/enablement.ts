import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import { isStaffKind, type User } from '../directory/user.table.js';
import { enqueueJob } from '../jobs/job.queue.js';
import { isMfaEnabled, loadMfaPolicy } from './mfa-policy.js';

/** The job that mails staff "MFA is now on for your account" (A.2.5): enablement-mail.job.ts. */
export const ENABLEMENT_MAILS_JOB = 'mfa.enablement_mails';

/**
 * Asks for the "MFA is now on" mails of a firm (A.2.5) to be sent in the background:
 * after a configuration change, an activation, or a staff user created or re-enabled.
 * Call it in the transaction of that change. The job (enablement-mail.job.ts) works out
 * who needs a mail. `runAt` defers it (e.g. to a subscription's start date).
 */
export async function scheduleEnablementMails(ctx: AppContext, db: DbOrTx, firmId: string, runAt?: number): Promise<void> {
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
  if (isMfaEnabled(policy, user)) await scheduleEnablementMails(ctx, db, user.firm_id);
}
