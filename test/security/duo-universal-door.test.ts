import type { RouteOptions } from 'fastify';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, mfaFirm } from '../support/fixtures.js';
import { pushUser, type PushUser } from '../support/factors.js';
import { dbState, startHarness, type Harness, type TestFirm } from '../support/harness.js';

/**
 * The security suite for the Duo door's Universal Prompt (Web SDK v4: /oauth/v1). Its routes are
 * read from the app itself (onRoute), and every one must have a case below, so a route added to
 * the door is covered or fails the suite. Each case is the attack that route invites: a client
 * assertion signed with a guessed secret, a request object sending the result to an attacker's
 * URI or signed with `none`, a code exchanged by another application, the prompt of someone
 * else's browser, a cross-site post from the right browser. Refusals are audited (and nothing
 * else changes); nothing answers 5xx.
 */

const routes: string[] = [];
const collect = (route: RouteOptions) => {
  for (const method of [route.method].flat()) if (method !== 'HEAD' && route.url.startsWith('/oauth/v1')) routes.push(`${method} ${route.url}`);
};

const HOST = 'tessera.test';
const REDIRECT = 'https://portal.example/duo-callback';
let h: Harness;
let f: TestFirm;
let g: TestFirm;
let mine: { clientId: string; secret: string };
let theirs: { clientId: string; secret: string };
let pusher: PushUser;
let prompt: { id: string; cookie: string };

async function webSdk(firm: TestFirm, name: string) {
  const res = await firm.admin.post(api('/admin/applications'), { type: 'duo_web_sdk', name, redirectUris: [REDIRECT] });
  expect(res.statusCode, res.body).toBe(201);
  return { clientId: res.json().application.clientId as string, secret: res.json().secret as string };
}

const jwt = (claims: Record<string, unknown>, secret: string, alg = 'HS512') =>
  new SignJWT(claims).setProtectedHeader({ alg }).sign(new TextEncoder().encode(secret));
const now = () => Math.floor(h.clock.now() / 1000);
const assertion = (app: { clientId: string }, secret: string, path: string) =>
  jwt({ iss: app.clientId, sub: app.clientId, aud: `https://${HOST}${path}`, jti: crypto.randomUUID(), iat: now(), exp: now() + 300 }, secret);
const requestObject = (over: Record<string, unknown> = {}, secret = mine.secret) =>
  jwt({ response_type: 'code', scope: 'openid', client_id: mine.clientId, redirect_uri: REDIRECT, state: 's'.repeat(36), duo_uname: pusher.user.email, iss: mine.clientId, aud: `https://${HOST}`, exp: now() + 300, use_duo_code_attribute: true, ...over }, secret);
const authorizeUrl = (request: string, redirect = REDIRECT) =>
  `/oauth/v1/authorize?${new URLSearchParams({ response_type: 'code', client_id: mine.clientId, request, redirect_uri: redirect, scope: 'openid' })}`;

const get = (url: string, headers: Record<string, string> = {}) => h.app.inject({ method: 'GET', url, headers: { host: HOST, ...headers } });
const form = (url: string, body: Record<string, string>) =>
  h.app.inject({ method: 'POST', url, headers: { host: HOST, 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(body).toString() });
const pagePost = (path: string, headers: Record<string, string>, body: object = {}) => h.app.inject({ method: 'POST', url: `/oauth/v1/prompt/${prompt.id}${path}`, headers: { host: HOST, ...headers }, payload: body });

/** A refusal that goes nowhere: 4xx, no Location, no code or token in the body. */
const refusedHere = (res: { statusCode: number; headers: Record<string, unknown>; body: string }) => {
  expect(res.statusCode, res.body).toBeGreaterThanOrEqual(400);
  expect(res.statusCode, res.body).toBeLessThan(500);
  expect(res.headers.location).toBeUndefined();
  expect(res.body).not.toMatch(/id_token|access_token|duo_code|"number"|"redirect"/);
};

/** A prompt page call from the right browser but another site, then from a browser without the prompt's cookie. */
const pageAttacks = (path: string, body: object = {}) => async () => {
  const crossSite = await pagePost(path, { cookie: prompt.cookie, origin: 'https://attacker.example', 'content-type': 'application/json' }, body);
  refusedHere(crossSite);
  expect(crossSite.json()).toMatchObject({ stat: 'FAIL', code: 40301 });
  const noCookie = await pagePost(path, { origin: h.ctx.config.publicUrl.origin, 'content-type': 'application/json' }, body);
  refusedHere(noCookie);
  expect(noCookie.json()).toMatchObject({ stat: 'FAIL', code: 40401 });
};

const CASES: Record<string, () => Promise<void>> = {
  'POST /oauth/v1/health_check': async () => {
    refusedHere(await form('/oauth/v1/health_check', { client_id: mine.clientId, client_assertion: await assertion(mine, 'g'.repeat(40), '/oauth/v1/health_check') }));
    // Another application's assertion for this client id.
    refusedHere(await form('/oauth/v1/health_check', { client_id: mine.clientId, client_assertion: await assertion(mine, theirs.secret, '/oauth/v1/health_check') }));
  },
  'GET /oauth/v1/health_check': async () => {
    refusedHere(await get(`/oauth/v1/health_check?${new URLSearchParams({ client_id: mine.clientId, client_assertion: 'a.b.c' })}`));
  },
  'GET /oauth/v1/authorize': async () => {
    // The result sent to an attacker's URI: refused here, never redirected there.
    const evil = 'https://attacker.example/cb';
    refusedHere(await get(authorizeUrl(await requestObject({ redirect_uri: evil }), evil)));
    // An unsigned request object (alg none) and one signed with a guessed secret.
    const body = (await requestObject()).split('.')[1];
    const none = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${body}.`;
    refusedHere(await get(authorizeUrl(none)));
    refusedHere(await get(authorizeUrl(await requestObject({}, 'x'.repeat(40)))));
    // A request object of another application, presented under this client id.
    refusedHere(await get(authorizeUrl(await requestObject({ client_id: theirs.clientId, iss: theirs.clientId }, theirs.secret))));
    // An expired one.
    refusedHere(await get(authorizeUrl(await requestObject({ exp: now() - 120 }))));
  },
  'POST /oauth/v1/token': async () => {
    // A made-up code with this application's genuine assertion; then theirs exchanging for mine.
    refusedHere(await form('/oauth/v1/token', { grant_type: 'authorization_code', code: 'x'.repeat(43), redirect_uri: REDIRECT, client_id: mine.clientId, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await assertion(mine, mine.secret, '/oauth/v1/token') }));
    refusedHere(await form('/oauth/v1/token', { grant_type: 'authorization_code', code: 'x'.repeat(43), redirect_uri: REDIRECT, client_id: mine.clientId, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await assertion(mine, theirs.secret, '/oauth/v1/token') }));
  },
  'GET /oauth/v1/prompt/:id': async () => {
    refusedHere(await get(`/oauth/v1/prompt/${prompt.id}`));
    refusedHere(await get(`/oauth/v1/prompt/${prompt.id}`, { cookie: 'tessera_duo_prompt=' + 'B'.repeat(43) }));
  },
  'POST /oauth/v1/prompt/:id/enroll': pageAttacks('/enroll'),
  'POST /oauth/v1/prompt/:id/passcode': pageAttacks('/passcode', { passcode: '123456' }),
  'POST /oauth/v1/prompt/:id/push': pageAttacks('/push'),
  'POST /oauth/v1/prompt/:id/push/wait': pageAttacks('/push/wait'),
  'POST /oauth/v1/prompt/:id/webauthn/options': pageAttacks('/webauthn/options'),
  'POST /oauth/v1/prompt/:id/webauthn/verify': pageAttacks('/webauthn/verify', { response: {} }),
};

beforeAll(async () => {
  h = await startHarness({ onRoute: collect, env: { TESSERA_PUBLIC_URL: `https://${HOST}` } });
  f = await mfaFirm(h, { enabled: 'staff', adminEnrolled: true });
  g = await mfaFirm(h, { enabled: 'staff', adminEnrolled: true });
  mine = await webSdk(f, 'Mine');
  theirs = await webSdk(g, 'Theirs');
  pusher = await pushUser(h, f);
  // A live prompt of the user, opened by "the user's browser" (its cookie).
  const res = await get(authorizeUrl(await requestObject()));
  expect(res.statusCode, res.body).toBe(302);
  prompt = { id: res.headers.location!.split('/').pop()!, cookie: String(res.headers['set-cookie']).split(';')[0]! };
}, 60_000);
afterAll(() => h?.close());

describe('every route of the Universal Prompt', () => {
  it('is read from the app, and each has a case here (a new route fails until it has one)', () => {
    expect(routes.length).toBeGreaterThanOrEqual(10);
    expect(routes.filter((r) => !(r in CASES)), 'routes of the Universal Prompt with no case in test/security/duo-universal-door.test.ts').toEqual([]);
    expect(Object.keys(CASES).filter((r) => !routes.includes(r)), 'cases for routes the door no longer has').toEqual([]);
  });

  it('refuses the attack each route invites, audits refusals and changes nothing else, never 5xx', async () => {
    const before = await dbState(h);
    for (const route of routes) await CASES[route]!();
    const after = await dbState(h);
    // Besides the audit log, only the jti of the one genuine assertion (made-up code) is spent: an assertion is single use even when its request fails.
    const changed = (Object.keys(before) as (keyof typeof before)[]).filter((t) => t !== 'audit_events' && t !== 'duo_client_assertions' && JSON.stringify(before[t]) !== JSON.stringify(after[t]));
    expect(after.duo_client_assertions.length - before.duo_client_assertions.length).toBe(1);
    expect(changed).toEqual([]);
    const refused = await h.ctx.db.selectFrom('audit_events').select('event').where('event', '=', 'duo.request_refused').execute();
    expect(refused.length).toBeGreaterThanOrEqual(4);
    // The prompt still answers its own browser: the attacks used nothing up.
    expect((await get(`/oauth/v1/prompt/${prompt.id}`, { cookie: prompt.cookie })).json()).toMatchObject({ stage: 'second_factor', username: pusher.user.email });
  });
});
