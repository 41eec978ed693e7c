import fc from 'fast-check';
import type { FuzzRequest, FuzzRoute, Persona } from './fuzz-requests.js';
import { POLLUTION_KEYS, wellFormed } from './fuzz-requests.js';

/**
 * OAuth-shaped requests for the OpenID Provider's routes (test/fuzz.test.ts): the routes have no
 * JSON schema to start from (their contract is RFC 6749 / OIDC Core), so the requests start from
 * what a real relying party sends — a registered client's id, secret and redirect URI, a real
 * code with its PKCE verifier, real access and refresh tokens, a real interaction — and break it
 * up to three ways: a value replaced by garbage, a parameter dropped, repeated or added, the
 * client authentication wrong or malformed, the content type or size of the body wrong.
 */

/** Real values of one firm's application, minted for each batch. */
export interface OAuthFixture {
  clientId: string;
  secret: string;
  redirectUri: string;
  postLogoutRedirectUri: string;
  code: string;
  verifier: string;
  accessToken: string;
  refreshToken: string;
  idToken: string;
  interactionUid: string;
}

const garbageText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    '\ud800',
    '\u202eevil',
    '😀'.repeat(30),
    '../../etc/passwd',
    '%00%ZZ',
    "' OR 1=1 --",
    '<script>alert(1)</script>',
    '__proto__',
    'javascript:alert(1)',
    'https://attacker.example/cb',
    '//attacker.example',
    'null',
    '-1',
    '1e309',
    'eyJhbGciOiJub25lIn0.e30.',
    'a'.repeat(5000),
    '\r\nLocation: https://attacker.example',
  ),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.constantFrom('a', 'é', '\u0000').map((c) => c.repeat(20_000)),
);

type Params = Record<string, fc.Arbitrary<string>>;

/** Parameters a well-behaved relying party always sends to a route. The others (`plausibleParams`) come and go. */
const REQUIRED: Record<string, string[]> = {
  '/oidc/auth': ['client_id', 'redirect_uri', 'response_type', 'scope', 'code_challenge', 'code_challenge_method'],
  '/oidc/token': ['grant_type', 'code', 'code_verifier', 'redirect_uri'],
  '/oidc/userinfo': [],
  '/oidc/token/revocation': ['token'],
  '/oidc/session/end': ['id_token_hint', 'post_logout_redirect_uri'],
  '/oidc/session/end/confirm': ['xsrf'],
};

/** What a relying party could send to each route. */
function plausibleParams(route: FuzzRoute, fx: OAuthFixture): Params {
  const s = (...values: string[]) => fc.constantFrom(...values);
  switch (route.url) {
    case '/oidc/auth':
      return {
        client_id: s(fx.clientId),
        redirect_uri: s(fx.redirectUri),
        response_type: s('code', 'code', 'code', 'token', 'id_token', 'code id_token', 'none'),
        scope: s('openid', 'openid profile email tessera', 'openid offline_access', 'profile', 'openid unknown_scope'),
        state: fc.string({ minLength: 1, maxLength: 20 }),
        nonce: fc.string({ minLength: 1, maxLength: 20 }),
        code_challenge: s('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', 'short'),
        code_challenge_method: s('S256', 'S256', 'plain', 'S512'),
        prompt: s('login', 'none', 'consent', 'select_account', 'login consent', 'create'),
        max_age: s('0', '60', '-1', 'abc', '99999999999999999999'),
        acr_values: s('urn:tessera:acr:mfa', 'urn:tessera:acr:password', 'urn:other'),
        response_mode: s('query', 'fragment', 'form_post', 'jwt', 'web_message'),
        login_hint: fc.emailAddress(),
        ui_locales: s('en', 'de-DE fr', '*'),
        claims: s('{"id_token":{"amr":null}}', '{', '[]'),
        request: s('eyJhbGciOiJub25lIn0.e30.'),
        request_uri: s('urn:ietf:params:oauth:request_uri:x', 'https://attacker.example/req'),
      };
    case '/oidc/token':
      return {
        grant_type: s('authorization_code', 'authorization_code', 'authorization_code', 'refresh_token', 'refresh_token', 'client_credentials', 'password', 'urn:ietf:params:oauth:grant-type:device_code'),
        code: s(fx.code),
        code_verifier: s(fx.verifier),
        redirect_uri: s(fx.redirectUri),
        refresh_token: s(fx.refreshToken),
        scope: s('openid', 'openid offline_access', 'admin'),
      };
    case '/oidc/userinfo':
      return { access_token: s(fx.accessToken), claims: s('{"userinfo":{"email":null}}') };
    case '/oidc/token/revocation':
      return { token: s(fx.accessToken, fx.refreshToken, 'made-up'), token_type_hint: s('access_token', 'refresh_token', 'id_token', 'x') };
    case '/oidc/session/end':
      return {
        id_token_hint: s(fx.idToken),
        post_logout_redirect_uri: s(fx.postLogoutRedirectUri, 'https://attacker.example/out'),
        client_id: s(fx.clientId),
        state: fc.string({ maxLength: 20 }),
        logout_hint: fc.emailAddress(),
        ui_locales: s('en'),
      };
    case '/oidc/session/end/confirm':
      return { xsrf: fc.string({ maxLength: 40 }), logout: s('yes', 'no', '') };
    default:
      // Discovery, the JWKS, the success page: they take no parameters (any given are ignored).
      return { x: fc.string({ maxLength: 10 }) };
  }
}

/** How the client authenticates at the token, revocation and userinfo endpoints. */
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
function clientAuths(fx: OAuthFixture): fc.Arbitrary<{ note: string; headers: Record<string, string>; params: Record<string, string> }> {
  const a = (note: string, headers: Record<string, string>, params: Record<string, string> = {}) => ({ note, headers, params });
  const right = fc.constantFrom(a('client_secret_basic', { authorization: basic(fx.clientId, fx.secret) }), a('client_secret_post', {}, { client_id: fx.clientId, client_secret: fx.secret }));
  const wrong = fc.constantFrom(
    a('a wrong secret', { authorization: basic(fx.clientId, `${fx.secret}x`) }),
    a('an unknown client', { authorization: basic('no-such-client', fx.secret) }),
    a('Basic without a colon', { authorization: `Basic ${Buffer.from(fx.clientId).toString('base64')}` }),
    a('Basic that is not base64', { authorization: 'Basic %%%%' }),
    a('Basic with broken %-escapes', { authorization: `Basic ${Buffer.from(`%ZZ:%E0%A4%A`).toString('base64')}` }),
    a('Basic, huge', { authorization: `Basic ${'A'.repeat(20_000)}` }),
    a('two methods at once', { authorization: basic(fx.clientId, fx.secret) }, { client_id: fx.clientId, client_secret: fx.secret }),
    a('a client assertion that is not a JWT', {}, { client_id: fx.clientId, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: 'not.a.jwt' }),
    a('none', {}, { client_id: fx.clientId }),
    a('a bearer token', { authorization: `Bearer ${fx.accessToken}` }),
    a('a made-up bearer token', { authorization: 'Bearer made-up' }),
    a('a scheme nobody knows', { authorization: 'Negotiate abc' }),
  );
  return fc.oneof({ weight: 1, arbitrary: right }, { weight: 1, arbitrary: wrong });
}

type Mutation = { note: string; apply: (params: [string, string][]) => [string, string][] };

function mutations(names: string[]): fc.Arbitrary<Mutation> {
  const name = names.length ? fc.constantFrom(...names) : fc.constant('x');
  return fc.oneof(
    fc.tuple(name, garbageText).map(([n, g]) => ({ note: `${n}=${JSON.stringify(g.slice(0, 20))}`, apply: (p: [string, string][]) => p.map(([k, v]): [string, string] => [k, k === n ? g : v]) })),
    name.map((n) => ({ note: `drop ${n}`, apply: (p: [string, string][]) => p.filter(([k]) => k !== n) })),
    // RFC 6749 3.1: a parameter must not be sent twice.
    fc.tuple(name, garbageText).map(([n, g]) => ({ note: `${n} twice`, apply: (p: [string, string][]) => [...p, [n, g] as [string, string]] })),
    fc
      .tuple(fc.oneof(fc.constantFrom<string>(...POLLUTION_KEYS, 'constructor[prototype][polluted]', '__proto__[polluted]', ''), fc.string({ maxLength: 10 })), garbageText)
      .map(([k, g]) => ({ note: `extra ${JSON.stringify(k)}`, apply: (p: [string, string][]) => [...p, [k, g] as [string, string]] })),
  );
}

const form = { note: 'form', contentType: 'application/x-www-form-urlencoded', raw: null };
const otherBodies = fc.constantFrom(
  { note: 'form; charset=utf-8', contentType: 'application/x-www-form-urlencoded; charset=utf-8', raw: null },
  { note: 'JSON', contentType: 'application/json', raw: 'json' },
  { note: 'multipart', contentType: 'multipart/form-data; boundary=x', raw: null },
  { note: 'text/plain', contentType: 'text/plain', raw: null },
  { note: 'no content type', contentType: null, raw: null },
  { note: 'body above 64 KB', contentType: 'application/x-www-form-urlencoded', raw: 'huge' },
  { note: 'broken %-escapes', contentType: 'application/x-www-form-urlencoded', raw: 'a=%ZZ&b=%E0%A4%A&=&&' },
);
const bodies = fc.oneof({ weight: 1, arbitrary: fc.constant(form) }, { weight: 1, arbitrary: otherBodies });

/** Requests for one of the provider's routes (FuzzRoute.oauth), from `persona`s browsers. */
export function oauthRequestsFor(route: FuzzRoute, personas: Persona[], fx: OAuthFixture): fc.Arbitrary<FuzzRequest> {
  const plausible = plausibleParams(route, fx);
  const names = Object.keys(plausible);
  const required = REQUIRED[route.url] ?? [];
  const optional = names.filter((n) => !required.includes(n));
  const post = route.method === 'POST';
  // A browser's pages (the authorization endpoint, logout) are asked for as pages; the rest as JSON, as clients do.
  const accept = ['/oidc/auth', '/oidc/auth/:uid', '/oidc/session/end', '/oidc/session/end/confirm', '/oidc/session/end/success'].includes(route.url) ? 'text/html' : 'application/json';
  return fc
    .record({
      persona: fc.constantFrom(...personas),
      values: fc.record(plausible),
      present: fc.subarray(optional, { maxLength: Math.min(2, optional.length) }),
      // None at all now and then: a request as a relying party would send it, which must work.
      breaks: fc.array(mutations(names), { minLength: 0, maxLength: 3 }),
      auth: clientAuths(fx),
      withAuth: fc.boolean(),
      body: bodies,
      uid: fc.oneof(fc.constant(fx.interactionUid), garbageText.map((g) => encodeURIComponent(wellFormed(g.slice(0, 100))) || 'x')),
    })
    .map(({ persona, values, present, breaks, auth, withAuth, body, uid }) => {
      const notes = [`as ${persona.name}`];
      let params: [string, string][] = [...required, ...present].map((n) => [n, values[n]!]);
      const headers: Record<string, string> = { 'user-agent': 'fuzz', accept };
      if (withAuth || route.url === '/oidc/token' || route.url === '/oidc/token/revocation') {
        Object.assign(headers, auth.headers);
        params.push(...Object.entries(auth.params));
        notes.push(auth.note);
      }
      for (const b of breaks) {
        params = b.apply(params);
        notes.push(b.note);
      }
      const cookies = Object.entries(persona.cookies);
      if (cookies.length) headers.cookie = cookies.map(([k, v]) => `${k}=${v}`).join('; ');
      const encoded = params.map(([k, v]) => `${encodeURIComponent(wellFormed(k))}=${encodeURIComponent(wellFormed(v))}`).join('&');
      const path = route.url.replace(':uid', uid);
      if (!post) return { persona, method: route.method, url: encoded ? `${path}?${encoded}` : path, headers, payload: undefined, malformed: false, mutations: notes };
      notes.push(body.note);
      if (body.contentType) headers['content-type'] = body.contentType;
      const payload = body.raw === 'json' ? JSON.stringify(Object.fromEntries(params)) : body.raw === 'huge' ? `${encoded}&pad=${'a'.repeat(70_000)}` : (body.raw ?? encoded);
      return { persona, method: route.method, url: path, headers, payload, malformed: false, mutations: notes };
    });
}
