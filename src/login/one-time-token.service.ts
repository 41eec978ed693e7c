import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import { AppError } from '../errors.js';
import { hashToken, newToken } from '../sessions/session.service.js';
import type { OneTimeToken, OneTimeTokenPurpose } from './one-time-token.table.js';

export const linkInvalid = () =>
  new AppError('LINK_INVALID', 410, 'This link has expired or was already used. Ask your administrator for a new one.');

export interface TokenSubject {
  purpose: OneTimeTokenPurpose;
  operatorId?: string | null;
  userId?: string | null;
  firmId?: string | null;
}

/**
 * Issues a single-use link and returns its URL. Older unused links of the same account
 * stop working: only the newest one mailed is valid. The token travels in the URL
 * fragment, so it never reaches server logs or Referer headers.
 */
export async function issueLink(ctx: AppContext, db: DbOrTx, subject: TokenSubject): Promise<string> {
  const token = newToken();
  const now = ctx.clock.now();
  if (subject.userId) {
    await db.updateTable('one_time_tokens').set({ used_at: now }).where('user_id', '=', subject.userId).where('used_at', 'is', null).execute();
  }
  if (subject.operatorId) {
    await db.updateTable('one_time_tokens').set({ used_at: now }).where('operator_id', '=', subject.operatorId).where('used_at', 'is', null).execute();
  }
  await db
    .insertInto('one_time_tokens')
    .values({
      id: hashToken(token),
      purpose: subject.purpose,
      operator_id: subject.operatorId ?? null,
      user_id: subject.userId ?? null,
      firm_id: subject.firmId ?? null,
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
    .returningAll()
    .executeTakeFirst();
  if (!row) throw linkInvalid();
  return row;
}
