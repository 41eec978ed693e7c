import { sql, type RawBuilder } from 'kysely';

/** True when a write failed on a UNIQUE constraint, on SQLite or PostgreSQL. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string } | null;
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** True when a write failed on a FOREIGN KEY constraint (the row it points at went away meanwhile). */
export function isForeignKeyViolation(err: unknown): boolean {
  const e = err as { code?: string } | null;
  return e?.code === '23503' || e?.code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

/**
 * Case-insensitive "column contains text", with the user's % and _ taken literally.
 * SQLite has no default LIKE escape character, so it is named for both dialects.
 */
export function containsText(column: string, text: string): RawBuilder<boolean> {
  const pattern = `%${text.trim().toLowerCase().replace(/[\\%_]/g, (c) => '\\' + c)}%`;
  return sql<boolean>`lower(${sql.ref(column)}) like ${pattern} escape '\\'`;
}
