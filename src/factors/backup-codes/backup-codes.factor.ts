import { randomInt, randomUUID } from 'node:crypto';
import type { AppContext } from '../../context.js';
import type { DbOrTx } from '../../db/database.js';
import { ownedBy, ownerColumns, type FactorUser, type LoginFactor } from '../factor.js';

export const BACKUP_CODE_COUNT = 10;
/** Crockford's base32: no I, L, O or U, so codes read aloud or copied by hand survive. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const MAC_PURPOSE = 'backup-code';

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
 * (HMAC under a key derived from the master key), never reversible. Returns the codes,
 * which are shown once.
 */
export async function issueBackupCodes(ctx: AppContext, db: DbOrTx, owner: FactorUser): Promise<string[]> {
  await db.deleteFrom('backup_codes').where(ownedBy('backup_codes', owner)).execute();
  const codes = Array.from({ length: BACKUP_CODE_COUNT }, newCode);
  const now = ctx.clock.now();
  await db
    .insertInto('backup_codes')
    .values(
      codes.map((code) => {
        const { keyId, mac } = ctx.secrets.mac(MAC_PURPOSE, normaliseBackupCode(code));
        return { id: randomUUID(), ...ownerColumns(owner), code_hash: mac, key_id: keyId, created_at: now, used_at: null };
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

export const backupCodeFactor: LoginFactor = {
  method: 'backup_code',
  async available(db, user) {
    return (await unusedBackupCodes(db, user)) > 0;
  },
  async verify(ctx, db, user, code) {
    if (typeof code !== 'string') return { ok: false, reason: 'wrong' };
    const typed = normaliseBackupCode(code);
    if (!/^[0-9A-Z]{10}$/.test(typed)) return { ok: false, reason: 'wrong' };
    const rows = await db.selectFrom('backup_codes').selectAll().where(ownedBy('backup_codes', user)).execute();
    // Every row is compared (constant-time each), so timing does not tell which one matched.
    let match: (typeof rows)[number] | undefined;
    for (const r of rows) if (ctx.secrets.macMatches(MAC_PURPOSE, typed, r.key_id, r.code_hash)) match = r;
    if (!match) return { ok: false, reason: 'wrong' };
    const used = await db.updateTable('backup_codes').set({ used_at: ctx.clock.now() }).where('id', '=', match.id).where('used_at', 'is', null).executeTakeFirst();
    return Number(used.numUpdatedRows) === 1 ? { ok: true, authenticatorId: null } : { ok: false, reason: 'replay' };
  },
  async reset(db, owner) {
    await db.deleteFrom('backup_codes').where(ownedBy('backup_codes', owner)).execute();
  },
};
