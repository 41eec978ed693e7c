import type { Expression, ExpressionBuilder, SqlBool } from 'kysely';
import type { AppContext } from '../context.js';
import type { Database, DbOrTx } from '../db/database.js';
import type { JobHandler } from '../jobs/handlers.js';
import { issueLink } from '../login/one-time-token.service.js';
import { templates } from '../notify/templates.js';
import { activeUserSql, coveredKindSql, loadMfaPolicy, type MfaPolicy } from './mfa-policy.js';

// This module must not import the job queue (src/jobs/job.service.ts): the queue imports the
// handler registry, which imports this file. enablement.ts is loaded lazily where needed.

/** The job that mails staff "MFA is now on for your account" (A.2.5). */
export const ENABLEMENT_MAILS_JOB = 'mfa.enablement_mails';

/** Users claimed and mailed per transaction: a crash loses at most one uncommitted batch, which the re-run redoes. */
export const ENABLEMENT_MAIL_BATCH = 200;

/** Only staff are mailed; corp users and foreign nationals get on-screen instructions at their first login. */
const MAILED_KINDS = ['case_manager', 'vendor_case_manager'] as const;

type UsersEb = ExpressionBuilder<Database, 'users'>;

/** SQL: a staff user whom the configuration makes MFA-enabled (the subscription being live is checked in JS). */
export function enabledStaffSql(eb: UsersEb, policy: MfaPolicy): Expression<SqlBool> {
  return eb.and([activeUserSql(eb), eb.or(MAILED_KINDS.map((kind) => coveredKindSql(eb, policy, kind)))]);
}

/** SQL: the user holds a seat, i.e. is enrolled: never invite them to enrol. */
const enrolledSql = (eb: UsersEb) => eb.exists(eb.selectFrom('seats').select('seats.user_id').whereRef('seats.user_id', '=', 'users.id'));

/**
 * Idempotent by construction, so a job that stopped midway can simply run again:
 *  1. forget the mail of users MFA no longer applies to (so turning a switch off and on
 *     again invites the not-yet-enrolled once more);
 *  2. in batches, claim not-yet-mailed, MFA-enabled, unenrolled staff with ONE conditional
 *     UPDATE (`mfa_notified_at IS NULL` in its WHERE) and queue their mails in the same
 *     transaction: a user is marked exactly when their mail is in the outbox, and of two
 *     runs (or two processes) only one claims a given user.
 */
export const sendEnablementMails: JobHandler = async (ctx, job) => {
  const firmId = job.firm_id;
  if (!firmId) return;

  const policy = await loadMfaPolicy(ctx.db, firmId, ctx.clock.now());
  // The requests that narrowed the configuration already did this in their own transaction
  // (forgetUncoveredNotices); here it covers what no request announces (a plan's end date passing).
  await forgetUncoveredNotices(ctx.db, firmId, policy);
  if (!policy.live) {
    await waitForStart(ctx, firmId);
    return;
  }

  const firm = await ctx.db.selectFrom('firms').select('name').where('id', '=', firmId).executeTakeFirst();
  if (!firm) return;
  const url = new URL('/login', ctx.config.publicUrl).toString();

  let after = '';
  for (;;) {
    const last = await ctx.db.transaction().execute(async (tx) => {
      const now = ctx.clock.now();
      // Re-read per batch: a change meanwhile (switch off, subscription suspended) stops the mailing.
      const current = await loadMfaPolicy(tx, firmId, now);
      if (!current.live) return null;
      const candidate = (eb: UsersEb) => eb.and([enabledStaffSql(eb, current), eb.not(enrolledSql(eb))]);
      const batch = await tx
        .selectFrom('users')
        .select('id')
        .where('firm_id', '=', firmId)
        .where('id', '>', after)
        .where('mfa_notified_at', 'is', null)
        .where(candidate)
        .orderBy('id')
        .limit(ENABLEMENT_MAIL_BATCH)
        .execute();
      if (batch.length === 0) return null;
      const claimed = await tx
        .updateTable('users')
        .set({ mfa_notified_at: now })
        .where('firm_id', '=', firmId)
        .where(
          'id',
          'in',
          batch.map((u) => u.id),
        )
        .where('mfa_notified_at', 'is', null)
        .where(candidate)
        .returning(['id', 'email', 'name', 'password_hash'])
        .execute();
      for (const user of claimed) {
        // Someone who never set a password cannot "log in and enrol": they get a fresh
        // set-password link (it replaces the older one) worded for that first step.
        const content =
          user.password_hash === null
            ? templates.mfaEnabledSetPassword({
                name: user.name,
                firmName: firm.name,
                url: await issueLink(ctx, tx, { purpose: 'set_password', userId: user.id, firmId, email: user.email }),
                expiresHours: ctx.config.oneTimeLinkMs / 3_600_000,
              })
            : templates.mfaEnabled({ name: user.name, firmName: firm.name, url });
        await ctx.mail.enqueue(tx, { firmId, to: user.email, ...content });
      }
      return batch[batch.length - 1]!.id;
    });
    if (last === null) return;
    after = last;
  }
};

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

/**
 * An active subscription whose start date lies ahead turns MFA on later, with no request
 * to schedule the mails then: leave one job waiting for the start.
 */
async function waitForStart(ctx: AppContext, firmId: string): Promise<void> {
  const sub = await ctx.db.selectFrom('subscriptions').select(['state', 'starts_at']).where('firm_id', '=', firmId).executeTakeFirst();
  if (sub?.state !== 'active' || sub.starts_at === null || sub.starts_at <= ctx.clock.now()) return;
  const waiting = await ctx.db
    .selectFrom('jobs')
    .select('id')
    .where('kind', '=', ENABLEMENT_MAILS_JOB)
    .where('firm_id', '=', firmId)
    .where('status', '=', 'pending')
    .where('run_at', '>=', sub.starts_at)
    .executeTakeFirst();
  if (waiting) return;
  const { scheduleEnablementMails } = await import('./enablement.js');
  await scheduleEnablementMails(ctx, ctx.db, firmId, sub.starts_at);
}
