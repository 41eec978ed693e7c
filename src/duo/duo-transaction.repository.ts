import type { DbOrTx } from '../db/database.js';

/**
 * Housekeeping of the Duo door's transactions (src/housekeeping.ts): a txid past its expiry answers
 * nothing any more (auth_status and a verified push check `expires_at`, an enroll_portal_url too),
 * so its row only grows the table. What the calls decided is in the audit log, which is kept.
 */
export async function pruneDuoTransactions(db: DbOrTx, now: number): Promise<void> {
  await db.deleteFrom('duo_transactions').where('expires_at', '<=', now).execute();
}
