import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_FIRM_SLUG, DEMO_PORTAL, seedDemo } from '../../src/demo.js';
import { ACR } from '../../src/oidc/accounts.js';
import { portalConfigFromEnv, PortalConfigError } from '../../examples/portal/config.js';
import { createPortal, type Portal } from '../../examples/portal/portal.js';
import { activateSubscription, enableMfaForStaff, setPassword } from '../support/harness.js';
import { Browser, interactionUid, ISSUER, startOidcNode, throughLogin, via, type OidcNode, type Person } from '../support/oidc.js';

/**
 * The example portal (examples/portal/) as `npm run demo` registers it, against a Tessera node
 * over real HTTP: the portal's own openid-client requests go to the node, the browser's hops
 * between the portal and Tessera are followed by hand, through Tessera's login (throughLogin). The
 * demo firm's MFA covers its staff (case managers enroll an authenticator app at their first
 * sign-in), not its corporation users. The browser test (test/e2e/oidc-portal.test.ts) does the
 * same in Chromium.
 */

let node: OidcNode;
let portal: Portal;
let portalBase: string;
let secret: string;
let carl: Person;
let cora: Person;

beforeAll(async () => {
  node = await startOidcNode({});
  await seedDemo(node.h.ctx);
  const line = node.h.announced.find((l) => l.includes('client secret (shown once)'))!;
  secret = /client secret \(shown once\): (\S+)/.exec(line)![1]!;
  const firm = await node.h.ctx.db.selectFrom('firms').select('id').where('slug', '=', DEMO_FIRM_SLUG).executeTakeFirstOrThrow();
  await activateSubscription(node.h, firm.id, 5);
  await enableMfaForStaff(node.h, firm.id);
  for (const user of await node.h.ctx.db.selectFrom('users').select('id').where('firm_id', '=', firm.id).execute()) await setPassword(node.h, user.id);
  carl = { email: 'carl.case@demo-firm.example', firm: DEMO_FIRM_SLUG };
  cora = { email: 'cora@acme.example', firm: DEMO_FIRM_SLUG };
  const config = portalConfigFromEnv({ PORTAL_ISSUER: ISSUER, PORTAL_CLIENT_SECRET: secret, PORTAL_PORT: '3001' });
  portal = createPortal(config, { fetch: via(node) });
  await new Promise<void>((resolve) => portal.server.listen(0, '127.0.0.1', resolve));
  portalBase = `http://127.0.0.1:${(portal.server.address() as AddressInfo).port}`;
}, 60_000);
afterAll(async () => {
  await new Promise((resolve) => portal?.server.close(resolve));
  await node?.h.close();
});

/** The portal's side of a browser: its cookie, and its URLs (http://localhost:3001/...) sent to where it listens. */
class PortalBrowser {
  cookie = '';
  readonly tessera = new Browser();
  async get(url: string, init: RequestInit = {}): Promise<Response> {
    const u = new URL(url, DEMO_PORTAL.origin);
    expect(u.origin).toBe(DEMO_PORTAL.origin);
    const res = await fetch(`${portalBase}${u.pathname}${u.search}`, { ...init, redirect: 'manual', headers: { ...(this.cookie ? { cookie: this.cookie } : {}) } });
    const set = res.headers.getSetCookie().at(-1);
    if (set) this.cookie = /Max-Age=0/.test(set) ? '' : set.split(';')[0]!;
    return res;
  }
  post(url: string) {
    return this.get(url, { method: 'POST' });
  }
  /** Opens the portal's / and signs in as `person` at Tessera; returns the case list page. */
  async signIn(person: Person): Promise<Response> {
    const home = await this.get('/');
    expect([home.status, home.headers.get('location')]).toEqual([303, '/login']);
    const toTessera = await this.get('/login');
    expect(toTessera.status).toBe(303);
    const authorize = new URL(toTessera.headers.get('location')!);
    expect(authorize.origin + authorize.pathname).toBe(`${ISSUER}/oidc/auth`);
    expect(Object.fromEntries(authorize.searchParams)).toMatchObject({
      client_id: DEMO_PORTAL.clientId,
      redirect_uri: `${DEMO_PORTAL.origin}/callback`,
      response_type: 'code',
      scope: 'openid profile email tessera',
      code_challenge_method: 'S256',
      code_challenge: expect.stringMatching(/^[\w-]{43}$/),
      state: expect.any(String),
      nonce: expect.any(String),
    });
    const { res } = await throughLogin(this.tessera, node, await this.tessera.get(node, authorize), person);
    expect(res.status, await res.clone().text()).toBe(303);
    const callback = await this.get(res.headers.get('location')!);
    expect([callback.status, callback.headers.get('location')], await callback.clone().text()).toEqual([303, '/']);
    const page = await this.get('/');
    expect(page.status).toBe(200);
    return page;
  }
}

const text = (html: string, claim: string) => new RegExp(`data-claim="${claim}">(.*?)</dd>`).exec(html)?.[1]?.replace(/<[^>]+>/g, '');

describe('npm run demo registers the example portal', () => {
  it('as an active confidential OIDC application of the demo firm with the fixed client id and the portal\'s URIs; the secret is printed once', async () => {
    const app = await node.h.ctx.db.selectFrom('applications').selectAll().where('client_id', '=', DEMO_PORTAL.clientId).executeTakeFirstOrThrow();
    expect(app).toMatchObject({ type: 'oidc', client_type: 'confidential', status: 'active', name: DEMO_PORTAL.name, token_endpoint_auth_method: 'client_secret_basic' });
    expect(JSON.parse(app.redirect_uris as unknown as string)).toEqual(['http://localhost:3001/callback']);
    expect(secret).toMatch(/^[\w-]{64}$/);
    expect(node.h.announced.join('\n')).toContain(`PORTAL_ISSUER=${ISSUER} PORTAL_CLIENT_SECRET=${secret} npm run portal`);
    // A second run registers nothing more and prints no secret.
    const before = node.h.announced.length;
    await seedDemo(node.h.ctx);
    const again = node.h.announced.slice(before).join('\n');
    expect(again).toContain('already exists');
    expect(again).toContain('Rotate client secret');
    expect(again).not.toContain(secret);
    expect(await node.h.ctx.db.selectFrom('applications').select('id').where('client_id', '=', DEMO_PORTAL.clientId).execute()).toHaveLength(1);
  });
});

describe('the example portal', () => {
  it('a case manager signs in through Tessera and sees the case list, who they are and how they signed in', async () => {
    const browser = new PortalBrowser();
    const page = await (await browser.signIn(carl)).text();
    // First sign-in: enrolled an authenticator app, then the passcode.
    expect(carl.totp).toEqual(expect.any(String));
    expect(text(page, 'name')).toBe('Carl Case');
    expect(text(page, 'kind')).toBe('Case manager');
    expect(text(page, 'firm')).toBe(DEMO_FIRM_SLUG);
    expect(text(page, 'amr')).toBe('pwd (password), otp (one-time passcode), mfa (multiple factors)');
    expect(text(page, 'acr')).toBe(ACR.mfa);
    expect(text(page, 'auth_time')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // Staff see every case.
    expect(page.match(/<tr><td data-label="Case">IMM-/g)).toHaveLength(5);
  });

  it('a corporation user sees their corporation\'s cases only', async () => {
    const page = await (await new PortalBrowser().signIn(cora)).text();
    expect(text(page, 'acr')).toBe(ACR.password);
    expect(text(page, 'kind')).toBe('Corporation user');
    expect(text(page, 'corporation')).toBe('Acme Corporation');
    expect(text(page, 'amr')).toBe('pwd (password)');
    expect(page.match(/<tr><td data-label="Case">IMM-/g)).toHaveLength(2);
  });

  it('signing out of the portal ends the Tessera session (RP-initiated logout) and lands on the portal\'s signed-out page', async () => {
    const browser = new PortalBrowser();
    await browser.signIn(carl);
    const out = await browser.post('/logout');
    expect(out.status).toBe(303);
    const end = new URL(out.headers.get('location')!);
    expect(end.origin + end.pathname).toBe(`${ISSUER}/oidc/session/end`);
    expect(end.searchParams.get('post_logout_redirect_uri')).toBe(`${DEMO_PORTAL.origin}/signed-out`);
    expect(end.searchParams.get('id_token_hint')).toEqual(expect.any(String));
    // The portal's own session is gone at once.
    expect((await browser.get('/')).headers.get('location')).toBe('/login');
    const confirm = await browser.tessera.get(node, end);
    expect(confirm.status).toBe(200);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(await confirm.text())![1]!;
    const done = await browser.tessera.postForm(node, '/oidc/session/end/confirm', { xsrf, logout: 'yes' });
    expect(done.status).toBe(303);
    const signedOut = await browser.get(done.headers.get('location')!);
    expect(signedOut.status).toBe(200);
    expect(await signedOut.text()).toContain('You have signed out of the Case Portal and of Tessera');
    // Signing in again needs a login at Tessera: its session ended.
    const login = await browser.get('/login');
    expect(() => interactionUid(login)).toThrow();
    const again = await browser.tessera.get(node, new URL(login.headers.get('location')!));
    expect(interactionUid(again)).toEqual(expect.any(String));
  });

  it('a callback that does not match the sign-in it started is refused with a page, and signs nobody in', async () => {
    const browser = new PortalBrowser();
    // No sign-in started in this browser.
    const stray = await browser.get('/callback?code=abc&state=xyz');
    expect(stray.status).toBe(400);
    expect(await stray.text()).toContain('no_pending_sign_in');
    // A state that is not the one sent (a forged or replayed response).
    await browser.get('/login');
    const forged = await browser.get(`/callback?code=abc&state=not-mine&iss=${encodeURIComponent(ISSUER)}`);
    expect(forged.status).toBe(400);
    expect(await forged.text()).toContain('role="alert"');
    expect((await browser.get('/')).headers.get('location')).toBe('/login');
    // An error from Tessera (the user may not sign in) is shown with its code.
    await browser.get('/login');
    const login = await browser.get('/login');
    const state = new URL(login.headers.get('location')!).searchParams.get('state')!;
    const denied = await browser.get(`/callback?error=access_denied&error_description=${encodeURIComponent('not for you')}&state=${state}&iss=${encodeURIComponent(ISSUER)}`);
    expect(denied.status).toBe(400);
    const page = await denied.text();
    expect(page).toContain('<code>access_denied</code>');
    expect(page).toContain('not for you');
  });

  it('its configuration: the client secret is required; the rest has the demo\'s defaults', () => {
    expect(() => portalConfigFromEnv({})).toThrow(PortalConfigError);
    expect(() => portalConfigFromEnv({ PORTAL_CLIENT_SECRET: 's', PORTAL_ISSUER: 'not a url' })).toThrow(/PORTAL_ISSUER/);
    expect(() => portalConfigFromEnv({ PORTAL_CLIENT_SECRET: 's', PORTAL_PORT: 'eighty' })).toThrow(/PORTAL_PORT/);
    const config = portalConfigFromEnv({ PORTAL_CLIENT_SECRET: 's' });
    expect([config.issuer.href, config.clientId, config.redirectUri.href, config.postLogoutRedirectUri.href, config.port]).toEqual([
      'http://localhost:3000/',
      DEMO_PORTAL.clientId,
      `${DEMO_PORTAL.origin}/callback`,
      `${DEMO_PORTAL.origin}/signed-out`,
      3001,
    ]);
  });
});
