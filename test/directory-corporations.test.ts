import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CorporationView } from '../src/directory/corporation.service.js';
import type { UserView } from '../src/directory/user.view.js';
import {
  Agent,
  addCorporation,
  addUser,
  auditEvents,
  dbState,
  expectRefused,
  firmWithAdmin,
  operatorAgent,
  startHarness,
  userAgent,
  type Harness,
  type TestFirm,
} from './support/harness.js';
import { itRefusesOutsiders, notSuperusers, type Route } from './support/access.js';
import { uniqueEmail } from './support/fixtures.js';

/**
 * The firm administration API for corporations (client organisations): /api/v1/admin/corporations.
 * Firm A is the one administered; firm B is the neighbour that must never see or touch A.
 */

const CORPS = '/api/v1/admin/corporations';

let h: Harness;
let A: TestFirm;
let B: TestFirm;
/** Corporations the refusal tests point at; no test changes them. acme has one user, apex none. */
let acme: CorporationView;
let apex: CorporationView;
let borealis: CorporationView; // of firm B
let coraA: UserView; // corp user of acme
let member: Agent; // a firm A case manager who is not a superuser
let operator: Agent;

let seq = 0;

beforeAll(async () => {
  h = await startHarness();
  A = await firmWithAdmin(h);
  B = await firmWithAdmin(h);
  acme = await addCorporation(h, A.firm.id, 'Acme Holdings');
  apex = await addCorporation(h, A.firm.id, 'Apex Partners');
  borealis = await addCorporation(h, B.firm.id, 'Borealis Ltd');
  coraA = await addUser(h, A.firm.id, { name: 'Cora Corp', email: uniqueEmail('cora'), kind: 'corp_user', corporationId: acme.id });
  const mick = await addUser(h, A.firm.id, { name: 'Mick Member', email: uniqueEmail('mick'), kind: 'case_manager' });
  member = await userAgent(h, mick.email, A.firm.slug);
  operator = await operatorAgent(h);
});
afterAll(() => h.close());

const corpRow = (id: string) => h.ctx.db.selectFrom('corporations').selectAll().where('id', '=', id).executeTakeFirst();

/** Every route of the corporations API; `:id` is a corporation of firm A, bodies are valid. */
const ROUTES: Route[] = [
  { method: 'GET', path: CORPS },
  { method: 'POST', path: CORPS, body: () => ({ name: `New Corp ${++seq}` }) },
  { method: 'GET', path: `${CORPS}/:id` },
  { method: 'PATCH', path: `${CORPS}/:id`, body: () => ({ name: `Renamed Corp ${++seq}` }) },
  { method: 'DELETE', path: `${CORPS}/:id` },
];

describe('who may use the corporations API', () => {
  // apex is empty, so a DELETE that got through would succeed: the refusal is the only thing stopping it.
  itRefusesOutsiders({
    h: () => h,
    routes: ROUTES,
    id: () => apex.id,
    forbidden: notSuperusers(() => member, () => operator),
    csrfAgent: () => A.admin,
    otherFirm: { agent: () => B.admin, ids: () => [apex.id, acme.id] },
    badIds: { agent: () => A.admin, unknown: 'no-such-corporation', malformed: ['c'.repeat(65), 'c%00'] },
  });
});

describe('GET /admin/corporations', () => {
  it('lists the corporations of the firm by name, with their user counts', async () => {
    const res = await A.admin.get(CORPS);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({
      items: [
        { ...acme, userCount: 1 },
        { ...apex, userCount: 0 },
      ],
      total: 2,
      page: 1,
      pageSize: 20,
    });
  });

  it("never shows another firm's corporations, not even through q", async () => {
    const b = await B.admin.get(CORPS);
    expect(b.json()).toEqual({ items: [borealis], total: 1, page: 1, pageSize: 20 });
    for (const q of ['Acme', 'apex', 'a', '%']) {
      const res = await B.admin.get(`${CORPS}?q=${encodeURIComponent(q)}`);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().items.map((c: CorporationView) => c.id)).not.toContain(acme.id);
      expect(res.json().items.map((c: CorporationView) => c.id)).not.toContain(apex.id);
    }
    expect((await A.admin.get(`${CORPS}?q=borealis`)).json()).toMatchObject({ items: [], total: 0 });
  });

  describe('search and paging', () => {
    let f: TestFirm;
    const names = async (query: string) => {
      const res = await f.admin.get(`${CORPS}?${query}`);
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json();
      return { names: body.items.map((c: CorporationView) => c.name), total: body.total, page: body.page, pageSize: body.pageSize };
    };
    const found = async (q: string) => (await names(`q=${encodeURIComponent(q)}&pageSize=100`)).names;
    beforeAll(async () => {
      f = await firmWithAdmin(h);
      for (const name of ['Delta Dynamics', 'Alpha Analytics', 'Charlie Chemicals', 'Bravo Builders', '100% Organic', 'Snake_Case Inc', 'Snakes Case Inc']) {
        await addCorporation(h, f.firm.id, name);
      }
    });

    it('pages by name with page and pageSize, and reports the total', async () => {
      expect(await names('pageSize=3')).toEqual({ names: ['100% Organic', 'Alpha Analytics', 'Bravo Builders'], total: 7, page: 1, pageSize: 3 });
      expect(await names('pageSize=3&page=2')).toEqual({ names: ['Charlie Chemicals', 'Delta Dynamics', 'Snake_Case Inc'], total: 7, page: 2, pageSize: 3 });
      expect(await names('pageSize=3&page=3')).toEqual({ names: ['Snakes Case Inc'], total: 7, page: 3, pageSize: 3 });
      expect(await names('pageSize=3&page=4')).toEqual({ names: [], total: 7, page: 4, pageSize: 3 });
    });

    it('q matches the name case-insensitively', async () => {
      expect(await found('CHEM')).toEqual(['Charlie Chemicals']);
      expect(await found('a')).toHaveLength(7);
      expect(await names('q=ALPHA')).toMatchObject({ total: 1 });
    });

    it('q takes % and _ literally', async () => {
      expect(await found('%')).toEqual(['100% Organic']);
      expect(await found('_')).toEqual(['Snake_Case Inc']);
      expect(await found('e_c')).toEqual(['Snake_Case Inc']);
    });

    it('q combines with paging; the total counts all matches', async () => {
      expect(await names('q=case&pageSize=1&page=2')).toEqual({ names: ['Snakes Case Inc'], total: 2, page: 2, pageSize: 1 });
    });
  });

  it.each([['page=0'], ['page=x'], ['page=2.5'], ['pageSize=0'], ['pageSize=101'], [`q=${'q'.repeat(201)}`], ['q=%00'], ['kind=corp_user']])(
    'refuses the query %s with 400 VALIDATION_FAILED',
    async (query) => {
      const before = await dbState(h);
      await expectRefused(h, await A.admin.get(`${CORPS}?${query}`), 400, 'VALIDATION_FAILED', before);
    },
  );
});

describe('POST /admin/corporations', () => {
  it('creates a corporation: body, row and audit', async () => {
    const res = await A.admin.post(CORPS, { name: '  Globex Corporation  ' });
    expect(res.statusCode, res.body).toBe(201);
    const view = res.json();
    expect(view).toEqual({ id: expect.any(String), name: 'Globex Corporation', createdAt: h.clock.now(), userCount: 0 });
    expect(await corpRow(view.id)).toEqual({ id: view.id, firm_id: A.firm.id, name: 'Globex Corporation', created_at: h.clock.now() });
    expect(await auditEvents(h, { event: 'corporation.created', subjectId: view.id })).toEqual([
      expect.objectContaining({
        firm_id: A.firm.id,
        actor_type: 'user',
        actor_id: A.superuser.id,
        subject_type: 'corporation',
        ip: '127.0.0.1',
        user_agent: 'vitest',
        details: { name: 'Globex Corporation' },
      }),
    ]);
    expect((await A.admin.get(`${CORPS}/${view.id}`)).json()).toEqual(view);
  });

  it('the same name may exist in another firm', async () => {
    const res = await B.admin.post(CORPS, { name: 'Acme Holdings' });
    expect(res.statusCode, res.body).toBe(201);
    expect(await corpRow(res.json().id)).toMatchObject({ firm_id: B.firm.id });
    expect(await corpRow(acme.id)).toMatchObject({ firm_id: A.firm.id, name: 'Acme Holdings' });
  });

  it.each([
    ['the name is taken in the firm', 'Acme Holdings'],
    ['the name is taken once trimmed', '  Apex Partners '],
    ['the name is taken in another case', 'ACME holdings'],
  ])('%s -> 409 CORPORATION_NAME_TAKEN, and nothing is created', async (_case, name) => {
    const before = await dbState(h);
    await expectRefused(h, await A.admin.post(CORPS, { name }), 409, 'CORPORATION_NAME_TAKEN', before);
  });

  it.each(nameErrors())('400 VALIDATION_FAILED when %s, and nothing is created', async (_case, body) => {
    const before = await dbState(h);
    await expectRefused(h, await A.admin.raw('POST', CORPS, { body: body as Record<string, unknown> }), 400, 'VALIDATION_FAILED', before);
  });

  it.each(transportErrors())('%s -> %i %s, and nothing is created', async (_case, status, code, body) => {
    const before = await dbState(h);
    await expectRefused(h, await A.admin.raw('POST', CORPS, { body }), status, code, before);
  });

  it.each([
    ['a form body', 'application/x-www-form-urlencoded', 'name=Initech', 415, 'UNSUPPORTED_MEDIA_TYPE'],
    // text/plain is what a cross-site form can send without a preflight: not parsed at all.
    ['a text body', 'text/plain', 'Initech', 415, 'UNSUPPORTED_MEDIA_TYPE'],
  ])('%s (%s) -> %i %s, and nothing is created', async (_case, type, body, status, code) => {
    const before = await dbState(h);
    await expectRefused(h, await A.admin.raw('POST', CORPS, { body, headers: { 'content-type': type } }), status, code, before);
  });
});

describe('GET /admin/corporations/:id', () => {
  it('answers the corporation with its user count', async () => {
    const res = await A.admin.get(`${CORPS}/${acme.id}`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ ...acme, userCount: 1 });
  });
});

describe('PATCH /admin/corporations/:id', () => {
  it('renames: body, row and audit; its users show the new name', async () => {
    const corp = await addCorporation(h, A.firm.id, 'Initech');
    const user = await addUser(h, A.firm.id, { name: 'Peter Gibbons', email: uniqueEmail('peter'), kind: 'corp_user', corporationId: corp.id });
    const res = await A.admin.patch(`${CORPS}/${corp.id}`, { name: ' Initrode ' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ ...corp, name: 'Initrode', userCount: 1 });
    expect(await corpRow(corp.id)).toMatchObject({ firm_id: A.firm.id, name: 'Initrode' });
    expect(await auditEvents(h, { event: 'corporation.renamed', subjectId: corp.id })).toEqual([
      expect.objectContaining({
        firm_id: A.firm.id,
        actor_type: 'user',
        actor_id: A.superuser.id,
        subject_type: 'corporation',
        details: { from: 'Initech', to: 'Initrode' },
      }),
    ]);
    expect((await A.admin.get(`/api/v1/admin/users/${user.id}`)).json().corporation).toEqual({ id: corp.id, name: 'Initrode' });
  });

  it('renaming to the same name answers the corporation and writes nothing', async () => {
    const before = await dbState(h);
    const res = await A.admin.patch(`${CORPS}/${acme.id}`, { name: ' Acme Holdings ' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ ...acme, userCount: 1 });
    expect(await dbState(h)).toEqual(before);
  });

  it("renaming to another corporation's name -> 409 CORPORATION_NAME_TAKEN, and nothing changes", async () => {
    const before = await dbState(h);
    await expectRefused(h, await A.admin.patch(`${CORPS}/${apex.id}`, { name: 'Acme Holdings' }), 409, 'CORPORATION_NAME_TAKEN', before);
  });

  it('a change of case only is a rename of the same corporation', async () => {
    const corp = await addCorporation(h, A.firm.id, 'Wayne enterprises');
    const res = await A.admin.patch(`${CORPS}/${corp.id}`, { name: 'Wayne Enterprises' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().name).toBe('Wayne Enterprises');
  });

  it("a name used only in another firm is free", async () => {
    const corp = await addCorporation(h, A.firm.id, 'Umbrella');
    const res = await A.admin.patch(`${CORPS}/${corp.id}`, { name: 'Borealis Ltd' });
    expect(res.statusCode, res.body).toBe(200);
    expect(await corpRow(borealis.id)).toMatchObject({ firm_id: B.firm.id, name: 'Borealis Ltd' });
  });

  it.each(nameErrors())('400 VALIDATION_FAILED when %s, and nothing changes', async (_case, body) => {
    const before = await dbState(h);
    await expectRefused(h, await A.admin.raw('PATCH', `${CORPS}/${apex.id}`, { body: body as Record<string, unknown> }), 400, 'VALIDATION_FAILED', before);
  });

  it.each(transportErrors())('%s -> %i %s, and nothing changes', async (_case, status, code, body) => {
    const before = await dbState(h);
    await expectRefused(h, await A.admin.raw('PATCH', `${CORPS}/${apex.id}`, { body }), status, code, before);
  });
});

describe('DELETE /admin/corporations/:id', () => {
  it('deletes an empty corporation and audits it', async () => {
    const corp = await addCorporation(h, A.firm.id, 'Soon Gone GmbH');
    const res = await A.admin.delete(`${CORPS}/${corp.id}`);
    expect(res.statusCode, res.body).toBe(204);
    expect(res.body).toBe('');
    expect(await corpRow(corp.id)).toBeUndefined();
    expect((await A.admin.get(`${CORPS}/${corp.id}`)).statusCode).toBe(404);
    expect(await auditEvents(h, { event: 'corporation.deleted', subjectId: corp.id })).toEqual([
      expect.objectContaining({
        firm_id: A.firm.id,
        actor_type: 'user',
        actor_id: A.superuser.id,
        subject_type: 'corporation',
        details: { name: 'Soon Gone GmbH' },
      }),
    ]);
  });

  it('a corporation with users -> 409 CORPORATION_NOT_EMPTY, and nothing changes', async () => {
    const before = await dbState(h);
    await expectRefused(h, await A.admin.delete(`${CORPS}/${acme.id}`), 409, 'CORPORATION_NOT_EMPTY', before);
    expect(await h.ctx.db.selectFrom('users').select('corporation_id').where('id', '=', coraA.id).executeTakeFirst()).toEqual({ corporation_id: acme.id });
  });

  it('inactive users count too: only moving or deleting them empties a corporation', async () => {
    const corp = await addCorporation(h, A.firm.id, 'Dormant Co');
    const u = await addUser(h, A.firm.id, { name: 'Ivy Inactive', email: uniqueEmail('ivy'), kind: 'foreign_national', corporationId: corp.id }, null);
    expect((await A.admin.patch(`/api/v1/admin/users/${u.id}`, { recordState: 'inactive', portalAccess: 'disabled' })).statusCode).toBe(200);
    const before = await dbState(h);
    await expectRefused(h, await A.admin.delete(`${CORPS}/${corp.id}`), 409, 'CORPORATION_NOT_EMPTY', before);

    expect((await A.admin.patch(`/api/v1/admin/users/${u.id}`, { corporationId: apex.id })).statusCode).toBe(200);
    expect((await A.admin.get(`${CORPS}/${corp.id}`)).json().userCount).toBe(0);
    expect((await A.admin.delete(`${CORPS}/${corp.id}`)).statusCode).toBe(204);
    expect((await A.admin.patch(`/api/v1/admin/users/${u.id}`, { corporationId: acme.id })).statusCode).toBe(200);
  });
});

/** Bodies the `{ name }` schema refuses. */
function nameErrors(): [string, unknown][] {
  return [
    ['the name is missing', {}],
    ['the name is not a string', { name: 12 }],
    ['the name is null', { name: null }],
    ['the name is oversized', { name: 'n'.repeat(201) }],
    ['the name is empty', { name: '' }],
    ['the name is blank', { name: '   ' }],
    ['the name contains a NUL character', { name: 'Acme\u0000' }],
    ['an unknown property is sent', { name: 'Fine Name', firmId: 'other' }],
    ['the body is an array', [{ name: 'Fine Name' }]],
    ['the body is a JSON string', '"Fine Name"'],
  ];
}

/** Bodies that never reach the schema. */
function transportErrors(): [string, number, string, string][] {
  return [
    ['malformed JSON', 400, 'MALFORMED_JSON', '{"name": "Acme'],
    ['an empty JSON body', 400, 'MALFORMED_JSON', ''],
    ['a body over 64 KiB', 413, 'BODY_TOO_LARGE', JSON.stringify({ name: 'n'.repeat(70 * 1024) })],
  ];
}
