import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApplication, deleteApplication, setApplicationStatus } from '../../src/applications/application.service.js';
import { systemActor } from '../../src/audit/audit.service.js';
import { ManualClock } from '../../src/clock.js';
import { AUTHORIZATION_CODE_TTL } from '../../src/oidc/lifetimes.js';
import { addUser, firmWithAdmin, type TestFirm } from '../support/harness.js';
import { Browser, ISSUER, relyingParty, startOidcNode, throughLogin, type OidcNode, type Person } from '../support/oidc.js';

/**
 * Issue 14 item 6: bad input at the OpenID Provider gets the standard OAuth 2.0 / OIDC answers
 * (RFC 6749 4.1.2.1 at the authorization endpoint, 5.2 at the token endpoint), never a 5xx,
 * with applications registered in the Applications registry (the provider's client source:
 * disabling or deleting one is seen at once), Tessera's own login and openid-client as the relying party, over real HTTP, on
 * two nodes sharing one database (SQLite or PostgreSQL, TESSERA_TEST_DATABASE_URL).
 */

let a: OidcNode;
let b: OidcNode;
let f: TestFirm;
let userId: string;
let carl: Person;
const clock = new ManualClock(Date.now());


interface App {
  id: string;
  clientId: string;
  secret: string | null;
  redirectUri: string;
}
const apps: Record<'portal' | 'spa' | 'doomed', App> = {} as never;

const register = async (name: string, clientType: 'confidential' | 'public'): Promise<App> => {
  const host = name.toLowerCase().replace(/\W+/g, '-');
  const redirectUri = `https://${host}.example/callback`;
  const made = await a.h.ctx.db.transaction().execute((tx) =>
    createApplication(a.h.ctx, tx, { ...systemActor, firmId: f.firm.id }, f.firm.id, {
      type: 'oidc',
      name,
      clientType,
      redirectUris: [redirectUri],
      postLogoutRedirectUris: [`https://${host}.example/signed-out`],
    }),
  );
  return { id: made.application.id, clientId: made.application.clientId, secret: made.secret, redirectUri };
};

beforeAll(async () => {
  a = await startOidcNode({ clock });
  b = await startOidcNode({ clock, sameDatabaseAs: a });
  f = await firmWithAdmin(a.h, 'bad-input-firm');
  userId = (await addUser(a.h, f.firm.id, { name: 'Carl Case', email: 'carl@bad-input.example', kind: 'case_manager' })).id;
  carl = { email: 'carl@bad-input.example', firm: 'bad-input-firm' };
  apps.portal = await register('Case Portal', 'confidential');
  apps.spa = await register('Single Page', 'public');
  apps.doomed = await register('Doomed Portal', 'confidential');
}, 60_000);
afterAll(async () => {
  await b?.h.close();
  await a?.h.close();
});

const auth = (app: App, secret = app.secret) => (secret === null ? client.None() : client.ClientSecretBasic(secret));

/** An authorization request through Tessera's login (the firm's MFA does not cover Carl: the password): the callback URL with its code. */
async function codeFor(app: App, node = a, extra: Record<string, string> = {}) {
  const rp = await relyingParty(node, app.clientId, {}, auth(app));
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(rp, {
    redirect_uri: app.redirectUri,
    scope: 'openid offline_access',
    prompt: 'consent',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...extra,
  });
  const browser = new Browser();
  const { res: back } = await throughLogin(browser, node, await browser.get(node, url), carl);
  expect(back.status, await back.clone().text()).toBe(303);
  const callback = new URL(back.headers.get('location')!);
  expect(callback.searchParams.get('code')).toEqual(expect.any(String));
  return { rp, callback, verifier, state, nonce, browser };
}

const redeem = (rp: client.Configuration, got: Awaited<ReturnType<typeof codeFor>>, verifier = got.verifier) =>
  client.authorizationCodeGrant(rp, got.callback, { pkceCodeVerifier: verifier, expectedState: got.state, expectedNonce: got.nonce, idTokenExpected: true });

/** The provider's records of one grant still in the database, by model. */
const recordsOfGrant = async (grantId: string) =>
  (
    await a.h.ctx.db
      .selectFrom('oidc_payloads')
      .select('model')
      .where((eb) => eb.or([eb('grant_id', '=', grantId), eb.and([eb('model', '=', 'Grant'), eb('id', '=', grantId)])]))
      .execute()
  )
    .map((r) => r.model)
    .sort();
const grantOf = async (accessToken: string) => {
  const row = await a.h.ctx.db.selectFrom('oidc_payloads').select('grant_id').where('model', '=', 'AccessToken').where('id', '=', accessToken).executeTakeFirstOrThrow();
  return row.grant_id!;
};

/**
 * How a request was refused, as the client library reports it: openid-client raises a
 * ResponseBodyError for an OAuth error body, and a WWWAuthenticateChallengeError for a 401 with
 * a challenge (invalid_client under client_secret_basic), whose body still says the error.
 */
async function refusal(request: Promise<unknown>): Promise<{ status: number; error: string }> {
  try {
    await request;
  } catch (err) {
    if (err instanceof client.ResponseBodyError) return { status: err.status, error: err.error };
    if (err instanceof client.WWWAuthenticateChallengeError) return { status: err.status, error: ((await err.response.json()) as { error: string }).error };
    throw err;
  }
  throw new Error('expected the request to be refused');
}

const authUrl = (params: Record<string, string>) => `${ISSUER}/oidc/auth?${new URLSearchParams(params)}`;

describe('the authorization endpoint (RFC 6749 4.1.2.1)', () => {
  it('a redirect URI that is not registered exactly: a page, never a redirect (not even to the registered one)', async () => {
    const base = { client_id: apps.portal.clientId, response_type: 'code', scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256', state: 's' };
    for (const uri of [
      'https://attacker.example/callback',
      'https://case-portal.example/callback/',
      'https://case-portal.example/callback?next=https://attacker.example',
      'https://case-portal.example/Callback',
      'http://case-portal.example/callback',
      'https://case-portal.example:444/callback',
      'https://case-portal.example/callback#x',
      'not a url',
    ]) {
      const res = await new Browser().get(a, authUrl({ ...base, redirect_uri: uri }));
      expect(res.status, uri).toBe(400);
      expect(res.headers.get('location'), uri).toBeNull();
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      const page = await res.text();
      expect(page).toMatch(/<h1>[^<]+<\/h1>/);
      expect(page).toMatch(/invalid_redirect_uri|invalid_request/);
      expect(page).not.toContain('attacker.example');
    }
  });

  it('a redirect URI of another application of the same firm: refused alike', async () => {
    const res = await new Browser().get(a, authUrl({ client_id: apps.portal.clientId, redirect_uri: apps.spa.redirectUri, response_type: 'code', scope: 'openid' }));
    expect([res.status, res.headers.get('location')]).toEqual([400, null]);
    expect(await res.text()).toContain('invalid_redirect_uri');
  });

  it('an error the application can be told of goes back to it with error, state and iss (RFC 9207)', async () => {
    // prompt=none without a Tessera session: login_required.
    const res = await new Browser().get(a, authUrl({ client_id: apps.portal.clientId, redirect_uri: apps.portal.redirectUri, response_type: 'code', scope: 'openid', prompt: 'none', state: 'st-9' }));
    expect(res.status).toBe(303);
    const back = new URL(res.headers.get('location')!);
    expect(back.origin + back.pathname).toBe(apps.portal.redirectUri);
    expect(Object.fromEntries(back.searchParams)).toMatchObject({ error: 'login_required', state: 'st-9', iss: ISSUER });
    // openid-client reads it as the authorization server's error.
    const rp = await relyingParty(a, apps.portal.clientId, {}, auth(apps.portal));
    await expect(client.authorizationCodeGrant(rp, back, { expectedState: 'st-9' })).rejects.toMatchObject({ error: 'login_required' });
  });

  it('a public client without PKCE is sent back with invalid_request', async () => {
    const res = await new Browser().get(a, authUrl({ client_id: apps.spa.clientId, redirect_uri: apps.spa.redirectUri, response_type: 'code', scope: 'openid', state: 'p' }));
    expect(res.status).toBe(303);
    expect(Object.fromEntries(new URL(res.headers.get('location')!).searchParams)).toMatchObject({ error: 'invalid_request', state: 'p' });
  });
});

describe('the token endpoint (RFC 6749 5.2)', () => {
  it('a wrong client secret is 401 invalid_client, and the code stays good for the real client', async () => {
    const got = await codeFor(apps.portal);
    // The last character changed (a secret ending in 'x' once made this "wrong" secret the right one).
    const wrong = await relyingParty(b, apps.portal.clientId, {}, client.ClientSecretBasic(`${apps.portal.secret!.slice(0, -1)}${apps.portal.secret!.endsWith('x') ? 'y' : 'x'}`));
    expect(await refusal(redeem(wrong, got))).toEqual({ error: 'invalid_client', status: 401 });
    const post = await relyingParty(b, apps.portal.clientId, {}, client.ClientSecretPost('not-the-secret'));
    expect(await refusal(redeem(post, got))).toEqual({ error: 'invalid_client', status: 401 });
    // Another application's (valid) secret is no better.
    const other = await relyingParty(b, apps.portal.clientId, {}, client.ClientSecretBasic(apps.doomed.secret!));
    expect(await refusal(redeem(other, got))).toEqual({ error: 'invalid_client', status: 401 });
    const tokens = await redeem(got.rp, got);
    expect(tokens.claims()).toMatchObject({ sub: userId, aud: apps.portal.clientId });
  });

  it('a code redeemed twice: refused, and everything the first redemption gave is revoked (RFC 6749 4.1.2)', async () => {
    const got = await codeFor(apps.portal);
    const first = await redeem(got.rp, got);
    expect(first.refresh_token).toEqual(expect.any(String));
    const grantId = await grantOf(first.access_token);
    expect(await recordsOfGrant(grantId)).toEqual(['AccessToken', 'AuthorizationCode', 'Grant', 'RefreshToken']);
    // The second redemption, on the other node, by the rightful client with the right verifier.
    const onB = await relyingParty(b, apps.portal.clientId, {}, auth(apps.portal));
    await expect(redeem(onB, got)).rejects.toMatchObject({ error: 'invalid_grant', status: 400 });
    // The grant and every token of it are gone: the access token, the refresh token.
    expect(await recordsOfGrant(grantId)).toEqual([]);
    await expect(client.fetchUserInfo(onB, first.access_token, userId)).rejects.toMatchObject({ status: 401 });
    await expect(client.refreshTokenGrant(onB, first.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('the same code sent to both nodes at once: exactly one gets tokens', async () => {
    const got = await codeFor(apps.portal);
    const onB = await relyingParty(b, apps.portal.clientId, {}, auth(apps.portal));
    const results = await Promise.allSettled([redeem(got.rp, got), redeem(onB, got), redeem(got.rp, got), redeem(onB, got)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((x) => x.status === 'rejected')) expect((r as PromiseRejectedResult).reason).toMatchObject({ error: 'invalid_grant' });
  });

  it('a missing or wrong PKCE verifier is invalid_grant; the code is not used up by it', async () => {
    const got = await codeFor(apps.portal);
    const post = (body: Record<string, string>) =>
      fetch(`${a.base}/oidc/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${apps.portal.clientId}:${apps.portal.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'authorization_code', code: got.callback.searchParams.get('code')!, redirect_uri: apps.portal.redirectUri, ...body }),
      });
    for (const body of [{} as Record<string, string>, { code_verifier: client.randomPKCECodeVerifier() }, { code_verifier: 'short' }, { code_verifier: got.verifier.toUpperCase() }]) {
      const res = await post(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const error = await res.json();
      expect(error, JSON.stringify(body)).toEqual({ error: expect.stringMatching(/^invalid_(grant|request)$/), error_description: expect.any(String) });
    }
    // Through openid-client, a wrong verifier.
    await expect(redeem(got.rp, got, client.randomPKCECodeVerifier())).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await redeem(got.rp, got)).claims()).toMatchObject({ sub: userId });
  });

  it('a public client must present its verifier too', async () => {
    const got = await codeFor(apps.spa, b);
    const res = await fetch(`${b.base}/oidc/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', client_id: apps.spa.clientId, code: got.callback.searchParams.get('code')!, redirect_uri: apps.spa.redirectUri }),
    });
    expect([res.status, (await res.json()).error]).toEqual([400, 'invalid_grant']);
    expect((await redeem(got.rp, got)).claims()).toMatchObject({ aud: apps.spa.clientId });
  });

  it('a redirect_uri at the token endpoint other than the authorization request\'s is invalid_grant', async () => {
    const got = await codeFor(apps.portal);
    const res = await fetch(`${a.base}/oidc/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${apps.portal.clientId}:${apps.portal.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: got.callback.searchParams.get('code')!, redirect_uri: 'https://case-portal.example/other', code_verifier: got.verifier }),
    });
    expect([res.status, (await res.json()).error]).toEqual([400, 'invalid_grant']);
  });

  it('an expired code (older than its 60 s) is invalid_grant', async () => {
    const got = await codeFor(apps.portal);
    clock.advance((AUTHORIZATION_CODE_TTL + 1) * 1000);
    try {
      await expect(redeem(got.rp, got)).rejects.toMatchObject({ error: 'invalid_grant', status: 400 });
    } finally {
      clock.set(Date.now());
    }
    // One a second younger than its lifetime still works.
    const fresh = await codeFor(apps.portal);
    clock.advance((AUTHORIZATION_CODE_TTL - 1) * 1000);
    try {
      expect((await redeem(fresh.rp, fresh)).claims()).toMatchObject({ sub: userId });
    } finally {
      clock.set(Date.now());
    }
  });
});

describe('a disabled or deleted application', () => {
  it('disabled: its sign-in requests get the error page, its codes and refresh tokens invalid_client; enabled again, it works unchanged', async () => {
    const issued = await redeem((await codeFor(apps.doomed)).rp, await codeFor(apps.doomed));
    const pending = await codeFor(apps.doomed);
    await a.h.ctx.db.transaction().execute((tx) => setApplicationStatus(a.h.ctx, tx, { ...systemActor, firmId: f.firm.id }, f.firm.id, apps.doomed.id, 'disabled'));

    const rp = await relyingParty(b, apps.doomed.clientId, {}, auth(apps.doomed));
    const start = await new Browser().get(b, client.buildAuthorizationUrl(rp, { redirect_uri: apps.doomed.redirectUri, scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }));
    expect([start.status, start.headers.get('location')]).toEqual([400, null]);
    expect(await start.text()).toContain('invalid_client');
    expect(await refusal(redeem(rp, pending))).toEqual({ error: 'invalid_client', status: 401 });
    expect(await refusal(client.refreshTokenGrant(rp, issued.refresh_token!))).toEqual({ error: 'invalid_client', status: 401 });
    // Its access tokens no longer open userinfo.
    await expect(client.fetchUserInfo(rp, issued.access_token, userId)).rejects.toMatchObject({ status: 401 });

    await a.h.ctx.db.transaction().execute((tx) => setApplicationStatus(a.h.ctx, tx, { ...systemActor, firmId: f.firm.id }, f.firm.id, apps.doomed.id, 'active'));
    const again = await codeFor(apps.doomed, b);
    expect((await redeem(again.rp, again)).claims()).toMatchObject({ aud: apps.doomed.clientId });
  });

  it('deleted: its client id answers like one that never existed', async () => {
    const pending = await codeFor(apps.doomed);
    await a.h.ctx.db.transaction().execute((tx) => deleteApplication(a.h.ctx, tx, { ...systemActor, firmId: f.firm.id }, f.firm.id, apps.doomed.id));
    const unknown = await new Browser().get(a, authUrl({ client_id: 'never-existed-00000000', redirect_uri: apps.doomed.redirectUri, response_type: 'code', scope: 'openid' }));
    const deleted = await new Browser().get(a, authUrl({ client_id: apps.doomed.clientId, redirect_uri: apps.doomed.redirectUri, response_type: 'code', scope: 'openid' }));
    expect([deleted.status, deleted.headers.get('location')]).toEqual([unknown.status, null]);
    expect((await deleted.text()).replace(apps.doomed.clientId, 'X')).toBe((await unknown.text()).replace('never-existed-00000000', 'X'));
    expect(await refusal(redeem(pending.rp, pending))).toEqual({ error: 'invalid_client', status: 401 });
  });
});

describe('RP-initiated logout with bad input', () => {
  it('an unregistered post_logout_redirect_uri: a page, no redirect', async () => {
    const got = await codeFor(apps.portal);
    const tokens = await redeem(got.rp, got);
    const url = client.buildEndSessionUrl(got.rp, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'https://attacker.example/out' });
    const res = await got.browser.get(a, url);
    expect([res.status, res.headers.get('location')]).toEqual([400, null]);
    const page = await res.text();
    expect(page).toMatch(/<h1>[^<]+<\/h1>/);
    expect(page).not.toContain('attacker.example');
  });

  it('an id_token_hint that is not a token of this issuer: a page, no redirect', async () => {
    const res = await new Browser().get(a, `${ISSUER}/oidc/session/end?${new URLSearchParams({ id_token_hint: 'eyJhbGciOiJub25lIn0.e30.', post_logout_redirect_uri: 'https://case-portal.example/signed-out' })}`);
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
  });
});
