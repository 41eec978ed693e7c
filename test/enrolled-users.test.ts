import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MINUTE } from '../src/clock.js';
import type { CorporationView } from '../src/directory/corporation.service.js';
import type { UserView } from '../src/directory/user.view.js';
import type { EnrolledUserView } from '../src/enrollment/enrolled-users.service.js';
import {
  Agent,
  activateSubscription,
  addCorporation,
  addUser,
  auditEvents,
  dbState,
  enrollForTest,
  firmWithAdmin,
  operatorAgent,
  startHarness,
  userAgent,
  type Harness,
  type TestFirm,
  expectRefused,
} from './support/harness.js';
import { itRefusesOutsiders, notSuperusers } from './support/access.js';
import { uniqueEmail, seatsUsed } from './support/fixtures.js';

/**
 * Enrolled Users (A.2.5) and Reset MFA Enrollment (A.2.6): /api/v1/admin/mfa/enrolled.
 * Firm A is administered; firm B is the neighbour that must never see or touch A.
 */

const ENROLLED = '/api/v1/admin/mfa/enrolled';
const reset = (userId: string) => `${ENROLLED}/${userId}/reset`;

let h: Harness;
let A: TestFirm;
let B: TestFirm;
let zenith: CorporationView; // of firm A
let yellow: CorporationView; // of firm A
/** Enrolled users of firm A, in name order; `dora` is not enrolled. */
let alice: UserView; // case manager: totp, push, totp again
let bruno: UserView; // corp user of Zenith: webauthn
let carla: UserView; // foreign national of Yellow: push
let dora: UserView; // case manager, not enrolled
let bella: UserView; // enrolled user of firm B
let member: Agent; // a firm A case manager who is not a superuser
let operator: Agent;
const enrolledAt: Record<string, number> = {};


beforeAll(async () => {
  h = await startHarness();
  A = await firmWithAdmin(h);
  B = await firmWithAdmin(h);
  await activateSubscription(h, A.firm.id, 10);
  await activateSubscription(h, B.firm.id, 10);
  zenith = await addCorporation(h, A.firm.id, 'Zenith Corp');
  yellow = await addCorporation(h, A.firm.id, 'Yellow Holdings');
  const borealis = await addCorporation(h, B.firm.id, 'Zenith Corp'); // same name in firm B on purpose
  alice = await addUser(h, A.firm.id, { name: 'Alice Adams', email: uniqueEmail('alice'), kind: 'case_manager' });
  bruno = await addUser(h, A.firm.id, { name: 'Bruno Brown', email: uniqueEmail('bruno'), kind: 'corp_user', corporationId: zenith.id });
  carla = await addUser(h, A.firm.id, { name: 'Carla Cruz', email: uniqueEmail('carla'), kind: 'foreign_national', corporationId: yellow.id });
  dora = await addUser(h, A.firm.id, { name: 'Dora Doe', email: uniqueEmail('dora'), kind: 'case_manager' });
  bella = await addUser(h, B.firm.id, { name: 'Alice Bella', email: uniqueEmail('bella'), kind: 'corp_user', corporationId: borealis.id });
  const memberUser = await addUser(h, A.firm.id, { name: 'Mick Member', email: uniqueEmail('mick'), kind: 'case_manager' });

  for (const [user, kinds] of [
    [alice, ['totp', 'push', 'totp']],
    [bruno, ['webauthn']],
    [carla, ['push']],
  ] as const) {
    h.clock.advance(MINUTE);
    enrolledAt[user.id] = h.clock.now();
    for (const kind of kinds) expect(await enrollForTest(h, A.firm.id, user.id, kind)).toMatch(/taken|already_held/);
  }
  expect(await enrollForTest(h, B.firm.id, bella.id, 'totp')).toBe('taken');
  // Alice used two of her authenticators; the later use is her last MFA use.
  const aliceAuths = await h.ctx.db.selectFrom('authenticators').select('id').where('user_id', '=', alice.id).orderBy('id').execute();
  await h.ctx.db.updateTable('authenticators').set({ last_used_at: 1_000 }).where('id', '=', aliceAuths[0]!.id).execute();
  await h.ctx.db.updateTable('authenticators').set({ last_used_at: 5_000 }).where('id', '=', aliceAuths[1]!.id).execute();
  // Carla's push device was enrolled with her phone number.
  await h.ctx.db.updateTable('authenticators').set({ phone_e164: '+14155550123' }).where('user_id', '=', carla.id).where('kind', '=', 'push').execute();
  // A pending (unconfirmed) authenticator is not a method.
  await h.ctx.db
    .insertInto('authenticators')
    .values({ id: `pending-${carla.id}`, firm_id: A.firm.id, user_id: carla.id, kind: 'webauthn', label: 'key', status: 'pending', created_at: 0, confirmed_at: null, last_used_at: 9_999 })
    .execute();
  member = await userAgent(h, memberUser.email, A.firm.slug);
  operator = await operatorAgent(h);
});
afterAll(() => h.close());

const list = async (agent: Agent, query = '') => {
  const res = await agent.get(`${ENROLLED}${query}`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { items: EnrolledUserView[]; total: number; page: number; pageSize: number };
};
const names = (page: { items: EnrolledUserView[] }) => page.items.map((i) => i.name);

describe('the list of enrolled users', () => {
  it('shows every enrolled user of the firm with kind, organisation, methods, enrolled on and last use, by name', async () => {
    const page = await list(A.admin);
    expect(page).toEqual({
      items: [
        {
          userId: alice.id,
          name: 'Alice Adams',
          email: alice.email,
          kind: 'case_manager',
          organisation: A.firm.name,
          methods: ['push', 'totp'],
          phones: [],
          enrolledAt: enrolledAt[alice.id],
          lastUsedAt: 5_000,
        },
        {
          userId: bruno.id,
          name: 'Bruno Brown',
          email: bruno.email,
          kind: 'corp_user',
          organisation: 'Zenith Corp',
          methods: ['webauthn'],
          phones: [],
          enrolledAt: enrolledAt[bruno.id],
          lastUsedAt: null,
        },
        {
          userId: carla.id,
          name: 'Carla Cruz',
          email: carla.email,
          kind: 'foreign_national',
          organisation: 'Yellow Holdings',
          methods: ['push'],
          phones: ['+14155550123'],
          enrolledAt: enrolledAt[carla.id],
          lastUsedAt: null,
        },
      ],
      total: 3,
      page: 1,
      pageSize: 20,
    });
    expect(names(page)).not.toContain(dora.name);
  });

  it("shows the phone numbers of a user's active authenticators, each once, sorted; not those of pending ones or of other users", async () => {
    const f = await firmWithAdmin(h);
    await activateSubscription(h, f.firm.id, 5);
    const erin = await addUser(h, f.firm.id, { name: 'Erin East', email: uniqueEmail('erin'), kind: 'case_manager' });
    const finn = await addUser(h, f.firm.id, { name: 'Finn Ford', email: uniqueEmail('finn'), kind: 'case_manager' });
    expect(await enrollForTest(h, f.firm.id, erin.id, 'totp')).toBe('taken');
    expect(await enrollForTest(h, f.firm.id, finn.id, 'push')).toBe('taken');
    const device = (id: string, user: UserView, phone: string, status: 'active' | 'pending' = 'active') => ({
      id,
      firm_id: f.firm.id,
      user_id: user.id,
      kind: 'push' as const,
      label: 'Tessera Authenticator',
      status,
      created_at: 0,
      confirmed_at: status === 'active' ? 0 : null,
      last_used_at: null,
      phone_e164: phone,
    });
    await h.ctx.db
      .insertInto('authenticators')
      .values([
        device(`phone-1-${erin.id}`, erin, '+447700900123'),
        device(`phone-2-${erin.id}`, erin, '+14155550123'),
        device(`phone-3-${erin.id}`, erin, '+447700900123'), // a second device on the same phone
        device(`phone-4-${erin.id}`, erin, '+33612345678', 'pending'),
      ])
      .execute();
    expect((await list(f.admin)).items.map((i) => [i.name, i.methods, i.phones])).toEqual([
      ['Erin East', ['push', 'totp'], ['+14155550123', '+447700900123']],
      ['Finn Ford', ['push'], []],
    ]);
    // Page 2 of one row each: the phones are the page's own.
    expect((await list(f.admin, '?page=1&pageSize=1')).items.map((i) => i.phones)).toEqual([['+14155550123', '+447700900123']]);
    expect((await list(f.admin, '?page=2&pageSize=1')).items.map((i) => i.phones)).toEqual([[]]);
  });

  it('shows another firm only its own enrolled users', async () => {
    const page = await list(B.admin);
    expect(page.items.map((i) => i.userId)).toEqual([bella.id]);
    expect(page.total).toBe(1);
    // Searching by a name or organisation of firm A finds nothing of it.
    expect((await list(B.admin, '?q=adams')).total).toBe(0);
    expect(names(await list(B.admin, '?q=zenith'))).toEqual(['Alice Bella']);
  });

  it.each([
    ['name', 'alice', ['Alice Adams']],
    ['name, any case', 'cRUZ', ['Carla Cruz']],
    ['email', 'BRUNO-', ['Bruno Brown']],
    ['organisation (corporation)', 'zenith', ['Bruno Brown']],
    ['organisation (corporation), any case', 'YELLOW hold', ['Carla Cruz']],
    ['name part shared by several', 'ru', ['Bruno Brown', 'Carla Cruz']],
    ['nothing', 'nobody', []],
    ['% taken literally', '%', []],
    ['_ taken literally', 'a_a', []],
    ['spaces around', '  alice  ', ['Alice Adams']],
  ])('search by %s: q=%j', async (_what, q, expected) => {
    const page = await list(A.admin, `?q=${encodeURIComponent(q)}`);
    expect(names(page)).toEqual(expected);
    expect(page.total).toBe(expected.length);
  });

  it('search by organisation finds staff by the firm name, and not corporation users', async () => {
    expect(names(await list(A.admin, `?q=${encodeURIComponent(A.firm.name.toUpperCase())}`))).toEqual(['Alice Adams']);
  });

  it('pages', async () => {
    expect(await list(A.admin, '?page=1&pageSize=2')).toMatchObject({ total: 3, page: 1, pageSize: 2, items: [{ name: 'Alice Adams' }, { name: 'Bruno Brown' }] });
    expect(await list(A.admin, '?page=2&pageSize=2')).toMatchObject({ total: 3, page: 2, pageSize: 2, items: [{ name: 'Carla Cruz' }] });
    expect(await list(A.admin, '?page=3&pageSize=2')).toEqual({ total: 3, page: 3, pageSize: 2, items: [] });
    expect(await list(A.admin, '?q=ru&page=2&pageSize=1')).toMatchObject({ total: 2, items: [{ name: 'Carla Cruz' }] });
  });

  it.each(['page=0', 'page=-1', 'page=1.5', 'page=abc', 'pageSize=0', 'pageSize=101', `q=${'x'.repeat(201)}`, 'foo=1', 'kind=case_manager'])(
    'refuses the query %s with 400 VALIDATION_FAILED',
    async (query) => {
      const before = await dbState(h);
      await expectRefused(h, await A.admin.get(`${ENROLLED}?${query}`), 400, 'VALIDATION_FAILED', before);
    },
  );
});

describe('who may use the enrolled users API', () => {
  itRefusesOutsiders({
    h: () => h,
    routes: [
      { method: 'GET', path: ENROLLED },
      { method: 'POST', path: reset(':id') },
    ],
    id: () => alice.id,
    forbidden: notSuperusers(() => member, () => operator),
    csrfAgent: () => A.admin,
  });

  it("firm B's superuser cannot reset firm A's enrolled users: 404, nothing changed", async () => {
    const before = await dbState(h);
    for (const user of [alice, bruno, carla]) await expectRefused(h, await B.admin.post(reset(user.id)), 404, 'NOT_FOUND', before);
    // ... and firm A's superuser cannot reset firm B's.
    await expectRefused(h, await A.admin.post(reset(bella.id)), 404, 'NOT_FOUND', before);
  });

  it('a user who is not enrolled, or does not exist, answers 404 and nothing changes (their sessions stay)', async () => {
    const doraAgent = await userAgent(h, dora.email, A.firm.slug);
    const before = await dbState(h);
    await expectRefused(h, await A.admin.post(reset(dora.id)), 404, 'NOT_FOUND', before);
    await expectRefused(h, await A.admin.post(reset('no-such-user')), 404, 'NOT_FOUND', before);
    expect((await doraAgent.get('/api/v1/me')).statusCode).toBe(200);
  });

  it('an oversized user id -> 400', async () => {
    const before = await dbState(h);
    await expectRefused(h, await A.admin.post(reset('x'.repeat(65))), 400, 'VALIDATION_FAILED', before);
  });
});

describe('Reset MFA Enrollment', () => {

  it('removes every authenticator, frees the seat, ends the sessions, mails the user and audits', async () => {
    const aliceAgent = await userAgent(h, alice.email, A.firm.slug);
    expect((await aliceAgent.get('/api/v1/me')).statusCode).toBe(200);
    const usedBefore = await seatsUsed(h, A.firm.id);
    const bBefore = { seats: await seatsUsed(h, B.firm.id), list: await list(B.admin) };

    const res = await A.admin.post(reset(alice.id));
    expect(res.statusCode, res.body).toBe(204);
    expect(res.body).toBe('');

    const db = h.ctx.db;
    expect(await db.selectFrom('authenticators').selectAll().where('user_id', '=', alice.id).execute()).toEqual([]);
    expect(await db.selectFrom('seats').selectAll().where('user_id', '=', alice.id).execute()).toEqual([]);
    expect(await seatsUsed(h, A.firm.id)).toBe(usedBefore - 1);
    expect((await aliceAgent.get('/api/v1/me')).statusCode).toBe(401);
    const mails = await db.selectFrom('mail_outbox').selectAll().where('to_address', '=', alice.email).where('subject', 'like', 'Your MFA enrollment%').execute();
    expect(mails.map((m) => m.subject)).toEqual([`Your MFA enrollment at ${A.firm.name} was reset`]);
    expect(mails[0]!.firm_id).toBe(A.firm.id);
    const events = await auditEvents(h, { event: 'mfa.enrollment_reset', subjectId: alice.id });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ firm_id: A.firm.id, actor_type: 'user', actor_id: A.superuser.id, subject_type: 'user', user_agent: 'vitest' });
    expect(events[0]!.details).toMatchObject({ reason: 'admin_reset', seatFreed: true, authenticatorsRemoved: 3 });

    expect(names(await list(A.admin))).toEqual(['Bruno Brown', 'Carla Cruz']);
    // The user still exists and can log in again (and enrol again).
    expect((await userAgent(h, alice.email, A.firm.slug).then((a) => a.get('/api/v1/me'))).statusCode).toBe(200);
    // Firm B is untouched.
    expect({ seats: await seatsUsed(h, B.firm.id), list: await list(B.admin) }).toEqual(bBefore);
  });

  it('a second reset of the same user answers 404 and changes nothing', async () => {
    const before = await dbState(h);
    await expectRefused(h, await A.admin.post(reset(alice.id)), 404, 'NOT_FOUND', before);
  });

  it('two resets of the same user at once: one 204, one 404, the seat counted back once', async () => {
    const used = await seatsUsed(h, A.firm.id);
    const statuses = (await Promise.all([A.admin.post(reset(bruno.id)), A.admin.post(reset(bruno.id))])).map((r) => r.statusCode);
    expect(statuses.sort()).toEqual([204, 404]);
    expect(await seatsUsed(h, A.firm.id)).toBe(used - 1);
    expect(await auditEvents(h, { event: 'mfa.enrollment_reset', subjectId: bruno.id })).toHaveLength(1);
  });

  it('removes the pending authenticators too', async () => {
    expect(await A.admin.post(reset(carla.id)).then((r) => r.statusCode)).toBe(204);
    expect(await h.ctx.db.selectFrom('authenticators').select('id').where('user_id', '=', carla.id).execute()).toEqual([]);
  });

  it('frees a seat that another user of a full firm can then take', async () => {
    const full = await firmWithAdmin(h);
    await activateSubscription(h, full.firm.id, 2);
    const [u1, u2, u3] = await Promise.all(
      ['Una', 'Udo', 'Uri'].map((n) => addUser(h, full.firm.id, { name: n, email: uniqueEmail(n.toLowerCase()), kind: 'case_manager' })),
    );
    expect(await enrollForTest(h, full.firm.id, u1!.id)).toBe('taken');
    expect(await enrollForTest(h, full.firm.id, u2!.id, 'push')).toBe('taken');
    expect(await enrollForTest(h, full.firm.id, u3!.id)).toBe('no_seat');
    expect(await seatsUsed(h, full.firm.id)).toBe(2);

    expect((await full.admin.post(reset(u2!.id))).statusCode).toBe(204);
    expect(await seatsUsed(h, full.firm.id)).toBe(1);
    expect(await enrollForTest(h, full.firm.id, u3!.id, 'webauthn')).toBe('taken');
    expect(await seatsUsed(h, full.firm.id)).toBe(2);
    expect((await list(full.admin)).items.map((i) => [i.name, i.methods])).toEqual([
      ['Una', ['totp']],
      ['Uri', ['webauthn']],
    ]);
  });
});
