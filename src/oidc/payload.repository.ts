import type { Clock } from '../clock.js';
import type { Db } from '../db/database.js';

/**
 * Housekeeping of the provider's records (oidc_payloads, written by src/oidc/adapter.ts): those
 * past their lifetime go, consumed codes included (the reuse check needs them only while they live).
 * Apart from the adapter so that housekeeping does not load oidc-provider.
 */
export async function pruneOidcPayloads(db: Db, clock: Clock): Promise<void> {
  await db.deleteFrom('oidc_payloads').where('expires_at', '<=', clock.now()).execute();
}
