import { createHmac, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import { sql, type SqlBool } from 'kysely';
import type { AppContext } from '../../context.js';
import { openStored, resealOnUse, sealedServerKeys, type SealedColumn } from '../../crypto/reseal.js';
import { SecretUnavailable } from '../../crypto/secret-box.js';
import type { DbOrTx } from '../../db/database.js';
import { ownedBy, ownerColumns, type FactorUser, type LoginFactor } from '../factor.js';

export const BACKUP_CODE_COUNT = 10;
/** Crockford's base32: no I, L, O or U, so codes read aloud or copied by hand survive. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const MAC_PURPOSE = 'backup-code';

/*
 * How a backup code is stored, and how that survives a master-key rotation.
 *
 * A code is compared, never read back, so it is stored as a MAC: HMAC-SHA256 of the code under
 * a key derived (HKDF) from the master key current when it was issued, whose id is `key_id`.
 * A MAC cannot be recomputed without the code, so rotation cannot re-MAC the codes a user has
 * not used yet. Instead two layers:
 *   - the MAC itself is sealed (AES-256-GCM, bound to the row id) under the current master key
 *     in `code_hash`: this outer layer is re-sealed like every other secret (on use, by the
 *     re-seal job), so a copy of the database is worth nothing without the *current* key, even
 *     to someone who holds a retired one;
 *   - the MAC key of a retired master key is kept, sealed under the current master key, in
 *     server_keys (`backup_code_key:<key id>`) by the re-seal job, before the retired key may
 *     go: codes issued before the rotation keep working once it is removed. It is dropped when
 *     no code uses it any more; codes issued since use the current key's MAC key.
 * Codes stored before this scheme hold the bare MAC (43 base64url characters); the same
 * re-seal seals them.
 */

/** The backup codes' sealed MACs (legacy rows: the bare MAC, sealed by the next re-seal). */
export const BACKUP_CODES: SealedColumn = {
  label: 'backup codes',
  table: 'backup_codes',
  id: 'id',
  value: 'code_hash',
  aad: (id) => id,
  legacyPlaintext: (value) => (/^[A-Za-z0-9_-]{43}$/.test(value) ? Buffer.from(value, 'base64url') : null),
};

const KEPT_KEY_PREFIX = 'backup_code_key:';

/** The MAC keys of retired master keys, kept sealed under the current master key. */
export const BACKUP_CODE_MAC_KEYS = sealedServerKeys('backup-code MAC keys of retired master keys', sql<SqlBool>`${sql.ref('name')} like ${KEPT_KEY_PREFIX + '%'}`);

const macOf = (key: Buffer, typed: string) => createHmac('sha256', key).update(typed).digest();

/**
 * The MAC key of each key id: derived from its master key while that is configured, else the
 * kept copy (re-sealed on use when it was sealed under a retired key). Throws SecretUnavailable
 * for a key id neither opens.
 */
async function macKeys(ctx: AppContext, db: DbOrTx, keyIds: Iterable<string>): Promise<Map<string, Buffer>> {
  const keys = new Map<string, Buffer>();
  for (const keyId of keyIds) {
    if (keys.has(keyId)) continue;
    const derived = ctx.secrets.derivedKey(MAC_PURPOSE, keyId);
    if (derived) {
      keys.set(keyId, derived);
      continue;
    }
    const name = KEPT_KEY_PREFIX + keyId;
    const kept = await db.selectFrom('server_keys').select('value').where('name', '=', name).executeTakeFirst();
    if (!kept) throw new SecretUnavailable(keyId, 'unknown_key');
    const key = ctx.secrets.open(kept.value, name);
    await resealOnUse(ctx, db, BACKUP_CODE_MAC_KEYS, name, kept.value, key);
    keys.set(keyId, key);
  }
  return keys;
}

/**
 * Before a retired master key may go: the MAC key of each of its codes is kept, sealed under
 * the current master key (insert-or-ignore: several processes may do it at once). The re-seal
 * job calls it for every key id in use, a verification for the user's own.
 */
export async function keepRetiredMacKeys(ctx: AppContext, db: DbOrTx, keyIds?: Iterable<string>): Promise<void> {
  const ids = keyIds ? new Set(keyIds) : new Set((await db.selectFrom('backup_codes').select('key_id').distinct().execute()).map((r) => r.key_id));
  for (const keyId of ids) {
    const key = keyId === ctx.secrets.current.id ? null : ctx.secrets.derivedKey(MAC_PURPOSE, keyId);
    if (!key) continue;
    const name = KEPT_KEY_PREFIX + keyId;
    await db
      .insertInto('server_keys')
      .values({ name, value: ctx.secrets.seal(key, name), created_at: ctx.clock.now() })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
  }
}

/** Kept MAC keys that no backup code uses any more (their codes were used up or replaced) are deleted: key material kept no longer than needed. */
export async function dropUnusedMacKeys(db: DbOrTx): Promise<void> {
  await db
    .deleteFrom('server_keys')
    .where('name', 'like', KEPT_KEY_PREFIX + '%')
    .where((eb) => eb.not(eb.exists(eb.selectFrom('backup_codes').select('backup_codes.id').where(sql<SqlBool>`${sql.lit(KEPT_KEY_PREFIX)} || backup_codes.key_id = server_keys.name`))))
    .execute();
}

/** The key ids of backup codes that no configured master key and no kept MAC key opens (for the report of `--reseal`). */
export async function unopenableMacKeyIds(ctx: AppContext, db: DbOrTx): Promise<Record<string, number>> {
  const rows = await db.selectFrom('backup_codes').select(['key_id', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('key_id').execute();
  const out: Record<string, number> = {};
  for (const r of rows) {
    if (ctx.secrets.knows(r.key_id)) continue;
    const kept = await db.selectFrom('server_keys').select('name').where('name', '=', KEPT_KEY_PREFIX + r.key_id).executeTakeFirst();
    if (!kept) out[r.key_id] = Number(r.n);
  }
  return out;
}

/** One code: 10 symbols (50 bits), shown as XXXXX-XXXXX. */
function newCode(): string {
  let s = '';
  for (let i = 0; i < 10; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return `${s.slice(0, 5)}-${s.slice(5)}`;
}

/** What the user typed, in the form the code was hashed in: upper case, no separators, Crockford's look-alikes mapped. */
export function normaliseBackupCode(input: string): string {
  return input
    .toUpperCase()
    .replace(/[\s-]/g, '')
    .replace(/[IL]/g, '1')
    .replace(/O/g, '0');
}

/**
 * A new set of backup codes for a user; the old set stops working. Stored as keyed hashes
 * (HMAC under a key derived from the master key), never reversible, themselves sealed (see
 * above). Returns the codes, which are shown once.
 */
export async function issueBackupCodes(ctx: AppContext, db: DbOrTx, owner: FactorUser): Promise<string[]> {
  await db.deleteFrom('backup_codes').where(ownedBy('backup_codes', owner)).execute();
  const codes = Array.from({ length: BACKUP_CODE_COUNT }, newCode);
  const now = ctx.clock.now();
  const key = ctx.secrets.derivedKey(MAC_PURPOSE)!;
  await db
    .insertInto('backup_codes')
    .values(
      codes.map((code) => {
        const id = randomUUID();
        const mac = macOf(key, normaliseBackupCode(code));
        return { id, ...ownerColumns(owner), code_hash: ctx.secrets.seal(mac, BACKUP_CODES.aad(id)), key_id: ctx.secrets.current.id, created_at: now, used_at: null };
      }),
    )
    .execute();
  return codes;
}

export async function unusedBackupCodes(db: DbOrTx, owner: FactorUser): Promise<number> {
  const row = await db
    .selectFrom('backup_codes')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where(ownedBy('backup_codes', owner))
    .where('used_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export const backupCodeFactor: LoginFactor<'backup_code'> = {
  method: 'backup_code',
  async available(db, user) {
    return (await unusedBackupCodes(db, user)) > 0;
  },
  async verify(ctx, db, user, code) {
    if (typeof code !== 'string') return { ok: false, reason: 'wrong' };
    const typed = normaliseBackupCode(code);
    if (!/^[0-9A-Z]{10}$/.test(typed)) return { ok: false, reason: 'wrong' };
    // In one order for every request: two attempts re-sealing the same rows lock them alike (no deadlock).
    const rows = await db.selectFrom('backup_codes').selectAll().where(ownedBy('backup_codes', user)).orderBy('id').execute();
    // Every key and stored MAC is opened before anything is compared: one that no configured key
    // opens stops the step (503), rather than count as a wrong code or tell about the others.
    const keys = await macKeys(ctx, db, rows.map((r) => r.key_id));
    const stored = rows.map((r) => openStored(ctx.secrets, BACKUP_CODES, r.id, r.code_hash));
    // Every row is compared (constant-time each), so timing does not tell which one matched.
    let match: (typeof rows)[number] | undefined;
    for (const [i, r] of rows.entries()) {
      const mac = macOf(keys.get(r.key_id)!, typed);
      if (mac.length === stored[i]!.length && timingSafeEqual(mac, stored[i]!)) match = r;
    }
    // Key rotation, on use: the user's MACs sealed under the current key, their MAC keys kept.
    await keepRetiredMacKeys(ctx, db, keys.keys());
    for (const [i, r] of rows.entries()) await resealOnUse(ctx, db, BACKUP_CODES, r.id, r.code_hash, stored[i]!);
    if (!match) return { ok: false, reason: 'wrong' };
    const used = await db.updateTable('backup_codes').set({ used_at: ctx.clock.now() }).where('id', '=', match.id).where('used_at', 'is', null).executeTakeFirst();
    return Number(used.numUpdatedRows) === 1 ? { ok: true, authenticatorId: null } : { ok: false, reason: 'replay' };
  },
  async reset(db, owner) {
    await db.deleteFrom('backup_codes').where(ownedBy('backup_codes', owner)).execute();
  },
};
