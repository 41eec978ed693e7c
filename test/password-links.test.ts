import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOUR } from '../src/clock.js';
import { FIRST_OPERATOR_EMAIL, ensureOperatorSetup } from '../src/operators/bootstrap.js';
import { Agent, PASSWORD, addUser, expectError, firmWithAdmin, lastLinkTo, startHarness, tokenOf, type Harness, type TestFirm } from './support/harness.js';

describe('first start: the operator setup link', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h.close());

  it('creates the operator without a password and a one-time link; the operator chooses address, name and password', async () => {
    const link = await ensureOperatorSetup(h.ctx);
    expect(link).toMatch(/^http:\/\/localhost:3000\/set-password#[A-Za-z0-9_-]{22}$/);
    const ops = await h.ctx.db.selectFrom('operators').selectAll().execute();
    expect(ops).toHaveLength(1);
    expect(ops[0]!.password_hash).toBeNull();

    const a = new Agent(h.app);
    const info = await a.post('/api/v1/password/inspect', { token: tokenOf(link!) });
    expect(info.json()).toEqual({ purpose: 'operator_setup', email: FIRST_OPERATOR_EMAIL, name: 'Operator', firmName: null });

    expectError(await a.post('/api/v1/password/set', { token: tokenOf(link!), password: 'password1' }), 400, 'PASSWORD_TOO_COMMON');
    const set = await a.post('/api/v1/password/set', { token: tokenOf(link!), password: PASSWORD, email: 'Olga@Platform.example', name: 'Olga' });
    expect(set.statusCode, set.body).toBe(204);

    expectError(await a.post('/api/v1/password/set', { token: tokenOf(link!), password: PASSWORD }), 410, 'LINK_INVALID');
    expectError(await a.post('/api/v1/password/inspect', { token: tokenOf(link!) }), 410, 'LINK_INVALID');

    const login = await a.post('/api/v1/operator/login', { email: 'olga@platform.example', password: PASSWORD });
    expect(login.statusCode, login.body).toBe(200);
    // The password is the first step only: the operator enrols a second factor next (issue 8.6).
    expect(login.json()).toEqual({ principal: 'operator', next: 'enroll' });
    expectError(await a.get('/api/v1/me'), 403, 'MFA_REQUIRED');
    expect((await a.get('/api/v1/mfa/enrollment')).json()).toMatchObject({ user: { name: 'Olga', email: 'olga@platform.example', kind: 'operator' } });
    const ev = await h.ctx.db.selectFrom('audit_events').selectAll().where('event', '=', 'password.set').executeTakeFirstOrThrow();
    expect(ev.actor_type).toBe('operator');
    expect(ev.details).not.toContain(PASSWORD);

    // Once an operator has a password, restarts print nothing and create no one.
    expect(await ensureOperatorSetup(h.ctx)).toBeNull();
    expect(await h.ctx.db.selectFrom('operators').select('id').execute()).toHaveLength(1);
  });
});

describe('an unclaimed setup link', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h.close());

  it('is replaced at the next start, and the old one stops working', async () => {
    const first = (await ensureOperatorSetup(h.ctx))!;
    const second = (await ensureOperatorSetup(h.ctx))!;
    expect(second).not.toBe(first);
    expect(await h.ctx.db.selectFrom('operators').select('id').execute()).toHaveLength(1);
    const a = new Agent(h.app);
    expectError(await a.post('/api/v1/password/inspect', { token: tokenOf(first) }), 410, 'LINK_INVALID');
    expect((await a.post('/api/v1/password/inspect', { token: tokenOf(second) })).statusCode).toBe(200);
  });

  it('expires after 24 hours', async () => {
    const link = (await ensureOperatorSetup(h.ctx))!;
    h.clock.advance(24 * HOUR);
    expectError(await new Agent(h.app).post('/api/v1/password/set', { token: tokenOf(link), password: PASSWORD }), 410, 'LINK_INVALID');
  });
});

describe('set-your-password links of firm users', () => {
  let h: Harness;
  let f: TestFirm;
  beforeAll(async () => {
    h = await startHarness();
    f = await firmWithAdmin(h, 'links-firm');
  });
  afterAll(() => h.close());

  it('are mailed to a new user, who sets a password and logs in', async () => {
    const created = await f.admin.post('/api/v1/admin/users', { name: 'Nina New', email: 'nina@links-firm.example', kind: 'case_manager' });
    expect(created.statusCode, created.body).toBe(201);
    const link = await lastLinkTo(h, 'nina@links-firm.example');
    const a = new Agent(h.app);
    expect((await a.post('/api/v1/password/inspect', { token: tokenOf(link) })).json()).toEqual({
      purpose: 'set_password',
      email: 'nina@links-firm.example',
      name: 'Nina New',
      firmName: 'Firm links-firm',
    });
    expectError(await a.post('/api/v1/password/set', { token: tokenOf(link), password: 'short' }), 400, 'PASSWORD_TOO_SHORT');
    expectError(await a.post('/api/v1/password/set', { token: tokenOf(link), password: 'x'.repeat(129) }), 400, 'PASSWORD_TOO_LONG');
    expectError(await a.post('/api/v1/password/set', { token: tokenOf(link), password: 'nina@links-firm.example' }), 400, 'PASSWORD_TOO_COMMON');
    // A refused password leaves the link usable.
    expect((await a.post('/api/v1/password/set', { token: tokenOf(link), password: 'a long and private phrase' })).statusCode).toBe(204);
    expect((await a.post('/api/v1/login', { email: 'nina@links-firm.example', password: 'a long and private phrase' })).statusCode).toBe(200);
  });

  it('end every session of the account when used (a password reset locks out whoever had it)', async () => {
    const u = await addUser(h, f.firm.id, { name: 'Rita Reset', email: 'rita@links-firm.example', kind: 'vendor_case_manager' });
    const session = new Agent(h.app);
    expect((await session.post('/api/v1/login', { email: u.email, password: PASSWORD })).statusCode).toBe(200);
    expect((await f.admin.post(`/api/v1/admin/users/${u.id}/password-link`)).statusCode).toBe(204);
    const link = await lastLinkTo(h, u.email);
    expect((await new Agent(h.app).post('/api/v1/password/set', { token: tokenOf(link), password: 'brand new passphrase' })).statusCode).toBe(204);
    expectError(await session.get('/api/v1/me'), 401, 'UNAUTHENTICATED');
  });

  it('cannot change address or name (only the operator setup can)', async () => {
    const u = await addUser(h, f.firm.id, { name: 'Ed Edit', email: 'ed@links-firm.example', kind: 'case_manager' }, null);
    const link = await lastLinkTo(h, u.email);
    const res = await new Agent(h.app).post('/api/v1/password/set', { token: tokenOf(link), password: PASSWORD, email: 'evil@x.example' });
    expectError(res, 400, 'VALIDATION_FAILED');
    const row = await h.ctx.db.selectFrom('users').selectAll().where('id', '=', u.id).executeTakeFirstOrThrow();
    expect(row.email).toBe('ed@links-firm.example');
    expect(row.password_hash).toBeNull();
  });

  it('work once even when used twice at the same moment', async () => {
    const u = await addUser(h, f.firm.id, { name: 'Tom Twice', email: 'tom@links-firm.example', kind: 'case_manager' }, null);
    const token = tokenOf(await lastLinkTo(h, u.email));
    const [a, b] = await Promise.all([
      new Agent(h.app).post('/api/v1/password/set', { token, password: 'first racing passphrase' }),
      new Agent(h.app).post('/api/v1/password/set', { token, password: 'second racing passphrase' }),
    ]);
    expect([a.statusCode, b.statusCode].sort()).toEqual([204, 410]);
  });

  it.each([
    ['a token of the wrong shape', { token: 'abc', password: PASSWORD }],
    ['no token', { password: PASSWORD }],
    ['an unknown property', { token: 'A'.repeat(22), password: PASSWORD, admin: true }],
    ['a password that is not a string', { token: 'A'.repeat(22), password: ['x'] }],
  ])('refuses %s with 400 VALIDATION_FAILED', async (_label, body) => {
    expectError(await new Agent(h.app).post('/api/v1/password/set', body), 400, 'VALIDATION_FAILED');
  });

  it('answers an unknown token with 410 LINK_INVALID', async () => {
    expectError(await new Agent(h.app).post('/api/v1/password/inspect', { token: 'A'.repeat(22) }), 410, 'LINK_INVALID');
  });

  it('refuses password changes without the CSRF token', async () => {
    const res = await new Agent(h.app).raw('POST', '/api/v1/password/set', { body: { token: 'A'.repeat(22), password: PASSWORD }, csrf: false });
    expectError(res, 403, 'CSRF_INVALID');
  });
});
