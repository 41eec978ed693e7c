import type { AppContext } from '../context.js';
import type { Expression, ExpressionBuilder, SqlBool } from 'kysely';
import type { Database, DbOrTx } from '../db/database.js';
import { isStaffKind, type User } from '../directory/user.table.js';
import { enqueueJob } from '../jobs/job.queue.js';
import { activeUserSql, coveredKindSql, isMfaEnabled, loadMfaPolicy, type MfaPolicy } from './mfa-policy.js';

/** The job that mails staff "MFA is now on for your account" (A.2.5): enablement-mail.job.ts. */
export const ENABLEMENT_MAILS_JOB = 'mfa.enablement_mails';

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

/** Only staff are mailed; corp users and foreign nationals get on-screen instructions at their first login. */
const MAILED_KINDS = ['case_manager', 'vendor_case_manager'] as const;

export type UsersEb = ExpressionBuilder<Database, 'users'>;

/** SQL: a staff user whom the configuration makes MFA-enabled (the subscription being live is checked in JS). */
export function enabledStaffSql(eb: UsersEb, policy: MfaPolicy): Expression<SqlBool> {
  return eb.and([activeUserSql(eb), eb.or(MAILED_KINDS.map((kind) => coveredKindSql(eb, policy, kind)))]);
}

/**
 * Forgets the "MFA is on" mail of every user the policy does not cover (now), so that
 * covering them again mails them again. The requests that narrow who is covered (a switch
 * turned off, a subscription suspended or cancelled) call it in their own transaction, with
 * the policy as that transaction sees it: an off-and-on pair of requests is then exact
 * whenever the jobs they queue happen to run (the job reads the state when it runs, and would
 * otherwise see only the final "on").
 */
export async function forgetUncoveredNotices(db: DbOrTx, firmId: string, policy: MfaPolicy): Promise<void> {
  await db
    .updateTable('users')
    .set({ mfa_notified_at: null })
    .where('firm_id', '=', firmId)
    .where('mfa_notified_at', 'is not', null)
    .$if(policy.live, (q) => q.where((eb) => eb.not(enabledStaffSql(eb, policy))))
    .execute();
}
