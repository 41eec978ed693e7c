import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOUR, ManualClock, MINUTE } from '../../src/clock.js';
import { ACR } from '../../src/oidc/accounts.js';
import { api, MFA_OFF } from '../support/fixtures.js';
import { activateSubscription, addCorporation, addUser, enableMfaForStaff, firmWithAdmin, type TestFirm } from '../support/harness.js';
import { Browser, ISSUER, relyingParty, signIn as signInWith, startOidcNode, throughLogin, type OidcNode, type Person } from '../support/oidc.js';
import { loginTotals } from '../../src/core/login-counts.js';

/**
 * Issue 14 items 2 and 4: the firm's applications from the Applications registry (registered
 * through the superuser's API) sign their users in through Tessera's own login, with openid-client
 * as the relying party over real HTTP and the browser driving Tessera's web API as the pages do.
 * Every rule of the login holds (MFA coverage, enrollment at first login, the second factor, the
 * no-seat bypass), the ID token says how the user signed in (amr, acr, auth_time, checked with
 * jose against the JWKS), a Tessera session is reused across the firm's applications unless
 * prompt=login / max_age asks for a new login, acr_values asks for a second factor, users of
 * another firm or of a kind the application does not admit are refused, and signing out at an
 * application signs out of Tessera.
 */

interface Registered {
  clientId: string;
  secret: string | null;
  id: string;
}

const clock = new ManualClock(Date.now());
let a: OidcNode;
let b: OidcNode;
let f: TestFirm;
let other: TestFirm;
let tight: TestFirm;
let portal: Registered;
let staffOnly: Registered;
let spa: Registered;
let jwtApp: Registered;
let tightApp: Registered;
let casey: Person;
let cora: Person;
let vera: Person;
let ian: Person;
let bob: Person;

const PORTAL_CB = 'https://portal.example/cb';
const STAFF_CB = 'https://staff.example/cb';
const SPA_CB = 'https://spa.example/cb';
const JWT_CB = 'https://jwt.example/cb';
const TIGHT_CB = 'https://tight.example/cb';

async function register(firm: TestFirm, body: Record<string, unknown>): Promise<Registered> {
  const res = await firm.admin.post(api('/admin/applications'), { type: 'oidc', ...body });
  expect(res.statusCode, res.body).toBe(201);
  const { application, secret } = res.json() as { application: { id: string; clientId: string }; secret: string | null };
  return { clientId: application.clientId, secret, id: application.id };
}

beforeAll(async () => {
  a = await startOidcNode({ clock });
  b = await startOidcNode({ clock, sameDatabaseAs: a });
  // Lawfirm's superuser (a case manager, covered below) enrols first, or the admin API would ask them to.
  f = await firmWithAdmin(a.h, 'lawfirm', { enrolled: true, licences: 5 });
  other = await firmWithAdmin(a.h, 'otherfirm');
  tight = await firmWithAdmin(a.h, 'tightfirm');
  // Lawfirm: MFA for case managers, licences free. Tightfirm: MFA for staff, no licence free (the bypass).
  await activateSubscription(a.h, f.firm.id, 5);
  const covered = await f.admin.raw('PUT', api('/admin/mfa/configuration'), { body: { ...MFA_OFF, caseManagers: true } });
  expect(covered.statusCode, covered.body).toBe(200);
  await activateSubscription(a.h, tight.firm.id, 0);
  await enableMfaForStaff(a.h, tight.firm.id);

  portal = await register(f, { name: 'Case Portal', redirectUris: [PORTAL_CB], postLogoutRedirectUris: ['https://portal.example/bye'] });
  staffOnly = await register(f, { name: 'Staff Wiki', redirectUris: [STAFF_CB], allowedKinds: ['case_manager', 'vendor_case_manager'] });
  spa = await register(f, { name: 'Case Viewer', clientType: 'public', redirectUris: [SPA_CB] });
  jwtApp = await register(f, { name: 'Billing', tokenEndpointAuthMethod: 'client_secret_jwt', redirectUris: [JWT_CB] });
  tightApp = await register(tight, { name: 'Tight Portal', redirectUris: [TIGHT_CB] });

  const corporation = await addCorporation(a.h, f.firm.id, 'Acme Holdings');
  await addUser(a.h, f.firm.id, { name: 'Casey Case', email: 'casey@lawfirm.example', kind: 'case_manager' });
  casey = { email: 'casey@lawfirm.example', firm: 'lawfirm' };
  await addUser(a.h, f.firm.id, { name: 'Cora Corp', email: 'cora@acme.example', kind: 'corp_user', corporationId: corporation.id });
  cora = { email: 'cora@acme.example', firm: 'lawfirm' };
  await addUser(a.h, f.firm.id, { name: 'Vera Vendor', email: 'vera@vendor.example', kind: 'vendor_case_manager' });
  vera = { email: 'vera@vendor.example', firm: 'lawfirm' };
  await addUser(a.h, other.firm.id, { name: 'Ian Other', email: 'ian@otherfirm.example', kind: 'case_manager' });
  ian = { email: 'ian@otherfirm.example', firm: 'otherfirm' };
  await addUser(a.h, tight.firm.id, { name: 'Bob Bypass', email: 'bob@tightfirm.example', kind: 'case_manager' });
  bob = { email: 'bob@tightfirm.example', firm: 'tightfirm' };
}, 60_000);
afterAll(async () => {
  await b?.h.close();
  await a?.h.close();
});

const authOf = (app: Registered, secret = app.secret) =>
  app === spa ? client.None() : app === jwtApp ? client.ClientSecretJwt(secret!) : client.ClientSecretBasic(secret!);
const callbackOf = (app: Registered) => ({ [portal.clientId]: PORTAL_CB, [staffOnly.clientId]: STAFF_CB, [spa.clientId]: SPA_CB, [jwtApp.clientId]: JWT_CB, [tightApp.clientId]: TIGHT_CB })[app.clientId]!;

const signIn = (app: Registered, person: Person, options: { browser?: Browser; params?: Record<string, string>; secret?: string; nodes?: [OidcNode, OidcNode, OidcNode] } = {}) => {
  const [start, resume, redeem] = options.nodes ?? [a, b, a];
  return signInWith({
    clientId: app.clientId,
    auth: authOf(app, options.secret),
    redirectUri: callbackOf(app),
    person,
    nodes: { start, resume, redeem },
    browser: options.browser,
    params: options.params ?? { scope: 'openid profile email tessera offline_access', prompt: 'consent' },
  });
};

/** An authorization request from `browser` to `app`, followed through Tessera's login pages as far as they go for `person` (null: nobody types anything). */
async function authorize(app: Registered, browser: Browser, person: Person | null, params: Record<string, string> = {}) {
  const rp = await relyingParty(a, app.clientId, {}, authOf(app));
  const url = client.buildAuthorizationUrl(rp, {
    redirect_uri: callbackOf(app),
    scope: 'openid',
    state: client.randomState(),
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
    ...params,
  });
  return throughLogin(browser, a, await browser.get(a, url), person);
}

const sessionOfUser = (email: string) =>
  a.h.ctx.db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .select(['sessions.amr', 'sessions.auth_time', 'sessions.stage'])
    .where('users.email', '=', email)
    .where('sessions.stage', '=', 'full')
    .orderBy('sessions.created_at', 'desc')
    .executeTakeFirstOrThrow();

/** openid-client's error for a 401 invalid_client with its WWW-Authenticate challenge. */
const invalidClient = { status: 401, cause: [{ parameters: { error: 'invalid_client' } }] };

const me = async (browser: Browser) => (await browser.api(a, 'GET', '/me')).status;

describe('a sign-in to a registered application is Tessera\'s login', () => {
  let first: Awaited<ReturnType<typeof signIn>>;

  it('first time: password, then the enrollment of an authenticator app, back to the application with a code; the ID token says how', async () => {
    first = await signIn(portal, casey);
    expect(first.trail.steps).toEqual(['login', 'enroll']);
    const idToken = first.tokens.id_token!;
    const { payload, protectedHeader } = await jwtVerify(idToken, createRemoteJWKSet(new URL(`${b.base}/oidc/jwks`)), { issuer: ISSUER, audience: portal.clientId });
    expect(protectedHeader.alg).toBe('ES256');
    const casesRow = await a.h.ctx.db.selectFrom('users').select('id').where('email', '=', casey.email).executeTakeFirstOrThrow();
    const session = await sessionOfUser(casey.email);
    expect(payload).toMatchObject({
      sub: casesRow.id,
      email: casey.email,
      name: 'Casey Case',
      firm: 'lawfirm',
      kind: 'case_manager',
      corporation: null,
      superuser: false,
      amr: ['pwd', 'otp', 'mfa'],
      acr: ACR.mfa,
      auth_time: Math.floor(Number(session.auth_time) / 1000),
    });
    // openid-client checked the nonce; it is the one the request carried.
    expect(payload.nonce).toEqual(expect.any(String));
    expect(JSON.parse(session.amr!)).toEqual(['pwd', 'otp', 'mfa']);
  });

  it('userinfo and refresh speak of the same user; the refreshed ID token keeps how they signed in', async () => {
    const rp = await relyingParty(b, portal.clientId, {}, authOf(portal));
    const sub = first.tokens.claims()!.sub;
    expect(await client.fetchUserInfo(rp, first.tokens.access_token, sub)).toEqual({ sub, email: casey.email, name: 'Casey Case', firm: 'lawfirm', kind: 'case_manager', corporation: null, superuser: false });
    const refreshed = await client.refreshTokenGrant(rp, first.tokens.refresh_token!);
    expect(refreshed.claims()).toMatchObject({ sub, amr: ['pwd', 'otp', 'mfa'], acr: ACR.mfa, auth_time: first.tokens.claims()!.auth_time });
  });

  it('next time, in another browser: password and passcode', async () => {
    const again = await signIn(portal, casey);
    expect(again.trail.steps).toEqual(['login', 'second_factor']);
    expect(again.tokens.claims()).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], acr: ACR.mfa });
  });

  it('the Tessera session is reused for the firm\'s other applications (single sign-on), a public client with PKCE among them', async () => {
    const counted = async () => {
      const totals = await loginTotals(a.h.ctx.db, f.firm.id, clock.now(), 1);
      return { spa: totals.get(spa.id), tessera: totals.get('')?.logins };
    };
    const before = await counted();
    const sso = await signIn(spa, casey, { browser: first.browser, params: { scope: 'openid' } });
    expect(sso.trail.steps).toEqual([]);
    expect(sso.tokens.claims()).toMatchObject({ sub: first.tokens.claims()!.sub, auth_time: first.tokens.claims()!.auth_time, amr: ['pwd', 'otp', 'mfa'] });
    // Usage: one login of this application, with the second factor the session's login passed; none of Tessera's sign-in page.
    expect(await counted()).toEqual({ spa: { logins: (before.spa?.logins ?? 0) + 1, secondFactor: (before.spa?.secondFactor ?? 0) + 1, bypass: before.spa?.bypass ?? 0 }, tessera: before.tessera });
    // A public client without PKCE is refused, back at its redirect URI.
    const rp = await relyingParty(a, spa.clientId, {}, client.None());
    const bare = await first.browser.get(a, client.buildAuthorizationUrl(rp, { redirect_uri: SPA_CB, scope: 'openid' }));
    const back = new URL(bare.headers.get('location')!);
    expect([back.origin + back.pathname, back.searchParams.get('error')]).toEqual([SPA_CB, 'invalid_request']);
  });

  it('prompt=login asks for the password and the passcode again, and the ID token has the new auth_time', async () => {
    const before = first.tokens.claims()!.auth_time!;
    const fresh = await signIn(spa, casey, { browser: first.browser, params: { scope: 'openid', prompt: 'login' } });
    expect(fresh.trail.steps).toEqual(['login', 'second_factor']);
    expect(fresh.tokens.claims()!.auth_time).toBeGreaterThan(before);
  });

  it('max_age: a login recent enough is reused; an older one is asked again', async () => {
    const recent = await signIn(spa, casey, { browser: first.browser, params: { scope: 'openid', max_age: '600' } });
    expect(recent.trail.steps).toEqual([]);
    clock.advance(11 * MINUTE);
    const old = await signIn(spa, casey, { browser: first.browser, params: { scope: 'openid', max_age: '600' } });
    expect(old.trail.steps).toEqual(['login', 'second_factor']);
    expect(old.tokens.claims()!.auth_time).toBeGreaterThanOrEqual(Math.floor(clock.now() / 1000) - 60);
  });

  it('the way back from the sign-in page cannot be forged: a made-up `login` proof does not count as a new login', async () => {
    clock.advance(1000);
    const { res } = await authorize(portal, first.browser, null, { prompt: 'login' });
    const next = new URL(new URL(res.headers.get('location')!, ISSUER).searchParams.get('next')!, ISSUER);
    const [since, sig] = next.searchParams.get('login')!.split('.');
    for (const forged of [`0.${sig}`, `${since}.${'A'.repeat(43)}`, `${Number(since) - 3_600_000}.${sig}`]) {
      const answer = await first.browser.get(a, `${next.pathname}?login=${encodeURIComponent(forged)}`);
      expect(new URL(answer.headers.get('location')!, ISSUER).pathname, forged).toBe('/login');
    }
    // The genuine proof without a login since: still the sign-in page.
    const genuine = await first.browser.get(a, next);
    expect(new URL(genuine.headers.get('location')!, ISSUER).pathname).toBe('/login');
  });

  it('signing out of Tessera ends single sign-on: the next application asks for the login', async () => {
    const browser = (await signIn(portal, casey)).browser;
    expect((await browser.api(a, 'POST', '/logout')).status).toBe(204);
    const next = await authorize(spa, browser, null);
    expect(next.trail.steps).toEqual(['login']);
  });
});

describe('who signs in, and with what', () => {
  it('a user the firm does not cover signs in with the password alone: amr pwd, acr password', async () => {
    const { tokens, trail } = await signIn(portal, cora);
    expect(trail.steps).toEqual(['login']);
    expect(tokens.claims()).toMatchObject({ amr: ['pwd'], acr: ACR.password, kind: 'corp_user', corporation: 'Acme Holdings' });
  });

  it('no licence free (the no-seat bypass): the password alone, pwd only', async () => {
    const { tokens, trail } = await signIn(tightApp, bob);
    expect(trail.steps).toEqual(['login']);
    expect(tokens.claims()).toMatchObject({ amr: ['pwd'], acr: ACR.password, firm: 'tightfirm' });
    const bypass = await a.h.ctx.db.selectFrom('audit_events').select('event').where('firm_id', '=', tight.firm.id).where('event', '=', 'login.mfa_bypassed_no_seat').execute();
    expect(bypass.length).toBeGreaterThan(0);
  });

  it('acr_values=urn:tessera:acr:mfa: a second factor even for a user the firm does not cover (a step-up of the session)', async () => {
    // Vera enrolls while vendor case managers are covered, then the firm stops covering them.
    const both = await f.admin.raw('PUT', api('/admin/mfa/configuration'), { body: { ...MFA_OFF, caseManagers: true, vendorCaseManagers: true } });
    expect(both.statusCode, both.body).toBe(200);
    expect((await signIn(portal, vera)).trail.steps).toEqual(['login', 'enroll']);
    const only = await f.admin.raw('PUT', api('/admin/mfa/configuration'), { body: { ...MFA_OFF, caseManagers: true } });
    expect(only.statusCode, only.body).toBe(200);

    const plain = await signIn(portal, vera);
    expect(plain.trail.steps).toEqual(['login']);
    expect(plain.tokens.claims()).toMatchObject({ amr: ['pwd'], acr: ACR.password });
    // The same browser, an application that asks for MFA: only the second factor, then back.
    const stepped = await signIn(staffOnly, vera, { browser: plain.browser, params: { scope: 'openid', acr_values: ACR.mfa } });
    expect(stepped.trail.steps).toEqual(['step_up']);
    expect(stepped.tokens.claims()).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], acr: ACR.mfa, auth_time: plain.tokens.claims()!.auth_time });
  });

  it('acr_values asks for a second factor of a user with no authenticator: a page says so, the application gets unmet_authentication_requirements', async () => {
    const browser = new Browser();
    const { res, trail } = await authorize(portal, browser, cora, { acr_values: ACR.mfa });
    expect(trail.steps).toEqual(['login']);
    expect(res.status).toBe(403);
    const page = await res.text();
    expect(page).toContain('Case Portal asks for a second factor');
    expect(page).toContain('href="/me/security"');
    const action = /action="([^"]+)"/.exec(page)![1]!.replace(/&amp;/g, '&');
    const resumed = await browser.postForm(a, action, {});
    expect(resumed.status).toBe(303);
    const back = new URL((await browser.get(a, resumed.headers.get('location')!)).headers.get('location')!);
    expect([back.origin + back.pathname, back.searchParams.get('error')]).toEqual([PORTAL_CB, 'unmet_authentication_requirements']);
  });

  it('a user of a kind the application does not admit gets a clear page; the application gets access_denied', async () => {
    const browser = new Browser();
    const { res } = await authorize(staffOnly, browser, cora);
    expect(res.status).toBe(403);
    const page = await res.text();
    expect(page).toContain('You cannot sign in to Staff Wiki');
    const action = /action="([^"]+)"/.exec(page)![1]!.replace(/&amp;/g, '&');
    const resumed = await browser.postForm(a, action, {});
    const back = new URL((await browser.get(a, resumed.headers.get('location')!)).headers.get('location')!);
    expect([back.origin + back.pathname, back.searchParams.get('error')]).toEqual([STAFF_CB, 'access_denied']);
    // The kinds it admits sign in, the Tessera session reused.
    expect((await signIn(staffOnly, casey)).tokens.claims()).toMatchObject({ kind: 'case_manager' });
  });

  it('a user of another firm is refused at the password like a wrong one; a session of another firm is not reused', async () => {
    const browser = new Browser();
    const { trail } = await authorize(portal, browser, ian);
    expect(trail.password).toMatchObject({ status: 401, body: { error: 'INVALID_CREDENTIALS' } });
    // Signed in to Tessera at his own firm, Ian is still asked to sign in for the other firm's application.
    const own = await browser.api(a, 'POST', '/login', { email: ian.email, password: 'correct horse battery staple', firm: 'otherfirm' });
    expect(own.status).toBe(200);
    const again = await authorize(portal, browser, null);
    expect(again.trail.steps).toEqual(['login']);
    expect(await me(browser)).toBe(200);
  });
});

describe('sign-out at the application', () => {
  it('"Sign out" at the provider\'s page ends the Tessera session too, and returns to the registered URI', async () => {
    const { tokens, browser } = await signIn(portal, casey);
    expect(await me(browser)).toBe(200);
    const rp = await relyingParty(a, portal.clientId, {}, authOf(portal));
    const confirm = await browser.get(b, client.buildEndSessionUrl(rp, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'https://portal.example/bye', state: 's1' }));
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(await confirm.text())![1]!;
    const done = await browser.postForm(a, '/oidc/session/end/confirm', { xsrf, logout: 'yes' });
    expect([done.status, done.headers.get('location')]).toEqual([303, 'https://portal.example/bye?state=s1']);
    expect(await me(browser)).toBe(401);
    const audited = await a.h.ctx.db.selectFrom('audit_events').select(['details']).where('event', '=', 'logout').orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(JSON.parse(String(audited.details))).toMatchObject({ door: 'oidc' });
    // The next sign-in asks for the login again.
    expect((await authorize(portal, browser, null)).trail.steps).toEqual(['login']);
    // The cookie is cleared exactly as the web door's logout clears it (one set of attributes: src/sessions/session-cookie.ts).
    const sessionCookie = (res: Response) => res.headers.getSetCookie().filter((c) => /^(__Host-)?tessera_session=/.test(c));
    const webLogout = await (await signIn(portal, casey)).browser.api(a, 'POST', '/logout');
    expect(sessionCookie(done)).toEqual(sessionCookie(webLogout));
    expect(sessionCookie(done)).toEqual([expect.stringMatching(/^__Host-tessera_session=; Max-Age=0; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax$/)]);
  });

  it('"Stay signed in" ends only the application\'s grant: the Tessera session stays', async () => {
    const { tokens, browser } = await signIn(portal, casey);
    const rp = await relyingParty(a, portal.clientId, {}, authOf(portal));
    const confirm = await browser.get(a, client.buildEndSessionUrl(rp, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'https://portal.example/bye' }));
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(await confirm.text())![1]!;
    expect((await browser.postForm(a, '/oidc/session/end/confirm', { xsrf })).status).toBe(303);
    expect(await me(browser)).toBe(200);
  });
});

describe('the registry is the provider\'s list of clients', () => {
  it('a disabled application is no client: its sign-in requests get the error page and its tokens invalid_client', async () => {
    const { tokens } = await signIn(portal, casey);
    expect((await f.admin.post(api(`/admin/applications/${portal.id}/disable`))).statusCode).toBe(200);
    const rp = await relyingParty(a, portal.clientId, {}, authOf(portal));
    await expect(client.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject(invalidClient);
    const page = await new Browser().get(a, client.buildAuthorizationUrl(rp, { redirect_uri: PORTAL_CB, scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }));
    expect(page.status).toBe(400);
    expect(page.headers.get('location')).toBeNull();
    expect(await page.text()).toContain('invalid_client');
    expect((await f.admin.post(api(`/admin/applications/${portal.id}/enable`))).statusCode).toBe(200);
    expect((await signIn(portal, casey)).tokens.claims()).toMatchObject({ aud: portal.clientId });
  });

  // Last: it moves the clock past the grace period (the superuser's session ends with it).
  it('client_secret_jwt with the secret the registry keeps sealed; after a rotation the old secret works until its grace period ends', async () => {
    const old = jwtApp.secret!;
    expect((await signIn(jwtApp, casey, { params: { scope: 'openid offline_access', prompt: 'consent' } })).tokens.claims()).toMatchObject({ aud: jwtApp.clientId });
    const portalSignIn = await signIn(portal, casey);
    const rotated = await f.admin.post(api(`/admin/applications/${jwtApp.id}/rotate-secret`), { grace: '1h' });
    expect(rotated.statusCode, rotated.body).toBe(200);
    const fresh = rotated.json().secret as string;
    const rotatedPortal = await f.admin.post(api(`/admin/applications/${portal.id}/rotate-secret`), { grace: '1h' });
    expect(rotatedPortal.statusCode, rotatedPortal.body).toBe(200);
    // Both secrets work during the grace period: a JWT signed with either, a Basic header with either.
    expect((await signIn(jwtApp, casey, { secret: old, params: { scope: 'openid' } })).tokens.claims()).toMatchObject({ aud: jwtApp.clientId });
    expect((await signIn(jwtApp, casey, { secret: fresh, params: { scope: 'openid' } })).tokens.claims()).toMatchObject({ aud: jwtApp.clientId });
    const rpOld = await relyingParty(a, portal.clientId, {}, client.ClientSecretBasic(portal.secret!));
    const refreshed = await client.refreshTokenGrant(rpOld, portalSignIn.tokens.refresh_token!);
    // After the grace period, the old secret is refused.
    clock.advance(HOUR + MINUTE);
    await expect(client.refreshTokenGrant(rpOld, refreshed.refresh_token!)).rejects.toMatchObject(invalidClient);
    const rpNew = await relyingParty(a, portal.clientId, {}, client.ClientSecretBasic(rotatedPortal.json().secret));
    expect((await client.refreshTokenGrant(rpNew, refreshed.refresh_token!)).access_token).toEqual(expect.any(String));
    portal.secret = rotatedPortal.json().secret;
    jwtApp.secret = fresh;
  });
});
