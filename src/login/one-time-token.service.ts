import type { ExpressionBuilder } from 'kysely';
import type { AppContext } from '../context.js';
import type { Database, DbOrTx } from '../db/database.js';
import { AppError } from '../core/errors.js';
import { hashToken, newToken } from '../sessions/session.service.js';
import type { OneTimeToken, OneTimeTokenPurpose } from './one-time-token.table.js';

export const linkInvalid = () =>
  new AppError('LINK_INVALID');

export interface TokenSubject {
  purpose: OneTimeTokenPurpose;
  operatorId?: string | null;
  userId?: string | null;
  firmId?: string | null;
  /** The address the link is mailed to (a setup link: the operator's current address); the link is bound to it. */
  email: string;
}

/** Whose links: a firm user's or an operator's. */
export type LinkHolder = { userId: string } | { operatorId: string };

/**
 * Voids every unused link of an account, in ONE statement, in the caller's transaction: when a
 * newer link is issued, and when the account's address changes or the account is disabled
 * (issue 12, item 2). A link mailed to a mistyped address must not outlive its correction: whoever
 * owns the mistyped domain would set the password and own the account.
 */
export async function voidLinks(db: DbOrTx, holder: LinkHolder, now: number): Promise<void> {
  const q = db.updateTable('one_time_tokens').set({ used_at: now }).where('used_at', 'is', null);
  await ('userId' in holder ? q.where('user_id', '=', holder.userId) : q.where('operator_id', '=', holder.operatorId)).execute();
}

/**
 * The link's account still has the address the link was mailed to. Voiding at every address
 * change already kills such links; this is the second lock, in the very statement that reads or
 * uses the link, for a change that did not go through the service (a manual fix in the database,
 * a future code path). A link without an address (issued before migration 0010) matches nothing.
 */
const stillAddressed = (eb: ExpressionBuilder<Database, 'one_time_tokens'>) =>
  eb.or([
    eb.exists(
      eb
        .selectFrom('users')
        .select('users.id')
        .whereRef('users.id', '=', 'one_time_tokens.user_id')
        .whereRef('users.firm_id', '=', 'one_time_tokens.firm_id')
        .whereRef('users.email', '=', 'one_time_tokens.email'),
    ),
    eb.exists(
      eb
        .selectFrom('operators')
        .select('operators.id')
        .whereRef('operators.id', '=', 'one_time_tokens.operator_id')
        .whereRef('operators.email', '=', 'one_time_tokens.email'),
    ),
  ]);

/**
 * Issues a single-use link and returns its URL. Older unused links of the same account
 * stop working: only the newest one mailed is valid. The token travels in the URL
 * fragment, so it never reaches server logs or Referer headers.
 */
export async function issueLink(ctx: AppContext, db: DbOrTx, subject: TokenSubject): Promise<string> {
  const token = newToken();
  const now = ctx.clock.now();
  if (subject.userId) await voidLinks(db, { userId: subject.userId }, now);
  if (subject.operatorId) await voidLinks(db, { operatorId: subject.operatorId }, now);
  await db
    .insertInto('one_time_tokens')
    .values({
      id: hashToken(token),
      purpose: subject.purpose,
      operator_id: subject.operatorId ?? null,
      user_id: subject.userId ?? null,
      firm_id: subject.firmId ?? null,
      email: subject.email,
      created_at: now,
      expires_at: now + ctx.config.oneTimeLinkMs,
      used_at: null,
    })
    .execute();
  return new URL(`/set-password#${token}`, ctx.config.publicUrl).toString();
}

/** The token behind a link, if it is still usable; throws LINK_INVALID otherwise. Consumes nothing. */
export async function peekToken(ctx: AppContext, token: string): Promise<OneTimeToken> {
  const row = await ctx.db
    .selectFrom('one_time_tokens')
    .selectAll()
    .where('id', '=', hashToken(token))
    .where('used_at', 'is', null)
    .where('expires_at', '>', ctx.clock.now())
    .where(stillAddressed)
    .executeTakeFirst();
  if (!row) throw linkInvalid();
  return row;
}

/** Uses the token up in one conditional UPDATE: of two concurrent uses, exactly one wins. */
export async function consumeToken(ctx: AppContext, db: DbOrTx, token: string): Promise<OneTimeToken> {
  const now = ctx.clock.now();
  const row = await db
    .updateTable('one_time_tokens')
    .set({ used_at: now })
    .where('id', '=', hashToken(token))
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .where(stillAddressed)
    .returningAll()
    .executeTakeFirst();
  if (!row) throw linkInvalid();
  return row;
}
