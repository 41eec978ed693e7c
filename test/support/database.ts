import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Migrator, sql, type Kysely } from 'kysely';
import pg from 'pg';
import type { Config } from '../../src/config.js';
import { createDatabase } from '../../src/db/database.js';
import { MIGRATIONS } from '../../src/db/migrate.js';

/**
 * Each test file gets a database of its own: a fresh SQLite file, or, when
 * TESSERA_TEST_DATABASE_URL names a PostgreSQL server, a fresh schema there.
 */
export interface TestDatabase {
  config: Config['database'];
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const base = process.env.TESSERA_TEST_DATABASE_URL;
  if (base && /^postgres(ql)?:/.test(base)) {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: base });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
    const url = new URL(base);
    url.searchParams.set('options', `-c search_path=${schema}`);
    return {
      config: { kind: 'postgres', url: url.toString(), poolSize: 5 },
      async drop() {
        const c = new pg.Client({ connectionString: base });
        await c.connect();
        await c.query(`DROP SCHEMA ${schema} CASCADE`);
        await c.end();
      },
    };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-test-'));
  return {
    config: { kind: 'sqlite', file: path.join(dir, 'tessera.db') },
    async drop() {
      // Retried: SQLite may still be removing its -wal / -shm files as the folder goes (ENOTEMPTY,
      // seen rarely in test/security/hardening.test.ts); if it still fails, the error names what was left.
      try {
        fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
      } catch (e) {
        throw new Error(`could not remove ${dir} (left: ${fs.readdirSync(dir).join(', ')})`, { cause: e });
      }
    },
  };
}

/**
 * A database of its own migrated up to and including `last`, for the test of a later migration:
 * it fills the tables as the older code left them, then runs migrateToLatest. Untyped (the
 * tables are the older ones). `close` destroys the connection and drops the database.
 */
export async function databaseAt(last: string): Promise<{ db: Kysely<any>; close(): Promise<void> }> {
  const database = await createTestDatabase();
  const db = createDatabase(database.config) as unknown as Kysely<any>;
  const close = async () => {
    await db.destroy();
    await database.drop();
  };
  try {
    const chosen = Object.fromEntries(Object.entries(MIGRATIONS).filter(([name]) => name <= last));
    if (!(last in chosen)) throw new Error(`no migration ${last}`);
    const schema = database.config.kind === 'postgres' ? (await sql<{ s: string }>`select current_schema() as s`.execute(db)).rows[0]!.s : undefined;
    const migrator = new Migrator({ db, provider: { getMigrations: async () => chosen }, ...(schema ? { migrationTableSchema: schema } : {}) });
    const { error } = await migrator.migrateToLatest();
    if (error) throw error;
    return { db, close };
  } catch (err) {
    await close();
    throw err;
  }
}
