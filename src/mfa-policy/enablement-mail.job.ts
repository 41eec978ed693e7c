import type { AppContext } from '../context.js';
import type { JobHandler } from '../jobs/job-handler.js';
import { issueLink } from '../login/one-time-token.service.js';
import { templates } from '../notify/templates.js';
import { enrolledSql } from '../core/enrolled.js';
import { ENABLEMENT_MAILS_JOB, enabledStaffSql, type UsersEb, forgetUncoveredNotices, scheduleEnablementMails } from './enablement.js';
import { loadMfaPolicy } from './mfa-policy.js';

// This module must not import the job runner (src/jobs/job.service.ts): the runner imports the
// handler registry, which imports this file. enablement.ts queues through src/jobs/job.queue.ts.

/** Users claimed and mailed per transaction: a crash loses at most one uncommitted batch, which the re-run redoes. */
export const ENABLEMENT_MAIL_BATCH = 200;

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
      const candidate = (eb: UsersEb) => eb.and([enabledStaffSql(eb, current), eb.not(enrolledSql(eb)) /* never invite the enrolled */]);
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
  await scheduleEnablementMails(ctx, ctx.db, firmId, sub.starts_at);
}
