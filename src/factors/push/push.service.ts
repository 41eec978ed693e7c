import { randomInt, randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { audit, type Actor } from '../../audit/audit.service.js';
import type { AppContext } from '../../context.js';
import { pushHub } from './push-hub.js';
import { sendPushNotifications } from './web-push.js';
import { AppError, notFound } from '../../core/errors.js';
import { activeDevices, PUSH_TTL_MS } from './push.factor.js';
import type { PushContext, PushStatus } from './push.table.js';
import { describeUserAgent } from './user-agent.js';
import type { Transaction } from 'kysely';
import type { Database } from '../../db/database.js';
import { loadLoginPolicy } from '../../mfa-policy/mfa-login-policy.service.js';
import { metrics } from '../../ops/metrics.js';
import { assertNotLocked, recordFailure } from '../../core/lockout.js';
import type { Authentication } from '../../core/completion.js';
import { answerSecondFactor, type AttemptOf, type SecondFactorSubject } from '../../core/second-factor.js';

/** The longest a login waits for an answer in one request (below common proxy timeouts). */
export const WAIT_MAX_MS = 25_000;

export const pushLimit = (minutes: number, retryAfterMs: number) =>
  new AppError(
    'PUSH_LIMIT',
    `Too many push requests in the last ${minutes} minutes without an approval. Use a passcode from your Tessera Authenticator or a security key instead.`,
    // Retry-After: when the oldest push that counts leaves the window.
    { retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) },
  );
export const pushPaused = (until: number, now: number) => {
  const minutes = Math.max(1, Math.ceil((until - now) / 60_000));
  return new AppError(
    'PUSH_PAUSED',
    `Push requests to you are paused for ${minutes} more minute${minutes === 1 ? '' : 's'} after a request was reported as fraudulent. Use a passcode or a security key.`,
    // Retry-After (as PUSH_LIMIT), and the end of the pause for the login screen to show ("until 14:32").
    { retryAfterSeconds: Math.max(1, Math.ceil((until - now) / 1000)), pausedUntil: until },
  );
};
export const noPushDevice = () => new AppError('PUSH_UNAVAILABLE');

export interface PushStart {
  transactionId: string;
  number: string;
  expiresAt: number;
  /** The same as a duration, for a countdown on a screen whose clock is not the server's. */
  expiresInSeconds: number;
}

/**
 * Whom a push goes to: a firm user (operators have no Tessera Authenticator), with their lock.
 * Any door may send one: the web door's attempt has a session, the Duo door's (a txid) none.
 */
export type PushSubject = SecondFactorSubject & { firm_id: string };

export const randomNumber = (digits: 3 | 6) => String(randomInt(10 ** digits)).padStart(digits, '0');

/**
 * What a door may add to a push: the application's name instead of "Tessera"; what the
 * application asks the phone to show (Duo's `type`, which turns "Are you signing in?" into a
 * "Verify request", its `display_username` in place of the account's name, and the `pushinfo`
 * pairs, in order); and a number it already showed the user (Duo's verified push reserves it at
 * preauth). The door caps their lengths (auth-api.routes.ts); the app shows them as text.
 */
export interface PushShown {
  app?: string;
  type?: string;
  displayUsername?: string;
  details?: readonly (readonly [string, string])[];
  number?: string;
}

/**
 * "Send me a push" (reference 1.4.1), as a declared list of steps in ONE transaction:
 *   1. not locked        - a locked second factor sends nothing;
 *   2. serialise         - a no-op UPDATE of the user's row takes its row lock (PostgreSQL;
 *                          SQLite serialises writers anyway), so two requests racing count right;
 *   3. not paused        - after "It seemed fraudulent", pushes pause (passcodes still work);
 *   4. has a device;
 *   5. under the limit   - pushes of the window since the last approval, counted from the rows:
 *                          shared by every process and kept over restarts (push bombing);
 *   6. one pending       - an older pending push of the user expires (and counts as nothing);
 *   7. create            - the row, with the number to type (verified push), 60 s to answer.
 * Then, after the commit, the devices are told (SSE through the hub, and Web Push).
 */
export async function startPush(ctx: AppContext, login: AttemptOf<PushSubject>, actor: Actor, log: FastifyBaseLogger, shown: PushShown = {}): Promise<PushStart> {
  const { subject: user, attempt } = login;
  const firm = { id: user.firm_id };
  const now = ctx.clock.now();
  assertNotLocked(user, now);
  const policy = await loadLoginPolicy(ctx.db, firm.id);
  const started = await ctx.db.transaction().execute(async (tx) => {
    const me = await tx
      .updateTable('users')
      .set((eb) => ({ push_paused_until: eb.ref('push_paused_until') }))
      .where('id', '=', user.id)
      .where('firm_id', '=', firm.id)
      .returning('push_paused_until')
      .executeTakeFirstOrThrow();
    const paused = me.push_paused_until === null ? null : Number(me.push_paused_until);
    if (paused !== null && paused > now) throw pushPaused(paused, now);
    const devices = await activeDevices(tx, user);
    if (devices.length === 0) throw noPushDevice();

    const windowStart = now - policy.pushWindowMinutes * 60_000;
    const lastApproval = await tx
      .selectFrom('push_transactions')
      .select((eb) => eb.fn.max('answered_at').as('at'))
      .where('user_id', '=', user.id)
      .where('status', '=', 'approved')
      .where('answered_at', '>', windowStart)
      .executeTakeFirst();
    const since = Math.max(windowStart, Number(lastApproval?.at ?? 0));
    const recent = await tx
      .selectFrom('push_transactions')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('user_id', '=', user.id)
      .where('created_at', '>', since)
      .executeTakeFirstOrThrow();
    if (Number(recent.n) >= policy.pushMaxPerWindow) {
      const oldestCounted = await tx
        .selectFrom('push_transactions')
        .select('created_at')
        .where('user_id', '=', user.id)
        .where('created_at', '>', since)
        .orderBy('created_at')
        .offset(Number(recent.n) - policy.pushMaxPerWindow)
        .limit(1)
        .executeTakeFirstOrThrow();
      await audit(tx, now, actor, {
        event: 'mfa.push_limited',
        firmId: firm.id,
        subjectType: 'user',
        subjectId: user.id,
        details: { pushes: Number(recent.n), windowMinutes: policy.pushWindowMinutes },
      });
      return { limited: true as const, retryAfterMs: Number(oldestCounted.created_at) + policy.pushWindowMinutes * 60_000 - now };
    }

    // A superseded push is expired and taken (completed): its waiting screen learns "expired" and no failure is counted for it.
    const superseded = await tx
      .updateTable('push_transactions')
      .set({ status: 'expired', completed_at: now, end_reason: 'superseded' })
      .where('user_id', '=', user.id)
      .where('status', '=', 'pending')
      .returning('id')
      .execute();

    const id = randomUUID();
    const number = shown.number ?? randomNumber(policy.pushNumberDigits);
    const expiresAt = now + PUSH_TTL_MS;
    const { browser, os } = describeUserAgent(actor.userAgent);
    await tx
      .insertInto('push_transactions')
      .values({
        id,
        firm_id: firm.id,
        user_id: user.id,
        session_id: attempt.sessionId,
        attempt_id: attempt.id,
        status: 'pending',
        number,
        created_at: now,
        expires_at: expiresAt,
        answered_at: null,
        answered_by: null,
        completed_at: null,
        ip: actor.ip,
        user_agent: actor.userAgent,
        context: JSON.stringify({
          browser,
          os,
          app: shown.app ?? 'Tessera',
          ...(shown.type ? { type: shown.type } : {}),
          ...(shown.displayUsername ? { displayUsername: shown.displayUsername } : {}),
          ...(shown.details?.length ? { details: shown.details } : {}),
        } satisfies PushContext),
      })
      .execute();
    await audit(tx, now, actor, {
      event: 'mfa.push_sent',
      firmId: firm.id,
      subjectType: 'user',
      subjectId: user.id,
      applicationId: attempt.applicationId,
      details: { transactionId: id, devices: devices.length, numberDigits: number.length },
    });
    return { limited: false as const, start: { transactionId: id, number, expiresAt, expiresInSeconds: PUSH_TTL_MS / 1000 }, devices, superseded: superseded.map((s) => s.id) };
  });
  metrics(ctx).push(started.limited ? 'limited' : 'sent');
  if (started.limited) throw pushLimit(policy.pushWindowMinutes, started.retryAfterMs);

  const hub = pushHub(ctx);
  for (const old of started.superseded) await hub.publish(old).catch((err) => log.error({ err }, 'push announce failed'));
  await hub.publish(started.start.transactionId).catch((err) => log.error({ err }, 'push announce failed'));
  void sendPushNotifications(ctx, started.devices, started.start.transactionId, (msg, err) => log.warn({ err }, msg)).catch((err) =>
    log.warn({ err }, 'web push failed'),
  );
  return started.start;
}

export interface WaitResult<T> {
  status: PushStatus;
  /** A denial's reason the login screen words (the number typed in the app did not match). */
  reason?: 'wrong_number';
  /** Set when the approval finished the login (in this request): the core's Authentication... */
  authentication?: Authentication;
  /** ...and what the door's `hold` made of it in the same transaction (the web door: its new session's token). */
  held?: T;
}

const loadOwn = (ctx: AppContext, { attempt, subject }: AttemptOf<PushSubject>, transactionId: string) =>
  ctx.db
    .selectFrom('push_transactions')
    .select(['id', 'status', 'expires_at', 'completed_at', 'end_reason'])
    .where('id', '=', transactionId)
    .where('user_id', '=', subject.id)
    .where('firm_id', '=', subject.firm_id)
    .where('attempt_id', '=', attempt.id)
    .executeTakeFirst();

/**
 * The login screen waiting for the answer (long-poll, at most 25 s a request): returns at once
 * when the device answers through any process (the hub), or when the push expires.
 * An approval finishes the login in this same response, exactly once (push.factor.ts takes
 * the approved row); a denial, a fraud report or an expiry counts as one failed second
 * factor, once (the row's completed_at). The approval completes the attempt (the core's
 * answerSecondFactor, src/core/second-factor.ts) into an Authentication, which the door's `hold`
 * turns into its answer in the same transaction (the web door: a new full session; a door with no
 * session: whatever it keeps, e.g. Duo's `allow` for its txid).
 */
export async function waitForPush<T>(
  ctx: AppContext,
  login: AttemptOf<PushSubject>,
  actor: Actor,
  transactionId: string,
  hold: (tx: Transaction<Database>, authentication: Authentication) => Promise<T>,
  maxWaitMs = WAIT_MAX_MS,
): Promise<WaitResult<T>> {
  let row = await loadOwn(ctx, login, transactionId);
  if (!row) throw notFound('The push request');

  if (row.status === 'pending' && Number(row.expires_at) > ctx.clock.now()) {
    let wake: () => void = () => undefined;
    const changed = new Promise<void>((resolve) => (wake = resolve));
    const unsubscribe = await pushHub(ctx).onTransaction(transactionId, () => wake());
    try {
      row = (await loadOwn(ctx, login, transactionId))!; // after subscribing: nothing announced meanwhile is missed
      if (row.status === 'pending') {
        const left = Number(row.expires_at) - ctx.clock.now();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([changed, new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, Math.min(maxWaitMs, left)))))]);
        clearTimeout(timer);
        row = (await loadOwn(ctx, login, transactionId))!;
      }
    } finally {
      unsubscribe();
    }
  }

  const now = ctx.clock.now();
  if (row.status === 'pending') {
    if (Number(row.expires_at) > now) return { status: 'pending' };
    const expired = await ctx.db.updateTable('push_transactions').set({ status: 'expired' }).where('id', '=', row.id).where('status', '=', 'pending').executeTakeFirst();
    if (Number(expired.numUpdatedRows) > 0) metrics(ctx).push('expired');
    row = (await loadOwn(ctx, login, transactionId))!;
    if (row.status === 'pending') return { status: 'pending' };
  }

  if (row.status === 'approved') {
    if (row.completed_at !== null) return { status: 'approved' };
    const { authentication, held } = await answerSecondFactor(ctx, login, actor, { method: 'push', answer: transactionId }, hold);
    return { status: 'approved', authentication, held };
  }

  // denied, fraud, expired: one failed second factor, counted by the request that takes the row.
  const status = row.status;
  let counted: 'locked' | 'failure' | null = null;
  await ctx.db.transaction().execute(async (tx) => {
    const taken = await tx
      .updateTable('push_transactions')
      .set({ completed_at: now })
      .where('id', '=', transactionId)
      .where('completed_at', 'is', null)
      .executeTakeFirst();
    if (Number(taken.numUpdatedRows) === 0) return;
    const policy = await loadLoginPolicy(tx, login.subject.firm_id);
    const failure = await recordFailure(ctx, tx, actor, login.subject, policy, { method: 'push', reason: status });
    counted = failure.locked ? 'locked' : 'failure';
  });
  if (counted) metrics(ctx).login('push', counted);
  return row.end_reason === 'wrong_number' ? { status, reason: 'wrong_number' } : { status };
}

/**
 * The pending pushes of a user whose login ended another way (answered with another factor,
 * signed out, a password change): expired as `cancelled` and announced, so the phone drops them
 * at once (the device stream's `withdrawn` event) instead of asking about a login that is over.
 * Called by a door after such an ending has committed; the device API already ignores and
 * refuses a push whose attempt is gone (device.service.ts), so a missed call costs only the
 * phone's next poll.
 */
export async function withdrawEndedPushes(ctx: AppContext, userId: string, log: FastifyBaseLogger): Promise<void> {
  try {
    await withdraw(ctx, userId, log);
  } catch (err) {
    // The login itself has ended (committed) already: its answer stands; the phone's poll catches up.
    log.warn({ err }, 'withdrawing ended pushes failed');
  }
}

async function withdraw(ctx: AppContext, userId: string, log: FastifyBaseLogger): Promise<void> {
  const now = ctx.clock.now();
  const withdrawn = await ctx.db
    .updateTable('push_transactions')
    .set({ status: 'expired', completed_at: now, end_reason: 'cancelled' })
    .where('user_id', '=', userId)
    .where('status', '=', 'pending')
    .where((eb) => eb.not(eb.exists(eb.selectFrom('login_attempts').select('login_attempts.id').whereRef('login_attempts.id', '=', 'push_transactions.attempt_id'))))
    .returning('id')
    .execute();
  const hub = pushHub(ctx);
  for (const { id } of withdrawn) await hub.publish(id).catch((err) => log.error({ err }, 'push announce failed'));
}
