import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CorporationView } from '../src/directory/corporation.service.js';
import type { UserView } from '../src/directory/user.view.js';
import { hashToken } from '../src/sessions/session.service.js';
import {
  Agent,
  addCorporation,
  addUser,
  auditEvents,
  dbState,
  expectRefused,
  firmWithAdmin,
  lastLinkTo,
  operatorAgent,
  setPassword,
  startHarness,
  tokenOf,
  userAgent,
  type Harness,
  type TestFirm,
} from './support/harness.js';
import { itRefusesOutsiders, notSuperusers, type Route } from './support/access.js';
import { uniqueEmail, mailsTo, userRow } from './support/fixtures.js';

/**
 * The firm administration API for users: /api/v1/admin/users.
 * Firm A is the one administered; firm B is the neighbour that must never see or touch A.
 */

const USERS = '/api/v1/admin/users';

let h: Harness;
let A: TestFirm;
let B: TestFirm;
let acme: CorporationView; // of firm A
let apex: CorporationView; // of firm A
let borealis: CorporationView; // of firm B
/** Users of firm A that the refusal tests point at; no test changes them. */
let staffA: UserView;
let vendorA: UserView;
let corpUserA: UserView;
let memberA: UserView;
let corpUserB: UserView;
/** Logged in: a firm A case manager who is not a superuser, and a platform operator. */
let member: Agent;
let operator: Agent;


beforeAll(async () => {
  h = await startHarness();
  A = await firmWithAdmin(h);
  B = await firmWithAdmin(h);
  acme = await addCorporation(h, A.firm.id, 'Acme Holdings');
  apex = await addCorporation(h, A.firm.id, 'Apex Partners');
  borealis = await addCorporation(h, B.firm.id, 'Borealis Ltd');
  staffA = await addUser(h, A.firm.id, { name: 'Stella Staff', email: uniqueEmail('stella'), kind: 'case_manager' });
  vendorA = await addUser(h, A.firm.id, { name: 'Victor Vendor', email: uniqueEmail('victor'), kind: 'vendor_case_manager' });
  corpUserA = await addUser(h, A.firm.id, { name: 'Cora Corp', email: uniqueEmail('cora'), kind: 'corp_user', corporationId: acme.id });
  memberA = await addUser(h, A.firm.id, { name: 'Mick Member', email: uniqueEmail('mick'), kind: 'case_manager' });
  corpUserB = await addUser(h, B.firm.id, { name: 'Bruno Borealis', email: uniqueEmail('bruno'), kind: 'corp_user', corporationId: borealis.id });
  member = await userAgent(h, memberA.email, A.firm.slug);
  operator = await operatorAgent(h);
});
afterAll(() => h.close());


const sessionCount = async (userId: string) =>
  (await h.ctx.db.selectFrom('sessions').select('id').where('user_id', '=', userId).execute()).length;

/** Every route of the users API; `:id` is a user of firm A, bodies are valid. */
const ROUTES: Route[] = [
  { method: 'GET', path: USERS },
  { method: 'POST', path: USERS, body: () => ({ name: 'Nina New', email: uniqueEmail('nina'), kind: 'case_manager' }) },
  { method: 'GET', path: `${USERS}/:id` },
  { method: 'PATCH', path: `${USERS}/:id`, body: () => ({ name: 'Renamed Person' }) },
  { method: 'DELETE', path: `${USERS}/:id` },
  { method: 'POST', path: `${USERS}/:id/password-link` },
];

describe('who may use the users API', () => {
  itRefusesOutsiders({
    h: () => h,
    routes: ROUTES,
    id: () => staffA.id,
    forbidden: notSuperusers(() => member, () => operator),
    csrfAgent: () => A.admin,
    otherFirm: { agent: () => B.admin, ids: () => [staffA.id, corpUserA.id] },
    badIds: { agent: () => A.admin, unknown: 'no-such-user', malformed: ['x'.repeat(65), 'x%00y'] },
  });
});

describe('GET /admin/users', () => {
  it('lists the users of the firm, ordered by name, with default paging', async () => {
    const f = await firmWithAdmin(h);
    const corp = await addCorporation(h, f.firm.id, 'Zenith Works');
    const bea = await addUser(h, f.firm.id, { name: 'Bea Brown', email: uniqueEmail('bea'), kind: 'vendor_case_manager' }, null);
    const al = await addUser(h, f.firm.id, { name: 'Al Adams', email: uniqueEmail('al'), kind: 'corp_user', corporationId: corp.id }, null);
    const res = await f.admin.get(USERS);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ items: [al, bea, { ...f.superuser, hasPassword: true }], total: 3, page: 1, pageSize: 20 });
    expect(res.json().items[0].corporation).toEqual({ id: corp.id, name: 'Zenith Works' });
  });

  it('pages with page and pageSize, and reports the total', async () => {
    const f = await firmWithAdmin(h);
    for (const n of ['Dee', 'Ann', 'Cid', 'Bob']) await addUser(h, f.firm.id, { name: `${n} Pager`, email: uniqueEmail(n.toLowerCase()), kind: 'case_manager' });
    const names = async (query: string) => {
      const res = await f.admin.get(`${USERS}?${query}`);
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json();
      return { names: body.items.map((u: UserView) => u.name), total: body.total, page: body.page, pageSize: body.pageSize };
    };
    expect(await names('page=1&pageSize=2')).toEqual({ names: ['Ann Pager', 'Bob Pager'], total: 5, page: 1, pageSize: 2 });
    expect(await names('page=2&pageSize=2')).toEqual({ names: ['Cid Pager', 'Dee Pager'], total: 5, page: 2, pageSize: 2 });
    expect(await names('page=3&pageSize=2')).toEqual({ names: ['Sam Super'], total: 5, page: 3, pageSize: 2 });
    expect(await names('page=4&pageSize=2')).toEqual({ names: [], total: 5, page: 4, pageSize: 2 });
  });

  it('filters by kind', async () => {
    const res = await A.admin.get(`${USERS}?kind=vendor_case_manager`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().items.map((u: UserView) => u.id)).toEqual([vendorA.id]);
    expect(res.json().total).toBe(1);
  });

  describe('search with q', () => {
    let f: TestFirm;
    const ids: Record<string, string> = {};
    const found = async (q: string) => {
      const res = await f.admin.get(`${USERS}?q=${encodeURIComponent(q)}`);
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json();
      expect(body.total).toBe(body.items.length);
      return body.items.map((u: UserView) => u.name).sort();
    };
    beforeAll(async () => {
      f = await firmWithAdmin(h);
      const zebra = await addCorporation(h, f.firm.id, 'Zebra Logistics');
      const add = async (name: string, address: string, corporationId?: string) => {
        const u = await addUser(h, f.firm.id, { name, email: address, kind: corporationId ? 'corp_user' : 'case_manager', corporationId }, null);
        ids[name] = u.id;
      };
      await add('Olivia Orchard', 'olivia@orchard.example');
      await add('Peter Plum', 'ppl@fruit.example');
      await add('Quinn Quarry', 'quinn@quarry.example', zebra.id);
      await add('100% Sure', 'sure@certain.example');
      await add('Under_Score', 'us@lines.example');
      await add('Undo Score', 'uds@lines.example');
      await add('Back\\Slash', 'bs@lines.example');
    });

    it('matches the name, case-insensitively', async () => {
      expect(await found('oRcHaRd')).toEqual(['Olivia Orchard']);
      expect(await found('PLUM')).toEqual(['Peter Plum']);
    });

    it('matches the email, case-insensitively', async () => {
      expect(await found('FRUIT.EXAMPLE')).toEqual(['Peter Plum']);
    });

    it('matches the corporation name, case-insensitively', async () => {
      expect(await found('zebra LOG')).toEqual(['Quinn Quarry']);
    });

    it('takes % and _ literally', async () => {
      expect(await found('%')).toEqual(['100% Sure']);
      expect(await found('0% s')).toEqual(['100% Sure']);
      expect(await found('r_s')).toEqual(['Under_Score']);
      expect(await found('_')).toEqual(['Under_Score']);
    });

    it('takes a backslash literally (it is the LIKE escape character)', async () => {
      expect(await found('\\')).toEqual(['Back\\Slash']);
      expect(await found('k\\s')).toEqual(['Back\\Slash']);
    });

    it('a blank q lists everyone; a q matching nobody gives an empty page', async () => {
      expect(await found('   ')).toHaveLength(8);
      expect(await found('nobody-has-this')).toEqual([]);
    });

    it('combines with paging and kind', async () => {
      const res = await f.admin.get(`${USERS}?q=score&pageSize=1&page=2`);
      expect(res.json()).toMatchObject({ total: 2, page: 2, pageSize: 1, items: [{ name: 'Undo Score' }] });
      const corp = await f.admin.get(`${USERS}?q=example&kind=corp_user`);
      expect(corp.json()).toMatchObject({ total: 1, items: [{ name: 'Quinn Quarry' }] });
    });

    it('never finds the users of another firm', async () => {
      for (const q of ['Olivia', 'orchard.example', 'Zebra', '%']) {
        const res = await A.admin.get(`${USERS}?q=${encodeURIComponent(q)}`);
        expect(res.json()).toMatchObject({ items: [], total: 0 });
      }
    });
  });

  it("never shows another firm's users", async () => {
    const a = (await A.admin.get(`${USERS}?pageSize=100`)).json();
    const b = (await B.admin.get(`${USERS}?pageSize=100`)).json();
    const aIds = a.items.map((u: UserView) => u.id);
    const bIds = b.items.map((u: UserView) => u.id);
    expect(aIds).toContain(staffA.id);
    expect(aIds).not.toContain(corpUserB.id);
    expect(aIds).not.toContain(B.superuser.id);
    expect(bIds).toEqual(expect.arrayContaining([B.superuser.id, corpUserB.id]));
    expect(bIds.filter((id: string) => aIds.includes(id))).toEqual([]);
    const dbCount = await h.ctx.db.selectFrom('users').select('id').where('firm_id', '=', B.firm.id).execute();
    expect(b.total).toBe(dbCount.length);
  });

  it.each([
    ['page=0'],
    ['page=-1'],
    ['page=abc'],
    ['page=1.5'],
    ['page=100001'],
    ['pageSize=0'],
    ['pageSize=101'],
    ['kind=boss'],
    [`q=${'x'.repeat(201)}`],
    ['sort=name'],
    ['q=a%00b'],
  ])('refuses the query %s with 400 VALIDATION_FAILED', async (query) => {
    const before = await dbState(h);
    await expectRefused(h, await A.admin.get(`${USERS}?${query}`), 400, 'VALIDATION_FAILED', before);
  });
});

describe('POST /admin/users', () => {
  it.each(['case_manager', 'vendor_case_manager'] as const)('creates a %s: body, row, set-password mail, one-time link and audit', async (kind) => {
    const res = await A.admin.post(USERS, { name: '  Carla Case  ', email: `Carla.${kind}@Example.COM`, kind });
    expect(res.statusCode, res.body).toBe(201);
    const view = res.json();
    const address = `carla.${kind}@example.com`;
    expect(view).toEqual({
      id: expect.any(String),
      email: address,
      name: 'Carla Case',
      kind,
      isSuperuser: false,
      corporation: null,
      status: 'active',
      portalAccess: null,
      recordState: null,
      active: true,
      hasPassword: false,
      usernameAlias: null,
      createdAt: h.clock.now(),
      mfa: { enrolled: false, lockedUntil: null, failedAttempts: 0 },
    });

    expect(await userRow(h, view.id)).toMatchObject({
      firm_id: A.firm.id,
      email: address,
      name: 'Carla Case',
      kind,
      is_superuser: 0,
      corporation_id: null,
      status: 'active',
      portal_access: null,
      record_state: null,
      password_hash: null,
    });

    const mails = await mailsTo(h, address);
    expect(mails).toHaveLength(1);
    expect(mails[0]).toMatchObject({ firm_id: A.firm.id, status: 'pending', subject: `Set your password for ${A.firm.name}` });
    const link = mails[0]!.link!;
    expect(link).toContain(`${h.ctx.config.publicUrl.origin}/set-password#`);
    expect(mails[0]!.text_body).toContain(link);
    const token = await h.ctx.db.selectFrom('one_time_tokens').selectAll().where('id', '=', hashToken(tokenOf(link))).executeTakeFirst();
    expect(token).toMatchObject({ purpose: 'set_password', user_id: view.id, firm_id: A.firm.id, used_at: null });

    const events = await auditEvents(h, { event: 'user.created', subjectId: view.id });
    expect(events).toEqual([
      expect.objectContaining({
        firm_id: A.firm.id,
        actor_type: 'user',
        actor_id: A.superuser.id,
        subject_type: 'user',
        ip: '127.0.0.1',
        user_agent: 'vitest',
        details: { kind, isSuperuser: false, corporationId: null },
      }),
    ]);
  });

  it.each(['corp_user', 'foreign_national'] as const)('creates a %s in a corporation of the firm', async (kind) => {
    const address = uniqueEmail(kind.replace('_', '-'));
    const res = await A.admin.post(USERS, { name: 'Frida Foreign', email: address, kind, corporationId: acme.id });
    expect(res.statusCode, res.body).toBe(201);
    const view = res.json();
    expect(view).toMatchObject({
      kind,
      isSuperuser: false,
      corporation: { id: acme.id, name: 'Acme Holdings' },
      status: null,
      portalAccess: 'enabled',
      recordState: 'active',
      active: true,
      hasPassword: false,
      usernameAlias: null,
    });
    expect(await userRow(h, view.id)).toMatchObject({ firm_id: A.firm.id, corporation_id: acme.id, status: null, portal_access: 'enabled', record_state: 'active' });
    expect(await lastLinkTo(h, address)).toContain('/set-password#');
    const [event] = await auditEvents(h, { event: 'user.created', subjectId: view.id });
    expect(event).toMatchObject({ firm_id: A.firm.id, actor_id: A.superuser.id, details: { kind, isSuperuser: false, corporationId: acme.id } });
  });

  it('creates a superuser, who can then administer the firm', async () => {
    const address = uniqueEmail('sue');
    const res = await A.admin.post(USERS, { name: 'Sue Perkins', email: address, kind: 'case_manager', isSuperuser: true });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ isSuperuser: true, kind: 'case_manager' });
    expect(await userRow(h, res.json().id)).toMatchObject({ is_superuser: 1 });
    const [event] = await auditEvents(h, { event: 'user.created', subjectId: res.json().id });
    expect(event!.details).toEqual({ kind: 'case_manager', isSuperuser: true, corporationId: null });

    await setPassword(h, res.json().id);
    const sue = await userAgent(h, address, A.firm.slug);
    expect((await sue.get(USERS)).statusCode).toBe(200);
  });

  it('allows an address that exists in another firm (emails are unique per firm)', async () => {
    const res = await B.admin.post(USERS, { name: 'Stella Twin', email: staffA.email, kind: 'case_manager' });
    expect(res.statusCode, res.body).toBe(201);
    expect(await userRow(h, staffA.id)).toMatchObject({ firm_id: A.firm.id, name: 'Stella Staff' });
  });

  const valid = { name: 'Val Idation', email: 'val.idation@example.com', kind: 'case_manager' };
  const without = (key: keyof typeof valid) => Object.fromEntries(Object.entries(valid).filter(([k]) => k !== key));

  it.each<[string, unknown]>([
    ['name is missing', without('name')],
    ['email is missing', without('email')],
    ['kind is missing', without('kind')],
    ['name is not a string', { ...valid, name: 42 }],
    ['isSuperuser is not a boolean', { ...valid, isSuperuser: 'true' }],
    ['corporationId is not a string', { ...valid, kind: 'corp_user', corporationId: 7 }],
    ['an unknown property is sent', { ...valid, role: 'admin' }],
    ['a password is sent', { ...valid, password: 'hunter2hunter2' }],
    ['the name is oversized', { ...valid, name: 'n'.repeat(201) }],
    ['the name is blank', { ...valid, name: '   ' }],
    ['the name is empty', { ...valid, name: '' }],
    ['the email is oversized', { ...valid, email: `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.example` }],
    ['the email is not an email', { ...valid, email: 'not-an-email' }],
    ['the email has no domain', { ...valid, email: 'val@' }],
    ['the name contains a NUL character', { ...valid, name: 'Val\u0000Idation' }],
    ['the kind is unknown', { ...valid, kind: 'boss' }],
    ['the kind is a superuser flag', { ...valid, kind: 'superuser' }],
    ['the corporationId is oversized', { ...valid, kind: 'corp_user', corporationId: 'c'.repeat(65) }],
    ['the corporationId is empty', { ...valid, kind: 'corp_user', corporationId: '' }],
    ['the body is an array', [valid]],
    ['the body is a JSON string', '"val@example.com"'],
    ['the body is JSON null', 'null'],
  ])('400 VALIDATION_FAILED when %s, and nothing is created', async (_case, body) => {
    const before = await dbState(h);
    await expectRefused(h, await A.admin.raw('POST', USERS, { body: body as Record<string, unknown> }), 400, 'VALIDATION_FAILED', before);
  });

  it.each([
    ['malformed JSON', 400, 'MALFORMED_JSON', '{"name": "Val", "email":'],
    ['an empty JSON body', 400, 'MALFORMED_JSON', ''],
    ['a body over 64 KiB', 413, 'BODY_TOO_LARGE', JSON.stringify({ ...valid, name: 'n'.repeat(70 * 1024) })],
  ])('%s -> %i %s, and nothing is created', async (_case, status, code, body) => {
    const before = await dbState(h);
    await expectRefused(h, await A.admin.raw('POST', USERS, { body }), status, code, before);
  });

  it('a body that is not JSON -> 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const before = await dbState(h);
    const res = await A.admin.raw('POST', USERS, { body: 'name=Val', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    await expectRefused(h, res, 415, 'UNSUPPORTED_MEDIA_TYPE', before);
  });

  it.each<[string, number, string, () => Record<string, unknown>]>([
    ['the email is taken in the firm (any case)', 409, 'EMAIL_TAKEN', () => ({ name: 'Dup', email: staffA.email.toUpperCase(), kind: 'case_manager' })],
    ['a vendor case manager is made superuser', 400, 'SUPERUSER_KIND', () => ({ name: 'V', email: uniqueEmail('v'), kind: 'vendor_case_manager', isSuperuser: true })],
    ['a corp user is made superuser', 400, 'SUPERUSER_KIND', () => ({ name: 'C', email: uniqueEmail('c'), kind: 'corp_user', corporationId: acme.id, isSuperuser: true })],
    ['a corp user has no corporation', 400, 'CORPORATION_REQUIRED', () => ({ name: 'C', email: uniqueEmail('c'), kind: 'corp_user' })],
    ['a foreign national has no corporation', 400, 'CORPORATION_REQUIRED', () => ({ name: 'F', email: uniqueEmail('f'), kind: 'foreign_national' })],
    ['a case manager is given a corporation', 400, 'FIELD_NOT_FOR_KIND', () => ({ name: 'S', email: uniqueEmail('s'), kind: 'case_manager', corporationId: acme.id })],
    ['the corporation does not exist', 400, 'CORPORATION_NOT_FOUND', () => ({ name: 'C', email: uniqueEmail('c'), kind: 'corp_user', corporationId: 'no-such-corp' })],
    ['the corporation belongs to another firm', 400, 'CORPORATION_NOT_FOUND', () => ({ name: 'C', email: uniqueEmail('c'), kind: 'corp_user', corporationId: borealis.id })],
  ])('%s -> %i %s, and nothing is created', async (_case, status, code, body) => {
    const before = await dbState(h);
    await expectRefused(h, await A.admin.post(USERS, body()), status, code, before);
  });

  it('a superuser of firm B cannot put a user into a corporation of firm A', async () => {
    const before = await dbState(h);
    const res = await B.admin.post(USERS, { name: 'Sneaky', email: uniqueEmail('sneaky'), kind: 'foreign_national', corporationId: acme.id });
    await expectRefused(h, res, 400, 'CORPORATION_NOT_FOUND', before);
  });
});

describe('GET /admin/users/:id', () => {
  it('answers the user as the list shows it', async () => {
    for (const u of [staffA, corpUserA]) {
      const res = await A.admin.get(`${USERS}/${u.id}`);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toEqual({ ...u, hasPassword: true });
    }
    expect((await A.admin.get(`${USERS}/${corpUserA.id}`)).json().corporation).toEqual({ id: acme.id, name: 'Acme Holdings' });
  });
});

describe('PATCH /admin/users/:id', () => {
  it('renames and changes the email; the user is logged out everywhere', async () => {
    const u = await addUser(h, A.firm.id, { name: 'Rita Rename', email: uniqueEmail('rita'), kind: 'case_manager' });
    const rita = await userAgent(h, u.email, A.firm.slug);
    h.clock.advance(1000);
    const res = await A.admin.patch(`${USERS}/${u.id}`, { name: ' Rita Renamed ', email: 'Rita.New@Example.com' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ ...u, name: 'Rita Renamed', email: 'rita.new@example.com', hasPassword: true });
    expect(await userRow(h, u.id)).toMatchObject({ name: 'Rita Renamed', email: 'rita.new@example.com', updated_at: h.clock.now() });
    expect(await sessionCount(u.id)).toBe(0);
    expect((await rita.get('/api/v1/me')).statusCode).toBe(401);
    expect(await auditEvents(h, { event: 'user.updated', subjectId: u.id })).toEqual([
      expect.objectContaining({ firm_id: A.firm.id, actor_type: 'user', actor_id: A.superuser.id, subject_type: 'user', details: { changed: ['name', 'email'] } }),
    ]);
  });

  it('disabling a staff user ends their sessions and is audited as user.deactivated; enabling is user.updated', async () => {
    const u = await addUser(h, A.firm.id, { name: 'Dora Disabled', email: uniqueEmail('dora'), kind: 'vendor_case_manager' });
    const dora = await userAgent(h, u.email, A.firm.slug);
    expect((await dora.get('/api/v1/me')).statusCode).toBe(200);

    const res = await A.admin.patch(`${USERS}/${u.id}`, { status: 'disabled' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ id: u.id, status: 'disabled', active: false });
    expect(await userRow(h, u.id)).toMatchObject({ status: 'disabled' });
    expect(await sessionCount(u.id)).toBe(0);
    expect((await dora.get('/api/v1/me')).statusCode).toBe(401);
    expect(await auditEvents(h, { subjectId: u.id, event: 'user.deactivated' })).toEqual([
      expect.objectContaining({ firm_id: A.firm.id, actor_id: A.superuser.id, details: { changed: ['status'], active: false } }),
    ]);

    const back = await A.admin.patch(`${USERS}/${u.id}`, { status: 'active' });
    expect(back.statusCode, back.body).toBe(200);
    expect(back.json()).toMatchObject({ status: 'active', active: true });
    expect(await userRow(h, u.id)).toMatchObject({ status: 'active' });
    expect(await auditEvents(h, { subjectId: u.id, event: 'user.updated' })).toEqual([
      expect.objectContaining({ firm_id: A.firm.id, actor_id: A.superuser.id, details: { changed: ['status'], active: true } }),
    ]);
    expect((await userAgent(h, u.email, A.firm.slug).then((a) => a.get('/api/v1/me'))).statusCode).toBe(200);
  });

  it.each([
    ['portalAccess', 'disabled', 'portal_access'],
    ['recordState', 'inactive', 'record_state'],
  ] as const)('setting %s to %s ends the sessions of a corporation user (user.deactivated)', async (field, value, column) => {
    const u = await addUser(h, A.firm.id, { name: 'Cody Corp', email: uniqueEmail('cody'), kind: 'foreign_national', corporationId: acme.id });
    const cody = await userAgent(h, u.email, A.firm.slug);
    expect((await cody.get('/api/v1/me')).statusCode).toBe(200);

    const res = await A.admin.patch(`${USERS}/${u.id}`, { [field]: value });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ [field]: value, active: false });
    expect(await userRow(h, u.id)).toMatchObject({ [column]: value });
    expect(await sessionCount(u.id)).toBe(0);
    expect((await cody.get('/api/v1/me')).statusCode).toBe(401);
    expect(await auditEvents(h, { subjectId: u.id, event: 'user.deactivated' })).toEqual([
      expect.objectContaining({ firm_id: A.firm.id, actor_type: 'user', actor_id: A.superuser.id, details: { changed: [column], active: false } }),
    ]);
    expect(await auditEvents(h, { subjectId: u.id, event: 'user.updated' })).toEqual([]);
  });

  it('moves a corporation user to another corporation of the firm', async () => {
    const u = await addUser(h, A.firm.id, { name: 'Mo Mover', email: uniqueEmail('mo'), kind: 'corp_user', corporationId: acme.id });
    const res = await A.admin.patch(`${USERS}/${u.id}`, { corporationId: apex.id });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ corporation: { id: apex.id, name: 'Apex Partners' }, active: true });
    expect(await userRow(h, u.id)).toMatchObject({ corporation_id: apex.id });
    const [event] = await auditEvents(h, { subjectId: u.id, event: 'user.updated' });
    expect(event).toMatchObject({ firm_id: A.firm.id, actor_id: A.superuser.id, details: { changed: ['corporation_id'] } });
  });

  it('promotes a case manager to superuser and back', async () => {
    const u = await addUser(h, A.firm.id, { name: 'Pat Promoted', email: uniqueEmail('pat'), kind: 'case_manager' });
    const pat = await userAgent(h, u.email, A.firm.slug);
    expectErrorCode(await pat.get(USERS), 403, 'FORBIDDEN');

    const up = await A.admin.patch(`${USERS}/${u.id}`, { isSuperuser: true });
    expect(up.statusCode, up.body).toBe(200);
    expect(up.json()).toMatchObject({ isSuperuser: true });
    expect(await userRow(h, u.id)).toMatchObject({ is_superuser: 1 });
    expect((await pat.get(USERS)).statusCode).toBe(200);

    const down = await A.admin.patch(`${USERS}/${u.id}`, { isSuperuser: false });
    expect(down.statusCode, down.body).toBe(200);
    expect(await userRow(h, u.id)).toMatchObject({ is_superuser: 0 });
    expectErrorCode(await pat.get(USERS), 403, 'FORBIDDEN');
    const events = await auditEvents(h, { subjectId: u.id, event: 'user.updated' });
    expect(events.map((e) => e.details)).toEqual([{ changed: ['is_superuser'] }, { changed: ['is_superuser'] }]);
  });

  it('a superuser may edit their own name (only disabling and demoting oneself are refused)', async () => {
    const res = await A.admin.patch(`${USERS}/${A.superuser.id}`, { name: 'Sam Superior', isSuperuser: true, status: 'active' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ name: 'Sam Superior', isSuperuser: true, active: true });
    expect((await A.admin.patch(`${USERS}/${A.superuser.id}`, { name: 'Sam Super' })).statusCode).toBe(200);
  });

  it('a patch that changes nothing answers the user and writes nothing', async () => {
    const before = await dbState(h);
    const res = await A.admin.patch(`${USERS}/${staffA.id}`, { name: staffA.name, email: staffA.email.toUpperCase(), status: 'active' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ id: staffA.id, name: staffA.name, email: staffA.email });
    expect(await dbState(h)).toEqual(before);
  });

  it.each<[string, unknown]>([
    ['the body is empty', {}],
    ['an unknown property is sent', { nickname: 'Stel' }],
    ['the kind is changed', { kind: 'corp_user' }],
    ['the password hash is set', { passwordHash: 'x' }],
    ['the name is not a string', { name: ['Stella'] }],
    ['the name is oversized', { name: 's'.repeat(201) }],
    ['the name is blank', { name: ' \t ' }],
    ['the name contains a NUL character', { name: 'Stella\u0000' }],
    ['the email is not an email', { email: 'stella(at)example.com' }],
    ['the email is oversized', { email: `${'a'.repeat(250)}@example.com` }],
    ['isSuperuser is a string', { isSuperuser: 'false' }],
    ['the status is unknown', { status: 'gone' }],
    ['the portal access is unknown', { portalAccess: 'maybe' }],
    ['the record state is unknown', { recordState: 'deleted' }],
    ['the corporationId is null', { corporationId: null }],
    ['the corporationId is oversized', { corporationId: 'c'.repeat(65) }],
    ['the body is an array', [{ name: 'x' }]],
  ])('400 VALIDATION_FAILED when %s, and nothing changes', async (_case, body) => {
    const before = await dbState(h);
    await expectRefused(h, await A.admin.raw('PATCH', `${USERS}/${staffA.id}`, { body: body as Record<string, unknown> }), 400, 'VALIDATION_FAILED', before);
  });

  it.each([
    ['malformed JSON', 400, 'MALFORMED_JSON', '{"name": '],
    ['an empty JSON body', 400, 'MALFORMED_JSON', ''],
    ['a body over 64 KiB', 413, 'BODY_TOO_LARGE', JSON.stringify({ name: 'n'.repeat(70 * 1024) })],
  ])('%s -> %i %s, and nothing changes', async (_case, status, code, body) => {
    const before = await dbState(h);
    await expectRefused(h, await A.admin.raw('PATCH', `${USERS}/${staffA.id}`, { body }), status, code, before);
  });

  it.each<[string, number, string, () => [string, Record<string, unknown>]]>([
    ['the email belongs to another user of the firm', 409, 'EMAIL_TAKEN', () => [staffA.id, { email: vendorA.email.toUpperCase() }]],
    ['a vendor case manager is made superuser', 400, 'SUPERUSER_KIND', () => [vendorA.id, { isSuperuser: true }]],
    ['a corp user is made superuser', 400, 'SUPERUSER_KIND', () => [corpUserA.id, { isSuperuser: true }]],
    ['a corp user is given a status', 400, 'FIELD_NOT_FOR_KIND', () => [corpUserA.id, { status: 'disabled' }]],
    ['a case manager is given portal access', 400, 'FIELD_NOT_FOR_KIND', () => [staffA.id, { portalAccess: 'disabled' }]],
    ['a case manager is given a record state', 400, 'FIELD_NOT_FOR_KIND', () => [staffA.id, { recordState: 'inactive' }]],
    ['a vendor case manager is given a corporation', 400, 'FIELD_NOT_FOR_KIND', () => [vendorA.id, { corporationId: acme.id }]],
    ['the corporation does not exist', 400, 'CORPORATION_NOT_FOUND', () => [corpUserA.id, { corporationId: 'no-such-corp' }]],
    ['the corporation belongs to another firm', 400, 'CORPORATION_NOT_FOUND', () => [corpUserA.id, { corporationId: borealis.id }]],
    ['the superuser disables themself', 409, 'CANNOT_CHANGE_SELF', () => [A.superuser.id, { status: 'disabled' }]],
    ['the superuser removes their own superuser role', 409, 'CANNOT_CHANGE_SELF', () => [A.superuser.id, { isSuperuser: false }]],
  ])('%s -> %i %s, and nothing changes', async (_case, status, code, request) => {
    const [id, body] = request();
    const before = await dbState(h);
    await expectRefused(h, await A.admin.patch(`${USERS}/${id}`, body), status, code, before);
  });

  it('a superuser of firm B cannot move their user into a corporation of firm A', async () => {
    const before = await dbState(h);
    await expectRefused(h, await B.admin.patch(`${USERS}/${corpUserB.id}`, { corporationId: acme.id }), 400, 'CORPORATION_NOT_FOUND', before);
  });
});

describe('DELETE /admin/users/:id', () => {
  it('deletes the user, their sessions and links, and audits user.deleted', async () => {
    const u = await addUser(h, A.firm.id, { name: 'Gone Soon', email: uniqueEmail('gone'), kind: 'corp_user', corporationId: apex.id });
    const gone = await userAgent(h, u.email, A.firm.slug);
    const res = await A.admin.delete(`${USERS}/${u.id}`);
    expect(res.statusCode, res.body).toBe(204);
    expect(res.body).toBe('');
    expect(await userRow(h, u.id)).toBeUndefined();
    expect(await sessionCount(u.id)).toBe(0);
    expect(await h.ctx.db.selectFrom('one_time_tokens').select('id').where('user_id', '=', u.id).execute()).toEqual([]);
    expect((await gone.get('/api/v1/me')).statusCode).toBe(401);
    expectErrorCode(await A.admin.get(`${USERS}/${u.id}`), 404, 'NOT_FOUND');
    expect(await auditEvents(h, { event: 'user.deleted', subjectId: u.id })).toEqual([
      expect.objectContaining({ firm_id: A.firm.id, actor_type: 'user', actor_id: A.superuser.id, subject_type: 'user', details: { kind: 'corp_user' } }),
    ]);
  });

  it('a superuser cannot delete themself -> 409 CANNOT_CHANGE_SELF', async () => {
    const before = await dbState(h);
    await expectRefused(h, await A.admin.delete(`${USERS}/${A.superuser.id}`), 409, 'CANNOT_CHANGE_SELF', before);
  });
});

describe('POST /admin/users/:id/password-link', () => {
  it('mails a new set-password link, retires the old one, and audits it', async () => {
    const u = await addUser(h, A.firm.id, { name: 'Lena Link', email: uniqueEmail('lena'), kind: 'case_manager' }, null);
    const first = await lastLinkTo(h, u.email);
    h.clock.advance(1);
    const usersBefore = await h.ctx.db.selectFrom('users').selectAll().orderBy('id').execute();

    const res = await A.admin.post(`${USERS}/${u.id}/password-link`);
    expect(res.statusCode, res.body).toBe(204);
    expect(res.body).toBe('');

    const mails = await mailsTo(h, u.email);
    expect(mails).toHaveLength(2);
    const second = await lastLinkTo(h, u.email);
    expect(second).not.toBe(first);
    expect(second).toContain('/set-password#');
    expect(mails[1]).toMatchObject({ firm_id: A.firm.id, link: second });
    const token = (link: string) => h.ctx.db.selectFrom('one_time_tokens').selectAll().where('id', '=', hashToken(tokenOf(link))).executeTakeFirstOrThrow();
    expect((await token(first)).used_at).toBe(h.clock.now());
    expect(await token(second)).toMatchObject({ user_id: u.id, firm_id: A.firm.id, used_at: null });
    expect(await h.ctx.db.selectFrom('users').selectAll().orderBy('id').execute()).toEqual(usersBefore);

    expect(await auditEvents(h, { event: 'user.password_link_sent', subjectId: u.id })).toEqual([
      expect.objectContaining({ firm_id: A.firm.id, actor_type: 'user', actor_id: A.superuser.id, subject_type: 'user' }),
    ]);
  });
});

function expectErrorCode(res: LightMyRequestResponse, status: number, code: string) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.json()).toEqual({ error: code, message: expect.any(String) });
}
