import https from 'node:https';
import { Client } from '@duosecurity/duo_universal';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { universalClient } from '../support/duo-clients.js';
import { pendingPush as pendingPushOf, startDuoTlsHarness, type DuoClock, type DuoTlsHarness } from '../support/duo-tls-harness.js';
import { freshCode, pushUser, totpUser, type PushUser, type TotpUser } from '../support/factors.js';
import { api, mfaFirm, person } from '../support/fixtures.js';
import { Agent, type Harness, type TestFirm } from '../support/harness.js';
import type { TestPki } from '../support/tls.js';

/**
 * Duo's Web SDK v4 (the Universal Prompt, issue 15 item 4) proven with Duo's OFFICIAL Node client
 * @duosecurity/duo_universal 3.0, unmodified except for its axios httpsAgent (it pins Duo's CAs;
 * here one that trusts the test CA), over real HTTPS against a Tessera whose integration is a Web
 * SDK application of the registry. The prompt is completed over HTTP as Tessera's page does it
 * (its cookie, its JSON calls), the push approved by the device simulator.
 * Runs on SQLite, or on PostgreSQL with TESSERA_TEST_DATABASE_URL.
 */

const REDIRECT = 'https://portal.example/duo-callback';

let duo: DuoTlsHarness;
let pki: TestPki;
let h: Harness;
let clock: DuoClock;
let port: number;
let f: TestFirm;
let keys: { clientId: string; secret: string; applicationId: string };
let pusher: PushUser;
let coder: TotpUser;

async function newApplication(firm: TestFirm, name: string, newUserPolicy?: 'enroll' | 'allow' | 'deny') {
  const res = await firm.admin.post(api('/admin/applications'), { type: 'duo_web_sdk', name, redirectUris: [REDIRECT], ...(newUserPolicy ? { newUserPolicy } : {}) });
  expect(res.statusCode, res.body).toBe(201);
  const body = res.json() as { application: { id: string; clientId: string }; secret: string };
  return { clientId: body.application.clientId, secret: body.secret, applicationId: body.application.id };
}

/** Duo's client as an application builds it; only the agent that pins Duo's CAs is replaced (test CA). */
const duoClient = (k = keys, o: { secret?: string; useDuoCodeAttribute?: boolean } = {}): Client =>
  universalClient(duo.target, { clientId: k.clientId, clientSecret: o.secret ?? k.secret, redirectUrl: REDIRECT, useDuoCodeAttribute: o.useDuoCodeAttribute });

/** A GET over HTTPS (the browser following createAuthUrl): status, Location and Set-Cookie. */
function browserGet(url: string): Promise<{ status: number; location?: string; cookie?: string; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca: pki.caPem }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () =>
          resolve({ status: res.statusCode!, location: res.headers.location, cookie: res.headers['set-cookie']?.[0]?.split(';')[0], body }),
        );
      })
      .on('error', reject);
  });
}

/** The prompt page's calls, from the browser that opened it (its cookie, Tessera's origin). */
function page(cookie: string | undefined, promptUrl: string) {
  const id = new URL(promptUrl).pathname.split('/').pop()!;
  const headers = { ...(cookie ? { cookie } : {}), origin: h.ctx.config.publicUrl.origin, 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0' };
  return {
    id,
    get: () => h.app.inject({ method: 'GET', url: `/oauth/v1/prompt/${id}`, headers }),
    post: (path: string, body: object = {}) => h.app.inject({ method: 'POST', url: `/oauth/v1/prompt/${id}${path}`, headers, payload: body }),
  };
}

/** createAuthUrl, followed by the browser: the prompt page (and its cookie) or the way straight back. */
async function startLogin(client: Client, username: string, state = client.generateState()) {
  const url = await client.createAuthUrl(username, state);
  const res = await browserGet(url);
  expect(res.status, res.body).toBe(302);
  return { state, location: res.location!, cookie: res.cookie };
}

const callback = (location: string) => {
  const u = new URL(location);
  expect(`${u.origin}${u.pathname}`).toBe(REDIRECT);
  return { duoCode: u.searchParams.get('duo_code')!, code: u.searchParams.get('code'), state: u.searchParams.get('state')! };
};

const pendingPush = (userId: string) => pendingPushOf(h, userId);

const auditOf = (event: string, applicationId = keys.applicationId) =>
  h.ctx.db.selectFrom('audit_events').selectAll().where('event', '=', event).where('application_id', '=', applicationId).orderBy('id').execute();

beforeAll(async () => {
  duo = await startDuoTlsHarness();
  ({ pki, h, clock } = duo);
  port = duo.target.port;
  f = await mfaFirm(h, { enabled: 'staff', adminEnrolled: true });
  keys = await newApplication(f, 'Case portal');
  pusher = await pushUser(h, f);
  coder = await totpUser(h, f);
}, 60_000);
afterAll(async () => {
  await duo?.close();
});

describe('health check', () => {
  it('answers duo_universal healthCheck with stat OK and a timestamp; audited with the application', async () => {
    const status = await duoClient().healthCheck();
    expect(status).toEqual({ stat: 'OK', response: { timestamp: expect.any(Number) } });
    expect(Math.abs((status as any).response.timestamp - clock.now() / 1000)).toBeLessThan(5);
    expect((await auditOf('duo.call')).some((e) => JSON.parse(e.details).endpoint === 'health_check')).toBe(true);
  });

  it('a wrong secret, an unknown client id, or a replayed assertion: Duo\'s FAIL shape, which the client raises', async () => {
    await expect(duoClient(keys, { secret: 'x'.repeat(40) }).healthCheck()).rejects.toThrow(/invalid_client: The client_assertion is invalid/);
    await expect(duoClient({ ...keys, clientId: 'DIXXXXXXXXXXXXXXXXXX' }).healthCheck()).rejects.toThrow(/invalid_client: Invalid Client ID/);
    // The same assertion twice: its jti is single use.
    const now = Math.floor(clock.now() / 1000);
    const assertion = await new SignJWT({ iss: keys.clientId, sub: keys.clientId, aud: `https://localhost:${port}/oauth/v1/health_check`, jti: 'a'.repeat(36), iat: now, exp: now + 300 })
      .setProtectedHeader({ alg: 'HS512' })
      .sign(new TextEncoder().encode(keys.secret));
    const post = () => h.app.inject({ method: 'POST', url: '/oauth/v1/health_check', headers: { host: `localhost:${port}`, 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ client_id: keys.clientId, client_assertion: assertion }).toString() });
    expect((await post()).json()).toMatchObject({ stat: 'OK' });
    const again = await post();
    expect(again.statusCode).toBe(400);
    expect(again.json()).toEqual({ stat: 'FAIL', code: 40002, timestamp: expect.any(Number), message: 'invalid_client', message_detail: expect.any(String) });
    expect((await auditOf('duo.request_refused')).length).toBeGreaterThanOrEqual(2);
  });
});

describe('a login through the Universal Prompt', () => {
  it('push approved in the Tessera Authenticator: back with duo_code and state; the token says allow, with Duo\'s claims', async () => {
    const client = duoClient();
    const { state, location, cookie } = await startLogin(client, pusher.user.email);
    expect(location).toMatch(/\/duo\/prompt\/[0-9a-f-]{36}$/);
    expect(cookie).toMatch(/^__Host-tessera_duo_prompt=|^tessera_duo_prompt=/);
    const p = page(cookie, location);
    const view = await p.get();
    expect(view.statusCode, view.body).toBe(200);
    expect(view.json()).toMatchObject({ stage: 'second_factor', application: { name: 'Case portal' }, username: pusher.user.email, methods: expect.arrayContaining(['push', 'totp']), defaultMethod: 'push' });

    const sent = await p.post('/push');
    expect(sent.statusCode, sent.body).toBe(200);
    const { number } = sent.json() as { number: string };
    const push = await pendingPush(pusher.user.id);
    expect(push.number).toBe(number);
    const seen = (await pusher.device.transactions()).json() as { items: { app: string }[] };
    expect(seen.items.some((t) => t.app === 'Case portal')).toBe(true);
    expect((await pusher.device.approve(push.id, number)).statusCode).toBe(200);
    const done = await p.post('/push/wait');
    expect(done.statusCode, done.body).toBe(200);
    const { redirect } = done.json() as { status: 'done'; redirect: string };
    const back = callback(redirect);
    expect(back.state).toBe(state);
    // use_duo_code_attribute (the client's default): duo_code only.
    expect(back.code).toBeNull();

    const result = (await client.exchangeAuthorizationCodeFor2FAResult(back.duoCode, pusher.user.email)) as any;
    expect(result).toMatchObject({
      iss: `https://localhost:${port}/oauth/v1/token`,
      aud: keys.clientId,
      sub: pusher.user.email,
      preferred_username: pusher.user.email,
      auth_time: expect.any(Number),
      auth_result: { result: 'allow', status: 'allow', status_msg: 'Login Successful' },
      auth_context: { application: { key: keys.clientId, name: 'Case portal' }, factor: 'duo_push', reason: 'user_approved', result: 'success', event_type: 'authentication', user: { key: pusher.user.id, name: pusher.user.email } },
    });
    // No Tessera session was made for the user; one login with a second factor was counted for the application.
    expect(await h.ctx.db.selectFrom('sessions').select('id').where('user_id', '=', pusher.user.id).where('stage', '=', 'full').execute()).toEqual([]);
    const counted = await h.ctx.db.selectFrom('login_counts').select(['logins', 'second_factor']).where('application_key', '=', keys.applicationId).executeTakeFirstOrThrow();
    expect(Number(counted.second_factor)).toBeGreaterThanOrEqual(1);
    // The code is single use.
    await expect(client.exchangeAuthorizationCodeFor2FAResult(back.duoCode, pusher.user.email)).rejects.toThrow(/invalid_grant/);
    expect((await auditOf('duo.prompt_allowed')).length).toBeGreaterThanOrEqual(1);
    expect((await auditOf('duo.token_issued')).length).toBeGreaterThanOrEqual(1);
  });

  it('passcode (TOTP): allowed; with useDuoCodeAttribute false the redirect carries code too', async () => {
    const client = duoClient(keys, { useDuoCodeAttribute: false });
    const { location, cookie, state } = await startLogin(client, coder.user.email.toUpperCase());
    const p = page(cookie, location);
    expect((await p.get()).json()).toMatchObject({ stage: 'second_factor', methods: expect.arrayContaining(['totp']) });
    const wrong = await p.post('/passcode', { passcode: '000000' === freshCode(h, coder.secret) ? '111111' : '000000' });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json()).toMatchObject({ stat: 'FAIL', code: 40002 });
    const ok = await p.post('/passcode', { passcode: freshCode(h, coder.secret) });
    expect(ok.statusCode, ok.body).toBe(200);
    const back = callback(ok.json().redirect);
    expect(back.code).toBe(back.duoCode);
    expect(back.state).toBe(state);
    const result = (await client.exchangeAuthorizationCodeFor2FAResult(back.duoCode, coder.user.email.toUpperCase())) as any;
    expect(result.auth_result).toMatchObject({ result: 'allow', status: 'allow' });
    expect(result.auth_context).toMatchObject({ factor: 'passcode', reason: 'valid_passcode' });
  });

  it('a backup code is a passcode too, single use', async () => {
    const client = duoClient();
    const { location, cookie } = await startLogin(client, coder.user.email);
    const p = page(cookie, location);
    const ok = await p.post('/passcode', { passcode: coder.backupCodes[0]! });
    expect(ok.statusCode, ok.body).toBe(200);
    const again = await startLogin(client, coder.user.email);
    const replay = await page(again.cookie, again.location).post('/passcode', { passcode: coder.backupCodes[0]! });
    expect(replay.statusCode).toBe(400);
  });

  it('push denied: back at the application, and the token says deny', async () => {
    const client = duoClient();
    const { location, cookie } = await startLogin(client, pusher.user.email);
    const p = page(cookie, location);
    const { number } = (await p.post('/push')).json() as { number: string };
    const push = await pendingPush(pusher.user.id);
    await pusher.device.answer(push.id, 'deny', { reason: 'mistake', number } as never);
    const done = (await p.post('/push/wait')).json() as { status: string; redirect: string };
    expect(done.status).toBe('done');
    const result = (await client.exchangeAuthorizationCodeFor2FAResult(callback(done.redirect).duoCode, pusher.user.email)) as any;
    expect(result.auth_result).toMatchObject({ result: 'deny', status: 'deny' });
    expect(result.auth_context).toMatchObject({ factor: 'duo_push', result: 'denied' });
    expect((await auditOf('duo.prompt_denied')).length).toBeGreaterThanOrEqual(1);
  });

  it('wrong passcodes until the lockout: back at the application, and the token says deny (locked_out)', async () => {
    const guessed = await totpUser(h, f);
    const client = duoClient();
    const { location, cookie } = await startLogin(client, guessed.user.email);
    const p = page(cookie, location);
    const right = freshCode(h, guessed.secret);
    let redirect: string | undefined;
    for (let i = 0; i < 20 && !redirect; i++) {
      const res = await p.post('/passcode', { passcode: right === '000000' ? '999999' : '000000' });
      if (res.statusCode === 200) redirect = res.json().redirect;
      else expect(res.json()).toMatchObject({ stat: 'FAIL', code: 40002 });
    }
    expect(redirect).toBeDefined();
    const result = (await client.exchangeAuthorizationCodeFor2FAResult(callback(redirect!).duoCode, guessed.user.email)) as any;
    expect(result.auth_result).toMatchObject({ result: 'deny', status: 'locked_out' });
    // Locked now: the next sign-in goes straight back, denied, without a prompt.
    const again = await startLogin(client, guessed.user.email);
    expect(again.cookie).toBeUndefined();
    const next = (await client.exchangeAuthorizationCodeFor2FAResult(callback(again.location).duoCode, guessed.user.email)) as any;
    expect(next.auth_result).toMatchObject({ result: 'deny', status: 'locked_out' });
  });

  it('the prompt answers only the browser that opened it', async () => {
    const { location } = await startLogin(duoClient(), pusher.user.email);
    const stranger = page('tessera_duo_prompt=' + 'A'.repeat(43), location);
    expect((await stranger.get()).json()).toMatchObject({ stat: 'FAIL', code: 40401 });
    expect((await page(undefined, location).post('/push')).statusCode).toBe(404);
  });
});

describe('codes and clients', () => {
  it('an expired code (over 60 s) is refused', async () => {
    const client = duoClient();
    const { location, cookie } = await startLogin(client, coder.user.email);
    clock.advance(31_000); // a fresh TOTP step for this login
    const ok = await page(cookie, location).post('/passcode', { passcode: freshCode(h, coder.secret) });
    expect(ok.statusCode, ok.body).toBe(200);
    clock.advance(61_000);
    await expect(client.exchangeAuthorizationCodeFor2FAResult(callback(ok.json().redirect).duoCode, coder.user.email)).rejects.toThrow(/invalid_grant/);
  });

  it('a wrong secret cannot exchange a code; another application cannot exchange it either', async () => {
    const client = duoClient();
    const open = await newApplication(f, 'Open portal', 'allow');
    const openClient = duoClient(open);
    const straight = await startLogin(openClient, 'nobody-known@example.com');
    const back = callback(straight.location);
    await expect(duoClient(open, { secret: 'y'.repeat(40) }).exchangeAuthorizationCodeFor2FAResult(back.duoCode, 'nobody-known@example.com')).rejects.toThrow(/invalid_client/);
    await expect(client.exchangeAuthorizationCodeFor2FAResult(back.duoCode, 'nobody-known@example.com')).rejects.toThrow(/invalid_grant/);
    const result = (await openClient.exchangeAuthorizationCodeFor2FAResult(back.duoCode, 'nobody-known@example.com')) as any;
    expect(result.auth_result).toMatchObject({ result: 'allow', status: 'allow' });
  });

  it('a request object signed with another secret, or an unregistered redirect_uri: 40002, no redirect', async () => {
    const forged = await duoClient(keys, { secret: 'z'.repeat(40) }).createAuthUrl(pusher.user.email, 'x'.repeat(36));
    const res = await browserGet(forged);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ stat: 'FAIL', code: 40002 });
    const elsewhere = new Client({ clientId: keys.clientId, clientSecret: keys.secret, apiHost: `localhost:${port}`, redirectUrl: 'https://evil.example/cb' });
    const res2 = await browserGet(await elsewhere.createAuthUrl(pusher.user.email, 'x'.repeat(36)));
    expect(res2.status).toBe(400);
    expect(res2.body).toMatch(/redirect_uri/);
  });

  it("another firm's user is unknown here: the new user policy (enroll: deny) decides, straight back", async () => {
    const other = await mfaFirm(h, { enabled: 'staff', adminEnrolled: true });
    const theirs = await person(h, other);
    const client = duoClient();
    const { location } = await startLogin(client, theirs.email);
    const result = (await client.exchangeAuthorizationCodeFor2FAResult(callback(location).duoCode, theirs.email)) as any;
    expect(result.auth_result).toMatchObject({ result: 'deny' });
  });

  it('deny policy: an unknown user of an application that denies them is denied', async () => {
    const closed = await newApplication(f, 'Closed portal', 'deny');
    const client = duoClient(closed);
    const { location } = await startLogin(client, 'stranger@example.com');
    const result = (await client.exchangeAuthorizationCodeFor2FAResult(callback(location).duoCode, 'stranger@example.com')) as any;
    expect(result.auth_result).toMatchObject({ result: 'deny', status: 'deny' });
    expect(result.auth_context.result).toBe('denied');
  });

  it('no seat free (the no-seat bypass): straight back, allowed with status bypass', async () => {
    const small = await mfaFirm(h, { enabled: 'staff', adminEnrolled: true, licences: 1 });
    const app = await newApplication(small, 'Small portal');
    const someone = await person(h, small);
    const client = duoClient(app);
    const { location, cookie } = await startLogin(client, someone.email);
    expect(cookie).toBeUndefined();
    const result = (await client.exchangeAuthorizationCodeFor2FAResult(callback(location).duoCode, someone.email)) as any;
    expect(result.auth_result).toMatchObject({ result: 'allow', status: 'bypass' });
    // One login to the application, on the bypass (the Usage section's logins per application).
    const counted = await h.ctx.db.selectFrom('login_counts').select(['logins', 'second_factor', 'bypass']).where('application_key', '=', app.applicationId).execute();
    expect(counted).toEqual([{ logins: 1, second_factor: 0, bypass: 1 }]);
  });

  it('covered, not enrolled, a seat free: the prompt offers the enrollment (a one-time link into Tessera\'s enrollment)', async () => {
    const newcomer = await person(h, f);
    const { location, cookie } = await startLogin(duoClient(), newcomer.email);
    const p = page(cookie, location);
    expect((await p.get()).json()).toMatchObject({ stage: 'enroll', username: newcomer.email });
    const link = await p.post('/enroll');
    expect(link.statusCode, link.body).toBe(200);
    expect(link.json().url).toMatch(/\/enroll\/duo#[A-Za-z0-9_-]{43}$/);

    // The link opens Tessera's enrollment (an authenticator app here), which ends with no Tessera session...
    const browser = new Agent(h.app);
    expect((await browser.post(api('/login/enrollment-link'), { token: link.json().url.split('#')[1] })).statusCode).toBe(200);
    const begun = (await browser.post(api('/mfa/enrollment/totp'), {})).json() as { authenticatorId: string; secret: string };
    const confirmed = await browser.post(api(`/mfa/enrollment/totp/${begun.authenticatorId}/confirm`), { code: freshCode(h, begun.secret) });
    expect(confirmed.json()).toMatchObject({ next: 'application', application: { name: 'Case portal' } });
    // ...and the prompt, reloaded, asks for the new factor.
    expect((await p.get()).json()).toMatchObject({ stage: 'second_factor', methods: expect.arrayContaining(['totp']) });
  });

  it('bad input to the three endpoints is a 4xx in the shape each client reads, never a 500', async () => {
    const host = { host: `localhost:${port}`, 'content-type': 'application/x-www-form-urlencoded' };
    const token = await h.app.inject({ method: 'POST', url: '/oauth/v1/token', headers: host, payload: 'grant_type=x' });
    expect(token.statusCode).toBe(400);
    expect(token.json()).toMatchObject({ error: 'invalid_request' });
    const tokenNoClient = await h.app.inject({ method: 'POST', url: '/oauth/v1/token', headers: host, payload: `client_id=${keys.clientId}&grant_type=authorization_code&client_assertion_type=x` });
    expect(tokenNoClient.json()).toMatchObject({ error: 'invalid_request' });
    const authz = await h.app.inject({ method: 'GET', url: '/oauth/v1/authorize?client_id[]=a&request=x', headers: { host: `localhost:${port}` } });
    expect(authz.statusCode).toBe(400);
    const authzJunk = await h.app.inject({ method: 'GET', url: `/oauth/v1/authorize?client_id=${keys.clientId}&response_type=code&scope=openid&request=not.a.jwt`, headers: { host: `localhost:${port}` } });
    expect(authzJunk.statusCode).toBe(400);
    expect(authzJunk.json()).toMatchObject({ stat: 'FAIL', code: 40002 });
    const prompt = await h.app.inject({ method: 'GET', url: '/oauth/v1/prompt/not-a-uuid' });
    expect(prompt.statusCode).toBe(400);
  });
});

describe('housekeeping', () => {
  it('prunes finished prompts and spent assertions after expiry', async () => {
    const { runHousekeeping } = await import('../../src/housekeeping.js');
    clock.advance(11 * 60_000);
    await runHousekeeping(h.ctx);
    const left = await h.ctx.db.selectFrom('duo_prompts').select('id').where('expires_at', '<=', clock.now()).execute();
    expect(left).toEqual([]);
    const assertions = await h.ctx.db.selectFrom('duo_client_assertions').select('jti').where('expires_at', '<=', clock.now()).execute();
    expect(assertions).toEqual([]);
  });
});

