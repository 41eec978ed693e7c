import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACR, amrFor } from '../../src/oidc/accounts.js';
import type { ClientSource, OidcClientRecord } from '../../src/oidc/clients.js';
import { activateSubscription, addCorporation, addUser, firmWithAdmin, type TestFirm } from '../support/harness.js';
import { ManualClock } from '../../src/clock.js';
import { api, MFA_OFF } from '../support/fixtures.js';
import { Browser, interactionUid, ISSUER, relyingParty, signIn as signInWith, startOidcNode, throughLogin, type OidcNode, type Person, type SignInNodes } from '../support/oidc.js';

/**
 * The authorization code flow end to end, with openid-client as the relying party, over real
 * HTTP, on two Tessera nodes sharing one database: the request starts on one node and resumes
 * on the other, the code is redeemed on either, tokens are used anywhere. The login inside the
 * interaction is Tessera's own (test/support/oidc.ts throughLogin; test/oidc/login.test.ts tests
 * its rules). Clients here are a fixed list; login.test.ts uses the Applications registry.
 */
const secret = (name: string) => `${name}-secret-0123456789-0123456789-0123456789`;
const webClient = (id: string, firmId: string, extra: Record<string, unknown> = {}): OidcClientRecord => ({
  firmId,
  metadata: {
    client_id: id,
    client_secret: secret(id),
    redirect_uris: [`https://${id}.example/callback`],
    post_logout_redirect_uris: [`https://${id}.example/signed-out`],
    grant_types: ['authorization_code', 'refresh_token'],
    ...extra,
  },
});

let a: OidcNode;
let b: OidcNode;
let f: TestFirm;
let other: TestFirm;
let user: { id: string; email: string; name: string };
let cora: Person;
let intruder: Person;
const clients: OidcClientRecord[] = [];
/** The Applications registry's part: clients looked up when asked, so they can be added once the firms exist. */
const registry: ClientSource = { findClient: async (id) => clients.find((c) => c.metadata.client_id === id) };

const clock = new ManualClock(Date.now());

beforeAll(async () => {
  a = await startOidcNode({ clients: registry, clock });
  f = await firmWithAdmin(a.h, 'oidc-firm');
  other = await firmWithAdmin(a.h, 'other-firm');
  // The firm's MFA covers its corporation users: Cora enrolls an authenticator app at her first sign-in, then answers passcodes.
  await activateSubscription(a.h, f.firm.id, 5);
  const covered = await f.admin.raw('PUT', api('/admin/mfa/configuration'), { body: { ...MFA_OFF, allCorpUsers: true } });
  expect(covered.statusCode, covered.body).toBe(200);
  const corporation = await addCorporation(a.h, f.firm.id, 'Acme Holdings');
  user = await addUser(a.h, f.firm.id, { name: 'Cora Corp', email: 'cora@acme.example', kind: 'corp_user', corporationId: corporation.id });
  cora = { email: user.email, firm: 'oidc-firm' };
  await addUser(a.h, other.firm.id, { name: 'Ian Other', email: 'ian@other.example', kind: 'case_manager' });
  intruder = { email: 'ian@other.example', firm: 'other-firm' };
  clients.push(
    webClient('basic', f.firm.id),
    webClient('post', f.firm.id, { token_endpoint_auth_method: 'client_secret_post' }),
    webClient('jwt', f.firm.id, { token_endpoint_auth_method: 'client_secret_jwt' }),
    webClient('legacy', f.firm.id, { id_token_signed_response_alg: 'RS256' }),
    { firmId: f.firm.id, metadata: { client_id: 'spa', token_endpoint_auth_method: 'none', redirect_uris: ['https://spa.example/callback'], grant_types: ['authorization_code', 'refresh_token'] } },
  );
  b = await startOidcNode({ clients: registry, clock, sameDatabaseAs: a });
}, 60_000);
afterAll(async () => {
  await b?.h.close();
  await a?.h.close();
});

const auth = (id: string) =>
  id === 'post' ? client.ClientSecretPost(secret(id)) : id === 'jwt' ? client.ClientSecretJwt(secret(id)) : id === 'spa' ? client.None() : client.ClientSecretBasic(secret(id));
const redirectUri = (id: string) => `https://${id}.example/callback`;

/** One sign-in of `user` (by default) to one of the clients above; see signIn in test/support/oidc.ts. */
const signIn = (clientId: string, nodes: SignInNodes, options: { browser?: Browser; person?: Person; params?: Record<string, string> } = {}) =>
  signInWith({ clientId, auth: auth(clientId), redirectUri: redirectUri(clientId), person: options.person ?? cora, nodes, browser: options.browser, params: options.params });

const currentKid = async (alg: 'ES256' | 'RS256') =>
  (await a.h.ctx.db.selectFrom('oidc_signing_keys').select('kid').where('alg', '=', alg).where('state', '=', 'current').executeTakeFirstOrThrow()).kid;

describe('the authorization code flow with PKCE, on two nodes', () => {
  it('starts on one node, resumes on the other, is redeemed on the first: an ES256 ID token with Tessera\'s claims', async () => {
    const { tokens } = await signIn('basic', { start: a, resume: b, redeem: a });
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({
      iss: ISSUER,
      aud: 'basic',
      sub: user.id,
      email: 'cora@acme.example',
      name: 'Cora Corp',
      firm: 'oidc-firm',
      kind: 'corp_user',
      corporation: 'Acme Holdings',
      superuser: false,
      acr: ACR.mfa,
      amr: amrFor(['password', 'totp']),
    });
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
    expect(claims.auth_time).toEqual(expect.any(Number));
    // Signed with the current ES256 key, verifiable with the JWKS of either node.
    for (const node of [a, b]) {
      const { protectedHeader } = await jwtVerify(tokens.id_token!, createRemoteJWKSet(new URL(`${node.base}/oidc/jwks`)), { issuer: ISSUER, audience: 'basic' });
      expect(protectedHeader).toMatchObject({ alg: 'ES256', kid: await currentKid('ES256') });
    }
    // Every artefact of the flow is in the database, none in a process.
    const models = (await a.h.ctx.db.selectFrom('oidc_payloads').select('model').distinct().execute()).map((r) => r.model).sort();
    expect(models).toEqual(expect.arrayContaining(['AccessToken', 'AuthorizationCode', 'Grant', 'RefreshToken', 'Session']));
  });

  it('userinfo on the other node returns the same claims for the access token', async () => {
    const { tokens } = await signIn('basic', { start: b, resume: a, redeem: b });
    const rpOnA = await relyingParty(a, 'basic', {}, auth('basic'));
    const info = await client.fetchUserInfo(rpOnA, tokens.access_token, user.id);
    expect(info).toEqual({ sub: user.id, email: 'cora@acme.example', name: 'Cora Corp', firm: 'oidc-firm', kind: 'corp_user', corporation: 'Acme Holdings', superuser: false });
  });

  it('works with client_secret_post, client_secret_jwt and a public client (none, with PKCE); RS256 for a client that asks for it', async () => {
    for (const id of ['post', 'jwt', 'spa']) {
      const { tokens } = await signIn(id, { start: a, resume: b, redeem: b });
      expect(tokens.claims()).toMatchObject({ sub: user.id, aud: id });
      expect(decodeProtectedHeader(tokens.id_token!)).toMatchObject({ alg: 'ES256' });
    }
    const { tokens } = await signIn('legacy', { start: a, resume: a, redeem: b });
    const { protectedHeader } = await jwtVerify(tokens.id_token!, createRemoteJWKSet(new URL(`${a.base}/oidc/jwks`)), { issuer: ISSUER, audience: 'legacy' });
    expect(protectedHeader).toMatchObject({ alg: 'RS256', kid: await currentKid('RS256') });
  });

  it('a code works once: redeemed again, on another node, it is invalid_grant and the tokens it gave are revoked', async () => {
    const { tokens, callback, verifier } = await signIn('basic', { start: a, resume: a, redeem: a });
    const rpOnB = await relyingParty(b, 'basic', {}, auth('basic'));
    const again = client.authorizationCodeGrant(rpOnB, callback, { pkceCodeVerifier: verifier, expectedState: callback.searchParams.get('state')!, idTokenExpected: true });
    await expect(again).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(client.fetchUserInfo(rpOnB, tokens.access_token, user.id)).rejects.toMatchObject({ status: 401 });
  });

  it('a code cannot be redeemed without the PKCE verifier, or with another client\'s credentials', async () => {
    const browser = new Browser();
    const rp = await relyingParty(a, 'basic', {}, auth('basic'));
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(rp, { redirect_uri: redirectUri('basic'), scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    const { res } = await throughLogin(browser, a, await browser.get(a, url), cora);
    const callback = new URL(res.headers.get('location')!);
    const code = callback.searchParams.get('code')!;
    const post = (authorization: string, body: Record<string, string>) =>
      fetch(`${b.base}/oidc/token`, { method: 'POST', headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body) });
    const basicOf = (id: string) => `Basic ${Buffer.from(`${id}:${secret(id)}`).toString('base64')}`;
    const other = await post(basicOf('post'), { grant_type: 'authorization_code', code, redirect_uri: redirectUri('basic'), code_verifier: verifier });
    expect([other.status, (await other.json()).error]).toEqual([400, 'invalid_grant']);
    const noVerifier = await post(basicOf('basic'), { grant_type: 'authorization_code', code, redirect_uri: redirectUri('basic') });
    expect([noVerifier.status, (await noVerifier.json()).error]).toEqual([400, 'invalid_grant']);
  });
});

describe('refresh tokens rotate', () => {
  it('each refresh gives a new refresh token; replaying a used one revokes the whole grant (RFC 9700 4.14.2)', async () => {
    const { tokens } = await signIn('basic', { start: a, resume: b, redeem: a });
    const first = tokens.refresh_token!;
    expect(first).toEqual(expect.any(String));
    const rpOnB = await relyingParty(b, 'basic', {}, auth('basic'));
    const refreshed = await client.refreshTokenGrant(rpOnB, first);
    expect(refreshed.refresh_token).toEqual(expect.any(String));
    expect(refreshed.refresh_token).not.toBe(first);
    expect(refreshed.claims()).toMatchObject({ sub: user.id, acr: ACR.mfa });
    const rpOnA = await relyingParty(a, 'basic', {}, auth('basic'));
    await expect(client.refreshTokenGrant(rpOnA, first)).rejects.toMatchObject({ error: 'invalid_grant' });
    // The replay ended the grant: the newest refresh token and the access tokens stop working too.
    await expect(client.refreshTokenGrant(rpOnA, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(client.fetchUserInfo(rpOnA, refreshed.access_token, user.id)).rejects.toMatchObject({ status: 401 });
  });

  it('a user who may no longer sign in gets no more tokens or claims', async () => {
    const staff = await addUser(a.h, f.firm.id, { name: 'Sid Staff', email: 'sid@oidc-firm.example', kind: 'case_manager' });
    const { tokens } = await signIn('basic', { start: a, resume: a, redeem: a }, { person: { email: staff.email, firm: 'oidc-firm' } });
    await a.h.ctx.db.updateTable('users').set({ status: 'disabled' }).where('id', '=', staff.id).execute();
    const rp = await relyingParty(b, 'basic', {}, auth('basic'));
    await expect(client.fetchUserInfo(rp, tokens.access_token, staff.id)).rejects.toMatchObject({ status: 401 });
    await expect(client.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });
});

describe('the provider session', () => {
  it('signs in again without a login; prompt=login and max_age=0 ask for a new one; auth_time is the login\'s', async () => {
    const first = await signIn('basic', { start: a, resume: a, redeem: a });
    const authTime = first.tokens.claims()!.auth_time;
    // Single sign-on: the second request goes straight back with a code, through the other node.
    const again = await signIn('post', { start: b, resume: b, redeem: b }, { browser: first.browser, params: { scope: 'openid profile' } });
    expect(again.tokens.refresh_token).toBeUndefined();
    expect(again.tokens.claims()!.auth_time).toBe(authTime);
    const rp = await relyingParty(a, 'basic', {}, auth('basic'));
    for (const extra of [{ prompt: 'login consent' }, { max_age: '0' }] as Record<string, string>[]) {
      const url = client.buildAuthorizationUrl(rp, { redirect_uri: redirectUri('basic'), scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256', ...extra });
      const res = await first.browser.get(a, url);
      expect(() => interactionUid(res), JSON.stringify(extra)).not.toThrow();
    }
  });

  it('a user of another firm is never signed in to this firm\'s application: refused at the password like a wrong one', async () => {
    const browser = new Browser();
    const rp = await relyingParty(a, 'basic', {}, auth('basic'));
    const url = client.buildAuthorizationUrl(rp, { redirect_uri: redirectUri('basic'), scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256' });
    const uid = interactionUid(await browser.get(a, url));
    const { res, trail } = await throughLogin(browser, b, await browser.get(a, `/oidc/interaction/${uid}`), intruder);
    expect(trail.password).toMatchObject({ status: 401, body: { error: 'INVALID_CREDENTIALS' } });
    // Still on the way to the sign-in page, never to the application with a code.
    expect(new URL(res.headers.get('location')!, ISSUER).pathname).toBe('/login');
  });

  it('RP-initiated logout ends the session and the tokens it gave, then returns to the registered URI', async () => {
    const { tokens, browser } = await signIn('basic', { start: a, resume: a, redeem: a }, { params: { scope: 'openid email' } });
    const rp = await relyingParty(a, 'basic', {}, auth('basic'));
    const url = client.buildEndSessionUrl(rp, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'https://basic.example/signed-out', state: 'bye' });
    const confirm = await browser.get(b, url);
    expect(confirm.status).toBe(200);
    const page = await confirm.text();
    expect(page).toContain('Sign out?');
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page)?.[1];
    expect(xsrf).toBeDefined();
    const done = await browser.postForm(a, '/oidc/session/end/confirm', { xsrf: xsrf!, logout: 'yes' });
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe('https://basic.example/signed-out?state=bye');
    await expect(client.fetchUserInfo(rp, tokens.access_token, user.id)).rejects.toMatchObject({ status: 401 });
    // The next request needs a login again.
    const next = client.buildAuthorizationUrl(rp, { redirect_uri: redirectUri('basic'), scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256' });
    const res = await browser.get(b, next);
    expect(interactionUid(res)).toEqual(expect.any(String));
  });
});

