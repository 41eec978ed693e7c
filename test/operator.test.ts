import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../src/sessions/session.service.js';
import {
  Agent,
  addUser,
  auditEvents,
  dbState,
  expectRefused,
  firmWithAdmin,
  operatorAgent,
  setPassword,
  startHarness,
  tokenOf,
  userAgent,
  type Harness,
  type TestFirm,
} from './support/harness.js';
import { itRefusesOutsiders, sendTo, type Route } from './support/access.js';

/** The operator console API: /api/v1/operator/firms and /api/v1/operator/outbox. */

const FIRMS = '/api/v1/operator/firms';
const OUTBOX = '/api/v1/operator/outbox';

let h: Harness;
let op: Agent;
let opId: string;
let A: TestFirm;
let member: Agent; // a firm A case manager who is not a superuser

let seq = 0;
const slug = (prefix: string) => `${prefix}-${++seq}`;
const newFirm = (s = slug('new')) => ({ name: `Firm ${s}`, slug: s, superuser: { name: 'Fiona First', email: `fiona@${s}.example` } });

beforeAll(async () => {
  h = await startHarness();
  op = await operatorAgent(h, 'olga@platform.example');
  opId = (await h.ctx.db.selectFrom('operators').select('id').where('email', '=', 'olga@platform.example').executeTakeFirstOrThrow()).id;
  A = await firmWithAdmin(h);
  const mick = await addUser(h, A.firm.id, { name: 'Mick Member', email: 'mick@example.com', kind: 'case_manager' });
  member = await userAgent(h, mick.email, A.firm.slug);
});
afterAll(() => h.close());


const ROUTES: Route[] = [
  { method: 'GET', path: FIRMS },
  { method: 'POST', path: FIRMS, body: () => newFirm() },
  { method: 'GET', path: OUTBOX },
];

describe('who may use the operator API', () => {
  itRefusesOutsiders({
    h: () => h,
    routes: ROUTES,
    forbidden: [
      { who: 'a firm superuser', agent: () => A.admin },
      { who: 'a firm user', agent: () => member },
    ],
    csrfAgent: () => op,
  });

  it('an operator who has been disabled is logged out of every route', async () => {
    const email = 'dora@platform.example';
    const dora = await operatorAgent(h, email);
    expect((await dora.get(FIRMS)).statusCode).toBe(200);
    await h.ctx.db.updateTable('operators').set({ status: 'disabled' }).where('email', '=', email).execute();
    const before = await dbState(h);
    for (const r of ROUTES) await expectRefused(h, await sendTo(dora, r), 401, 'UNAUTHENTICATED', before);
  });
});

describe('POST /operator/firms', () => {
  it('creates a firm with its first superuser, mails them a set-password link, and audits both', async () => {
    const res = await op.post(FIRMS, { name: '  Hooli Legal  ', slug: 'hooli', superuser: { name: ' Gavin Belson ', email: 'Gavin@Hooli.example' } });
    expect(res.statusCode, res.body).toBe(201);
    const { firm, superuser } = res.json();
    expect(firm).toEqual({ id: expect.any(String), slug: 'hooli', name: 'Hooli Legal', createdAt: h.clock.now(), userCount: 1, applicationCount: 0 });
    expect(superuser).toEqual({
      id: expect.any(String),
      email: 'gavin@hooli.example',
      name: 'Gavin Belson',
      kind: 'case_manager',
      isSuperuser: true,
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

    expect(await h.ctx.db.selectFrom('firms').selectAll().where('id', '=', firm.id).executeTakeFirst()).toEqual({
      id: firm.id,
      slug: 'hooli',
      name: 'Hooli Legal',
      created_at: h.clock.now(),
    });
    expect(await h.ctx.db.selectFrom('users').selectAll().where('firm_id', '=', firm.id).execute()).toEqual([
      expect.objectContaining({ id: superuser.id, email: 'gavin@hooli.example', kind: 'case_manager', is_superuser: 1, status: 'active', password_hash: null }),
    ]);

    const mails = await h.ctx.db.selectFrom('mail_outbox').selectAll().where('to_address', '=', 'gavin@hooli.example').execute();
    expect(mails).toEqual([expect.objectContaining({ firm_id: firm.id, subject: 'Set your password for Hooli Legal', status: 'pending' })]);
    const link = mails[0]!.link!;
    expect(link).toContain(`${h.ctx.config.publicUrl.origin}/set-password#`);
    expect(await h.ctx.db.selectFrom('one_time_tokens').selectAll().where('id', '=', hashToken(tokenOf(link))).executeTakeFirst()).toMatchObject({
      purpose: 'set_password',
      user_id: superuser.id,
      firm_id: firm.id,
      used_at: null,
    });

    const byOperator = { actor_type: 'operator', actor_id: opId, firm_id: firm.id, ip: '127.0.0.1', user_agent: 'vitest' };
    expect(await auditEvents(h, { event: 'firm.created', subjectId: firm.id })).toEqual([
      expect.objectContaining({ ...byOperator, subject_type: 'firm', details: { slug: 'hooli' } }),
    ]);
    expect(await auditEvents(h, { event: 'user.created', subjectId: superuser.id })).toEqual([
      expect.objectContaining({ ...byOperator, subject_type: 'user', details: { kind: 'case_manager', isSuperuser: true, corporationId: null } }),
    ]);

    // The superuser, once they have a password, administers the new firm and only it.
    await setPassword(h, superuser.id);
    const gavin = await userAgent(h, 'gavin@hooli.example', 'hooli');
    const users = await gavin.get('/api/v1/admin/users');
    expect(users.statusCode, users.body).toBe(200);
    expect(users.json()).toMatchObject({ total: 1, items: [{ id: superuser.id, hasPassword: true }] });
  });

  it.each([['a'], ['7'], ['a-b'], ['0-9-x'], [`s${'x'.repeat(61)}e`]])('accepts the slug %s', async (s) => {
    const res = await op.post(FIRMS, newFirm(s));
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().firm.slug).toBe(s);
    expect(await h.ctx.db.selectFrom('firms').select('slug').where('slug', '=', s).execute()).toHaveLength(1);
  });

  it('the same superuser address may open several firms', async () => {
    const first = newFirm();
    const second = { ...newFirm(), superuser: first.superuser };
    expect((await op.post(FIRMS, first)).statusCode).toBe(201);
    expect((await op.post(FIRMS, second)).statusCode).toBe(201);
    expect(await h.ctx.db.selectFrom('users').select('firm_id').where('email', '=', first.superuser.email).execute()).toHaveLength(2);
  });

  it('a slug in use -> 409 SLUG_TAKEN; no firm, user or mail is created', async () => {
    const before = await dbState(h);
    await expectRefused(h, await op.post(FIRMS, { ...newFirm(), slug: A.firm.slug }), 409, 'SLUG_TAKEN', before);
  });

  const valid = newFirm('valid-firm');
  const omit = <T extends object>(o: T, key: keyof T) => Object.fromEntries(Object.entries(o).filter(([k]) => k !== key));
  it.each<[string, unknown]>([
    ['the name is missing', omit(valid, 'name')],
    ['the slug is missing', omit(valid, 'slug')],
    ['the superuser is missing', omit(valid, 'superuser')],
    ["the superuser's email is missing", { ...valid, superuser: { name: 'Fiona' } }],
    ["the superuser's name is missing", { ...valid, superuser: { email: 'fiona@example.com' } }],
    ['the name is not a string', { ...valid, name: true }],
    ['the slug is not a string', { ...valid, slug: 42 }],
    ['the superuser is not an object', { ...valid, superuser: 'fiona@example.com' }],
    ['an unknown property is sent', { ...valid, plan: 'gold' }],
    ['an unknown superuser property is sent', { ...valid, superuser: { ...valid.superuser, password: 'hunter2hunter2' } }],
    ['the name is oversized', { ...valid, name: 'n'.repeat(201) }],
    ['the name is blank', { ...valid, name: '  ' }],
    ['the name contains a NUL character', { ...valid, name: 'Firm\u0000' }],
    ["the superuser's name is oversized", { ...valid, superuser: { ...valid.superuser, name: 'n'.repeat(201) } }],
    ["the superuser's email is not an email", { ...valid, superuser: { ...valid.superuser, email: 'fiona' } }],
    ["the superuser's email is oversized", { ...valid, superuser: { ...valid.superuser, email: `${'f'.repeat(250)}@x.example` } }],
    ['the slug is empty', { ...valid, slug: '' }],
    ['the slug has capitals', { ...valid, slug: 'Valid-Firm' }],
    ['the slug has an underscore', { ...valid, slug: 'valid_firm' }],
    ['the slug has a dot', { ...valid, slug: 'valid.firm' }],
    ['the slug has a space', { ...valid, slug: 'valid firm' }],
    ['the slug starts with a dash', { ...valid, slug: '-valid' }],
    ['the slug ends with a dash', { ...valid, slug: 'valid-' }],
    ['the slug is not ASCII', { ...valid, slug: 'vålid' }],
    ['the slug is oversized (64)', { ...valid, slug: 's'.repeat(64) }],
    ['the body is an array', [valid]],
  ])('400 VALIDATION_FAILED when %s; nothing is created', async (_case, body) => {
    const before = await dbState(h);
    await expectRefused(h, await op.raw('POST', FIRMS, { body: body as Record<string, unknown> }), 400, 'VALIDATION_FAILED', before);
  });

  it.each([
    ['malformed JSON', 400, 'MALFORMED_JSON', '{"name": "Firm", '],
    ['an empty JSON body', 400, 'MALFORMED_JSON', ''],
    ['a body over 64 KiB', 413, 'BODY_TOO_LARGE', JSON.stringify({ ...valid, name: 'n'.repeat(70 * 1024) })],
  ])('%s -> %i %s; nothing is created', async (_case, status, code, body) => {
    const before = await dbState(h);
    await expectRefused(h, await op.raw('POST', FIRMS, { body }), status, code, before);
  });
});

describe('GET /operator/firms', () => {
  it('lists every firm with its user count', async () => {
    const res = await op.get(`${FIRMS}?pageSize=100`);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    const count = await h.ctx.db.selectFrom('firms').select('id').execute();
    expect(body.total).toBe(count.length);
    expect(body.items).toContainEqual({ ...A.firm, userCount: 2 });
    const names = body.items.map((f: { name: string }) => f.name);
    expect(names).toEqual([...names].sort((x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0)));
  });

  describe('search and paging', () => {
    beforeAll(async () => {
      for (const [name, s] of [
        ['Pied Piper Law', 'pied-piper'],
        ['Raviga Partners', 'raviga'],
        ['Bachmanity 100% LLP', 'bachmanity'],
        ['End_Frame Legal', 'endframe'],
        ['Endframe Two', 'endframe-two'],
      ] as const) {
        const res = await op.post(FIRMS, { name, slug: s, superuser: { name: 'S', email: `s@${s}.example` } });
        expect(res.statusCode, res.body).toBe(201);
      }
    });
    const found = async (q: string) => {
      const res = await op.get(`${FIRMS}?q=${encodeURIComponent(q)}&pageSize=100`);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().total).toBe(res.json().items.length);
      return res.json().items.map((f: { slug: string }) => f.slug);
    };

    it('q matches the name or the slug, case-insensitively', async () => {
      expect(await found('PIPER LAW')).toEqual(['pied-piper']);
      expect(await found('RAVIGA')).toEqual(['raviga']);
      expect(await found('pied-')).toEqual(['pied-piper']);
    });

    it('q takes % and _ literally', async () => {
      expect(await found('%')).toEqual(['bachmanity']);
      expect(await found('d_f')).toEqual(['endframe']);
    });

    it('pages with page and pageSize, and reports the total', async () => {
      const all = (await op.get(`${FIRMS}?q=end&pageSize=100`)).json();
      expect(all.items.map((f: { slug: string }) => f.slug)).toEqual(['endframe', 'endframe-two']);
      const p1 = (await op.get(`${FIRMS}?q=end&pageSize=1&page=1`)).json();
      const p2 = (await op.get(`${FIRMS}?q=end&pageSize=1&page=2`)).json();
      const p3 = (await op.get(`${FIRMS}?q=end&pageSize=1&page=3`)).json();
      expect([p1.items, p2.items, p3.items]).toEqual([[all.items[0]], [all.items[1]], []]);
      expect([p1.total, p2.total, p3.total]).toEqual([2, 2, 2]);
      expect(p2).toMatchObject({ page: 2, pageSize: 1 });
    });
  });

  it.each([['page=0'], ['page=two'], ['page=1.5'], ['pageSize=0'], ['pageSize=101'], [`q=${'q'.repeat(201)}`], ['q=%00'], ['status=active']])(
    'refuses the query %s with 400 VALIDATION_FAILED',
    async (query) => {
      const before = await dbState(h);
      await expectRefused(h, await op.get(`${FIRMS}?${query}`), 400, 'VALIDATION_FAILED', before);
    },
  );
});

describe('GET /operator/outbox', () => {
  it('shows every mail, newest first, with paging', async () => {
    h.clock.advance(1000);
    const older = newFirm(slug('older'));
    expect((await op.post(FIRMS, older)).statusCode).toBe(201);
    h.clock.advance(1000);
    const newer = newFirm(slug('newer'));
    expect((await op.post(FIRMS, newer)).statusCode).toBe(201);

    const total = (await h.ctx.db.selectFrom('mail_outbox').select('id').execute()).length;
    const res = await op.get(`${OUTBOX}?pageSize=2`);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ total, page: 1, pageSize: 2 });
    expect(body.items.map((m: { to: string }) => m.to)).toEqual([newer.superuser.email, older.superuser.email]);
    const mail = await h.ctx.db.selectFrom('mail_outbox').selectAll().where('to_address', '=', newer.superuser.email).executeTakeFirstOrThrow();
    expect(body.items[0]).toEqual({
      id: mail.id,
      to: newer.superuser.email,
      subject: `Set your password for ${newer.name}`,
      status: 'pending',
      link: mail.link,
      textBody: mail.text_body,
      createdAt: h.clock.now(),
    });
    expect(body.items[0].link).toContain('/set-password#');
    expect(body.items[0].textBody).toContain(body.items[0].link);

    const second = (await op.get(`${OUTBOX}?pageSize=1&page=2`)).json();
    expect(second).toMatchObject({ total, page: 2, pageSize: 1, items: [{ to: older.superuser.email }] });
    expect((await op.get(`${OUTBOX}?pageSize=100&page=100`)).json()).toEqual({ items: [], total, page: 100, pageSize: 100 });
  });

  it('defaults to the first 20', async () => {
    const body = (await op.get(OUTBOX)).json();
    expect(body.page).toBe(1);
    expect(body.pageSize).toBe(20);
    expect(body.items.length).toBe(Math.min(20, body.total));
  });

  it.each([['page=0'], ['page=-3'], ['page=x'], ['pageSize=0'], ['pageSize=101'], ['q=fiona'], ['to=fiona@example.com']])(
    'refuses the query %s with 400 VALIDATION_FAILED',
    async (query) => {
      const before = await dbState(h);
      await expectRefused(h, await op.get(`${OUTBOX}?${query}`), 400, 'VALIDATION_FAILED', before);
    },
  );
});
