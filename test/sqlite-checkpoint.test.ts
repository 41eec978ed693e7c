import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';

/** SQLite's WAL is copied into the database file by a background thread, not inside a request's commit. */
describe('SQLite checkpoints', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-ckpt-'));
  const file = path.join(dir, 'tessera.db');
  const db = createDatabase({ kind: 'sqlite', file });
  afterAll(async () => {
    await db.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('commit to the log only, and the background thread moves the log into the database file', async () => {
    await migrateToLatest(db);
    // The committing connection never checkpoints by itself...
    const { rows } = await sql<{ wal_autocheckpoint: number }>`PRAGMA wal_autocheckpoint`.execute(db);
    expect(rows[0]!.wal_autocheckpoint).toBe(0);
    const before = fs.statSync(file).size;
    for (let i = 0; i < 40; i++) {
      await db
        .insertInto('audit_events')
        .values(Array.from({ length: 50 }, (_, j) => ({ at: i * 50 + j, firm_id: null, actor_type: 'system' as const, actor_id: null, subject_type: null, subject_id: null, ip: null, user_agent: null, event: 'test.filler', details: JSON.stringify({ pad: 'x'.repeat(200) }) })))
        .execute();
    }
    expect(fs.statSync(`${file}-wal`).size).toBeGreaterThan(400_000);
    // ...yet within a few half-second ticks the rows are in the database file itself.
    await expect.poll(() => fs.statSync(file).size, { timeout: 5_000, interval: 100 }).toBeGreaterThan(before + 400_000);
    expect(Number((await db.selectFrom('audit_events').select((e) => e.fn.countAll().as('n')).executeTakeFirstOrThrow()).n)).toBe(2000);
  });
});
