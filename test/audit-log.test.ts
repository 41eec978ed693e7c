import { Secret, TOTP } from 'otpauth';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audit, systemActor } from '../src/audit/audit.service.js';
import { AUDIT_EVENT_NAMES, classify } from '../src/audit/audit.catalogue.js';
import { COUNT_LIMIT, exportAuditEvents, type AuditEventView } from '../src/audit/audit-log.service.js';
import { ManualClock, MINUTE } from '../src/clock.js';
import { backfill } from '../src/db/migrations/0008_audit_search.js';
import type { UserView } from '../src/directory/user.view.js';
import { TOTP_PARAMS } from '../src/factors/totp/totp.factor.js';
import { itRefusesOutsiders, notSuperusers } from './support/access.js';
import {
  Agent,
  PASSWORD,
  activateSubscription,
  addCorporation,
  addUser,
  expectError,
  firmWithAdmin,
  operatorAgent,
  startHarness,
  userAgent,
  type Harness,
  type TestFirm,
} from './support/harness.js';

/**
 * The audit log screens (issue 8.1): GET /admin/audit-events (+ .csv) for a firm's
 * superusers, GET /operator/audit-events (+ .csv) for the operator. Events come from real
 * requests (failed logins, a replayed passcode, a lockout, a login without MFA for want of a
 * licence, admin changes) and, for paging, from audit() itself at chosen times.
 * Firm A is administered; firm B is the neighbour; firm C has MFA on.
 */

const ADMIN = '/api/v1/admin/audit-events';
const OPERATOR = '/api/v1/operator/audit-events';
const T0 = Date.UTC(2026, 5, 1, 9, 0, 0);
const DAY = 86_400_000;
/** MFA for the firm's case managers (PUT /admin/mfa/configuration). */
const CASE_MANAGERS_MFA = { caseManagers: true, vendorCaseManagers: false, corporationScope: 'all', allCorpUsers: false, allForeignNationals: false };
const FORMULA_UA = '=HYPERLINK("https://evil.example","click")';

let h: Harness;
const clock = new ManualClock(T0);
let A: TestFirm;
let B: TestFirm;
let C: TestFirm;
let operator: Agent;
let member: Agent; // a case manager of firm A who is not a superuser
let alice: UserView; // of A: her password is mistyped once
let bella: UserView; // of B: her password is mistyped once
let tess: UserView; // of C: replays a passcode, then locks her second factor
let bob: UserView; // of C: signs in without MFA, no licence free

type Page = { items: AuditEventView[]; total: number; totalCapped: boolean; page: number; pageSize: number };
const list = async (agent: Agent, base: string, q: Record<string, string | number | boolean> = {}): Promise<Page> => {
  const res = await agent.get(`${base}?${new URLSearchParams(Object.entries(q).map(([k, v]) => [k, String(v)]))}`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as Page;
};
const events = (page: Page) => page.items.map((e) => e.event);

const failLogin = (email: string, firm: string, ua = 'vitest') =>
  new Agent(h.app, { userAgent: ua }).post('/api/v1/login', { email, password: 'not the password at all', firm });

beforeAll(async () => {
  h = await startHarness({ clock });
  A = await firmWithAdmin(h, 'alpha');
  B = await firmWithAdmin(h, 'bravo');
  C = await firmWithAdmin(h, 'charlie');
  operator = await operatorAgent(h, 'olga@platform.example');
  const m = await addUser(h, A.firm.id, { name: 'Mick Member', email: 'mick@alpha.example', kind: 'case_manager' });
  member = await userAgent(h, m.email, 'alpha');
  alice = await addUser(h, A.firm.id, { name: '@Alice, "the" admin', email: 'alice@alpha.example', kind: 'case_manager' });
  bella = await addUser(h, B.firm.id, { name: 'Bella', email: 'bella@bravo.example', kind: 'case_manager' });

  clock.advance(MINUTE);
  expectError(await failLogin(alice.email, 'alpha', FORMULA_UA), 401, 'INVALID_CREDENTIALS');
  expectError(await failLogin(bella.email, 'bravo'), 401, 'INVALID_CREDENTIALS');
  // An address no firm has: a platform event.
  expectError(await failLogin('nobody@nowhere.example', 'alpha'), 401, 'INVALID_CREDENTIALS');
  await addCorporation(h, A.firm.id, '-1+2 Holdings');

  // Firm C: MFA for case managers, one licence.
  clock.advance(MINUTE);
  await activateSubscription(h, C.firm.id, 1);
  expect((await C.admin.raw('PUT', '/api/v1/admin/mfa/configuration', { body: CASE_MANAGERS_MFA })).statusCode).toBe(200);
  tess = await addUser(h, C.firm.id, { name: 'Tess', email: 'tess@charlie.example', kind: 'case_manager' });
  bob = await addUser(h, C.firm.id, { name: 'Bob', email: 'bob@charlie.example', kind: 'case_manager' });

  // Tess enrols an authenticator app (the one licence), signs out, and at her next login
  // replays the code she enrolled with, then gets nine wrong codes: locked.
  const t = new Agent(h.app);
  expect((await t.post('/api/v1/login', { email: tess.email, password: PASSWORD, firm: 'charlie' })).json().next).toBe('enroll');
  const begun = (await t.post('/api/v1/mfa/enrollment/totp', {})).json() as { authenticatorId: string; secret: string };
  const used = TOTP.generate({ ...TOTP_PARAMS, secret: Secret.fromBase32(begun.secret), timestamp: clock.now() });
  expect((await t.post(`/api/v1/mfa/enrollment/totp/${begun.authenticatorId}/confirm`, { code: used })).statusCode).toBe(200);
  await t.post('/api/v1/logout');
  expect((await t.post('/api/v1/login', { email: tess.email, password: PASSWORD, firm: 'charlie' })).json().next).toBe('second_factor');
  // Still the time step of the code she enrolled with: it is refused as a replay.
  expectError(await t.post('/api/v1/mfa/verify', { method: 'totp', code: used }), 401, 'INVALID_CODE');
  clock.advance(MINUTE);
  for (let i = 0; i < 8; i++) expectError(await t.post('/api/v1/mfa/verify', { method: 'backup_code', code: 'AAAAA-AAAAA' }), 401, 'INVALID_CODE');
  expectError(await t.post('/api/v1/mfa/verify', { method: 'backup_code', code: 'AAAAA-AAAAA' }), 423, 'MFA_LOCKED');

  // Bob is MFA-enabled, not enrolled, and the one licence is Tess's: he goes in on his password alone.
  const bobLogin = await new Agent(h.app).post('/api/v1/login', { email: bob.email, password: PASSWORD, firm: 'charlie' });
  expect(bobLogin.json()).toMatchObject({ next: 'home', notice: 'mfa_bypassed_no_seat' });
  clock.advance(MINUTE);
}, 60_000);
afterAll(() => h.close());

describe('the catalogue', () => {
  it('derives result, factor, attention and a flag from the event and its details', () => {
    expect(classify('login.succeeded', { factors: ['password', 'totp'] })).toMatchObject({ result: 'success', factor: 'totp', attention: false, flag: null });
    expect(classify('login.succeeded', { factors: ['passkey'] })).toMatchObject({ factor: 'webauthn' });
    expect(classify('login.failed', { method: 'passkey' })).toMatchObject({ result: 'failure', factor: 'webauthn', attention: true, flag: 'Failed' });
    expect(classify('login.failed', { method: 'passkey', reason: 'challenge_used' })).toMatchObject({ factor: 'webauthn', flag: 'Replay' });
    expect(classify('mfa.failed', { method: 'webauthn', reason: 'challenge_used' })).toMatchObject({ factor: 'webauthn', flag: 'Replay' });
    expect(classify('mfa.push_answer_refused', { reason: 'already_approved' })).toMatchObject({ factor: 'push', flag: 'Replay' });
    expect(classify('mfa.push_fraud', {})).toMatchObject({ attention: true, flag: 'Fraud report' });
    expect(classify('mfa.webauthn_counter_regression', {})).toMatchObject({ attention: true, flag: 'Counter regression' });
    expect(classify('login.mfa_bypassed_no_seat', {})).toMatchObject({ result: 'success', attention: true, flag: 'MFA bypassed' });
    expect(classify('user.created', {})).toMatchObject({ category: 'administration', result: 'success', factor: null, attention: false });
    // A name no longer written still reads.
    expect(classify('something.old', {})).toEqual({ category: 'platform', label: 'something.old', result: 'success', factor: null, attention: false, flag: null });
    for (const name of AUDIT_EVENT_NAMES) expect(classify(name, {}).label).toMatch(/\S/);
  });

  it('the 0008 backfill gives rows written before it the columns audit() writes now', async () => {
    await audit(h.ctx.db, clock.now(), systemActor, { event: 'mfa.replay_refused', firmId: B.firm.id, details: { method: 'backup_code', reason: 'replay' } });
    const written = await h.ctx.db.selectFrom('audit_events').select(['id', 'result', 'factor', 'attention']).orderBy('id', 'desc').limit(1).executeTakeFirstOrThrow();
    expect(written).toMatchObject({ result: 'failure', factor: 'backup_code', attention: 1 });
    // As a row of before 0008 looked: the column defaults.
    await sql`update audit_events set result = 'success', factor = null, attention = 0 where id = ${written.id}`.execute(h.ctx.db);
    await backfill(h.ctx.db);
    expect(await h.ctx.db.selectFrom('audit_events').select(['id', 'result', 'factor', 'attention']).where('id', '=', written.id).executeTakeFirstOrThrow()).toEqual(written);
  });
});

describe('GET /admin/audit-events', () => {
  it("lists the firm's own events newest first, with labels and names, and nothing of another firm or of the platform", async () => {
    const page = await list(A.admin, ADMIN, { pageSize: 100 });
    expect(page.items.length).toBeGreaterThan(0);
    const ats = page.items.map((e) => e.at);
    expect(ats).toEqual([...ats].sort((x, y) => y - x));
    const [failed] = page.items.filter((e) => e.event === 'login.failed');
    expect(failed).toMatchObject({
      label: 'Sign-in failed',
      category: 'sign_in',
      result: 'failure',
      factor: 'password',
      attention: true,
      flag: 'Failed',
      subject: { type: 'user', id: alice.id, name: alice.name, email: alice.email },
      userAgent: FORMULA_UA,
      firm: null,
    });
    expect(events(page)).toContain('firm.created');
    expect(events(page)).toContain('corporation.created');
    // Bella's failed login (firm B) and the unknown address (no firm) are not here.
    expect(page.items.every((e) => e.subject?.id !== bella.id)).toBe(true);
    const allOfA = await h.ctx.db.selectFrom('audit_events').select('id').where('firm_id', '=', A.firm.id).execute();
    expect(page.total).toBe(allOfA.length);
    expect(page.items.map((e) => e.id).sort()).toEqual(allOfA.map((r) => Number(r.id)).sort());
  });

  it('"Needs attention" finds the failed login, the replay, the lockout and the login without MFA', async () => {
    const a = await list(A.admin, ADMIN, { attention: true });
    expect(a.items.map((e) => [e.event, e.flag])).toEqual([['login.failed', 'Failed']]);

    const c = await list(C.admin, ADMIN, { attention: true, pageSize: 100 });
    expect(c.items.every((e) => e.attention && e.flag)).toBe(true);
    const flags = c.items.map((e) => `${e.event}:${e.flag}`);
    expect(flags).toContain('mfa.replay_refused:Replay');
    expect(flags).toContain('mfa.locked:Lockout');
    expect(flags).toContain('login.mfa_bypassed_no_seat:MFA bypassed');
    expect(flags.filter((f) => f === 'mfa.failed:Failed')).toHaveLength(9);
    const lock = c.items.find((e) => e.event === 'mfa.locked')!;
    expect(lock.subject).toMatchObject({ id: tess.id, name: 'Tess', email: tess.email });
    const bypass = c.items.find((e) => e.event === 'login.mfa_bypassed_no_seat')!;
    expect(bypass).toMatchObject({ result: 'success', factor: 'password', subject: { id: bob.id } });
    // The rest is what does not need attention.
    const calm = await list(C.admin, ADMIN, { attention: false, pageSize: 100 });
    expect(calm.items.every((e) => !e.attention && e.flag === null)).toBe(true);
    expect(calm.total + c.total).toBe((await list(C.admin, ADMIN)).total);
  });

  it('filters by event type, result, factor and user (id, or part of an email or name)', async () => {
    const replay = await list(C.admin, ADMIN, { event: 'mfa.replay_refused' });
    expect(replay.items).toHaveLength(1);
    expect(replay.items[0]).toMatchObject({ factor: 'totp', details: { method: 'totp', reason: 'replay' } });

    const failures = await list(C.admin, ADMIN, { result: 'failure', pageSize: 100 });
    expect(failures.items.every((e) => e.result === 'failure')).toBe(true);
    expect(failures.total).toBe(11); // the replay, 9 wrong backup codes (the last one locks) and the lock
    const backup = await list(C.admin, ADMIN, { factor: 'backup_code', pageSize: 100 });
    expect(backup.items.map((e) => e.event)).toEqual(Array(9).fill('mfa.failed'));
    const totp = await list(C.admin, ADMIN, { factor: 'totp' });
    // Her enrollment, the login it completed, and the replay.
    expect(new Set(events(totp))).toEqual(new Set(['mfa.enrolled', 'login.succeeded', 'mfa.replay_refused']));

    const byId = await list(C.admin, ADMIN, { userId: bob.id, pageSize: 100 });
    expect(byId.items.length).toBeGreaterThan(0);
    expect(byId.items.every((e) => e.actor.id === bob.id || e.subject?.id === bob.id)).toBe(true);
    expect(events(byId)).toEqual(expect.arrayContaining(['user.created', 'login.mfa_bypassed_no_seat', 'login.succeeded']));
    const byEmail = await list(C.admin, ADMIN, { user: 'BOB@charlie', pageSize: 100 });
    expect(byEmail.items.map((e) => e.id)).toEqual(byId.items.map((e) => e.id));
    expect((await list(C.admin, ADMIN, { user: 'Tess', event: 'mfa.locked' })).total).toBe(1);
    // A search for a user of another firm finds nothing here, by email or by id.
    expect((await list(C.admin, ADMIN, { user: 'bella@bravo' })).total).toBe(0);
    expect((await list(C.admin, ADMIN, { userId: bella.id })).total).toBe(0);
    // Combined filters narrow each other.
    expect((await list(C.admin, ADMIN, { userId: bob.id, attention: true })).items.map((e) => e.event)).toEqual(['login.mfa_bypassed_no_seat']);
  });

  it('filters by a time range of days (UTC, both ends inclusive) or instants', async () => {
    const D = await firmWithAdmin(h, 'delta');
    const at = (day: number, hour: number) => Date.UTC(2026, 6, day, hour);
    for (const [day, hour] of [[1, 0], [1, 23], [2, 12], [3, 0], [4, 5]] as const) {
      await audit(h.ctx.db, at(day, hour), { ...systemActor, firmId: D.firm.id }, { event: 'user.updated', details: { day, hour } });
    }
    const times = async (q: Record<string, string>) => (await list(D.admin, ADMIN, { event: 'user.updated', ...q })).items.map((e) => e.at);
    expect(await times({ from: '2026-07-01', to: '2026-07-01' })).toEqual([at(1, 23), at(1, 0)]);
    expect(await times({ from: '2026-07-02', to: '2026-07-03' })).toEqual([at(3, 0), at(2, 12)]);
    expect(await times({ from: '2026-07-03' })).toEqual([at(4, 5), at(3, 0)]);
    expect(await times({ to: '2026-07-01T23:00:00Z' })).toEqual([at(1, 23), at(1, 0)]);
    expect(await times({ from: '2026-07-02T14:00:00+02:00', to: '2026-07-02T12:00:00.000Z' })).toEqual([at(2, 12)]);
  });

  it('pages like the other admin lists, without overlap, and stops paging at 10,000 events', async () => {
    const E = await firmWithAdmin(h, 'echo');
    // 10,050 events in bulk, as they would pile up over months.
    const base = { firm_id: E.firm.id, actor_type: 'system' as const, actor_id: null, subject_type: null, subject_id: null, ip: null, user_agent: null, event: 'user.updated', details: '{}' };
    for (let start = 0; start < 10_050; start += 1_000) {
      const n = Math.min(1_000, 10_050 - start);
      await h.ctx.db.insertInto('audit_events').values(Array.from({ length: n }, (_, i) => ({ ...base, at: T0 - DAY + Math.floor((start + i) / 3) }))).execute();
    }
    const first = await list(E.admin, ADMIN, { pageSize: 100 });
    expect(first).toMatchObject({ total: COUNT_LIMIT, totalCapped: true, page: 1, pageSize: 100 });
    const second = await list(E.admin, ADMIN, { pageSize: 100, page: 2 });
    const ids = [...first.items, ...second.items].map((e) => e.id);
    expect(new Set(ids).size).toBe(200);
    const keys = [...first.items, ...second.items].map((e) => [e.at, e.id] as const);
    for (let i = 1; i < keys.length; i++) expect(keys[i - 1]![0] > keys[i]![0] || (keys[i - 1]![0] === keys[i]![0] && keys[i - 1]![1] > keys[i]![1])).toBe(true);
    expect((await list(E.admin, ADMIN, { pageSize: 100, page: 100 })).items).toHaveLength(100);
    expectError(await E.admin.get(`${ADMIN}?pageSize=100&page=101`), 400, 'PAGE_TOO_DEEP');
    // A narrower filter counts exactly again.
    expect(await list(E.admin, ADMIN, { to: new Date(T0 - DAY + 99).toISOString(), pageSize: 1 })).toMatchObject({ total: 300, totalCapped: false });

    // The export walks past the first batches by keyset: every event once, newest first.
    const csv = await E.admin.get(`${ADMIN}.csv`);
    expect(csv.headers['x-tessera-export-truncated']).toBe('false');
    const rows = parseCsv(csv.body);
    const all = await h.ctx.db.selectFrom('audit_events').select('id').where('firm_id', '=', E.firm.id).execute();
    expect(all.length).toBeGreaterThan(10_050);
    expect(rows).toHaveLength(1 + all.length);
    // A smaller bound says the export is cut short.
    const cut = await exportAuditEvents(h.ctx.db, { kind: 'firm', firmId: E.firm.id }, {}, 2_500);
    expect(cut.truncated).toBe(true);
    expect(parseCsv(await text(cut.stream))).toHaveLength(1 + 2_500);
  }, 60_000);

  it('answers bad filters with 400 and a stable code', async () => {
    const bad = async (q: string, code = 'VALIDATION_FAILED') => expectError(await A.admin.get(`${ADMIN}?${q}`), 400, code);
    await bad('from=yesterday');
    await bad('from=2026-02-30');
    await bad('to=2026-07-01T25:00:00Z');
    await bad('event=no.such_event');
    await bad('result=maybe');
    await bad('factor=sms');
    await bad('attention=perhaps');
    await bad('pageSize=101');
    await bad('page=0');
    await bad(`user=${'x'.repeat(255)}`);
    await bad('userId=');
    await bad('user=a%00b');
    await bad(`firmId=${B.firm.id}`);
    await bad('from=2026-07-02&to=2026-07-01', 'INVALID_TIME_RANGE');
    await bad('from=2026-07-01T00:00:01Z&to=2026-07-01T00:00:00Z', 'INVALID_TIME_RANGE');
    expectError(await A.admin.get(`${ADMIN}.csv?from=2026-07-02&to=2026-07-01`), 400, 'INVALID_TIME_RANGE');
    expectError(await A.admin.get(`${ADMIN}.csv?event=nope`), 400, 'VALIDATION_FAILED');
  });
});

describe('GET /admin/audit-events.csv', () => {
  it('exports the same events as the list, as a quoted, formula-safe CSV attachment', async () => {
    const res = await A.admin.get(`${ADMIN}.csv`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toMatch(/^attachment; filename="tessera-audit-alpha-\d{8}T\d{6}Z\.csv"$/);
    expect(res.headers['cache-control']).toBe('no-store');
    const rows = parseCsv(res.body);
    const header = rows[0]!;
    expect(header).toEqual([
      'Time (UTC)', 'Event', 'Description', 'Category', 'Result', 'Factor', 'Needs attention', 'Actor type', 'Actor ID', 'Actor', 'Actor email',
      'Subject type', 'Subject ID', 'Subject', 'Subject email', 'IP address', 'User agent', 'Details',
    ]);
    const listed = await list(A.admin, ADMIN, { pageSize: 100 });
    expect(rows.slice(1).map((r) => r[1])).toEqual(events(listed));
    expect(rows.slice(1).map((r) => r[0])).toEqual(listed.items.map((e) => new Date(e.at).toISOString()));
    const col = (name: string) => header.indexOf(name);

    const failed = rows.find((r) => r[col('Event')] === 'login.failed')!;
    expect(failed[col('Needs attention')]).toBe('yes: Failed');
    expect(failed[col('Factor')]).toBe('Password');
    // A name with a comma and quotes comes back whole; one starting with @ cannot run as a formula.
    expect(failed[col('Subject')]).toBe(`'${alice.name}`);
    expect(failed[col('User agent')]).toBe(`'${FORMULA_UA}`);
    expect(res.body).toContain(`"'=HYPERLINK(""https://evil.example"",""click"")"`);
    const corp = rows.find((r) => r[col('Event')] === 'corporation.created')!;
    expect(corp[col('Subject')]).toBe("'-1+2 Holdings");
    expect(JSON.parse(corp[col('Details')]!)).toEqual({ name: '-1+2 Holdings' });
    // Every cell is quoted: no cell of any line starts bare.
    for (const line of res.body.split('\r\n').filter(Boolean)) expect(line.startsWith('"')).toBe(true);
  });

  it('carries the filters of the list', async () => {
    const res = await C.admin.get(`${ADMIN}.csv?attention=true&factor=backup_code`);
    const rows = parseCsv(res.body).slice(1);
    expect(rows).toHaveLength(9);
    expect(new Set(rows.map((r) => r[1]))).toEqual(new Set(['mfa.failed']));
  });
});

describe('GET /operator/audit-events', () => {
  it('lists platform events (no firm, or done by an operator) and no firm user’s own', async () => {
    const firmByOperator = await operator.post('/api/v1/operator/firms', { name: 'Foxtrot', slug: 'foxtrot', superuser: { name: 'Fay', email: 'fay@foxtrot.example' } });
    expect(firmByOperator.statusCode, firmByOperator.body).toBe(201);
    const page = await list(operator, OPERATOR, { pageSize: 100 });
    expect(page.items.every((e) => e.firm === null || e.actor.type === 'operator')).toBe(true);
    const created = page.items.find((e) => e.event === 'firm.created' && e.actor.type === 'operator')!;
    expect(created).toMatchObject({ actor: { name: 'Olga Operator', email: 'olga@platform.example' }, firm: { name: 'Foxtrot', slug: 'foxtrot' } });
    expect(page.items.some((e) => e.event === 'login.succeeded' && e.actor.type === 'operator')).toBe(true);
    const unknown = await list(operator, OPERATOR, { attention: true, event: 'login.failed' });
    expect(unknown.items).toHaveLength(1);
    expect(unknown.items[0]).toMatchObject({ subject: null, firm: null, flag: 'Failed' });
    // Firm users' failed logins belong to their firms.
    expect(page.items.some((e) => e.subject?.id === alice.id || e.subject?.id === bella.id)).toBe(false);
    expect((await list(operator, OPERATOR, { user: 'olga@' , event: 'firm.created' })).items.map((e) => e.firm?.slug)).toEqual(['foxtrot']);

    const csv = await operator.get(`${OPERATOR}.csv?event=firm.created`);
    expect(csv.headers['content-disposition']).toMatch(/filename="tessera-audit-platform-/);
    const rows = parseCsv(csv.body);
    expect(rows[0]!.slice(0, 3)).toEqual(['Time (UTC)', 'Firm', 'Event']);
    expect(rows.slice(1).map((r) => r[1])).toContain('foxtrot');
  });

  it('a firm log names an operator as "Platform operator", not by name', async () => {
    const F = await firmWithAdmin(h, 'golf');
    await audit(h.ctx.db, clock.now(), { type: 'operator', id: 'op-1', firmId: null, ip: '10.0.0.1', userAgent: null }, { event: 'subscription.activated', firmId: F.firm.id });
    const [activated] = (await list(F.admin, ADMIN, { event: 'subscription.activated' })).items;
    expect(activated!.actor).toEqual({ type: 'operator', id: null, name: 'Platform operator', email: null });
  });
});

describe('who may read the audit log', () => {
  const catalogue = (base: string) => `${base}/catalogue`;
  // Each session notes once a minute that it was seen; note it now, not during a refusal that must change nothing.
  beforeAll(async () => {
    for (const agent of [member, operator, A.admin]) await agent.get('/api/v1/me');
  });
  describe('the firm log', () => {
    itRefusesOutsiders({
      h: () => h,
      routes: [
        { method: 'GET', path: ADMIN },
        { method: 'GET', path: `${ADMIN}.csv` },
        { method: 'GET', path: catalogue(ADMIN) },
      ],
      forbidden: notSuperusers(() => member, () => operator),
      csrfAgent: () => A.admin,
    });
  });
  describe('the platform log', () => {
    itRefusesOutsiders({
      h: () => h,
      routes: [
        { method: 'GET', path: OPERATOR },
        { method: 'GET', path: `${OPERATOR}.csv` },
        { method: 'GET', path: catalogue(OPERATOR) },
      ],
      forbidden: [
        { who: 'a firm superuser', agent: () => A.admin },
        { who: 'a firm user who is not a superuser', agent: () => member },
      ],
      csrfAgent: () => operator,
    });
  });

  it('refuses a superuser whose login waits for the second factor (MFA on)', async () => {
    // The superuser is a case manager, so MFA applies: a new login stops at enrollment.
    const H = await firmWithAdmin(h, 'hotel');
    await activateSubscription(h, H.firm.id, 5);
    expect((await H.admin.raw('PUT', '/api/v1/admin/mfa/configuration', { body: CASE_MANAGERS_MFA })).statusCode).toBe(200);
    const pending = new Agent(h.app);
    const res = await pending.post('/api/v1/login', { email: H.superuser.email, password: PASSWORD, firm: 'hotel' });
    expect(res.json().next).toBe('enroll');
    expectError(await pending.get(ADMIN), 401, 'UNAUTHENTICATED');
    expectError(await pending.get(`${ADMIN}.csv`), 401, 'UNAUTHENTICATED');
  });

  it('serves the catalogue of event types, categories and factors to both', async () => {
    const body = (await A.admin.get(catalogue(ADMIN))).json();
    expect(body.events.map((e: { event: string }) => e.event)).toEqual(AUDIT_EVENT_NAMES);
    expect(body.factors.map((f: { factor: string }) => f.factor)).toEqual(['password', 'totp', 'push', 'webauthn', 'backup_code']);
    expect((await operator.get(catalogue(OPERATOR))).json()).toEqual(body);
  });
});

// --- helpers ---

/** RFC 4180, written here apart from the exporter so the test reads what a spreadsheet would. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += c;
  }
  if (cell !== '' || row.length) rows.push([...row, cell]);
  return rows;
}

async function text(stream: NodeJS.ReadableStream): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += String(chunk);
  return out;
}
