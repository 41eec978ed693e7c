import { createHash, randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import { HOUR } from '../clock.js';
import type { DbOrTx } from '../db/database.js';
import type { AuthAttempt } from './auth-attempt.table.js';

export interface ThrottlePolicy {
  /** Consecutive failures (since the last success) that cost nothing. */
  freeFailures: number;
  /** The delay after the first paid failure; it doubles with each further one. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Hard cap of failed attempts in any rolling hour. */
  hourlyCap: number;
}

/** Per submitted account: no account sees more than 100 failures an hour (issue 2). */
export const ACCOUNT_POLICY: ThrottlePolicy = { freeFailures: 5, baseDelayMs: 1000, maxDelayMs: 60_000, hourlyCap: 100 };
/** Per client IP: more room (offices share addresses), but a spray across accounts still slows down. */
export const IP_POLICY: ThrottlePolicy = { freeFailures: 20, baseDelayMs: 1000, maxDelayMs: 60_000, hourlyCap: 1000 };

export function delayAfter(consecutiveFailures: number, p: ThrottlePolicy): number {
  if (consecutiveFailures < p.freeFailures) return 0;
  return Math.min(p.baseDelayMs * 2 ** (consecutiveFailures - p.freeFailures), p.maxDelayMs);
}

/**
 * The throttling key of a submitted account. It is derived from what was typed, not
 * from a database row, so unknown addresses are throttled exactly like real ones and
 * the answers do not tell them apart.
 */
export function accountKey(realm: string, email: string): string {
  return createHash('sha256').update(`${realm}\n${email.trim().toLowerCase()}`).digest('base64url');
}

export type ThrottleDecision = { allowed: true; ticket: string[] } | { allowed: false; retryAfterMs: number };

/**
 * Reserves an attempt for every key, or refuses. The row is inserted *before* counting,
 * and pending rows of others count as failures: the k-th concurrent attempt always sees
 * at least k-1 others, so even a burst of parallel requests cannot exceed the hourly cap.
 */
export async function reserveAttempt(
  db: DbOrTx,
  clock: Clock,
  keys: { scope: AuthAttempt['scope']; key: string; policy: ThrottlePolicy }[],
): Promise<ThrottleDecision> {
  const now = clock.now();
  const ticket: string[] = [];
  let retryAfterMs = 0;
  for (const k of keys) {
    const id = randomUUID();
    ticket.push(id);
    await db.insertInto('auth_attempts').values({ id, scope: k.scope, key: k.key, at: now, outcome: 'pending' }).execute();
    const lastSuccess =
      (
        await db
          .selectFrom('auth_attempts')
          .select((eb) => eb.fn.max('at').as('at'))
          .where('scope', '=', k.scope)
          .where('key', '=', k.key)
          .where('outcome', '=', 'success')
          .where('at', '>', now - HOUR)
          .executeTakeFirst()
      )?.at ?? null;
    const row = await db
      .selectFrom('auth_attempts')
      .select((eb) => [
        eb.fn.countAll<number>().as('inHour'),
        eb.fn.count<number>(eb.case().when('at', '>=', lastSuccess ?? -1).then(1).end()).as('consecutive'),
        eb.fn.max('at').as('last'),
      ])
      .where('scope', '=', k.scope)
      .where('key', '=', k.key)
      .where('outcome', 'in', ['pending', 'failure'])
      .where('at', '>', now - HOUR)
      .where('id', '!=', id)
      .executeTakeFirstOrThrow();
    const inHour = Number(row.inHour);
    const consecutive = Number(row.consecutive);
    if (inHour >= k.policy.hourlyCap) {
      retryAfterMs = Math.max(retryAfterMs, await capLiftsIn(db, k.scope, k.key, now, inHour - k.policy.hourlyCap + 1));
    } else if (row.last !== null) {
      // No delay due, no wait: a concurrent attempt that read the clock a moment after us
      // makes `last` later than `now`, which must not refuse a good login (an office's
      // logins share one address).
      const delay = delayAfter(consecutive, k.policy);
      const wait = delay > 0 ? Number(row.last) + delay - now : 0;
      if (wait > 0) retryAfterMs = Math.max(retryAfterMs, wait);
    }
  }
  if (retryAfterMs > 0) {
    await db.updateTable('auth_attempts').set({ outcome: 'refused' }).where('id', 'in', ticket).execute();
    return { allowed: false, retryAfterMs };
  }
  return { allowed: true, ticket };
}

/** When the n-th oldest failure in the window leaves it. */
async function capLiftsIn(db: DbOrTx, scope: AuthAttempt['scope'], key: string, now: number, n: number): Promise<number> {
  const row = await db
    .selectFrom('auth_attempts')
    .select('at')
    .where('scope', '=', scope)
    .where('key', '=', key)
    .where('outcome', 'in', ['pending', 'failure'])
    .where('at', '>', now - HOUR)
    .orderBy('at')
    .offset(n - 1)
    .limit(1)
    .executeTakeFirst();
  return Math.max(1000, (row ? Number(row.at) + HOUR : now + HOUR) - now);
}

export async function settleAttempt(db: DbOrTx, ticket: string[], outcome: 'failure' | 'success'): Promise<void> {
  await db.updateTable('auth_attempts').set({ outcome }).where('id', 'in', ticket).execute();
}

/**
 * Turns the latest counted attempt of a key into a success: for a key whose attempts are counted
 * before anybody knows how they end (a passkey sign-in's options), the sign-in that followed
 * them. It ends the run of failures (no growing delay) and leaves the hour's cap to the rest.
 */
export async function settleLatestAsSuccess(db: DbOrTx, scope: AuthAttempt['scope'], key: string): Promise<void> {
  const latest = db.selectFrom('auth_attempts').select('id').where('scope', '=', scope).where('key', '=', key).where('outcome', '=', 'failure').orderBy('at', 'desc').limit(1);
  await db.updateTable('auth_attempts').set({ outcome: 'success' }).where('id', '=', (eb) => eb.selectFrom(latest.as('l')).select('l.id')).execute();
}

/** Rows older than a day matter to nobody. */
export async function pruneAttempts(db: DbOrTx, clock: Clock): Promise<void> {
  await db.deleteFrom('auth_attempts').where('at', '<', clock.now() - 24 * HOUR).execute();
}
