import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MINUTE } from '../src/clock.js';
import type { UserView } from '../src/directory/user.view.js';
import { factorFor } from '../src/factors/registry.js';
import { issueBackupCodes } from '../src/factors/backup-codes/backup-codes.factor.js';
import { rememberBrowser } from '../src/core/remembered-browsers.js';
import {
  Agent,
  PASSWORD,
  activateSubscription,
  addCorporation,
  addUser,
  auditEvents,
  enableMfaForStaff,
  enrollForTest,
  expectRefused,
  firmWithAdmin,
  dbState,
  operatorAgent,
  sessionAgent,
  setPassword,
  startHarness,
  type Harness,
  type TestFirm,
} from './support/harness.js';
import { itRefusesOutsiders } from './support/access.js';
import { mailsTo, seatOf, seatsUsed } from './support/fixtures.js';

/**
 * My security (issue 4.6): GET /me/security, PATCH/DELETE /me/authenticators/:id,
 * POST /me/backup-codes. Firm A's staff are MFA-enabled; firm B is the neighbour.
 */

const SECURITY = '/api/v1/me/security';
const AUTH = (id: string) => `/api/v1/me/authenticators/${encodeURIComponent(id)}`;
const CODES = '/api/v1/me/backup-codes';
const IP = '203.0.113.7';
const SUBJECT = 'Your Tessera security settings changed';

let h: Harness;
let A: TestFirm;
let B: TestFirm;
let corpId: string;
let seq = 0;

beforeAll(async () => {
  h = await startHarness();
  A = await firmWithAdmin(h);
  B = await firmWithAdmin(h);
  await activateSubscription(h, A.firm.id, 50);
  await activateSubscription(h, B.firm.id, 50);
  await enableMfaForStaff(h, A.firm.id);
  await enableMfaForStaff(h, B.firm.id);
  corpId = (await addCorporation(h, A.firm.id, 'Zenith Corp')).id;
});
afterAll(() => h.close());

interface Someone {
  user: UserView;
  firmId: string;
  /** Active authenticators, oldest first. */
  auths: string[];
  /** A session that passed a second factor. */
  agent: Agent;
}

/**
 * A user of `firm` with `n` active authenticator-app authenticators (each with its sealed
 * secret row, as a real enrollment leaves it) and a seat when n > 0, and a session that
 * passed a second factor, from IP.
 */
async function someone(firm: TestFirm, n: number, opts: { kind?: 'case_manager' | 'corp_user'; secondFactor?: boolean } = {}): Promise<Someone> {
  const kind = opts.kind ?? 'case_manager';
  const user = await addUser(h, firm.firm.id, {
    name: `User ${++seq}`,
    email: `user${seq}@example.com`,
    kind,
    ...(kind === 'corp_user' ? { corporationId: corpId } : {}),
  });
  const auths: string[] = [];
  for (let i = 0; i < n; i++) {
    h.clock.advance(1000);
    expect(await enrollForTest(h, firm.firm.id, user.id, 'totp')).toMatch(/taken|already_held/);
    const row = await h.ctx.db.selectFrom('authenticators').select('id').where('user_id', '=', user.id).where('id', 'not in', auths.length ? auths : ['-']).executeTakeFirstOrThrow();
    await h.ctx.db.insertInto('totp_authenticators').values({ authenticator_id: row.id, secret_enc: h.ctx.secrets.seal('JBSWY3DPEHPK3PXP', row.id), last_step: null }).execute();
    auths.push(row.id);
  }
  const agent = await sessionAgent(h, { id: user.id, firmId: firm.firm.id }, { ip: IP, secondFactorAt: opts.secondFactor === false ? null : h.clock.now() });
  return { user, firmId: firm.firm.id, auths, agent };
}

const securityMails = async (to: string) => (await mailsTo(h, to)).filter((m) => m.subject === SUBJECT);

async function expectSecurityMail(to: string, firmId: string, what: RegExp) {
  const mails = await securityMails(to);
  expect(mails).toHaveLength(1);
  const [m] = mails;
  expect(m!.firm_id).toBe(firmId);
  expect(m!.text_body).toMatch(what);
  expect(m!.text_body).toContain(IP);
  expect(m!.text_body).toContain(new Date(h.clock.now()).toISOString().slice(0, 16).replace('T', ' '));
  expect(m!.text_body).toMatch(/If this was not you, tell your administrator/);
  expect(m!.html_body).toContain('If this was not you, tell your administrator');
}

describe('GET /me/security', () => {
  it('shows my active authenticators, backup codes left, live remembered browsers and whether this session passed a second factor', async () => {
    const me = await someone(A, 2);
    const [first, second] = me.auths as [string, string];
    await h.ctx.db.updateTable('authenticators').set({ label: 'Work phone', phone_e164: '+14155550123', last_used_at: 5_000 }).where('id', '=', first).execute();
    // A pending enrollment (not confirmed yet) is not one of my authenticators.
    await h.ctx.db
      .insertInto('authenticators')
      .values({ id: randomUUID(), firm_id: A.firm.id, user_id: me.user.id, kind: 'totp', label: 'pending', status: 'pending', created_at: 1, confirmed_at: null, last_used_at: null, phone_e164: null })
      .execute();
    const codes = await issueBackupCodes(h.ctx, h.ctx.db, { id: me.user.id, firm_id: A.firm.id });
    expect((await factorFor('backup_code').verify(h.ctx, h.ctx.db, { id: me.user.id, firm_id: A.firm.id }, codes[0]!)).ok).toBe(true);
    expect((await factorFor('backup_code').verify(h.ctx, h.ctx.db, { id: me.user.id, firm_id: A.firm.id }, codes[1]!)).ok).toBe(true);
    await rememberBrowser(h.ctx, h.ctx.db, { id: me.user.id, firm_id: A.firm.id }, 7, 'Firefox');
    await h.ctx.db
      .insertInto('remembered_browsers')
      .values({ id: randomUUID(), firm_id: A.firm.id, user_id: me.user.id, created_at: 0, expires_at: h.clock.now() - 1, user_agent: null })
      .execute();
    const created = await h.ctx.db.selectFrom('authenticators').select(['id', 'created_at']).where('user_id', '=', me.user.id).where('status', '=', 'active').execute();
    const createdAt = Object.fromEntries(created.map((c) => [c.id, c.created_at]));

    const res = await me.agent.get(SECURITY);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({
      mfaEnabled: true,
      enrolled: true,
      secondFactorThisSession: true,
      stepUpRequired: false,
      authenticators: [
        { id: first, kind: 'totp', label: 'Work phone', phone: '+14155550123', createdAt: createdAt[first], lastUsedAt: 5_000 },
        { id: second, kind: 'totp', label: 'totp', phone: null, createdAt: createdAt[second], lastUsedAt: null },
      ],
      backupCodesRemaining: 8,
      rememberedBrowsers: 1,
      // Issue 12: whether a passkey may be added, and the live remembered browsers themselves.
      passkeysAllowed: false,
      rememberedBrowserList: [{ browser: 'Unknown browser', os: 'Unknown system', createdAt: h.clock.now(), expiresAt: h.clock.now() + 7 * 86_400_000 }],
    });
  });

  it('says so when this session did not pass a second factor', async () => {
    const me = await someone(A, 1, { secondFactor: false });
    expect((await me.agent.get(SECURITY)).json()).toMatchObject({ enrolled: true, secondFactorThisSession: false, stepUpRequired: true });
  });

  it('shows an MFA-enabled user who is not enrolled, and a user MFA does not cover', async () => {
    const staff = await someone(A, 0);
    expect((await staff.agent.get(SECURITY)).json()).toEqual({
      mfaEnabled: true,
      enrolled: false,
      secondFactorThisSession: true,
      stepUpRequired: false,
      authenticators: [],
      backupCodesRemaining: 0,
      rememberedBrowsers: 0,
      passkeysAllowed: false,
      rememberedBrowserList: [],
    });
    const corp = await someone(A, 0, { kind: 'corp_user' });
    expect((await corp.agent.get(SECURITY)).json()).toMatchObject({ mfaEnabled: false, enrolled: false, authenticators: [] });
  });

  it('never shows another user of the firm or of another firm', async () => {
    const me = await someone(A, 1);
    await someone(A, 2);
    await someone(B, 2);
    const body = (await me.agent.get(SECURITY)).json();
    expect(body.authenticators.map((a: { id: string }) => a.id)).toEqual(me.auths);
  });

  it('401 without a session, 401 for a half-finished login, 403 for an operator', async () => {
    const anon = await new Agent(h.app).get(SECURITY);
    expect(anon.statusCode).toBe(401);
    expect(anon.json().error).toBe('UNAUTHENTICATED');

    // A real password login of an enrolled, MFA-enabled user stops at the second factor.
    const me = await someone(A, 1);
    await setPassword(h, me.user.id);
    const pending = new Agent(h.app);
    const login = await pending.post('/api/v1/login', { email: me.user.email, password: PASSWORD, firm: A.firm.slug });
    expect(login.json()).toMatchObject({ next: 'second_factor' });
    const half = await pending.get(SECURITY);
    expect(half.statusCode).toBe(401);
    expect(half.json().error).toBe('UNAUTHENTICATED');

    const op = await (await operatorAgent(h)).get(SECURITY);
    expect(op.statusCode).toBe(403);
    expect(op.json().error).toBe('FORBIDDEN');
  });
});

describe('PATCH /me/authenticators/:id (rename)', () => {
  it('renames, answers the authenticator, audits and mails me', async () => {
    const me = await someone(A, 2);
    h.clock.advance(MINUTE);
    const res = await me.agent.patch(AUTH(me.auths[0]!), { label: '  Pixel 9  ' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ id: me.auths[0], kind: 'totp', label: 'Pixel 9', phone: null, createdAt: expect.any(Number), lastUsedAt: null });
    expect((await h.ctx.db.selectFrom('authenticators').select('label').where('id', '=', me.auths[0]!).executeTakeFirstOrThrow()).label).toBe('Pixel 9');
    const events = await auditEvents(h, { event: 'mfa.authenticator_renamed', subjectId: me.user.id });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ firm_id: A.firm.id, actor_type: 'user', actor_id: me.user.id, ip: IP, at: h.clock.now() });
    expect(events[0]!.details).toEqual({ authenticatorId: me.auths[0], kind: 'totp', from: 'totp', to: 'Pixel 9' });
    await expectSecurityMail(me.user.email, A.firm.id, /"totp" was renamed to "Pixel 9"/);
    expect((await me.agent.get(SECURITY)).json().authenticators[0].label).toBe('Pixel 9');
  });

  it('the same name again changes nothing and mails nothing', async () => {
    const me = await someone(A, 1);
    await me.agent.patch(AUTH(me.auths[0]!), { label: 'Phone' });
    const before = await dbState(h);
    const res = await me.agent.patch(AUTH(me.auths[0]!), { label: 'Phone' });
    expect(res.statusCode).toBe(200);
    expect(res.json().label).toBe('Phone');
    expect(await dbState(h)).toEqual(before);
  });

  it.each([
    ['an empty label', { label: '' }],
    ['a blank label', { label: '   ' }],
    ['a label of 61 characters', { label: 'x'.repeat(61) }],
    ['a number', { label: 42 }],
    ['null', { label: null }],
    ['no label', {}],
    ['an unknown property', { label: 'ok', kind: 'push' }],
    ['a NUL character', { label: 'a\u0000b' }],
  ])('400 VALIDATION_FAILED for %s, nothing changed', async (_what, body) => {
    const me = await someone(A, 1);
    const before = await dbState(h);
    await expectRefused(h, await me.agent.patch(AUTH(me.auths[0]!), body), 400, 'VALIDATION_FAILED', before);
  });

  it('400 for a body that is not JSON', async () => {
    const me = await someone(A, 1);
    const before = await dbState(h);
    const res = await me.agent.raw('PATCH', AUTH(me.auths[0]!), { body: '{"label":', headers: { 'content-type': 'application/json' } });
    await expectRefused(h, res, 400, 'MALFORMED_JSON', before);
  });

  it('accepts 60 characters', async () => {
    const me = await someone(A, 1);
    expect((await me.agent.patch(AUTH(me.auths[0]!), { label: 'y'.repeat(60) })).statusCode).toBe(200);
  });

  it('403 SECOND_FACTOR_REQUIRED when this session did not pass a second factor', async () => {
    const me = await someone(A, 2, { secondFactor: false });
    const before = await dbState(h);
    await expectRefused(h, await me.agent.patch(AUTH(me.auths[0]!), { label: 'Mine now' }), 403, 'SECOND_FACTOR_REQUIRED', before);
  });

  it("404 for another user's, another firm's, a pending or an unknown authenticator", async () => {
    const me = await someone(A, 1);
    const colleague = await someone(A, 1);
    const neighbour = await someone(B, 1);
    const pendingId = randomUUID();
    await h.ctx.db
      .insertInto('authenticators')
      .values({ id: pendingId, firm_id: A.firm.id, user_id: me.user.id, kind: 'totp', label: 'pending', status: 'pending', created_at: 1, confirmed_at: null, last_used_at: null, phone_e164: null })
      .execute();
    const before = await dbState(h);
    for (const id of [colleague.auths[0]!, neighbour.auths[0]!, pendingId, 'no-such-id']) {
      await expectRefused(h, await me.agent.patch(AUTH(id), { label: 'Stolen' }), 404, 'NOT_FOUND', before);
    }
  });
});

describe('DELETE /me/authenticators/:id', () => {
  it('removes one that is not my last: its secret goes with it, the seat and backup codes stay; audited and mailed', async () => {
    const me = await someone(A, 2);
    await issueBackupCodes(h.ctx, h.ctx.db, { id: me.user.id, firm_id: A.firm.id });
    const used = await seatsUsed(h, A.firm.id);
    const res = await me.agent.delete(AUTH(me.auths[0]!));
    expect(res.statusCode, res.body).toBe(204);
    expect(res.body).toBe('');
    const left = await h.ctx.db.selectFrom('authenticators').select('id').where('user_id', '=', me.user.id).execute();
    expect(left.map((a) => a.id)).toEqual([me.auths[1]]);
    expect(await h.ctx.db.selectFrom('totp_authenticators').select('authenticator_id').where('authenticator_id', '=', me.auths[0]!).executeTakeFirst()).toBeUndefined();
    expect(await seatOf(h, me.user.id)).toBeDefined();
    expect(await seatsUsed(h, A.firm.id)).toBe(used);
    expect((await me.agent.get(SECURITY)).json()).toMatchObject({ enrolled: true, backupCodesRemaining: 10 });
    const [event, ...more] = await auditEvents(h, { event: 'mfa.authenticator_removed', subjectId: me.user.id });
    expect(more).toEqual([]);
    expect(event).toMatchObject({ firm_id: A.firm.id, actor_id: me.user.id, ip: IP });
    expect(event!.details).toEqual({ authenticatorId: me.auths[0], kind: 'totp', label: 'totp', last: false });
    expect(await auditEvents(h, { event: 'mfa.enrollment_reset', subjectId: me.user.id })).toEqual([]);
    await expectSecurityMail(me.user.email, A.firm.id, /"totp" was removed/);
  });

  it.each([[''], ['?confirm=false']])('409 CONFIRM_REQUIRED for my last one while MFA is enforced (%s), nothing changed', async (query) => {
    const me = await someone(A, 1);
    const before = await dbState(h);
    await expectRefused(h, await me.agent.delete(AUTH(me.auths[0]!) + query), 409, 'CONFIRM_REQUIRED', before);
  });

  it('with confirm=true removes my last one: seat freed, backup codes and remembered browsers gone, my other sessions ended, this one kept', async () => {
    const me = await someone(A, 1);
    await issueBackupCodes(h.ctx, h.ctx.db, { id: me.user.id, firm_id: A.firm.id });
    await rememberBrowser(h.ctx, h.ctx.db, { id: me.user.id, firm_id: A.firm.id }, 7, 'Firefox');
    const other = await sessionAgent(h, { id: me.user.id, firmId: A.firm.id }, { secondFactorAt: h.clock.now() });
    const used = await seatsUsed(h, A.firm.id);
    h.clock.advance(MINUTE);

    const res = await me.agent.delete(AUTH(me.auths[0]!) + '?confirm=true');
    expect(res.statusCode, res.body).toBe(204);

    expect(await h.ctx.db.selectFrom('authenticators').select('id').where('user_id', '=', me.user.id).execute()).toEqual([]);
    expect(await h.ctx.db.selectFrom('totp_authenticators').select('authenticator_id').where('authenticator_id', '=', me.auths[0]!).executeTakeFirst()).toBeUndefined();
    expect(await seatOf(h, me.user.id)).toBeUndefined();
    expect(await seatsUsed(h, A.firm.id)).toBe(used - 1);
    expect(await h.ctx.db.selectFrom('backup_codes').select('id').where('user_id', '=', me.user.id).execute()).toEqual([]);
    expect(await h.ctx.db.selectFrom('remembered_browsers').select('id').where('user_id', '=', me.user.id).execute()).toEqual([]);
    expect((await other.get(SECURITY)).statusCode).toBe(401);
    expect((await me.agent.get(SECURITY)).json()).toMatchObject({ mfaEnabled: true, enrolled: false, authenticators: [], backupCodesRemaining: 0, rememberedBrowsers: 0 });

    const removed = await auditEvents(h, { event: 'mfa.authenticator_removed', subjectId: me.user.id });
    expect(removed.map((e) => e.details)).toEqual([{ authenticatorId: me.auths[0], kind: 'totp', label: 'totp', last: true, mfaEnabled: true }]);
    const reset = await auditEvents(h, { event: 'mfa.enrollment_reset', subjectId: me.user.id });
    expect(reset).toHaveLength(1);
    expect(reset[0]).toMatchObject({ actor_type: 'user', actor_id: me.user.id, ip: IP });
    expect(reset[0]!.details).toEqual({ reason: 'self_removed', seatFreed: true, authenticatorsRemoved: 1 });
    // One mail, the security one: not also the "reset by an administrator" one.
    await expectSecurityMail(me.user.email, A.firm.id, /was removed; it was your last one, so you will be asked to set up MFA again at your next login/);
    expect((await mailsTo(h, me.user.email)).filter((m) => /was reset/.test(m.subject))).toEqual([]);

    // The next login asks to enrol again.
    await setPassword(h, me.user.id);
    const login = await new Agent(h.app).post('/api/v1/login', { email: me.user.email, password: PASSWORD, firm: A.firm.slug });
    expect(login.json()).toMatchObject({ next: 'enroll' });
  });

  it('removes the last one of a user MFA does not cover without confirmation, and frees the seat', async () => {
    const me = await someone(A, 1, { kind: 'corp_user' });
    const res = await me.agent.delete(AUTH(me.auths[0]!));
    expect(res.statusCode, res.body).toBe(204);
    expect(await seatOf(h, me.user.id)).toBeUndefined();
    const [event] = await auditEvents(h, { event: 'mfa.authenticator_removed', subjectId: me.user.id });
    expect(event!.details).toMatchObject({ last: true, mfaEnabled: false });
  });

  it('two removals at once of my two authenticators: one goes, the other then is my last and asks for confirmation', async () => {
    const me = await someone(A, 2);
    const results = await Promise.all(me.auths.map((id) => me.agent.delete(AUTH(id))));
    expect(results.map((r) => r.statusCode).sort()).toEqual([204, 409]);
    expect(results.find((r) => r.statusCode === 409)!.json().error).toBe('CONFIRM_REQUIRED');
    expect(await h.ctx.db.selectFrom('authenticators').select('id').where('user_id', '=', me.user.id).execute()).toHaveLength(1);
    expect(await seatOf(h, me.user.id)).toBeDefined();
  });

  it.each([['?confirm=yes'], ['?confirm=true&force=1'], ['?other=1']])('400 VALIDATION_FAILED for the query %s, nothing changed', async (query) => {
    const me = await someone(A, 1);
    const before = await dbState(h);
    await expectRefused(h, await me.agent.delete(AUTH(me.auths[0]!) + query), 400, 'VALIDATION_FAILED', before);
  });

  it('403 SECOND_FACTOR_REQUIRED when this session did not pass a second factor, even with confirm', async () => {
    const me = await someone(A, 2, { secondFactor: false });
    const before = await dbState(h);
    await expectRefused(h, await me.agent.delete(AUTH(me.auths[0]!)), 403, 'SECOND_FACTOR_REQUIRED', before);
    await expectRefused(h, await me.agent.delete(AUTH(me.auths[1]!) + '?confirm=true'), 403, 'SECOND_FACTOR_REQUIRED', before);
  });

  it("404 for another user's or another firm's authenticator, even with confirm", async () => {
    const me = await someone(A, 2);
    const colleague = await someone(A, 1);
    const neighbour = await someone(B, 1);
    const before = await dbState(h);
    for (const id of [colleague.auths[0]!, neighbour.auths[0]!, 'no-such-id']) {
      await expectRefused(h, await me.agent.delete(AUTH(id) + '?confirm=true'), 404, 'NOT_FOUND', before);
    }
  });
});

describe('POST /me/backup-codes', () => {
  it('makes 10 new codes, voids the old set, audits and mails me (without the codes)', async () => {
    const me = await someone(A, 1);
    const old = await issueBackupCodes(h.ctx, h.ctx.db, { id: me.user.id, firm_id: A.firm.id });
    const res = await me.agent.post(CODES);
    expect(res.statusCode, res.body).toBe(200);
    const { backupCodes } = res.json() as { backupCodes: string[] };
    expect(Object.keys(res.json())).toEqual(['backupCodes']);
    expect(backupCodes).toHaveLength(10);
    for (const c of backupCodes) expect(c).toMatch(/^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$/);
    expect(new Set(backupCodes).size).toBe(10);

    const rows = await h.ctx.db.selectFrom('backup_codes').selectAll().where('user_id', '=', me.user.id).execute();
    expect(rows).toHaveLength(10);
    for (const r of rows) expect(backupCodes.some((c) => r.code_hash.includes(c) || r.code_hash.includes(c.replace('-', '')))).toBe(false);
    const factor = factorFor('backup_code');
    const who = { id: me.user.id, firm_id: A.firm.id };
    expect(await factor.verify(h.ctx, h.ctx.db, who, old[0]!)).toEqual({ ok: false, reason: 'wrong' });
    expect(await factor.verify(h.ctx, h.ctx.db, who, backupCodes[3]!)).toEqual({ ok: true, authenticatorId: null });

    const events = await auditEvents(h, { event: 'mfa.backup_codes_regenerated', subjectId: me.user.id });
    expect(events).toHaveLength(1);
    expect(events[0]!.details).toEqual({ count: 10 });
    expect(JSON.stringify(events)).not.toContain(backupCodes[0]!);
    await expectSecurityMail(me.user.email, A.firm.id, /new set of backup codes/);
    const mail = (await securityMails(me.user.email))[0]!;
    for (const c of backupCodes) expect(mail.text_body + mail.html_body).not.toContain(c);
  });

  it('403 SECOND_FACTOR_REQUIRED when this session did not pass a second factor', async () => {
    const me = await someone(A, 1, { secondFactor: false });
    await issueBackupCodes(h.ctx, h.ctx.db, { id: me.user.id, firm_id: A.firm.id });
    const before = await dbState(h);
    await expectRefused(h, await me.agent.post(CODES), 403, 'SECOND_FACTOR_REQUIRED', before);
  });

  it('409 NOT_ENROLLED without an authenticator', async () => {
    const me = await someone(A, 0);
    const before = await dbState(h);
    await expectRefused(h, await me.agent.post(CODES), 409, 'NOT_ENROLLED', before);
  });
});

describe('who may use my security settings', () => {
  // My authenticators are real and this session passed a second factor: the refusal is the only thing stopping a request.
  let me: Someone;
  let operator: Agent;
  beforeAll(async () => {
    me = await someone(A, 2);
    operator = await operatorAgent(h);
  });

  itRefusesOutsiders({
    h: () => h,
    routes: [
      { method: 'GET', path: SECURITY },
      { method: 'PATCH', path: '/api/v1/me/authenticators/:id', body: () => ({ label: 'x' }) },
      { method: 'DELETE', path: '/api/v1/me/authenticators/:id' },
      { method: 'POST', path: CODES },
    ],
    id: () => me.auths[0]!,
    forbidden: [{ who: 'a platform operator', agent: () => operator }],
    csrfAgent: () => me.agent,
  });
});
