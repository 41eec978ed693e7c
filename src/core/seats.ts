import { audit, type Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';

/** Is a seat free in the firm's subscription right now? (Taking one is subscriptions/seat.service.ts takeSeat.) */
export async function seatAvailable(db: DbOrTx, firmId: string): Promise<boolean> {
  const sub = await db.selectFrom('subscriptions').select(['seats_used', 'licence_count', 'state']).where('firm_id', '=', firmId).executeTakeFirst();
  return !!sub && sub.state === 'active' && sub.seats_used < sub.licence_count;
}

/** Counts and audits a login let through on the password alone because no seat was free (reference A.2.7). */
export async function recordBypass(ctx: AppContext, db: DbOrTx, actor: Actor, userId: string, firmId: string): Promise<void> {
  await db
    .updateTable('subscriptions')
    .set((eb) => ({ bypass_logins: eb('bypass_logins', '+', 1) }))
    .where('firm_id', '=', firmId)
    .execute();
  await audit(db, ctx.clock.now(), actor, { event: 'login.mfa_bypassed_no_seat', firmId, subjectType: 'user', subjectId: userId });
}
