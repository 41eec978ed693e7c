import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Config } from '../../src/config.js';

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
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
