import { createHash } from 'node:crypto';
import type { DbOrTx } from '../db/database.js';

/**
 * The one-time `enroll_portal_url` a Duo preauth answers for a user who must enroll (issue 15
 * item 3): a duo_transactions row of kind `enroll_portal` whose id is the SHA-256 of the link's
 * token (the token travels in the URL fragment, so no server log or Referer holds it; the
 * database alone opens nothing). The web door uses it up here, with one conditional UPDATE (of
 * two uses at once, one wins), to open the user's enrollment (login.routes.ts).
 */
export const enrollLinkId = (token: string) => createHash('sha256').update(token, 'utf8').digest('base64url');

export interface EnrollLink {
  userId: string;
  firmId: string;
  applicationId: string;
}

/** Uses an enroll link up: its user, firm and application, or null when it is unknown, used or expired. */
export async function consumeEnrollLink(db: DbOrTx, token: string, now: number): Promise<EnrollLink | null> {
  const row = await db
    .updateTable('duo_transactions')
    .set({ used_at: now, result: 'allow', status: 'used' })
    .where('id', '=', enrollLinkId(token))
    .where('kind', '=', 'enroll_portal')
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .returning(['user_id', 'firm_id', 'application_id'])
    .executeTakeFirst();
  return row ? { userId: row.user_id, firmId: row.firm_id, applicationId: row.application_id } : null;
}
