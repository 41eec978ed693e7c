import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import { hashToken, newToken } from '../sessions/session.service.js';

/**
 * "Remember this browser" (issue 4.7): a random token the door keeps (the web door: a cookie,
 * mfa/pending-login.ts), its hash in the database. The decision asks isRememberedBrowser; the
 * second factor remembers; a reset, a password change or the user forgets them.
 */

/** Remembers a browser for `days`; returns the token for the cookie. */
export async function rememberBrowser(ctx: AppContext, db: DbOrTx, user: { id: string; firm_id: string }, days: number, userAgent: string | null): Promise<string> {
  const token = newToken();
  const now = ctx.clock.now();
  await db
    .insertInto('remembered_browsers')
    .values({ id: hashToken(token), firm_id: user.firm_id, user_id: user.id, created_at: now, expires_at: now + days * 86_400_000, user_agent: userAgent?.slice(0, 512) ?? null })
    .execute();
  return token;
}

/** Is this cookie token a live remembered browser of this user? */
export async function isRememberedBrowser(ctx: AppContext, db: DbOrTx, userId: string, token: string | undefined): Promise<boolean> {
  if (!token || !/^[A-Za-z0-9_-]{22}$/.test(token)) return false;
  const row = await db
    .selectFrom('remembered_browsers')
    .select('id')
    .where('id', '=', hashToken(token))
    .where('user_id', '=', userId)
    .where('expires_at', '>', ctx.clock.now())
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * Forgets every remembered browser of the user: a superuser reset, a password change, the
 * user's own "Forget remembered browsers" or removal of an authenticator. Returns how many.
 */
export async function forgetRememberedBrowsers(db: DbOrTx, userId: string): Promise<number> {
  const gone = await db.deleteFrom('remembered_browsers').where('user_id', '=', userId).executeTakeFirst();
  return Number(gone.numDeletedRows);
}
