import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { isPostgres } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { databaseAt } from '../support/database.js';

/**
 * Migration 0017: a push transaction and a device activation may have no web session (an attempt
 * of the Duo door has none). Every row and column is kept through the SQLite table rebuild, the
 * indexes are back, and the other rules of the tables still hold.
 */
describe('migration 0017_attempt_without_session', () => {
  it('makes session_id NULL-able on push_transactions and device_activations and keeps every row', async () => {
    const { db, close } = await databaseAt('0016_login_attempts');
    try {
      await db.insertInto('firms').values({ id: 'f', slug: 'f', name: 'F', created_at: 1 }).execute();
      await db.insertInto('users').values({ id: 'u', firm_id: 'f', email: 'u@f.example', name: 'U', kind: 'case_manager', created_at: 1, updated_at: 1 }).execute();
      await db.insertInto('authenticators').values({ id: 'a', user_id: 'u', firm_id: 'f', kind: 'push', label: 'p', status: 'pending', created_at: 1 }).execute();
      const push = {
        id: 'p', firm_id: 'f', user_id: 'u', session_id: 's', status: 'approved', number: '12', created_at: 1, expires_at: 9, answered_at: 2, answered_by: 'd', completed_at: 3, ip: '10.0.0.1', user_agent: 'UA', context: '{"x":1}', attempt_id: 'l',
      };
      await db.insertInto('push_transactions').values(push).execute();
      const activation = { id: 'd', firm_id: 'f', user_id: 'u', authenticator_id: 'a', session_id: 's', created_at: 1, expires_at: 9, used_at: 4, first_enrollment: 1, completed_at: 5, attempt_id: 'l' };
      await db.insertInto('device_activations').values(activation).execute();
      // Before: a row with no session is refused.
      await expect(db.insertInto('push_transactions').values({ ...push, id: 'early', session_id: null }).execute()).rejects.toThrow();

      await migrateToLatest(db as never);

      const num = (r: Record<string, unknown>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'string' && /_at$/.test(k) ? Number(v) : v]));
      // Every column as it was (later migrations, run by migrateToLatest too, may add columns beside them).
      expect((await db.selectFrom('push_transactions').selectAll().execute()).map(num)).toMatchObject([push]);
      expect((await db.selectFrom('device_activations').selectAll().execute()).map(num)).toMatchObject([activation]);
      await db.insertInto('push_transactions').values({ ...push, id: 'duo', session_id: null }).execute();
      await db.insertInto('device_activations').values({ ...activation, id: 'duo', session_id: null }).execute();
      expect(await db.selectFrom('push_transactions').select('session_id').where('id', '=', 'duo').executeTakeFirst()).toEqual({ session_id: null });
      // The other rules stay: NOT NULL elsewhere, the foreign keys, the indexes.
      await expect(db.insertInto('push_transactions').values({ ...push, id: 'x', status: null }).execute()).rejects.toThrow();
      await expect(db.insertInto('device_activations').values({ ...activation, id: 'x', authenticator_id: 'missing' }).execute()).rejects.toThrow();
      await db.deleteFrom('users').where('id', '=', 'u').execute();
      expect(await db.selectFrom('push_transactions').select('id').execute()).toEqual([]);
      expect(await db.selectFrom('device_activations').select('id').execute()).toEqual([]);
      const indexes = isPostgres(db as never)
        ? (await sql<{ name: string }>`select indexname as name from pg_indexes where tablename in ('push_transactions', 'device_activations') and schemaname = current_schema()`.execute(db)).rows
        : (await sql<{ name: string }>`select name from sqlite_master where type = 'index' and tbl_name in ('push_transactions', 'device_activations') and sql is not null`.execute(db)).rows;
      expect(indexes.map((r) => r.name)).toEqual(expect.arrayContaining(['push_transactions_user_idx', 'device_activations_authenticator_idx']));
    } finally {
      await close();
    }
  });
});
