import { dropExpiredPreviousSecrets } from './applications/application.repository.js';
import type { AppContext } from './context.js';
import { pruneDeviceNonces } from './factors/push/device.service.js';
import { RESEAL_SECRETS_JOB } from './crypto/reseal.job.js';
import { enqueueJobOnce } from './jobs/job.queue.js';
import { pruneAttempts } from './core/throttle.js';
import { pruneOidcPayloads } from './oidc/payload.repository.js';
import { pruneSigningKeys } from './oidc/keys.js';
import { pruneSessions } from './sessions/session.service.js';
import { pruneLoginAttempts } from './core/login-attempt.js';
import { pruneDuoTransactions } from './duo/duo-transaction.repository.js';

const DAY = 86_400_000;

/**
 * Rows that have outlived their use, removed every few minutes by each process (the deletes
 * are idempotent, so several processes may run them at once): ended sessions, old password
 * attempts, expired WebAuthn challenges and remembered browsers, enrollments started and never
 * confirmed, finished background jobs, old push requests and activation codes, device request
 * nonces past their window, mails older than 90 days, applications' previous secrets whose
 * rotation grace is over, the OpenID Provider's expired records (sessions, codes, tokens,
 * grants) and its retired signing keys once no token they signed can still be valid, and the Duo
 * door's transactions (txids, verified-push numbers, enroll_portal_urls) past their expiry. The audit
 * log is kept. And while retired master keys are configured, the re-seal job is queued again: a
 * node still on the old key may have sealed values since.
 */
export async function runHousekeeping(ctx: AppContext): Promise<void> {
  const now = ctx.clock.now();
  await pruneSessions(ctx);
  await pruneLoginAttempts(ctx.db, now);
  await pruneAttempts(ctx.db, ctx.clock);
  await ctx.db.deleteFrom('webauthn_challenges').where('expires_at', '<=', now).execute();
  await ctx.db.deleteFrom('remembered_browsers').where('expires_at', '<=', now).execute();
  await ctx.db.deleteFrom('authenticators').where('status', '=', 'pending').where('created_at', '<', now - DAY).execute();
  await ctx.db.deleteFrom('one_time_tokens').where('expires_at', '<', now - 30 * DAY).execute();
  await ctx.db.deleteFrom('jobs').where('status', '=', 'done').where('finished_at', '<', now - 30 * DAY).execute();
  // Push requests are kept a month (fraud reports, which the MFA page lists, a year); activation codes a day past expiry.
  await ctx.db.deleteFrom('push_transactions').where('status', '!=', 'fraud').where('created_at', '<', now - 30 * DAY).execute();
  await ctx.db.deleteFrom('push_transactions').where('created_at', '<', now - 365 * DAY).execute();
  await ctx.db.deleteFrom('device_activations').where('expires_at', '<', now - DAY).execute();
  await pruneDeviceNonces(ctx.db, now);
  await dropExpiredPreviousSecrets(ctx.db, now);
  await pruneOidcPayloads(ctx.db, ctx.clock);
  await pruneSigningKeys(ctx);
  await pruneDuoTransactions(ctx.db, now);
  await ctx.db.deleteFrom('mail_outbox').where('status', 'in', ['sent', 'kept', 'failed']).where('created_at', '<', now - 90 * DAY).execute();
  await queueResealWhileKeysRetired(ctx);
}

/** Master-key rotation: while retired keys are configured, the job that re-seals their values is queued (at start, and by housekeeping). */
export async function queueResealWhileKeysRetired(ctx: AppContext): Promise<void> {
  if (ctx.secrets.retiredIds.length > 0) await enqueueJobOnce(ctx, RESEAL_SECRETS_JOB);
}
