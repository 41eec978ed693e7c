import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { duoApiSig } from '../support/duo-clients.js';
import { DeviceSimulator } from '../support/device-simulator.js';
import { beginMobile, keyOptions, softKey } from '../support/factors.js';
import { api, loginAs, person } from '../support/fixtures.js';
import { activateSubscription, Agent, enableMfaForStaff, firmWithAdmin, totpCode, type TestFirm } from '../support/harness.js';
import { Browser, ISSUER, relyingParty, startOidcNode, throughLogin, type OidcNode } from '../support/oidc.js';

/**
 * The hole this closes: a Duo preauth's enroll_portal_url opens Tessera's enrollment for a user
 * the application names, without the Tessera password. Finishing that enrollment must NOT give a
 * Tessera session (else whoever holds an application's secret key gets one, an administrator's
 * included, and through single sign-on every OIDC application of the firm). After every method
 * (authenticator app, security key, Tessera Authenticator) the pending session is gone, the cookie
 * cleared, /me is 401, no session row of the user exists, the OIDC interaction signs nobody in, and
 * the answer names the application to go back to. A normal login's enrollment still signs in.
 * The link is issued by a real preauth, signed with Duo's official node client's own signing code.
 * Runs on SQLite, or on PostgreSQL with TESSERA_TEST_DATABASE_URL.
 */

const clock = new ManualClock(Date.now());
let node: OidcNode;
let f: TestFirm;
let duo: { ikey: string; skey: string; applicationId: string };
let portal: { clientId: string; secret: string };
const PORTAL_CB = 'https://portal.example/cb';

beforeAll(async () => {
  node = await startOidcNode({ clock });
  // The applications first: once MFA covers the superuser, the admin API asks them to enrol.
  f = await firmWithAdmin(node.h);
  await activateSubscription(node.h, f.firm.id, 20);
  const made = await f.admin.post(api('/admin/applications'), { type: 'duo_auth_api', name: 'VPN gateway' });
  expect(made.statusCode, made.body).toBe(201);
  duo = { ikey: made.json().application.clientId, skey: made.json().secret, applicationId: made.json().application.id };
  const oidc = await f.admin.post(api('/admin/applications'), { type: 'oidc', name: 'Case Portal', redirectUris: [PORTAL_CB] });
  expect(oidc.statusCode, oidc.body).toBe(201);
  portal = { clientId: oidc.json().application.clientId, secret: oidc.json().secret };
  await enableMfaForStaff(node.h, f.firm.id);
}, 60_000);
afterAll(() => node?.h.close());

/** /auth/v2/preauth as Duo's node client signs it (v2, HMAC-SHA512 over the canonical request). */
async function preauth(username: string) {
  const host = new URL(ISSUER).hostname;
  const date = new Date(clock.now()).toUTCString().replace('GMT', '-0000');
  const params = { username };
  const res = await node.h.app.inject({
    method: 'POST',
    url: '/auth/v2/preauth',
    headers: { host, date, authorization: duoApiSig.sign(duo.ikey, duo.skey, 'POST', host, '/auth/v2/preauth', params, date), 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams(params).toString(),
  });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().response as { result: string; enroll_portal_url?: string };
}

/** A covered, not enrolled user (a superuser unless told) and a browser holding the enrollment their link opened. */
async function linkLogin(o: { superuser?: boolean } = {}) {
  const user = o.superuser ? { ...(await node.h.ctx.db.selectFrom('users').selectAll().where('id', '=', f.superuser.id).executeTakeFirstOrThrow()) } : await person(node.h, f);
  const before = await sessionIds(user.id);
  const signedInBefore = (await auditOf('login.succeeded', user.id)).length;
  const answer = await preauth(user.email);
  expect(answer.result).toBe('enroll');
  const token = new URL(answer.enroll_portal_url!).hash.slice(1);
  const browser = new Agent(node.h.app);
  const opened = await browser.post(api('/login/enrollment-link'), { token });
  expect(opened.statusCode, opened.body).toBe(200);
  expect(opened.json()).toEqual({ principal: 'user', next: 'enroll' });
  return { user, browser, token, before: { sessions: before, signedIn: signedInBefore } };
}

const sessionsOf = (userId: string, except: string[] = []) => {
  let q = node.h.ctx.db.selectFrom('sessions').select(['stage']).where('user_id', '=', userId);
  if (except.length) q = q.where('id', 'not in', except);
  return q.execute();
};
/** The user's sessions before the link (a superuser's own admin session): none is added after. */
const sessionIds = async (userId: string) => (await node.h.ctx.db.selectFrom('sessions').select('id').where('user_id', '=', userId).execute()).map((r) => r.id);
const auditOf = (event: string, userId: string) => node.h.ctx.db.selectFrom('audit_events').selectAll().where('event', '=', event).where('subject_id', '=', userId).execute();

/** What every enrollment through a link ends in: no session anywhere, the application named, audited with it. */
async function expectEndedWithoutSession(res: { statusCode: number; body: string; json(): any; cookies: unknown }, browser: Agent, userId: string, before: { sessions: string[]; signedIn: number }) {
  expect(res.statusCode, res.body).toBe(200);
  expect(res.json()).toMatchObject({ next: 'application', application: { name: 'VPN gateway' } });
  expect(browser.cookies.size === 0 || ![...browser.cookies.keys()].some((k) => k.includes('tessera_session'))).toBe(true);
  expect(await sessionsOf(userId, before.sessions)).toEqual([]);
  expect((await browser.get(api('/me'))).statusCode).toBe(401);
  expect((await browser.get(api('/mfa/enrollment'))).statusCode).toBe(401);
  expect((await browser.get(api('/admin/users'))).statusCode).toBe(401);
  expect(await auditOf('login.succeeded', userId)).toHaveLength(before.signedIn);
  const done = await auditOf('duo.enrollment_completed', userId);
  expect(done).toHaveLength(1);
  expect(done[0]!.application_id).toBe(duo.applicationId);
  // Enrolled all the same: the application's next preauth asks for the new factor (or lists the device).
  expect((await preauth((await node.h.ctx.db.selectFrom('users').select('email').where('id', '=', userId).executeTakeFirstOrThrow()).email)).result).toBe('auth');
}

describe("an application's enroll link ends its enrollment without a Tessera session", () => {
  it('authenticator app (a superuser: no admin access either); the backup codes are still shown', async () => {
    const { user, browser, token, before } = await linkLogin({ superuser: true });
    const info = await browser.get(api('/mfa/enrollment'));
    expect(info.json()).toMatchObject({ application: { name: 'VPN gateway' } });
    // Nothing of the pending login is a sign-in: not /me, not the admin API, not a step-up.
    expect((await browser.get(api('/me'))).statusCode).toBe(401);
    expect((await browser.get(api('/admin/users'))).statusCode).toBe(401);
    expect((await browser.get(api('/mfa/challenge'))).statusCode).toBe(401);
    expect((await browser.post(api('/mfa/verify'), { method: 'totp', code: '123456' })).statusCode).toBe(401);
    const begun = (await browser.post(api('/mfa/enrollment/totp'), {})).json() as { authenticatorId: string; secret: string };
    const res = await browser.post(api(`/mfa/enrollment/totp/${begun.authenticatorId}/confirm`), { code: totpCode(node.h, begun.secret) });
    expect(res.json().backupCodes).toHaveLength(10);
    await expectEndedWithoutSession(res, browser, user.id, before);
    // The link stays used.
    expect((await new Agent(node.h.app).post(api('/login/enrollment-link'), { token })).statusCode).toBe(410);
  });

  it('security key', async () => {
    const { user, browser, before } = await linkLogin();
    const key = softKey(node.h);
    const { authenticatorId, options } = await keyOptions(browser, 'Blue key');
    const res = await browser.post(api(`/mfa/enrollment/webauthn/${authenticatorId}/verify`), { response: key.register(options).response });
    await expectEndedWithoutSession(res, browser, user.id, before);
  });

  it('Tessera Authenticator activation', async () => {
    const { user, browser, before } = await linkLogin();
    const begun = await beginMobile(browser);
    const device = await DeviceSimulator.create(node.h.app, node.h.clock);
    expect((await device.activate(begun.activationUrl)).statusCode).toBe(200);
    const res = await browser.post(api(`/mfa/enrollment/push/${begun.authenticatorId}/complete`));
    await expectEndedWithoutSession(res, browser, user.id, before);
  });

  it('no skip: with no licence free the link login is refused the bypass (403), and stays no sign-in', async () => {
    const tight = await firmWithAdmin(node.h);
    await activateSubscription(node.h, tight.firm.id, 1);
    const made = await tight.admin.post(api('/admin/applications'), { type: 'duo_auth_api', name: 'Tight VPN' });
    await enableMfaForStaff(node.h, tight.firm.id);
    const saved = duo;
    duo = { ikey: made.json().application.clientId, skey: made.json().secret, applicationId: made.json().application.id };
    try {
      const newcomer = await person(node.h, tight);
      const token = new URL((await preauth(newcomer.email)).enroll_portal_url!).hash.slice(1);
      const browser = new Agent(node.h.app);
      expect((await browser.post(api('/login/enrollment-link'), { token })).statusCode).toBe(200);
      // Someone else takes the last licence meanwhile.
      const other = await person(node.h, tight);
      const agent = await loginAs(node.h, tight, other, 'enroll');
      const begun = (await agent.post(api('/mfa/enrollment/totp'), {})).json() as { authenticatorId: string; secret: string };
      expect((await agent.post(api(`/mfa/enrollment/totp/${begun.authenticatorId}/confirm`), { code: totpCode(node.h, begun.secret) })).statusCode).toBe(200);
      const skip = await browser.post(api('/mfa/enrollment/skip'));
      expect(skip.statusCode, skip.body).toBe(403);
      expect(await sessionsOf(newcomer.id)).toEqual([{ stage: 'enroll' }]);
      expect((await browser.get(api('/me'))).statusCode).toBe(401);
    } finally {
      duo = saved;
    }
  });

  it("a link login whose attempt ended (the application's enroll_status on its code) is over: no fresh web login for its session", async () => {
    const { user, browser } = await linkLogin();
    await node.h.ctx.db.deleteFrom('login_attempts').where('user_id', '=', user.id).execute();
    expect((await browser.get(api('/mfa/enrollment'))).statusCode).toBe(401);
    expect((await browser.post(api('/mfa/enrollment/totp'), {})).statusCode).toBe(401);
    expect(await node.h.ctx.db.selectFrom('login_attempts').select('id').where('user_id', '=', user.id).execute()).toEqual([]);
  });

  it('the OIDC interaction does not reuse a link login, pending or finished', async () => {
    const { browser: agent } = await linkLogin();
    const web = new Browser();
    const cookieName = [...agent.cookies.keys()].find((k) => k.includes('tessera_session'))!;
    web.plant(cookieName, agent.cookies.get(cookieName)!);
    const rp = await relyingParty(node, portal.clientId, {}, client.ClientSecretBasic(portal.secret));
    const authorize = async () =>
      throughLogin(
        web,
        node,
        await web.get(
          node,
          client.buildAuthorizationUrl(rp, {
            redirect_uri: PORTAL_CB,
            scope: 'openid',
            state: client.randomState(),
            code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
            code_challenge_method: 'S256',
          }),
        ),
        null,
      );
    const pending = await authorize();
    expect(pending.trail.steps).toEqual(['login']);
    // Finished through the same cookie: still nobody signed in for the application.
    const begun = (await web.api(node, 'POST', '/mfa/enrollment/totp', {}).then((r) => r.json())) as { authenticatorId: string; secret: string };
    const done = await web.api(node, 'POST', `/mfa/enrollment/totp/${begun.authenticatorId}/confirm`, { code: totpCode(node.h, begun.secret) });
    expect(done.status).toBe(200);
    expect(((await done.json()) as { next: string }).next).toBe('application');
    expect(web.has(cookieName)).toBe(false);
    const after = await authorize();
    expect(after.trail.steps).toEqual(['login']);
    expect(after.res.headers.get('location') ?? '').not.toContain(PORTAL_CB);
  });

  it("a normal login's enrollment still ends with a full session", async () => {
    const user = await person(node.h, f);
    const agent = await loginAs(node.h, f, user, 'enroll');
    expect((await agent.get(api('/mfa/enrollment'))).json()).toMatchObject({ application: null });
    const begun = (await agent.post(api('/mfa/enrollment/totp'), {})).json() as { authenticatorId: string; secret: string };
    const res = await agent.post(api(`/mfa/enrollment/totp/${begun.authenticatorId}/confirm`), { code: totpCode(node.h, begun.secret) });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ next: 'home' });
    expect((await agent.get(api('/me'))).statusCode).toBe(200);
    expect(await sessionsOf(user.id)).toEqual([{ stage: 'full' }]);
    expect(await auditOf('login.succeeded', user.id)).toHaveLength(1);
  });
});
