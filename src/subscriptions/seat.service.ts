import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import { mailSuperusers } from '../notify/superusers.js';
import { templates } from '../notify/templates.js';

export type SeatResult = 'taken' | 'already_held' | 'no_seat';

/**
 * Takes a seat for a user whose first authenticator is being confirmed; call it in the
 * transaction that activates the authenticator, and roll back on 'no_seat'.
 *
 * Race-free on SQLite and PostgreSQL without reading first:
 *  1. INSERT the seat row, ON CONFLICT DO NOTHING: a user's second authenticator (or a
 *     concurrent confirmation of the same user) finds it held and takes nothing more;
 *  2. one conditional UPDATE `seats_used = seats_used + 1 WHERE seats_used < licence_count`
 *     on the firm's subscription row, which the database serialises: of N concurrent
 *     takers for the last seat, exactly one matches.
 */
export async function takeSeat(ctx: AppContext, db: DbOrTx, firmId: string, userId: string): Promise<SeatResult> {
  const now = ctx.clock.now();
  const inserted = await db
    .insertInto('seats')
    .values({ user_id: userId, firm_id: firmId, taken_at: now })
    .onConflict((oc) => oc.column('user_id').doNothing())
    .executeTakeFirst();
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) return 'already_held';
  const counted = await db
    .updateTable('subscriptions')
    .set((eb) => ({ seats_used: eb('seats_used', '+', 1) }))
    .where('firm_id', '=', firmId)
    .where('state', '=', 'active')
    .whereRef('seats_used', '<', 'licence_count')
    .executeTakeFirst();
  if (Number(counted.numUpdatedRows) === 0) {
    await db.deleteFrom('seats').where('user_id', '=', userId).execute();
    return 'no_seat';
  }
  await checkUsageAlerts(ctx, db, firmId);
  return 'taken';
}

/** Frees a user's seat, if they hold one. Returns whether one was freed. */
export async function releaseSeat(ctx: AppContext, db: DbOrTx, firmId: string, userId: string): Promise<boolean> {
  const deleted = await db.deleteFrom('seats').where('user_id', '=', userId).where('firm_id', '=', firmId).executeTakeFirst();
  if (Number(deleted.numDeletedRows) === 0) return false;
  await db
    .updateTable('subscriptions')
    .set((eb) => ({ seats_used: eb('seats_used', '-', 1) }))
    .where('firm_id', '=', firmId)
    .where('seats_used', '>', 0)
    .execute();
  await checkUsageAlerts(ctx, db, firmId);
  return true;
}

const THRESHOLDS = [
  { percent: 80 as const, flag: 'alert_80_sent' as const },
  { percent: 100 as const, flag: 'alert_100_sent' as const },
];

/**
 * Mails every superuser of the firm when usage crosses 80% and 100% upwards (A.2.8), once
 * per crossing: the flag is set by a conditional UPDATE (flag 0 -> 1), so of two processes
 * seeing the crossing at once only one mails. Falling back below a threshold, or a larger
 * licence count, re-arms it (flag 1 -> 0).
 */
export async function checkUsageAlerts(ctx: AppContext, db: DbOrTx, firmId: string): Promise<void> {
  const sub = await db.selectFrom('subscriptions').selectAll().where('firm_id', '=', firmId).executeTakeFirst();
  if (!sub || sub.licence_count <= 0) return;
  for (const t of THRESHOLDS) {
    const reached = sub.seats_used * 100 >= sub.licence_count * t.percent;
    if (!reached) {
      if (sub[t.flag] === 1) await db.updateTable('subscriptions').set({ [t.flag]: 0 }).where('firm_id', '=', firmId).execute();
      continue;
    }
    const armed = await db.updateTable('subscriptions').set({ [t.flag]: 1 }).where('firm_id', '=', firmId).where(t.flag, '=', 0).executeTakeFirst();
    if (Number(armed.numUpdatedRows) === 0) continue;
    const firm = await db.selectFrom('firms').select('name').where('id', '=', firmId).executeTakeFirstOrThrow();
    const content = templates.usageThreshold({
      firmName: firm.name,
      percent: t.percent,
      enrolled: sub.seats_used,
      licenceCount: sub.licence_count,
      url: new URL('/admin/mfa', ctx.config.publicUrl).toString(),
    });
    await mailSuperusers(ctx, db, firmId, content);
  }
}
