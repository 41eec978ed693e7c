import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import type { MailContent } from './templates.js';

/**
 * Queues one mail to every active superuser of a firm (usage alerts, lockouts, fraud
 * reports, cloned keys, activation), in the caller's transaction.
 */
export async function mailSuperusers(ctx: AppContext, db: DbOrTx, firmId: string, content: MailContent): Promise<void> {
  const superusers = await db
    .selectFrom('users')
    .select('email')
    .where('firm_id', '=', firmId)
    .where('is_superuser', '=', 1)
    .where('status', '=', 'active')
    .orderBy('email')
    .execute();
  for (const su of superusers) await ctx.mail.enqueue(db, { firmId, to: su.email, ...content });
}
