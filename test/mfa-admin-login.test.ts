import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MINUTE } from '../src/clock.js';
import type { UserView } from '../src/directory/user.view.js';
import {
  Agent,
  activateSubscription,
  addUser,
  auditEvents,
  enableMfaForStaff,
  enrollForTest,
  expectRefused,
  firmWithAdmin,
  dbState,
  operatorAgent,
  startHarness,
  userAgent,
  type Harness,
  type TestFirm,
} from './support/harness.js';
import { itRefusesOutsiders, notSuperusers } from './support/access.js';
import { mfaSettingsRow } from './support/fixtures.js';

/**
 * The admin side of MFA at login (issue 4.5, 4.7): the `mfa` part of the user view, the
 * unlock of a locked second factor, and the firm's login policy (GET/PUT /admin/mfa/policy).
 * Firm A is administered; firm B is the neighbour.
 */

const USERS = '/api/v1/admin/users';
const unlock = (id: string) => `${USERS}/${encodeURIComponent(id)}/mfa-unlock`;
const POLICY = '/api/v1/admin/mfa/policy';
const DAY = 86_400_000;

let h: Harness;
let A: TestFirm;
let B: TestFirm;
let member: Agent; // a case manager of firm A who is not a superuser
let operator: Agent;
let seq = 0;

beforeAll(async () => {
  h = await startHarness();
  A = await firmWithAdmin(h, undefined, { enrolled: true });
  B = await firmWithAdmin(h, undefined, { enrolled: true });
  await activateSubscription(h, A.firm.id, 10);
  await activateSubscription(h, B.firm.id, 10);
  const m = await addUser(h, A.firm.id, { name: 'Mick Member', email: 'mick@example.com', kind: 'case_manager' });
  member = await userAgent(h, m.email, A.firm.slug);
  operator = await operatorAgent(h);
});
afterAll(() => h.close());

const newUser = (firmId: string, name = `User ${++seq}`) => addUser(h, firmId, { name, email: `u${++seq}@example.com`, kind: 'case_manager' });
const lock = (userId: string, failed: number, until: number | null) =>
  h.ctx.db.updateTable('users').set({ mfa_failed_count: failed, mfa_locked_until: until }).where('id', '=', userId).execute();
const mfaColumns = (userId: string) => h.ctx.db.selectFrom('users').select(['mfa_failed_count', 'mfa_locked_until']).where('id', '=', userId).executeTakeFirstOrThrow();

describe('the mfa part of the user view', () => {
  let enrolled: UserView;
  let locked: UserView;
  let expired: UserView;
  let plain: UserView;
  let until: number;

  beforeAll(async () => {
    enrolled = await newUser(A.firm.id, 'Mfa Enrolled');
    locked = await newUser(A.firm.id, 'Mfa Locked');
    expired = await newUser(A.firm.id, 'Mfa Expired');
    plain = await newUser(A.firm.id, 'Mfa Plain');
    expect(await enrollForTest(h, A.firm.id, enrolled.id)).toBe('taken');
    expect(await enrollForTest(h, A.firm.id, locked.id)).toBe('taken');
    until = h.clock.now() + 15 * MINUTE;
    await lock(locked.id, 10, until);
    await lock(expired.id, 4, h.clock.now() - 1);
  });

  it('GET /admin/users/:id: enrolled, lockedUntil (null once in the past) and failedAttempts', async () => {
    const get = async (id: string) => {
      const res = await A.admin.get(`${USERS}/${id}`);
      expect(res.statusCode, res.body).toBe(200);
      return res.json().mfa;
    };
    expect(await get(enrolled.id)).toEqual({ enrolled: true, lockedUntil: null, failedAttempts: 0 });
    expect(await get(locked.id)).toEqual({ enrolled: true, lockedUntil: until, failedAttempts: 10 });
    expect(await get(expired.id)).toEqual({ enrolled: false, lockedUntil: null, failedAttempts: 4 });
    expect(await get(plain.id)).toEqual({ enrolled: false, lockedUntil: null, failedAttempts: 0 });
    // The clock passes the lock: it is shown as over.
    h.clock.advance(16 * MINUTE);
    expect(await get(locked.id)).toEqual({ enrolled: true, lockedUntil: null, failedAttempts: 10 });
    h.clock.advance(-16 * MINUTE);
  });

  it('GET /admin/users: every row carries its own mfa state', async () => {
    const res = await A.admin.get(`${USERS}?q=Mfa%20`);
    expect(res.statusCode, res.body).toBe(200);
    const byName = Object.fromEntries((res.json().items as UserView[]).map((u) => [u.name, u.mfa]));
    expect(byName).toEqual({
      'Mfa Enrolled': { enrolled: true, lockedUntil: null, failedAttempts: 0 },
      'Mfa Expired': { enrolled: false, lockedUntil: null, failedAttempts: 4 },
      'Mfa Locked': { enrolled: true, lockedUntil: until, failedAttempts: 10 },
      'Mfa Plain': { enrolled: false, lockedUntil: null, failedAttempts: 0 },
    });
  });

  it('another firm still sees 404 for the user', async () => {
    const res = await B.admin.get(`${USERS}/${locked.id}`);
    expect(res.statusCode).toBe(404);
  });
});

describe('POST /admin/users/:id/mfa-unlock', () => {
  it('204: the count starts again, the lock is gone, audited mfa.unlocked', async () => {
    const u = await newUser(A.firm.id);
    const until = h.clock.now() + 10 * MINUTE;
    await lock(u.id, 10, until);
    const res = await A.admin.post(unlock(u.id));
    expect(res.statusCode, res.body).toBe(204);
    expect(res.body).toBe('');
    expect(await mfaColumns(u.id)).toEqual({ mfa_failed_count: 0, mfa_locked_until: null });
    const events = await auditEvents(h, { event: 'mfa.unlocked', subjectId: u.id });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ firm_id: A.firm.id, actor_type: 'user', actor_id: A.superuser.id, subject_type: 'user', at: h.clock.now() });
    expect(events[0]!.details).toEqual({ failedAttempts: 10, wasLocked: true, lockedUntil: until });
    expect((await A.admin.get(`${USERS}/${u.id}`)).json().mfa).toEqual({ enrolled: false, lockedUntil: null, failedAttempts: 0 });
  });

  it('also clears failures below the threshold', async () => {
    const u = await newUser(A.firm.id);
    await lock(u.id, 3, null);
    expect((await A.admin.post(unlock(u.id))).statusCode).toBe(204);
    expect(await mfaColumns(u.id)).toEqual({ mfa_failed_count: 0, mfa_locked_until: null });
    expect((await auditEvents(h, { event: 'mfa.unlocked', subjectId: u.id }))[0]!.details).toMatchObject({ failedAttempts: 3, wasLocked: false });
  });

  it('204 and nothing written when there is nothing to unlock', async () => {
    const u = await newUser(A.firm.id);
    const before = await dbState(h);
    expect((await A.admin.post(unlock(u.id))).statusCode).toBe(204);
    expect(await dbState(h)).toEqual(before);
  });

  it("404 for another firm's user or an unknown id, nothing changed", async () => {
    const other = await newUser(B.firm.id);
    await lock(other.id, 10, h.clock.now() + MINUTE);
    const before = await dbState(h);
    await expectRefused(h, await A.admin.post(unlock(other.id)), 404, 'NOT_FOUND', before);
    await expectRefused(h, await A.admin.post(unlock(randomUUID())), 404, 'NOT_FOUND', before);
  });

  describe('who may unlock', () => {
    let u: UserView; // locked: an unlock that got through would change it
    beforeAll(async () => {
      u = await newUser(A.firm.id);
      await lock(u.id, 10, h.clock.now() + MINUTE);
    });
    itRefusesOutsiders({
      h: () => h,
      routes: [{ method: 'POST', path: `${USERS}/:id/mfa-unlock` }],
      id: () => u.id,
      forbidden: notSuperusers(() => member, () => operator),
      csrfAgent: () => A.admin,
    });
  });

  it('an oversized id -> 400 VALIDATION_FAILED, nothing changed', async () => {
    const before = await dbState(h);
    await expectRefused(h, await A.admin.post(unlock('x'.repeat(65))), 400, 'VALIDATION_FAILED', before);
  });
});

describe('GET/PUT /admin/mfa/policy', () => {
  let C: TestFirm; // a firm of its own for the policy tests, so the order of tests does not matter elsewhere

  beforeAll(async () => {
    C = await firmWithAdmin(h, undefined, { enrolled: true });
    await activateSubscription(h, C.firm.id, 5);
  });

  it('GET answers the defaults while the firm has no settings', async () => {
    expect(await mfaSettingsRow(h, C.firm.id)).toBeUndefined();
    const res = await C.admin.get(POLICY);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ lockoutThreshold: 10, lockoutMinutes: 15, rememberDays: 0, passkeysEnabled: false, pushNumberDigits: 6, pushMaxPerWindow: 5, pushWindowMinutes: 15 });
  });

  it('PUT without settings creates the row with MFA still off for everyone; audited with what changed', async () => {
    const overview = (await C.admin.get('/api/v1/admin/mfa')).json();
    h.clock.advance(MINUTE);
    const res = await C.admin.raw('PUT', POLICY, { body: { lockoutThreshold: 5, lockoutMinutes: 30, rememberDays: 7 } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ lockoutThreshold: 5, lockoutMinutes: 30, rememberDays: 7, passkeysEnabled: false, pushNumberDigits: 6, pushMaxPerWindow: 5, pushWindowMinutes: 15 });
    expect(await mfaSettingsRow(h, C.firm.id)).toEqual({
      firm_id: C.firm.id,
      case_managers: 0,
      vendor_case_managers: 0,
      corporation_scope: 'all',
      all_corp_users: 0,
      all_foreign_nationals: 0,
      lockout_threshold: 5,
      lockout_minutes: 30,
      remember_days: 7,
      passkeys_enabled: 0,
      push_number_digits: 6,
      push_max_per_window: 5,
      push_window_minutes: 15,
      updated_at: h.clock.now(),
    });
    expect((await C.admin.get(POLICY)).json()).toEqual({ lockoutThreshold: 5, lockoutMinutes: 30, rememberDays: 7, passkeysEnabled: false, pushNumberDigits: 6, pushMaxPerWindow: 5, pushWindowMinutes: 15 });
    expect((await C.admin.get('/api/v1/admin/mfa')).json()).toEqual(overview);
    const events = await auditEvents(h, { event: 'mfa.policy_changed', firmId: C.firm.id });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ actor_type: 'user', actor_id: C.superuser.id, subject_type: 'firm', subject_id: C.firm.id });
    expect(events[0]!.details).toEqual({
      changed: { lockoutThreshold: { from: 10, to: 5 }, lockoutMinutes: { from: 15, to: 30 }, rememberDays: { from: 0, to: 7 } },
    });
  });

  it('PUT keeps the configuration columns of an existing row', async () => {
    await enableMfaForStaff(h, C.firm.id);
    const before = await mfaSettingsRow(h, C.firm.id);
    const res = await C.admin.raw('PUT', POLICY, { body: { lockoutThreshold: 6, lockoutMinutes: 30, rememberDays: 7 } });
    expect(res.statusCode, res.body).toBe(200);
    expect(await mfaSettingsRow(h, C.firm.id)).toEqual({ ...before, lockout_threshold: 6, updated_at: h.clock.now() });
    const [, second] = await auditEvents(h, { event: 'mfa.policy_changed', firmId: C.firm.id });
    expect(second!.details).toEqual({ changed: { lockoutThreshold: { from: 5, to: 6 } } });
  });

  it('PUT of the same values writes nothing', async () => {
    const before = await dbState(h);
    const res = await C.admin.raw('PUT', POLICY, { body: { lockoutThreshold: 6, lockoutMinutes: 30, rememberDays: 7 } });
    expect(res.statusCode).toBe(200);
    expect(await dbState(h)).toEqual(before);
  });

  it('accepts the bounds 3..50, 1..1440 and 0..30', async () => {
    for (const body of [
      { lockoutThreshold: 3, lockoutMinutes: 1, rememberDays: 30 },
      { lockoutThreshold: 50, lockoutMinutes: 1440, rememberDays: 1 },
    ]) {
      const res = await C.admin.raw('PUT', POLICY, { body });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toEqual({ ...body, passkeysEnabled: false, pushNumberDigits: 6, pushMaxPerWindow: 5, pushWindowMinutes: 15 });
    }
  });

  const ok = { lockoutThreshold: 10, lockoutMinutes: 15, rememberDays: 3 };
  it.each([
    ['lockoutThreshold 2', { ...ok, lockoutThreshold: 2 }],
    ['lockoutThreshold 51', { ...ok, lockoutThreshold: 51 }],
    ['lockoutMinutes 0', { ...ok, lockoutMinutes: 0 }],
    ['lockoutMinutes 1441', { ...ok, lockoutMinutes: 1441 }],
    ['rememberDays -1', { ...ok, rememberDays: -1 }],
    ['rememberDays 31', { ...ok, rememberDays: 31 }],
    ['a fraction', { ...ok, lockoutMinutes: 1.5 }],
    ['a number as text', { ...ok, lockoutThreshold: '10' }],
    ['null', { ...ok, rememberDays: null }],
    ['a missing field', { lockoutThreshold: 10, lockoutMinutes: 15 }],
    ['an unknown field', { ...ok, lockoutSeconds: 1 }],
    ['an array', [ok]],
  ])('400 VALIDATION_FAILED for %s, nothing changed', async (_what, body) => {
    const before = await dbState(h);
    await expectRefused(h, await C.admin.raw('PUT', POLICY, { body }), 400, 'VALIDATION_FAILED', before);
  });

  it('400 MALFORMED_JSON for a body that is not JSON', async () => {
    const before = await dbState(h);
    await expectRefused(h, await C.admin.raw('PUT', POLICY, { body: '{', headers: { 'content-type': 'application/json' } }), 400, 'MALFORMED_JSON', before);
  });

  it("fewer days shortens the firm's remembered browsers; 0 forgets them all; another firm's are untouched", async () => {
    const D = await firmWithAdmin(h);
    const mine = await newUser(D.firm.id);
    const theirs = await newUser(B.firm.id);
    const now = h.clock.now();
    const remember = (id: string, firmId: string, userId: string, createdAt: number, days: number) =>
      h.ctx.db.insertInto('remembered_browsers').values({ id, firm_id: firmId, user_id: userId, created_at: createdAt, expires_at: createdAt + days * DAY, user_agent: null }).execute();
    await C.admin.raw('PUT', POLICY, { body: { lockoutThreshold: 10, lockoutMinutes: 15, rememberDays: 30 } });
    await D.admin.raw('PUT', POLICY, { body: { lockoutThreshold: 10, lockoutMinutes: 15, rememberDays: 30 } });
    await remember(`old-${D.firm.id}`, D.firm.id, mine.id, now - 10 * DAY, 30);
    await remember(`new-${D.firm.id}`, D.firm.id, mine.id, now, 2);
    await remember(`b-${D.firm.id}`, B.firm.id, theirs.id, now - 10 * DAY, 30);

    let res = await D.admin.raw('PUT', POLICY, { body: { lockoutThreshold: 10, lockoutMinutes: 15, rememberDays: 5 } });
    expect(res.statusCode, res.body).toBe(200);
    const rows = async () =>
      Object.fromEntries(
        (await h.ctx.db.selectFrom('remembered_browsers').select(['id', 'expires_at']).where('id', 'like', `%${D.firm.id}`).execute()).map((r) => [r.id.split('-')[0], r.expires_at]),
      );
    // The one remembered 10 days ago for 30 days ends at 5 days after it was remembered (already over); the 2-day one is left.
    expect(await rows()).toEqual({ old: now - 5 * DAY, new: now + 2 * DAY, b: now + 20 * DAY });
    const [shortened] = (await auditEvents(h, { event: 'mfa.policy_changed', firmId: D.firm.id })).slice(-1);
    expect(shortened!.details).toEqual({ changed: { rememberDays: { from: 30, to: 5 } }, rememberedBrowsers: { shortened: 1 } });

    res = await D.admin.raw('PUT', POLICY, { body: { lockoutThreshold: 10, lockoutMinutes: 15, rememberDays: 0 } });
    expect(res.statusCode, res.body).toBe(200);
    expect(await rows()).toEqual({ b: now + 20 * DAY });
    const [forgotten] = (await auditEvents(h, { event: 'mfa.policy_changed', firmId: D.firm.id })).slice(-1);
    expect(forgotten!.details).toEqual({ changed: { rememberDays: { from: 5, to: 0 } }, rememberedBrowsers: { forgotten: 2 } });
  });

  it("each firm has its own policy: B's change does not touch A's or C's", async () => {
    const a = (await A.admin.get(POLICY)).json();
    const c = (await C.admin.get(POLICY)).json();
    const res = await B.admin.raw('PUT', POLICY, { body: { lockoutThreshold: 20, lockoutMinutes: 60, rememberDays: 14 } });
    expect(res.statusCode, res.body).toBe(200);
    expect((await B.admin.get(POLICY)).json()).toEqual({ lockoutThreshold: 20, lockoutMinutes: 60, rememberDays: 14, passkeysEnabled: false, pushNumberDigits: 6, pushMaxPerWindow: 5, pushWindowMinutes: 15 });
    expect((await A.admin.get(POLICY)).json()).toEqual(a);
    expect((await C.admin.get(POLICY)).json()).toEqual(c);
    expect((await auditEvents(h, { event: 'mfa.policy_changed' })).filter((e) => e.firm_id === B.firm.id).map((e) => e.subject_id)).toEqual([B.firm.id]);
  });

  describe('who may use it', () => {
    // The clock has moved on since member and operator last called, so their next call slides
    // their session (sessions.last_seen_at): let that happen first, it is not what is tested here.
    beforeAll(async () => {
      for (const agent of [member, operator]) await agent.get(POLICY);
    });
    itRefusesOutsiders({
      h: () => h,
      routes: [
        { method: 'GET', path: POLICY },
        { method: 'PUT', path: POLICY, body: () => ({ lockoutThreshold: 4, lockoutMinutes: 4, rememberDays: 4 }) },
      ],
      forbidden: notSuperusers(() => member, () => operator),
      csrfAgent: () => A.admin,
    });
  });
});
