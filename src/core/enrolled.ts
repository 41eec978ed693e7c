import type { ExpressionBuilder } from 'kysely';
import type { Database, DbOrTx } from '../db/database.js';
import { ownedBy, type FactorUser } from '../factors/factor.js';

/**
 * "Enrolled", defined once (DESIGN.md: the user has at least one active authenticator):
 *  - a firm user is enrolled while they hold a seat. The seat is taken in the transaction that
 *    activates their first authenticator and freed by the reset that removes their last one
 *    (enrollment-reset.ts), so the two say the same, and the seat is what the licence counts,
 *    the Enrolled Users list shows and an index answers;
 *  - an operator holds no seat (operators belong to no firm): enrolled while they have an
 *    active authenticator.
 * enrolledSql is its SQL twin for queries over `users` (the directory's list, the enablement
 * mails): the same seat, of the row's own firm.
 */
export async function isEnrolled(db: DbOrTx, owner: FactorUser): Promise<boolean> {
  if (owner.firm_id === null) {
    const row = await db.selectFrom('authenticators').select('id').where(ownedBy('authenticators', owner)).where('status', '=', 'active').executeTakeFirst();
    return row !== undefined;
  }
  const row = await db.selectFrom('seats').select('user_id').where('user_id', '=', owner.id).where('firm_id', '=', owner.firm_id).executeTakeFirst();
  return row !== undefined;
}

/** SQL: the `users` row being read is enrolled (holds a seat of its firm). The twin of isEnrolled. */
export const enrolledSql = (eb: ExpressionBuilder<Database, 'users'>) =>
  eb.exists(eb.selectFrom('seats').select('seats.user_id').whereRef('seats.user_id', '=', 'users.id').whereRef('seats.firm_id', '=', 'users.firm_id'));
