import { describe, expect, it } from 'vitest';
import { migrateToLatest } from '../../src/db/migrate.js';
import { databaseAt } from '../support/database.js';

/**
 * Migration 0018 (issue 16 item 1): the enrollment a login began is noted on its attempt, and an
 * activation code is kept sealed to show the same QR code again. Both columns are NULL-able and
 * every row before them is kept as it was.
 */
describe('migration 0018_enrollment_state', () => {
  it('adds login_attempts.enrolling_authenticator_id and device_activations.code_sealed, null for the rows before', async () => {
    const { db, close } = await databaseAt('0017_attempt_without_session');
    try {
      await db.insertInto('firms').values({ id: 'f', slug: 'f', name: 'F', created_at: 1 }).execute();
      await db.insertInto('users').values({ id: 'u', firm_id: 'f', email: 'u@f.example', name: 'U', kind: 'case_manager', created_at: 1, updated_at: 1 }).execute();
      await db.insertInto('authenticators').values({ id: 'a', user_id: 'u', firm_id: 'f', kind: 'push', label: 'p', status: 'pending', created_at: 1 }).execute();
      await db.insertInto('login_attempts').values({ id: 'l', subject_type: 'user', user_id: 'u', firm_id: 'f', stage: 'enroll', door: 'web', created_at: 1, expires_at: 2 }).execute();
      await db.insertInto('device_activations').values({ id: 'd', firm_id: 'f', user_id: 'u', authenticator_id: 'a', session_id: null, created_at: 1, expires_at: 9, attempt_id: 'l' }).execute();

      await migrateToLatest(db as never);

      expect(await db.selectFrom('login_attempts').select(['id', 'stage', 'enrolling_authenticator_id']).execute()).toEqual([{ id: 'l', stage: 'enroll', enrolling_authenticator_id: null }]);
      expect(await db.selectFrom('device_activations').select(['id', 'attempt_id', 'code_sealed']).execute()).toEqual([{ id: 'd', attempt_id: 'l', code_sealed: null }]);
      await db.updateTable('login_attempts').set({ enrolling_authenticator_id: 'a' }).execute();
      await db.updateTable('device_activations').set({ code_sealed: 'v1.sealed' }).execute();
      expect(await db.selectFrom('login_attempts').select('enrolling_authenticator_id').executeTakeFirst()).toEqual({ enrolling_authenticator_id: 'a' });
      expect(await db.selectFrom('device_activations').select('code_sealed').executeTakeFirst()).toEqual({ code_sealed: 'v1.sealed' });
    } finally {
      await close();
    }
  });
});
