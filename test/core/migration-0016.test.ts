import { describe, expect, it } from 'vitest';
import { migrateToLatest } from '../../src/db/migrate.js';
import { databaseAt } from '../support/database.js';

/**
 * Migration 0016 (login attempts): in-flight logins are dropped at the upgrade, signed-in
 * sessions stay, and nothing bound to a session before it can finish a login after it.
 */
describe('migration 0016_login_attempts', () => {
  it('ends the pending sessions and what they bound, keeps full sessions and history, and adds the attempt columns', async () => {
    const { db, close } = await databaseAt('0015_oidc_provider');
    try {
      await db.insertInto('firms').values({ id: 'f', slug: 'f', name: 'F', created_at: 1 }).execute();
      await db.insertInto('users').values({ id: 'u', firm_id: 'f', email: 'u@f.example', name: 'U', kind: 'case_manager', created_at: 1, updated_at: 1 }).execute();
      const session = (id: string, stage: string) => ({ id, principal: 'user', user_id: 'u', firm_id: 'f', stage, created_at: 1, last_seen_at: 1, expires_at: 9e12 });
      await db.insertInto('sessions').values([session('pending', 'second_factor'), session('enrolling', 'enroll'), session('full', 'full')]).execute();
      const challenge = (id: string, sessionId: string | null, usedAt: number | null) => ({ id, purpose: sessionId ? 'authenticate' : 'passkey', session_id: sessionId, user_id: null, firm_id: null, challenge: id, created_at: 1, expires_at: 9e12, used_at: usedAt });
      await db.insertInto('webauthn_challenges').values([challenge('open', 'pending', null), challenge('used', 'pending', 5), challenge('passkey', null, null)]).execute();
      const push = (id: string, status: string, completedAt: number | null) => ({
        id, firm_id: 'f', user_id: 'u', session_id: 'pending', status, number: '1', created_at: 1, expires_at: 9e12, answered_at: status === 'pending' ? null : 2, answered_by: null, completed_at: completedAt, ip: null, user_agent: null, context: '{}',
      });
      await db.insertInto('push_transactions').values([push('waiting', 'pending', null), push('approved', 'approved', null), push('fraud', 'fraud', 3)]).execute();
      await db.insertInto('authenticators').values({ id: 'a', user_id: 'u', firm_id: 'f', kind: 'push', label: 'p', status: 'pending', created_at: 1 }).execute();
      const activation = (id: string, completedAt: number | null) => ({ id, firm_id: 'f', user_id: 'u', authenticator_id: 'a', session_id: 'enrolling', created_at: 1, expires_at: 9e12, used_at: null, first_enrollment: 0, completed_at: completedAt });
      await db.insertInto('device_activations').values([activation('open', null), activation('done', 4)]).execute();

      await migrateToLatest(db as never);

      expect((await db.selectFrom('sessions').select('id').execute()).map((r: { id: string }) => r.id)).toEqual(['full']);
      expect((await db.selectFrom('webauthn_challenges').select(['id', 'attempt_id']).orderBy('id').execute())).toEqual([
        { id: 'passkey', attempt_id: null },
        { id: 'used', attempt_id: null },
      ]);
      const pushes = await db.selectFrom('push_transactions').select(['id', 'status', 'completed_at', 'attempt_id']).orderBy('id').execute();
      expect(pushes).toEqual([
        { id: 'approved', status: 'approved', completed_at: 2, attempt_id: null },
        { id: 'fraud', status: 'fraud', completed_at: 3, attempt_id: null },
        { id: 'waiting', status: 'expired', completed_at: null, attempt_id: null },
      ]);
      expect(await db.selectFrom('device_activations').select(['id', 'attempt_id']).execute()).toEqual([{ id: 'done', attempt_id: null }]);
      // The new table: who, stage and door checked by the database.
      await db.insertInto('login_attempts').values({ id: 'l', subject_type: 'user', user_id: 'u', firm_id: 'f', stage: 'second_factor', door: 'duo', created_at: 1, expires_at: 2 }).execute();
      await expect(db.insertInto('login_attempts').values({ id: 'bad', subject_type: 'user', user_id: 'u', firm_id: null, stage: 'second_factor', door: 'web', created_at: 1, expires_at: 2 }).execute()).rejects.toThrow();
      await expect(db.insertInto('login_attempts').values({ id: 'bad2', subject_type: 'user', user_id: 'u', firm_id: 'f', stage: 'second_factor', door: 'fax', created_at: 1, expires_at: 2 }).execute()).rejects.toThrow();
    } finally {
      await close();
    }
  });
});
