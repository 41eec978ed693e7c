import type { RouteOptions } from 'fastify';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApplication } from '../../src/applications/application.service.js';
import { systemActor } from '../../src/audit/audit.service.js';
import { isOidcDoor } from '../../src/oidc/oidc.routes.js';
import { addUser, dbState, firmWithAdmin, type TestFirm } from '../support/harness.js';
import { Browser, interactionUid, ISSUER, relyingParty, startOidcNode, throughLogin, type OidcNode, type Person } from '../support/oidc.js';

/**
 * The security suite for the OpenID Connect door. The rest of the suite reads the API's routes
 * from the OpenAPI document, which leaves the provider's out (discovery describes them); here
 * they are read from the app itself (onRoute), and every one must have a case below, so a route
 * added to the door is covered or fails the suite. Each case is the attack that route invites:
 * an unauthenticated client, a forged cross-site logout, a resumed interaction without its
 * browser, a redirect to a URI nobody registered, a private key in the JWKS. Besides: no session
 * fixation through the provider's cookie, and no cross-firm sign-in or claims.
 */

const routes: string[] = [];
const collect = (route: RouteOptions) => {
  for (const method of [route.method].flat()) if (method !== 'HEAD' && isOidcDoor(route.url)) routes.push(`${method} ${route.url}`);
};

let node: OidcNode;
let a: TestFirm;
let b: TestFirm;
let app: { clientId: string; secret: string; redirectUri: string };
let alice: Person;
let bob: Person;

beforeAll(async () => {
  node = await startOidcNode({ onRoute: collect });
  a = await firmWithAdmin(node.h, 'door-a');
  b = await firmWithAdmin(node.h, 'door-b');
  await addUser(node.h, a.firm.id, { name: 'Alice A', email: 'alice@door-a.example', kind: 'case_manager' });
  await addUser(node.h, b.firm.id, { name: 'Bob B', email: 'bob@door-b.example', kind: 'case_manager' });
  alice = { email: 'alice@door-a.example', firm: 'door-a' };
  bob = { email: 'bob@door-b.example', firm: 'door-b' };
  const made = await node.h.ctx.db.transaction().execute((tx) =>
    createApplication(node.h.ctx, tx, { ...systemActor, firmId: a.firm.id }, a.firm.id, {
      type: 'oidc',
      name: 'Door Portal',
      redirectUris: ['https://door-portal.example/callback'],
      postLogoutRedirectUris: ['https://door-portal.example/signed-out'],
    }),
  );
  app = { clientId: made.application.clientId, secret: made.secret!, redirectUri: 'https://door-portal.example/callback' };
}, 60_000);
afterAll(() => node?.h.close());

const get = (url: string, headers: Record<string, string> = {}) => node.h.app.inject({ method: 'GET', url, headers: { accept: 'text/html', ...headers } });
const post = (url: string, payload: string, headers: Record<string, string> = {}) =>
  node.h.app.inject({ method: 'POST', url, payload, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });
const authorize = (extra: Record<string, string> = {}) =>
  `/oidc/auth?${new URLSearchParams({ client_id: app.clientId, redirect_uri: app.redirectUri, response_type: 'code', scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', ...extra })}`;

/** A refusal that goes nowhere: 4xx, no Location, no tokens in the body. */
const refusedHere = (res: { statusCode: number; headers: Record<string, unknown>; body: string }) => {
  expect(res.statusCode, res.body).toBeGreaterThanOrEqual(400);
  expect(res.statusCode, res.body).toBeLessThan(500);
  expect(res.headers.location).toBeUndefined();
  expect(res.body).not.toMatch(/access_token|id_token|"code"/);
};

/** For every route of the door, the attack it invites and what must happen. */
const CASES: Record<string, () => Promise<void>> = {
  'GET /.well-known/openid-configuration': async () => {
    const res = await get('/.well-known/openid-configuration', { host: 'attacker.example', 'x-forwarded-host': 'attacker.example' });
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toContain('attacker.example');
  },
  'OPTIONS /.well-known/openid-configuration': async () => {
    const res = await node.h.app.inject({ method: 'OPTIONS', url: '/.well-known/openid-configuration', headers: { origin: 'https://attacker.example', 'access-control-request-method': 'GET' } });
    expect(res.statusCode).toBeLessThan(300);
    // Public metadata: readable from any origin, but never with credentials.
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
  },
  'GET /.well-known/oauth-authorization-server': async () => {
    const res = await get('/.well-known/oauth-authorization-server', { 'x-forwarded-proto': 'http' });
    expect(res.json().issuer).toBe(ISSUER);
  },
  'OPTIONS /.well-known/oauth-authorization-server': async () => {
    const res = await node.h.app.inject({ method: 'OPTIONS', url: '/.well-known/oauth-authorization-server' });
    expect(res.statusCode).toBe(204);
  },
  'GET /oidc/auth': async () => {
    // An unregistered redirect URI: never sent there.
    refusedHere(await get(authorize({ redirect_uri: 'https://attacker.example/callback' })));
    // An unknown client.
    refusedHere(await get(authorize({ client_id: 'attacker' })));
  },
  'GET /oidc/auth/:uid': async () => {
    // Resuming somebody's interaction from a browser that did not start it (no interaction cookie).
    const start = await get(authorize());
    const uid = /\/oidc\/interaction\/([\w-]+)/.exec(String(start.headers.location))![1]!;
    refusedHere(await get(`/oidc/auth/${uid}`));
  },
  'GET /oidc/interaction/:uid': async () => {
    const start = await get(authorize());
    const uid = /\/oidc\/interaction\/([\w-]+)/.exec(String(start.headers.location))![1]!;
    const res = await get(`/oidc/interaction/${uid}`);
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(res.headers.location ?? '').not.toMatch(/^https?:/);
  },
  'POST /oidc/interaction/:uid/abort': async () => {
    // A cross-site form aborting somebody's sign-in: not the browser of the interaction (no cookie), so nothing to abort, no redirect.
    const start = await get(authorize());
    const uid = /\/oidc\/interaction\/([\w-]+)/.exec(String(start.headers.location))![1]!;
    const res = await node.h.app.inject({ method: 'POST', url: `/oidc/interaction/${uid}/abort?error=access_denied`, headers: { origin: 'https://attacker.example' } });
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(res.statusCode).toBeLessThan(500);
    expect(String(res.headers.location ?? '')).not.toContain('door-portal.example');
  },
  'POST /oidc/token': async () => {
    for (const headers of [{} as Record<string, string>, { authorization: 'Basic ' + Buffer.from(`${app.clientId}:wrong`).toString('base64') }]) {
      const res = await post('/oidc/token', new URLSearchParams({ grant_type: 'authorization_code', code: 'x', redirect_uri: app.redirectUri }).toString(), headers);
      expect([400, 401]).toContain(res.statusCode);
      expect(res.json().error).toMatch(/^invalid_(client|request)$/);
    }
  },
  'OPTIONS /oidc/token': async () => {
    // A web page of another origin cannot use a confidential client's token endpoint.
    const res = await node.h.app.inject({ method: 'OPTIONS', url: '/oidc/token', headers: { origin: 'https://attacker.example', 'access-control-request-method': 'POST' } });
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
  },
  'GET /oidc/userinfo': async () => {
    expect((await get('/oidc/userinfo', { accept: 'application/json', authorization: 'Bearer forged' })).statusCode).toBe(401);
  },
  'POST /oidc/userinfo': async () => {
    expect((await post('/oidc/userinfo', 'access_token=forged')).statusCode).toBe(401);
  },
  'OPTIONS /oidc/userinfo': async () => {
    const res = await node.h.app.inject({ method: 'OPTIONS', url: '/oidc/userinfo', headers: { origin: 'https://attacker.example', 'access-control-request-method': 'GET' } });
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
  },
  'GET /oidc/jwks': async () => {
    const { keys } = (await get('/oidc/jwks', { accept: 'application/json' })).json() as { keys: Record<string, unknown>[] };
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(key).not.toHaveProperty(member);
  },
  'OPTIONS /oidc/jwks': async () => {
    const res = await node.h.app.inject({ method: 'OPTIONS', url: '/oidc/jwks', headers: { origin: 'https://attacker.example', 'access-control-request-method': 'GET' } });
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
  },
  'POST /oidc/token/revocation': async () => {
    const res = await post('/oidc/token/revocation', 'token=x');
    expect([400, 401]).toContain(res.statusCode);
  },
  'OPTIONS /oidc/token/revocation': async () => {
    const res = await node.h.app.inject({ method: 'OPTIONS', url: '/oidc/token/revocation', headers: { origin: 'https://attacker.example', 'access-control-request-method': 'POST' } });
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
  },
  'GET /oidc/session/end': async () => {
    refusedHere(await get(`/oidc/session/end?${new URLSearchParams({ client_id: app.clientId, post_logout_redirect_uri: 'https://attacker.example/out' })}`));
  },
  'POST /oidc/session/end/confirm': async () => {
    // A cross-site logout (a page that posts the form without the xsrf secret of the browser's own confirmation page).
    refusedHere(await post('/oidc/session/end/confirm', 'logout=yes', { origin: 'https://attacker.example' }));
    refusedHere(await post('/oidc/session/end/confirm', 'logout=yes&xsrf=forged'));
  },
  'GET /oidc/session/end/success': async () => {
    const res = await get('/oidc/session/end/success');
    expect(res.statusCode).toBe(200);
    expect(res.headers.location).toBeUndefined();
  },
};

describe('every route of the OpenID Connect door', () => {
  it('is read from the app, and each has a case here (a new route fails until it has one)', () => {
    expect(routes.length).toBeGreaterThan(10);
    expect(routes.filter((r) => !(r in CASES)), 'routes of the door with no case in test/security/oidc-door.test.ts').toEqual([]);
    expect(Object.keys(CASES).filter((r) => !routes.includes(r)), 'cases for routes the door no longer has').toEqual([]);
  });

  it('refuses the attack each route invites, changes nothing beyond the provider\'s own records, and never answers 5xx', async () => {
    await node.provider();
    const before = await dbState(node.h);
    for (const route of routes) await CASES[route]!();
    const after = await dbState(node.h);
    // The provider keeps its interactions in oidc_payloads; nothing else may change (no user, session, application, audit row).
    const changed = (Object.keys(before) as (keyof typeof before)[]).filter((t) => t !== 'oidc_payloads' && JSON.stringify(before[t]) !== JSON.stringify(after[t]));
    expect(changed).toEqual([]);
  });
});

describe('sessions and firms', () => {
  const signIn = async (browser: Browser, person: Person) => {
    const rp = await relyingParty(node, app.clientId, {}, client.ClientSecretBasic(app.secret));
    const url = client.buildAuthorizationUrl(rp, { redirect_uri: app.redirectUri, scope: 'openid tessera', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' });
    return throughLogin(browser, node, await browser.get(node, url), person);
  };

  it('no session fixation: a provider session cookie planted in a browser is replaced at sign-in and never becomes the victim\'s', async () => {
    // The attacker signs in (an account of their own), takes their browser's provider session cookie…
    const attacker = new Browser();
    const own = await signIn(attacker, alice);
    expect(own.res.status).toBe(303);
    const planted = attacker.cookie('tessera_oidc_session')!;
    expect(planted).toEqual(expect.any(String));
    // …and plants it in the victim's browser, who then signs in as themselves.
    const victim = new Browser();
    victim.plant('tessera_oidc_session', planted, '/');
    const victimAccount = await addUser(node.h, a.firm.id, { name: 'Vic Tim', email: 'vic@door-a.example', kind: 'case_manager' });
    const theirs = await signIn(victim, { email: 'vic@door-a.example', firm: 'door-a' });
    expect(theirs.res.status).toBe(303);
    expect(victim.cookie('tessera_oidc_session')).not.toBe(planted);
    // The attacker's cookie does not sign anybody in as the victim: the next request from the attacker's browser is still the attacker's (or a login).
    const rp = await relyingParty(node, app.clientId, {}, client.ClientSecretBasic(app.secret));
    const again = await attacker.get(node, client.buildAuthorizationUrl(rp, { redirect_uri: app.redirectUri, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }));
    const { res } = await throughLogin(attacker, node, again, null);
    if (res.status === 303 && new URL(res.headers.get('location')!).origin === 'https://door-portal.example') {
      const code = new URL(res.headers.get('location')!).searchParams.get('code')!;
      const row = await node.h.ctx.db.selectFrom('oidc_payloads').select('payload').where('model', '=', 'AuthorizationCode').where('id', '=', code).executeTakeFirstOrThrow();
      expect(JSON.parse(row.payload).accountId).not.toBe(victimAccount.id);
    }
  });

  it('a user of another firm cannot sign in to this firm\'s application: answered like a wrong password, and no code', async () => {
    const browser = new Browser();
    const { res, trail } = await signIn(browser, { ...bob, firm: 'door-a' });
    expect(trail.password?.status).toBe(401);
    expect(() => interactionUid(res)).toThrow();
    expect(res.headers.get('location') ?? '').not.toContain('door-portal.example');
    const wrongPassword = await new Browser().api(node, 'POST', '/login', { email: 'alice@door-a.example', password: 'not the password at all', firm: 'door-a' });
    expect(await wrongPassword.json()).toEqual(trail.password!.body);
  });
});
