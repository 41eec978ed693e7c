import { sql, type RawBuilder } from 'kysely';
import type { DbOrTx } from './database.js';

/** True when a write failed on a UNIQUE constraint, on SQLite or PostgreSQL. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string } | null;
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/**
 * True when a write failed on this UNIQUE index (PostgreSQL names it in `constraint`, SQLite in
 * the message). No query may follow such an error to find out which: PostgreSQL refuses every
 * statement of a transaction after an error.
 */
export function isUniqueViolationOf(err: unknown, index: string): boolean {
  const e = err as { constraint?: string; message?: string } | null;
  return isUniqueViolation(err) && (e?.constraint === index || (e?.message ?? '').includes(index));
}

/** True when a write failed on a FOREIGN KEY constraint (the row it points at went away meanwhile). */
export function isForeignKeyViolation(err: unknown): boolean {
  const e = err as { code?: string } | null;
  return e?.code === '23503' || e?.code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

/**
 * Whether another row of the firm already has this name, regardless of case: corporation and
 * application names are unique per firm that way ("Acme" and "ACME" are one), which a unique
 * index on (firm_id, lower(name)) enforces too.
 */
export async function nameInFirmTaken(db: DbOrTx, table: 'corporations' | 'applications', firmId: string, name: string, exceptId?: string): Promise<boolean> {
  let q = db
    .selectFrom(table)
    .select('id')
    .where('firm_id', '=', firmId)
    .where(sql<boolean>`lower(name) = ${name.toLowerCase()}`);
  if (exceptId) q = q.where('id', '!=', exceptId);
  return (await q.executeTakeFirst()) !== undefined;
}

/**
 * Case-insensitive "column contains text", with the user's % and _ taken literally.
 * SQLite has no default LIKE escape character, so it is named for both dialects.
 */
export function containsText(column: string, text: string): RawBuilder<boolean> {
  const pattern = `%${text.trim().toLowerCase().replace(/[\\%_]/g, (c) => '\\' + c)}%`;
  return sql<boolean>`lower(${sql.ref(column)}) like ${pattern} escape '\\'`;
}
