import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import type { MailContent } from '../notify/templates.js';

/** How mails and authenticator apps name the operators' side, which belongs to no firm. */
export const PLATFORM_NAME = 'Tessera operators';

/** The operator console's list of operators, where one operator resets another's second factor. */
export const operatorsUrl = (ctx: AppContext) => new URL('/operator/operators', ctx.config.publicUrl).toString();

/**
 * Queues one mail to every active operator (an operator's lockout, a possibly cloned key of
 * an operator): the operators' counterpart of mailing a firm's superusers.
 */
export async function mailOperators(ctx: AppContext, db: DbOrTx, content: MailContent): Promise<void> {
  const ops = await db.selectFrom('operators').select('email').where('status', '=', 'active').where('password_hash', 'is not', null).orderBy('email').execute();
  for (const op of ops) await ctx.mail.enqueue(db, { firmId: null, to: op.email, ...content });
}
