import { createHash, randomBytes } from 'node:crypto';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACR_VALUES } from '../../src/oidc/accounts.js';
import type { OidcClientRecord } from '../../src/oidc/clients.js';
import { dbState } from '../support/harness.js';
import { ISSUER, relyingParty, startOidcNode, type OidcNode } from '../support/oidc.js';

/**
 * The OpenID Provider as a relying party meets it: the discovery document and JWKS (through
 * openid-client over real HTTP), and bad requests to its endpoints, which get OAuth 2.0 errors
 * (RFC 6749 4.1.2.1, 5.2) and never a 5xx, a redirect to an unregistered URI, or a written row.
 */
const PORTAL = {
  firmId: 'firm-of-portal',
  metadata: {
    client_id: 'portal',
    client_secret: 'portal-secret-portal-secret-portal-secret-0123',
    redirect_uris: ['https://portal.example/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
  },
};
const SPA: OidcClientRecord = {
  firmId: 'firm-of-portal',
  metadata: { client_id: 'spa', token_endpoint_auth_method: 'none', redirect_uris: ['https://spa.example/callback'] },
};

let node: OidcNode;
beforeAll(async () => {
  node = await startOidcNode({ clients: [PORTAL, SPA] });
});
afterAll(() => node?.h.close());

const inject = (method: 'GET' | 'POST' | 'OPTIONS', url: string, options: { headers?: Record<string, string>; payload?: string } = {}) =>
  node.h.app.inject({ method, url, headers: options.headers, payload: options.payload });
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
const form = { 'content-type': 'application/x-www-form-urlencoded' };
const challenge = () => createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url');
const authUrl = (params: Record<string, string>) => `/oidc/auth?${new URLSearchParams(params)}`;

describe('discovery', () => {
  it('openid-client discovers the issuer: endpoints under /oidc/, ES256 and RS256, PKCE S256, the three secret methods and none', async () => {
    const rp = await relyingParty(node, PORTAL.metadata.client_id, {}, client.ClientSecretBasic(PORTAL.metadata.client_secret));
    const meta = rp.serverMetadata();
    expect(meta.issuer).toBe(ISSUER);
    expect(meta).toMatchObject({
      authorization_endpoint: `${ISSUER}/oidc/auth`,
      token_endpoint: `${ISSUER}/oidc/token`,
      userinfo_endpoint: `${ISSUER}/oidc/userinfo`,
      jwks_uri: `${ISSUER}/oidc/jwks`,
      end_session_endpoint: `${ISSUER}/oidc/session/end`,
      revocation_endpoint: `${ISSUER}/oidc/token/revocation`,
      code_challenge_methods_supported: ['S256'],
      response_types_supported: ['code'],
      id_token_signing_alg_values_supported: ['ES256', 'RS256'],
      subject_types_supported: ['public'],
    });
    expect(new Set(meta.token_endpoint_auth_methods_supported)).toEqual(new Set(['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'none']));
    expect(meta.token_endpoint_auth_signing_alg_values_supported).toEqual(['HS256', 'HS384', 'HS512']);
    expect(meta.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token']));
    expect(meta.grant_types_supported).not.toContain('implicit');
    expect(meta.scopes_supported).toEqual(expect.arrayContaining(['openid', 'offline_access', 'profile', 'email', 'tessera']));
    expect(meta.claims_supported).toEqual(expect.arrayContaining(['sub', 'name', 'email', 'firm', 'kind', 'corporation', 'superuser', 'acr', 'amr', 'auth_time']));
    expect(meta.acr_values_supported).toEqual(ACR_VALUES);
    // Off: dynamic registration, introspection, the device flow.
    expect(meta.registration_endpoint).toBeUndefined();
    expect(meta.introspection_endpoint).toBeUndefined();
    expect(meta.device_authorization_endpoint).toBeUndefined();
  });

  it('RFC 8414 metadata is the same document', async () => {
    const openid = (await inject('GET', '/.well-known/openid-configuration')).json();
    const oauth = await inject('GET', '/.well-known/oauth-authorization-server');
    expect(oauth.statusCode).toBe(200);
    expect(oauth.json()).toEqual(openid);
  });

  it('names the issuer\'s endpoints whatever Host or X-Forwarded-* a client sends', async () => {
    const res = await inject('GET', '/.well-known/openid-configuration', { headers: { host: 'evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'http' } });
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toContain('evil.example');
    expect(res.json().token_endpoint).toBe(`${ISSUER}/oidc/token`);
  });
});

describe('the JWKS', () => {
  it('publishes one ES256 and one RS256 public key, the stored ones, without any private part', async () => {
    const res = await inject('GET', '/oidc/jwks');
    expect(res.statusCode).toBe(200);
    const { keys } = res.json() as { keys: Record<string, unknown>[] };
    expect(keys.map((k) => [k.alg, k.kty, k.use])).toEqual([
      ['ES256', 'EC', 'sig'],
      ['RS256', 'RSA', 'sig'],
    ]);
    expect(keys[0]).toMatchObject({ crv: 'P-256' });
    for (const key of keys) for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']) expect(key).not.toHaveProperty(member);
    const stored = await node.h.ctx.db.selectFrom('oidc_signing_keys').select(['kid', 'alg', 'public_jwk', 'private_jwk', 'state']).orderBy('alg').execute();
    expect(stored.map((k) => [k.alg, k.state])).toEqual([
      ['ES256', 'current'],
      ['RS256', 'current'],
    ]);
    expect(keys.map((k) => k.kid).sort()).toEqual(stored.map((k) => k.kid).sort());
    for (const k of stored) {
      expect(JSON.parse(k.public_jwk)).toEqual(keys.find((p) => p.kid === k.kid));
      // The private half is sealed at rest: no JWK member of it is readable in the row.
      expect(k.private_jwk).toMatch(/^v1\./);
      expect(k.private_jwk).not.toContain('"d"');
      expect(JSON.parse(node.h.ctx.secrets.open(k.private_jwk, `oidc_signing_key:${k.kid}`).toString())).toHaveProperty('d');
    }
  });
});

describe('bad requests get OAuth errors, never a 5xx', () => {
  let before: Awaited<ReturnType<typeof dbState>>;
  beforeAll(async () => {
    await inject('GET', '/oidc/jwks'); // the keys exist
    before = await dbState(node.h);
  });

  it('an unknown client at the authorization endpoint: an error page, no redirect anywhere', async () => {
    const res = await inject('GET', authUrl({ client_id: 'nobody', redirect_uri: 'https://attacker.example/cb', response_type: 'code', scope: 'openid' }), { headers: { accept: 'text/html' } });
    expect(res.statusCode).toBe(400);
    expect(res.headers.location).toBeUndefined();
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toContain('invalid_client');
    expect(res.body).not.toContain('attacker.example');
  });

  it('a known client with an unregistered redirect_uri: refused without a redirect', async () => {
    for (const uri of ['https://portal.example/callback/../elsewhere', 'https://portal.example/callback?x=1', 'https://attacker.example/callback']) {
      const res = await inject('GET', authUrl({ client_id: 'portal', redirect_uri: uri, response_type: 'code', scope: 'openid' }), { headers: { accept: 'text/html' } });
      expect(res.statusCode, uri).toBe(400);
      expect(res.headers.location).toBeUndefined();
      expect(res.body).toContain('invalid_redirect_uri');
    }
  });

  it('a request without redirect_uri is refused, even for a client with one registered URI', async () => {
    const res = await inject('GET', authUrl({ client_id: 'portal', response_type: 'code', scope: 'openid' }), { headers: { accept: 'text/html' } });
    expect(res.statusCode).toBe(400);
    expect(res.headers.location).toBeUndefined();
    expect(res.body).toContain('invalid_request');
    expect(res.body).toContain('missing required parameter');
  });

  it('a public client without PKCE, or with the plain method, is sent back with invalid_request (RFC 6749 4.1.2.1)', async () => {
    const base = { client_id: 'spa', redirect_uri: 'https://spa.example/callback', response_type: 'code', scope: 'openid', state: 'st-1' };
    for (const extra of [{}, { code_challenge: challenge(), code_challenge_method: 'plain' }] as Record<string, string>[]) {
      const res = await inject('GET', authUrl({ ...base, ...extra }));
      expect(res.statusCode).toBe(303);
      const back = new URL(res.headers.location as string);
      expect(back.origin + back.pathname).toBe('https://spa.example/callback');
      expect(back.searchParams.get('error')).toBe('invalid_request');
      expect(back.searchParams.get('state')).toBe('st-1');
      expect(back.searchParams.get('iss')).toBe(ISSUER);
    }
  });

  it('response types other than code are refused (no implicit or hybrid flow)', async () => {
    const res = await inject('GET', authUrl({ client_id: 'portal', redirect_uri: 'https://portal.example/callback', response_type: 'id_token token', scope: 'openid', nonce: 'n' }));
    expect(res.statusCode).toBe(303);
    // In the fragment: the response mode of the type asked for.
    const back = new URL(res.headers.location as string);
    expect(back.origin + back.pathname).toBe('https://portal.example/callback');
    expect(new URLSearchParams(back.hash.slice(1)).get('error')).toBe('unsupported_response_type');
  });

  it('the token endpoint: no client, a wrong secret, an unknown grant type, a made-up code, a JSON body', async () => {
    const cases: [Record<string, string>, string, number, string][] = [
      [form, 'grant_type=authorization_code&code=x&redirect_uri=https%3A%2F%2Fportal.example%2Fcallback', 400, 'invalid_request'],
      [{ ...form, authorization: basic('portal', 'wrong-secret') }, 'grant_type=authorization_code&code=x&redirect_uri=https%3A%2F%2Fportal.example%2Fcallback', 401, 'invalid_client'],
      [{ ...form, authorization: basic('nobody', 'x') }, 'grant_type=authorization_code&code=x', 401, 'invalid_client'],
      [{ ...form, authorization: basic('portal', PORTAL.metadata.client_secret) }, 'grant_type=password&username=a&password=b', 400, 'unsupported_grant_type'],
      [{ ...form, authorization: basic('portal', PORTAL.metadata.client_secret) }, 'grant_type=authorization_code&code=made-up&redirect_uri=https%3A%2F%2Fportal.example%2Fcallback', 400, 'invalid_grant'],
      [{ ...form, authorization: basic('portal', PORTAL.metadata.client_secret) }, 'grant_type=refresh_token&refresh_token=made-up', 400, 'invalid_grant'],
      [{ ...form, authorization: basic('portal', PORTAL.metadata.client_secret) }, 'grant_type=authorization_code&grant_type=refresh_token', 400, 'invalid_request'],
      [{ 'content-type': 'application/json', authorization: basic('portal', PORTAL.metadata.client_secret) }, '{"grant_type":"authorization_code"}', 400, 'invalid_request'],
      // A public client presenting a secret it does not have.
      [{ ...form, authorization: basic('spa', 'x') }, 'grant_type=authorization_code&code=x', 401, 'invalid_client'],
    ];
    for (const [headers, payload, status, error] of cases) {
      const res = await inject('POST', '/oidc/token', { headers, payload });
      expect([res.statusCode, res.json().error], payload).toEqual([status, error]);
      expect(res.json().error_description, payload).toEqual(expect.any(String));
      expect(res.headers['cache-control']).toBe('no-store');
    }
  });

  it('the token endpoint takes no CSRF token and no session (OAuth clients are not browsers); a browser origin is the provider\'s CORS call', async () => {
    const payload = 'grant_type=authorization_code&code=made-up&redirect_uri=https%3A%2F%2Fportal.example%2Fcallback';
    const auth = basic('portal', PORTAL.metadata.client_secret);
    const plain = await inject('POST', '/oidc/token', { headers: { ...form, authorization: auth }, payload });
    expect(plain.json()).toMatchObject({ error: 'invalid_grant' });
    // A confidential client's secret used from a web page of another origin: refused by oidc-provider's client-based CORS.
    const fromPage = await inject('POST', '/oidc/token', { headers: { ...form, authorization: auth, origin: 'https://other.example' }, payload });
    expect([fromPage.statusCode, fromPage.json().error]).toEqual([400, 'invalid_request']);
    expect(fromPage.json().error_description).toMatch(/origin .* not allowed/);
  });

  it('userinfo and revocation without credentials', async () => {
    const userinfo = await inject('GET', '/oidc/userinfo');
    expect(userinfo.statusCode).toBe(401);
    expect([userinfo.headers['www-authenticate']].flat()[0]).toMatch(/^Bearer realm="https:\/\/tessera\.example"/);
    const bogus = await inject('GET', '/oidc/userinfo', { headers: { authorization: 'Bearer made-up-token' } });
    expect([bogus.statusCode, bogus.json().error]).toEqual([401, 'invalid_token']);
    const revoke = await inject('POST', '/oidc/token/revocation', { headers: form, payload: 'token=x' });
    expect([revoke.statusCode, revoke.json().error]).toEqual([400, 'invalid_request']);
    const wrong = await inject('POST', '/oidc/token/revocation', { headers: { ...form, authorization: basic('portal', 'wrong') }, payload: 'token=x' });
    expect([wrong.statusCode, wrong.json().error]).toEqual([401, 'invalid_client']);
  });

  it('paths of the door that the provider does not serve, and a wrong method, are the JSON 404 (not a web page)', async () => {
    for (const [method, url] of [
      ['GET', '/oidc/nothing-here'],
      ['GET', '/oidc/token'],
      ['POST', '/oidc/jwks'],
      ['GET', '/oidc/reg'],
    ] as const) {
      const res = await inject(method as 'GET', url, { headers: form, payload: method === 'POST' ? 'a=b' : undefined });
      expect([res.statusCode, res.json().error], `${method} ${url}`).toEqual([404, 'NOT_FOUND']);
    }
  });

  it('the interaction page answers 404 for an interaction that does not exist, 400 for a malformed id', async () => {
    const unknown = await inject('GET', '/oidc/interaction/no-such-interaction');
    expect([unknown.statusCode, unknown.json().error]).toEqual([404, 'INTERACTION_NOT_FOUND']);
    const malformed = await inject('GET', `/oidc/interaction/${encodeURIComponent('a b<c>')}`);
    expect([malformed.statusCode, malformed.json().error]).toEqual([400, 'VALIDATION_FAILED']);
  });

  it('none of the above wrote anything', async () => {
    expect(await dbState(node.h)).toEqual(before);
  });
});

describe('the provider\'s pages', () => {
  it('carry the security headers, with a CSP that lets form_post reach the application', async () => {
    const res = await inject('GET', authUrl({ client_id: 'nobody', response_type: 'code', scope: 'openid' }), { headers: { accept: 'text/html' } });
    const csp = res.headers['content-security-policy'] as string;
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('form-action');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });

  it('the interaction page serves only the browser that made the sign-in request (its interaction cookie)', async () => {
    const start = await inject('GET', authUrl({ client_id: 'portal', redirect_uri: 'https://portal.example/callback', response_type: 'code', scope: 'openid', code_challenge: challenge(), code_challenge_method: 'S256' }));
    expect(start.statusCode).toBe(303);
    const location = start.headers.location as string;
    expect(location).toMatch(/^\/oidc\/interaction\/[A-Za-z0-9_-]+$/);
    // The interaction is a row of the adapter's table.
    const uid = location.split('/').pop()!;
    expect(await node.h.ctx.db.selectFrom('oidc_payloads').select('model').where('id', '=', uid).executeTakeFirst()).toEqual({ model: 'Interaction' });
    // Another browser (no cookie, or another request's) is answered as if there were no such sign-in.
    const stranger = await inject('GET', location);
    expect([stranger.statusCode, stranger.json().error]).toEqual([404, 'INTERACTION_NOT_FOUND']);
    // The browser that started it goes on (the portal's firm does not exist here: the request ends, back through the provider).
    const cookie = [start.headers['set-cookie']].flat().map((c) => String(c).split(';')[0]).join('; ');
    const own = await inject('GET', location, { headers: { cookie } });
    expect(own.statusCode).toBe(303);
    expect(own.headers.location).toBe(`${ISSUER}/oidc/auth/${uid}`);
  });
});

describe('while the database is away', () => {
  let away: OidcNode;
  beforeAll(async () => {
    // The Applications registry reads the database; here it fails as pg does when PostgreSQL is down.
    const down = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    away = await startOidcNode({ clients: { findClient: async () => Promise.reject(down) } });
    await away.provider();
  });
  afterAll(() => away?.h.close());

  it('the provider answers 503 temporarily_unavailable with Retry-After, not a server error', async () => {
    const token = await away.h.app.inject({ method: 'POST', url: '/oidc/token', headers: { ...form, authorization: basic('portal', 'x') }, payload: 'grant_type=authorization_code&code=x' });
    expect([token.statusCode, token.json().error]).toEqual([503, 'temporarily_unavailable']);
    expect(token.headers['retry-after']).toBe('5');
    const page = await away.h.app.inject({ method: 'GET', url: authUrl({ client_id: 'portal', response_type: 'code', scope: 'openid' }), headers: { accept: 'text/html' } });
    expect(page.statusCode).toBe(503);
    expect(page.headers['retry-after']).toBe('5');
    expect(page.headers.location).toBeUndefined();
    expect(page.body).toContain('temporarily_unavailable');
  });
});
