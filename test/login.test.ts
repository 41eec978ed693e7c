import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MINUTE } from '../src/clock.js';
import { ACCOUNT_POLICY } from '../src/core/throttle.js';
import { Agent, PASSWORD, addCorporation, addUser, expectError, firmWithAdmin, operatorAgent, startHarness, type Harness, type TestFirm } from './support/harness.js';

let ipCounter = 0;
const freshAgent = (h: Harness) => new Agent(h.app, { ip: `10.1.${Math.floor(++ipCounter / 250)}.${ipCounter % 250}` });

describe('password login', () => {
  let h: Harness;
  let f: TestFirm;
  beforeAll(async () => {
    h = await startHarness();
    f = await firmWithAdmin(h, 'acme-law');
  });
  afterAll(() => h.close());

  it('logs a firm user in with an HttpOnly, SameSite session cookie and lands on /me', async () => {
    const user = await addUser(h, f.firm.id, { name: 'Carl Case', email: 'carl@acme-law.example', kind: 'case_manager' });
    const a = freshAgent(h);
    const res = await a.post('/api/v1/login', { email: 'Carl@Acme-Law.example ', password: PASSWORD });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ principal: 'user', next: 'home' });
    const cookie = res.cookies.find((c) => c.name === 'tessera_session')!;
    expect(cookie.httpOnly).toBe(true);
    expect(cookie.sameSite).toBe('Lax');
    expect(cookie.secure).toBeFalsy();
    expect(cookie.value).toMatch(/^[A-Za-z0-9_-]{22}$/); // 128 bits
    const stored = await h.ctx.db.selectFrom('sessions').selectAll().where('user_id', '=', user.id).execute();
    expect(stored).toHaveLength(1);
    expect(stored[0]!.id).not.toBe(cookie.value); // stored hashed
    const me = await a.get('/api/v1/me');
    expect(me.json()).toMatchObject({ principal: 'user', user: { email: 'carl@acme-law.example', kind: 'case_manager', isSuperuser: false, firm: { slug: 'acme-law' } } });
    const ev = await h.ctx.db.selectFrom('audit_events').selectAll().where('event', '=', 'login.succeeded').where('actor_id', '=', user.id).executeTakeFirstOrThrow();
    expect(ev.firm_id).toBe(f.firm.id);
    expect(ev.user_agent).toBe('vitest');
    expect(ev.details).not.toContain(PASSWORD);
  });

  it('answers a wrong password and an unknown address alike, and audits both', async () => {
    const wrong = await freshAgent(h).post('/api/v1/login', { email: f.superuser.email, password: 'not the password' });
    const unknown = await freshAgent(h).post('/api/v1/login', { email: 'nobody@nowhere.example', password: 'not the password' });
    expectError(wrong, 401, 'INVALID_CREDENTIALS');
    expect(unknown.statusCode).toBe(wrong.statusCode);
    expect(unknown.json()).toEqual(wrong.json());
    const failed = await h.ctx.db.selectFrom('audit_events').selectAll().where('event', '=', 'login.failed').execute();
    expect(failed.some((e) => e.subject_id === f.superuser.id)).toBe(true);
    expect(failed.some((e) => e.subject_id === null)).toBe(true);
    expect(failed.every((e) => !e.details.includes('not the password'))).toBe(true);
  });

  it('takes about as long for an unknown address as for a known one (argon2 runs either way)', async () => {
    const time = async (email: string) => {
      h.clock.advance(2 * MINUTE); // stay clear of the growing delays: this measures the answer, not the throttle
      const t = process.hrtime.bigint();
      await freshAgent(h).post('/api/v1/login', { email, password: 'not the password' });
      return Number(process.hrtime.bigint() - t) / 1e6;
    };
    await time(f.superuser.email); // warm up
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 5; i++) {
      known.push(await time(f.superuser.email));
      unknown.push(await time(`ghost${i}@nowhere.example`));
    }
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[2]!;
    const ratio = median(unknown) / median(known);
    expect(ratio).toBeGreaterThan(0.4);
    expect(ratio).toBeLessThan(2.5);
  });

  it.each([
    ['a disabled case manager', { kind: 'case_manager' as const }, { status: 'disabled' }],
    ['a corp user without portal access', { kind: 'corp_user' as const }, { portalAccess: 'disabled' }],
    ['a foreign national with an inactive record', { kind: 'foreign_national' as const }, { recordState: 'inactive' }],
  ])('refuses %s with the same answer as a wrong password', async (_label, kind, patch) => {
    const corp = kind.kind === 'case_manager' ? null : await addCorporation(h, f.firm.id, `Corp ${Math.random()}`);
    const email = `u${Math.random().toString(36).slice(2)}@acme-law.example`;
    const u = await addUser(h, f.firm.id, { name: 'Some One', email, ...kind, corporationId: corp?.id });
    expect((await f.admin.patch(`/api/v1/admin/users/${u.id}`, patch)).statusCode).toBe(200);
    expectError(await freshAgent(h).post('/api/v1/login', { email, password: PASSWORD }), 401, 'INVALID_CREDENTIALS');
  });

  it('refuses a user who has not set a password yet', async () => {
    await addUser(h, f.firm.id, { name: 'New Person', email: 'new@acme-law.example', kind: 'case_manager' }, null);
    expectError(await freshAgent(h).post('/api/v1/login', { email: 'new@acme-law.example', password: PASSWORD }), 401, 'INVALID_CREDENTIALS');
  });

  it('finds the firm by the password when an address exists in two firms, and asks for the firm when both match', async () => {
    const other = await firmWithAdmin(h, 'beta-legal');
    await addUser(h, f.firm.id, { name: 'Dual One', email: 'dual@shared.example', kind: 'case_manager' }, 'first firm password');
    await addUser(h, other.firm.id, { name: 'Dual Two', email: 'dual@shared.example', kind: 'case_manager' }, 'second firm password');
    const a = freshAgent(h);
    expect((await a.post('/api/v1/login', { email: 'dual@shared.example', password: 'second firm password' })).statusCode).toBe(200);
    expect((await a.get('/api/v1/me')).json().user.firm.slug).toBe('beta-legal');

    await addUser(h, f.firm.id, { name: 'Same One', email: 'same@shared.example', kind: 'case_manager' }, 'one shared password');
    await addUser(h, other.firm.id, { name: 'Same Two', email: 'same@shared.example', kind: 'case_manager' }, 'one shared password');
    const b = freshAgent(h);
    expectError(await b.post('/api/v1/login', { email: 'same@shared.example', password: 'one shared password' }), 409, 'FIRM_REQUIRED');
    expectError(await b.post('/api/v1/login', { email: 'same@shared.example', password: 'wrong password' }), 401, 'INVALID_CREDENTIALS');
    expect((await b.post('/api/v1/login', { email: 'same@shared.example', password: 'one shared password', firm: 'ACME-LAW' })).statusCode).toBe(200);
    expect((await b.get('/api/v1/me')).json().user.firm.slug).toBe('acme-law');
  });

  it('throttles an account with growing delays and a Retry-After header, the same for unknown addresses', async () => {
    const victim = await addUser(h, f.firm.id, { name: 'Victor Victim', email: 'victor@acme-law.example', kind: 'case_manager' });
    for (const email of [victim.email, 'ghost@nowhere.example']) {
      const statuses: number[] = [];
      for (let i = 0; i < ACCOUNT_POLICY.freeFailures + 1; i++) {
        statuses.push((await freshAgent(h).post('/api/v1/login', { email, password: 'guess ' + i })).statusCode);
      }
      expect(statuses, email).toEqual([...Array(ACCOUNT_POLICY.freeFailures).fill(401), 429]);
      const refused = await freshAgent(h).post('/api/v1/login', { email, password: PASSWORD });
      expectError(refused, 429, 'TOO_MANY_ATTEMPTS');
      expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      h.clock.advance(Number(refused.headers['retry-after']) * 1000);
    }
    // After the wait the right password works again.
    expect((await freshAgent(h).post('/api/v1/login', { email: victim.email, password: PASSWORD })).statusCode).toBe(200);
    const throttled = await h.ctx.db.selectFrom('audit_events').select('event').where('event', '=', 'login.throttled').execute();
    expect(throttled.length).toBeGreaterThanOrEqual(2);
  });

  it('keeps operators and firm users apart', async () => {
    const op = await operatorAgent(h, 'olga@platform.example');
    expect((await op.get('/api/v1/me')).json()).toMatchObject({ principal: 'operator', operator: { email: 'olga@platform.example' } });
    expectError(await freshAgent(h).post('/api/v1/login', { email: 'olga@platform.example', password: PASSWORD }), 401, 'INVALID_CREDENTIALS');
    expectError(await freshAgent(h).post('/api/v1/operator/login', { email: f.superuser.email, password: PASSWORD }), 401, 'INVALID_CREDENTIALS');
    expectError(await op.get('/api/v1/admin/users'), 403, 'FORBIDDEN');
    expectError(await f.admin.get('/api/v1/operator/firms'), 403, 'FORBIDDEN');
  });

  it.each([
    ['no password', { email: 'a@b.example' }],
    ['no email', { password: 'x' }],
    ['a number for a password', { email: 'a@b.example', password: 12345678 }],
    ['an unknown property', { email: 'a@b.example', password: 'x', remember: true }],
    ['an oversized email', { email: 'a'.repeat(300) + '@b.example', password: 'x' }],
    ['a firm with spaces', { email: 'a@b.example', password: 'x', firm: 'two words' }],
  ])('refuses a login body with %s (400 VALIDATION_FAILED)', async (_label, body) => {
    expectError(await freshAgent(h).post('/api/v1/login', body), 400, 'VALIDATION_FAILED');
  });

  it('refuses malformed JSON, a wrong content type and an oversized body', async () => {
    expectError(await freshAgent(h).raw('POST', '/api/v1/login', { body: '{"email": "a@b.example",' }), 400, 'MALFORMED_JSON');
    const wrongType = await freshAgent(h).raw('POST', '/api/v1/login', { body: 'email=a', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expectError(wrongType, 415, 'UNSUPPORTED_MEDIA_TYPE');
    const big = await freshAgent(h).post('/api/v1/login', { email: 'a@b.example', password: 'x'.repeat(70_000) });
    expectError(big, 413, 'BODY_TOO_LARGE');
  });

  it('refuses a login without the CSRF token, or from another origin', async () => {
    const a = freshAgent(h);
    expectError(await a.raw('POST', '/api/v1/login', { body: { email: f.superuser.email, password: PASSWORD }, csrf: false }), 403, 'CSRF_INVALID');
    const cross = await a.raw('POST', '/api/v1/login', { body: { email: f.superuser.email, password: PASSWORD }, headers: { origin: 'https://evil.example' } });
    expectError(cross, 403, 'CSRF_INVALID');
    const forged = await a.raw('POST', '/api/v1/login', { body: { email: f.superuser.email, password: PASSWORD }, headers: { 'x-csrf-token': 'forged' }, csrf: false });
    expectError(forged, 403, 'CSRF_INVALID');
    expect(a.cookies.has('tessera_session')).toBe(false);
  });
});

describe('sessions', () => {
  let h: Harness;
  let f: TestFirm;
  beforeAll(async () => {
    h = await startHarness();
    f = await firmWithAdmin(h, 'sessions-firm');
  });
  afterAll(() => h.close());

  const login = async () => {
    const a = freshAgent(h);
    expect((await a.post('/api/v1/login', { email: f.superuser.email, password: PASSWORD })).statusCode).toBe(200);
    return a;
  };

  it('issues a new token at every login and ends the old session', async () => {
    const a = await login();
    const first = a.cookies.get('tessera_session');
    expect((await a.post('/api/v1/login', { email: f.superuser.email, password: PASSWORD })).statusCode).toBe(200);
    const second = a.cookies.get('tessera_session');
    expect(second).not.toBe(first);
    const stale = freshAgent(h);
    stale.cookies.set('tessera_session', first!);
    expectError(await stale.get('/api/v1/me'), 401, 'UNAUTHENTICATED');
  });

  it('refuses a logout without the CSRF token (a foreign page cannot log users out)', async () => {
    const a = await login();
    expectError(await a.raw('POST', '/api/v1/logout', { csrf: false }), 403, 'CSRF_INVALID');
    expect((await a.get('/api/v1/me')).statusCode).toBe(200);
  });

  it('logs out: the session row is gone, the cookie cleared, and the event audited', async () => {
    const a = await login();
    const before = await h.ctx.db.selectFrom('sessions').select('id').execute();
    const res = await a.post('/api/v1/logout');
    expect(res.statusCode).toBe(204);
    expect(a.cookies.has('tessera_session')).toBe(false);
    expect(await h.ctx.db.selectFrom('sessions').select('id').execute()).toHaveLength(before.length - 1);
    expectError(await a.get('/api/v1/me'), 401, 'UNAUTHENTICATED');
    expect(await h.ctx.db.selectFrom('audit_events').select('id').where('event', '=', 'logout').executeTakeFirst()).toBeDefined();
  });

  it('ends after 30 idle minutes', async () => {
    const a = await login();
    h.clock.advance(29 * MINUTE);
    expect((await a.get('/api/v1/me')).statusCode).toBe(200);
    h.clock.advance(29 * MINUTE);
    expect((await a.get('/api/v1/me')).statusCode).toBe(200);
    h.clock.advance(30 * MINUTE);
    expectError(await a.get('/api/v1/me'), 401, 'UNAUTHENTICATED');
  });

  it('ends 12 hours after login however active it is', async () => {
    const a = await login();
    for (let t = 0; t < 12 * 60 - 20; t += 20) {
      h.clock.advance(20 * MINUTE);
      expect((await a.get('/api/v1/me')).statusCode).toBe(200);
    }
    h.clock.advance(20 * MINUTE);
    expectError(await a.get('/api/v1/me'), 401, 'UNAUTHENTICATED');
  });

  it('ignores garbage in the session cookie', async () => {
    const a = freshAgent(h);
    a.cookies.set('tessera_session', 'x'.repeat(5000));
    expectError(await a.get('/api/v1/me'), 401, 'UNAUTHENTICATED');
  });
});

describe('https deployment', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ env: { TESSERA_PUBLIC_URL: 'https://mfa.firm.example' } });
  });
  afterAll(() => h.close());

  it('uses __Host- cookies with Secure, and HSTS', async () => {
    const f = await firmWithAdmin(h, 'secure-firm');
    const cookie = [...f.admin.cookies.keys()];
    expect(cookie).toContain('__Host-tessera_session');
    const res = await f.admin.get('/api/v1/me');
    expect(res.statusCode).toBe(200);
    expect(res.headers['strict-transport-security']).toContain('max-age=');
    const login = await new Agent(h.app).post('/api/v1/login', { email: f.superuser.email, password: PASSWORD });
    expect(login.cookies.find((c) => c.name === '__Host-tessera_session')!.secure).toBe(true);
  });
});

describe('the HTTP surface', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h.close());

  it('sends security headers and no-store on the API', async () => {
    const res = await new Agent(h.app).get('/api/v1/health');
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
    expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['strict-transport-security']).toBeUndefined();
  });

  it('describes the API with OpenAPI at /api/docs', async () => {
    const a = new Agent(h.app);
    const doc = (await a.get('/api/docs/json')).json();
    expect(doc.openapi).toMatch(/^3\./);
    for (const p of ['/api/v1/login', '/api/v1/admin/users', '/api/v1/admin/users/{id}', '/api/v1/operator/firms', '/api/v1/password/set']) {
      expect(Object.keys(doc.paths)).toContain(p);
    }
    const ui = await a.get('/api/docs/');
    expect(ui.statusCode).toBe(200);
    expect(ui.headers['content-type']).toContain('text/html');
  });

  it('answers unknown API routes with a JSON 404', async () => {
    expectError(await new Agent(h.app).get('/api/v1/nothing-here'), 404, 'NOT_FOUND');
  });

  it('answers /me without a session with 401', async () => {
    expectError(await new Agent(h.app).get('/api/v1/me'), 401, 'UNAUTHENTICATED');
  });
});
