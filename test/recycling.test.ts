import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserView } from '../src/directory/user.view.js';
import type { UserKind } from '../src/directory/user.table.js';
import {
  activateSubscription,
  addCorporation,
  addUser,
  auditEvents,
  enrollForTest,
  firmWithAdmin,
  startHarness,
  userAgent,
  type Harness,
  type TestFirm,
} from './support/harness.js';
import { uniqueEmail, seatOf, seatsUsed } from './support/fixtures.js';

/**
 * Licence recycling (A.2.9): disabling a staff user, turning off a corporation user's portal
 * access, making their record inactive, or deleting any user resets their enrollment at once,
 * through the ordinary admin API: the seat comes back to the firm and their session ends.
 */

const USERS = '/api/v1/admin/users';

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

const db = () => h.ctx.db;
const authenticatorsOf = (userId: string) => db().selectFrom('authenticators').selectAll().where('user_id', '=', userId).execute();

interface Scenario {
  firm: TestFirm;
  /** The enrolled user the trigger acts on, logged in. */
  target: UserView;
  /** An enabled user who could not enrol because the firm's licences were all in use. */
  waiting: UserView;
}

/** A firm with 2 licences, both in use (the target, with two authenticators, and a colleague); a third user waits for a seat. */
async function fullFirm(kind: UserKind): Promise<Scenario> {
  const firm = await firmWithAdmin(h);
  await activateSubscription(h, firm.firm.id, 2);
  const corp = await addCorporation(h, firm.firm.id, 'Acme Holdings');
  const corporationId = kind === 'corp_user' || kind === 'foreign_national' ? corp.id : undefined;
  const target = await addUser(h, firm.firm.id, { name: 'Tina Target', email: uniqueEmail('tina'), kind, corporationId });
  const colleague = await addUser(h, firm.firm.id, { name: 'Colin Colleague', email: uniqueEmail('colin'), kind: 'case_manager' });
  const waiting = await addUser(h, firm.firm.id, { name: 'Wanda Waiting', email: uniqueEmail('wanda'), kind: 'case_manager' });
  expect(await enrollForTest(h, firm.firm.id, target.id, 'totp')).toBe('taken');
  expect(await enrollForTest(h, firm.firm.id, target.id, 'push')).toBe('already_held');
  expect(await enrollForTest(h, firm.firm.id, colleague.id, 'webauthn')).toBe('taken');
  expect(await enrollForTest(h, firm.firm.id, waiting.id)).toBe('no_seat');
  expect(await seatsUsed(h, firm.firm.id)).toBe(2);
  return { firm, target, waiting };
}

const TRIGGERS: {
  trigger: string;
  kind: UserKind;
  reason: string;
  act: (s: Scenario) => Promise<{ statusCode: number; body: string }>;
  /** Undoes the trigger (for the users that still exist). */
  undo?: Record<string, string>;
}[] = [
  {
    trigger: 'a case manager is disabled',
    kind: 'case_manager',
    reason: 'user_disabled',
    act: (s) => s.firm.admin.patch(`${USERS}/${s.target.id}`, { status: 'disabled' }),
    undo: { status: 'active' },
  },
  {
    trigger: 'a vendor case manager is disabled',
    kind: 'vendor_case_manager',
    reason: 'user_disabled',
    act: (s) => s.firm.admin.patch(`${USERS}/${s.target.id}`, { status: 'disabled' }),
    undo: { status: 'active' },
  },
  {
    trigger: "a corp user's portal access is disabled",
    kind: 'corp_user',
    reason: 'portal_access_disabled',
    act: (s) => s.firm.admin.patch(`${USERS}/${s.target.id}`, { portalAccess: 'disabled' }),
    undo: { portalAccess: 'enabled' },
  },
  {
    trigger: "a foreign national's portal access is disabled",
    kind: 'foreign_national',
    reason: 'portal_access_disabled',
    act: (s) => s.firm.admin.patch(`${USERS}/${s.target.id}`, { portalAccess: 'disabled' }),
    undo: { portalAccess: 'enabled' },
  },
  {
    trigger: "a foreign national's record is made inactive",
    kind: 'foreign_national',
    reason: 'record_inactivated',
    act: (s) => s.firm.admin.patch(`${USERS}/${s.target.id}`, { recordState: 'inactive' }),
    undo: { recordState: 'active' },
  },
  {
    trigger: "a corp user's record is made inactive",
    kind: 'corp_user',
    reason: 'record_inactivated',
    act: (s) => s.firm.admin.patch(`${USERS}/${s.target.id}`, { recordState: 'inactive' }),
    undo: { recordState: 'active' },
  },
  { trigger: 'a case manager is deleted', kind: 'case_manager', reason: 'user_deleted', act: (s) => s.firm.admin.delete(`${USERS}/${s.target.id}`) },
  { trigger: 'a corp user is deleted', kind: 'corp_user', reason: 'user_deleted', act: (s) => s.firm.admin.delete(`${USERS}/${s.target.id}`) },
  { trigger: 'a foreign national is deleted', kind: 'foreign_national', reason: 'user_deleted', act: (s) => s.firm.admin.delete(`${USERS}/${s.target.id}`) },
];

describe.each(TRIGGERS)('when $trigger', ({ kind, reason, act, undo }) => {
  let s: Scenario;
  beforeAll(async () => {
    s = await fullFirm(kind);
  });

  it('the seat is freed, the authenticators are gone, the session ends at once, and it is audited', async () => {
    const session = await userAgent(h, s.target.email, s.firm.firm.slug);
    expect((await session.get('/api/v1/me')).statusCode).toBe(200);

    const res = await act(s);
    expect(res.statusCode, res.body).toBe(reason === 'user_deleted' ? 204 : 200);

    expect(await seatsUsed(h, s.firm.firm.id)).toBe(1);
    expect(await seatOf(h, s.target.id)).toBeUndefined();
    expect(await authenticatorsOf(s.target.id)).toEqual([]);
    expect((await session.get('/api/v1/me')).statusCode).toBe(401);
    const events = await auditEvents(h, { event: 'mfa.enrollment_recycled', subjectId: s.target.id });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ firm_id: s.firm.firm.id, actor_type: 'user', actor_id: s.firm.superuser.id, subject_type: 'user' });
    expect(events[0]!.details).toMatchObject({ reason, seatFreed: true, authenticatorsRemoved: 2 });
    // Not an administrator's reset: no reset mail, no reset event.
    expect(await auditEvents(h, { event: 'mfa.enrollment_reset', subjectId: s.target.id })).toEqual([]);
    const resetMails = await db().selectFrom('mail_outbox').select('subject').where('to_address', '=', s.target.email).where('subject', 'like', 'Your MFA enrollment%').execute();
    expect(resetMails).toEqual([]);
    // Gone from Enrolled Users.
    const list = (await s.firm.admin.get('/api/v1/admin/mfa/enrolled')).json() as { items: { userId: string }[]; total: number };
    expect(list.items.map((i) => i.userId)).not.toContain(s.target.id);
    expect(list.total).toBe(1);
  });

  it('the firm, which was at its full licence count, can give the seat to another user', async () => {
    expect(await enrollForTest(h, s.firm.firm.id, s.waiting.id)).toBe('taken');
    expect(await seatsUsed(h, s.firm.firm.id)).toBe(2);
  });

  if (undo) {
    it('turning the user back on does not restore the enrollment', async () => {
      const res = await s.firm.admin.patch(`${USERS}/${s.target.id}`, undo);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().active).toBe(true);
      expect(await seatOf(h, s.target.id)).toBeUndefined();
      expect(await authenticatorsOf(s.target.id)).toEqual([]);
      expect(await seatsUsed(h, s.firm.firm.id)).toBe(2);
      // They log in again with their password alone; they would have to enrol anew (and the firm is full again).
      expect((await (await userAgent(h, s.target.email, s.firm.firm.slug)).get('/api/v1/me')).statusCode).toBe(200);
      expect(await enrollForTest(h, s.firm.firm.id, s.target.id)).toBe('no_seat');
    });
  }
});

describe('recycling a user who is not enrolled', () => {
  it('changes no seat and writes no recycling event', async () => {
    const s = await fullFirm('case_manager');
    const res = await s.firm.admin.patch(`${USERS}/${s.waiting.id}`, { status: 'disabled' });
    expect(res.statusCode, res.body).toBe(200);
    expect(await seatsUsed(h, s.firm.firm.id)).toBe(2);
    expect(await auditEvents(h, { event: 'mfa.enrollment_recycled', subjectId: s.waiting.id })).toEqual([]);
    expect((await s.firm.admin.delete(`${USERS}/${s.waiting.id}`)).statusCode).toBe(204);
    expect(await seatsUsed(h, s.firm.firm.id)).toBe(2);
  });

  it('a change that keeps the user active (a rename) keeps the enrollment', async () => {
    const s = await fullFirm('corp_user');
    const res = await s.firm.admin.patch(`${USERS}/${s.target.id}`, { name: 'Tina Renamed' });
    expect(res.statusCode, res.body).toBe(200);
    expect(await seatOf(h, s.target.id)).toBeDefined();
    expect(await authenticatorsOf(s.target.id)).toHaveLength(2);
    expect(await seatsUsed(h, s.firm.firm.id)).toBe(2);
  });
});
