import { sql, type RawBuilder, type SqlBool } from 'kysely';
import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import { SecretUnavailable, type SecretBox } from './secret-box.js';

/**
 * Master-key rotation, the part after "set the new key": every value sealed under a retired key
 * is re-sealed under the current one, on use (the code that opens a value writes it back) and
 * by the re-seal job (crypto/reseal.job.ts), so the retired key can then be removed.
 *
 * Each write is ONE conditional UPDATE that replaces the value only if the row still holds the
 * value that was read (compare-and-swap): any number of processes may re-seal the same rows at
 * once (the job on two nodes, a login re-sealing on use), and a value changed meanwhile (a new
 * enrollment, another re-seal) is never overwritten with an older secret.
 */

/** One column of sealed values, as the re-seal job walks it. Adding a sealed column is one of these and one line in the job's list. */
export interface SealedColumn {
  /** Plural, for the report of `--reseal`. */
  label: string;
  table: string;
  /** The primary key column (text). */
  id: string;
  /** The column holding the sealed value. */
  value: string;
  /** Narrows the table to its sealed rows (server_keys also holds public keys). */
  where?: RawBuilder<SqlBool>;
  /** The associated data each value is sealed with (binds it to its row). */
  aad(id: string): string;
  /**
   * The plaintext of a value written before it was sealed, or null. Backup-code MACs were
   * stored bare before sealing; every other column has always been sealed.
   */
  legacyPlaintext?(value: string): Buffer | null;
}

/** Sealed rows of server_keys (name, value), each bound to its name; `where` picks the rows (the table holds public keys too). */
export const sealedServerKeys = (label: string, where: RawBuilder<SqlBool>): SealedColumn => ({ label, table: 'server_keys', id: 'name', value: 'value', where, aad: (name) => name });

/** The plaintext of a stored value of this column; throws SecretUnavailable when no configured key opens it. */
export function openStored(box: SecretBox, column: SealedColumn, id: string, value: string): Buffer {
  if (value.startsWith('v1.')) return box.open(value, column.aad(id));
  const legacy = column.legacyPlaintext?.(value);
  if (!legacy) throw new SecretUnavailable(null, 'malformed');
  return legacy;
}

/** Replaces `from` with `to` if the row still holds `from`; true when this call did it. */
async function swap(db: DbOrTx, column: SealedColumn, id: string, from: string, to: string): Promise<boolean> {
  const done = await sql`update ${sql.table(column.table)} set ${sql.ref(column.value)} = ${to} where ${sql.ref(column.id)} = ${id} and ${sql.ref(column.value)} = ${from}`.execute(db);
  return Number(done.numAffectedRows ?? 0n) === 1;
}

/**
 * On use: the caller has opened `stored` (its plaintext is `plaintext`); if it is not sealed
 * under the current key, it is written back sealed under it. Losing the race to another writer
 * is fine: that writer's value is as good.
 */
export async function resealOnUse(ctx: AppContext, db: DbOrTx, column: SealedColumn, id: string, stored: string, plaintext: Buffer): Promise<void> {
  if (!ctx.secrets.isStale(stored)) return;
  await swap(db, column, id, stored, ctx.secrets.seal(plaintext, column.aad(id)));
}

export interface ColumnReport {
  label: string;
  /** Values this pass re-sealed under the current key. */
  resealed: number;
  /** Values no configured key opens, by the key id they name ('?' for a malformed value). */
  unopenable: Record<string, number>;
  /** After the pass: values still not sealed under the current key (the unopenable ones, and any a node on the old key wrote meanwhile). */
  left: number;
}

const PAGE = 200;

const notCurrent = (box: SecretBox, column: SealedColumn) =>
  sql<SqlBool>`${sql.ref(column.value)} not like ${box.currentPattern()}${column.where ? sql` and ${column.where}` : sql``}`;

/** Re-seals every value of a column that is not under the current key, a page at a time in id order. */
export async function resealColumn(ctx: AppContext, column: SealedColumn): Promise<ColumnReport> {
  const box = ctx.secrets;
  const report: ColumnReport = { label: column.label, resealed: 0, unopenable: {}, left: 0 };
  let after: string | null = null;
  for (;;) {
    const { rows }: { rows: { id: string; value: string }[] } = await sql<{ id: string; value: string }>`
      select ${sql.ref(column.id)} as id, ${sql.ref(column.value)} as value from ${sql.table(column.table)}
      where ${notCurrent(box, column)}${after === null ? sql`` : sql` and ${sql.ref(column.id)} > ${after}`}
      order by ${sql.ref(column.id)} limit ${PAGE}`.execute(ctx.db);
    for (const row of rows) {
      let plaintext: Buffer;
      try {
        plaintext = openStored(box, column, row.id, row.value);
      } catch (err) {
        if (!(err instanceof SecretUnavailable)) throw err;
        const key = err.keyId ?? '?';
        report.unopenable[key] = (report.unopenable[key] ?? 0) + 1;
        continue;
      }
      if (await swap(ctx.db, column, row.id, row.value, box.seal(plaintext, column.aad(row.id)))) report.resealed++;
    }
    if (rows.length < PAGE) break;
    after = rows.at(-1)!.id;
  }
  const { rows } = await sql<{ n: number | string }>`select count(*) as n from ${sql.table(column.table)} where ${notCurrent(box, column)}`.execute(ctx.db);
  report.left = Number(rows[0]?.n ?? 0);
  return report;
}
