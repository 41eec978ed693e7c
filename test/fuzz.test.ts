import { createHash, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { LightMyRequestResponse, RouteOptions } from 'fastify';
import { Secret, TOTP } from 'otpauth';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApplication } from '../src/applications/application.service.js';
import { systemActor } from '../src/audit/audit.service.js';
import { ManualClock } from '../src/clock.js';
import { isDeviceApi } from '../src/device/device.routes.js';
import { isProviderRoute } from '../src/oidc/oidc.routes.js';
import { isDuoApi } from '../src/duo/door.js';
import { isOAuthErrorRoute } from '../src/duo/route-module.js';
import { TOTP_PARAMS } from '../src/factors/totp/totp.factor.js';
import { createFirm } from '../src/firms/firm.service.js';
import { sessionCookieName } from '../src/http/auth.js';
import { createSession, type NewSessionInput } from '../src/sessions/session.service.js';
import { DeviceSimulator } from './support/device-simulator.js';
import { oauthRequestsFor, type OAuthFixture } from './support/fuzz-oauth.js';
import { requestsFor, type FuzzRequest, type FuzzRoute, type Persona } from './support/fuzz-requests.js';
import {
  activateSubscription,
  addCorporation,
  addUser,
  Agent,
  dbState,
  enableMfaForStaff,
  enrollForTest,
  operatorAgent,
  startHarness,
  type Harness,
} from './support/harness.js';
import { api, PHONE } from './support/fixtures.js';

/**
 * Issue 8, part 3: every route of the app gets at least RUNS generated malformed requests
 * (test/support/fuzz-requests.ts), sent by every kind of caller so that handlers are reached
 * and not only the auth gate. For every request: never a 5xx, every 4xx is the app's JSON
 * error `{ error: UPPER_SNAKE, message }`, and a request that the parser, the CSRF check or
 * the route's schema must refuse is refused and changes no row. Requests that are
 * well-formed after all (a valid body with odd unicode, a wrong code) reach the handler,
 * which may act or record the attempt: those are bracketed by snapshots instead.
 *
 * Reproduce a failure with FUZZ_SEED=<seed> (printed in the failure); the default is fixed.
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20261129);
const RUNS = Number(process.env.FUZZ_RUNS ?? 200);

const clock = new ManualClock(Date.UTC(2026, 10, 29, 9, 0, 0));
const routes: FuzzRoute[] = [];
let h: Harness;

/** The routes as the app added them: HEAD twins of GET routes share the handler and are left out. */
function collect(route: RouteOptions): void {
  for (const method of [route.method].flat()) {
    if (method === 'HEAD') continue;
    routes.push({ method, url: route.url, schema: route.schema, device: isDeviceApi(route.url), oauth: isProviderRoute(route.url) || isOAuthErrorRoute(route.url), duo: isDuoApi(route.url) && !isOAuthErrorRoute(route.url) });
  }
}

interface Globals {
  csrf: { cookie: string; token: string };
  operatorId: string;
  firmId: string;
  totpUserId: string;
  enrollUserId: string;
  device: DeviceSimulator;
}
let g: Globals;

beforeAll(async () => {
  // The Applications registry is the OpenID Provider's client source: the application each batch
  // registers is a real client, so the provider's routes are fuzzed past client authentication.
  h = await startHarness({ clock, onRoute: collect });
  await h.app.ready();

  const csrfRes = await h.app.inject({ method: 'GET', url: api('/csrf') });
  const csrfCookie = csrfRes.cookies.find((c) => c.name === 'tessera_csrf')!;

  const op = await operatorAgent(h);
  const operatorId = (await op.get(api('/me'))).json().operator.id as string;

  // A firm with MFA on for staff: a user enrolled with an app (second-factor stage), one not
  // enrolled (enroll stage), and one with the Tessera Authenticator (the signed device API).
  const firm = await newFirm();
  const totpUser = await addUser(h, firm.id, { name: 'Tess Totp', email: `totp-${firm.slug}@example.com`, kind: 'case_manager' });
  const enrollUser = await addUser(h, firm.id, { name: 'Enzo Enrol', email: `enrol-${firm.slug}@example.com`, kind: 'case_manager' }, null);
  const deviceUser = await addUser(h, firm.id, { name: 'Dev Ice', email: `device-${firm.slug}@example.com`, kind: 'case_manager' });

  const t = await loginAt(firm.slug, totpUser.email);
  const begun = (await t.post(api('/mfa/enrollment/totp'), {})).json() as { authenticatorId: string; secret: string };
  const code = TOTP.generate({ ...TOTP_PARAMS, secret: Secret.fromBase32(begun.secret), timestamp: clock.now() });
  const confirmed = await t.post(api(`/mfa/enrollment/totp/${begun.authenticatorId}/confirm`), { code });
  if (confirmed.statusCode !== 200) throw new Error(`TOTP enrolment failed: ${confirmed.body}`);

  const d = await loginAt(firm.slug, deviceUser.email);
  const push = await d.post(api('/mfa/enrollment/push'), { phone: PHONE });
  if (push.statusCode !== 201) throw new Error(`push enrolment failed: ${push.body}`);
  const device = await DeviceSimulator.create(h.app, clock);
  const activated = await device.activate(push.json().activationUrl);
  if (activated.statusCode !== 200) throw new Error(`activation failed: ${activated.body}`);
  await d.post(api(`/mfa/enrollment/push/${push.json().authenticatorId}/complete`));

  g = { csrf: { cookie: csrfCookie.value, token: csrfRes.json().token }, operatorId, firmId: firm.id, totpUserId: totpUser.id, enrollUserId: enrollUser.id, device };
  // The VAPID key pair and the OpenID signing keys are made on first use: make them now, so that no GET below is the first.
  await h.app.inject({ method: 'GET', url: api('/device/vapid-public-key') });
  await h.app.oidc.provider();
}, 60_000);

afterAll(async () => {
  await h?.close();
});

async function newFirm() {
  const slug = `fuzz-${randomUUID().slice(0, 8)}`;
  const { firm, superuser } = await h.ctx.db.transaction().execute((tx) =>
    createFirm(h.ctx, tx, systemActor, { name: `Firm ${slug}`, slug, superuser: { name: 'Sam Super', email: `sam@${slug}.example` } }),
  );
  await activateSubscription(h, firm.id, 10);
  await enableMfaForStaff(h, firm.id);
  return { ...firm, superuser };
}

async function loginAt(slug: string, email: string): Promise<Agent> {
  const agent = new Agent(h.app);
  const res = await agent.post(api('/login'), { email, password: 'correct horse battery staple', firm: slug });
  if (res.json().next !== 'enroll') throw new Error(`expected the enroll stage: ${res.body}`);
  return agent;
}

/**
 * Fresh callers of every kind for one route's batch, in a firm of their own (so that what a
 * well-formed request does, say deleting a user, stays in that batch), and the ids of real rows.
 */
async function callers(route: FuzzRoute): Promise<{ personas: Persona[]; ids: string[]; oauth: OAuthFixture | null }> {
  const firm = await newFirm();
  const member = await addUser(h, firm.id, { name: 'Mo Member', email: `mo@${firm.slug}.example`, kind: 'case_manager' }, null);
  await enrollForTest(h, firm.id, member.id);
  const corporation = await addCorporation(h, firm.id, 'Acme Corp');
  const application = await h.ctx.db.transaction().execute((tx) =>
    createApplication(h.ctx, tx, { ...systemActor, firmId: firm.id }, firm.id, {
      type: 'oidc',
      name: 'Case Portal',
      redirectUris: [PORTAL_REDIRECT_URI],
      postLogoutRedirectUris: [PORTAL_POST_LOGOUT_URI],
    }),
  );
  const authenticator = await h.ctx.db.selectFrom('authenticators').select('id').where('user_id', '=', member.id).executeTakeFirstOrThrow();
  // Lockouts from the previous batch would hide the handlers behind a 423.
  await h.ctx.db.updateTable('users').set({ mfa_failed_count: 0, mfa_locked_until: null }).where('firm_id', '=', g.firmId).execute();

  const now = clock.now();
  const base = { ip: '203.0.113.9', userAgent: 'fuzz', secondFactorAt: now } as const;
  const session = (input: Omit<NewSessionInput, 'ip' | 'userAgent'>) => createSession(h.ctx, h.ctx.db, { ...base, ...input });
  const cookieName = sessionCookieName(h.ctx);
  const withSession = (name: string, token: string | null): Persona => ({
    name,
    cookies: { tessera_csrf: g.csrf.cookie, ...(token ? { [cookieName]: token } : {}) },
    csrfToken: g.csrf.token,
  });
  const personas: Persona[] = [
    withSession('anonymous', null),
    withSession('a firm member', await session({ principal: 'user', userId: member.id, firmId: firm.id, stage: 'full' })),
    withSession('a superuser', await session({ principal: 'user', userId: firm.superuser.id, firmId: firm.id, stage: 'full' })),
    withSession('the operator', await session({ principal: 'operator', operatorId: g.operatorId, stage: 'full' })),
    withSession('a login at the second factor', await session({ principal: 'user', userId: g.totpUserId, firmId: g.firmId, stage: 'second_factor', secondFactorAt: null })),
    withSession('a login at enrolment', await session({ principal: 'user', userId: g.enrollUserId, firmId: g.firmId, stage: 'enroll', secondFactorAt: null })),
  ];
  if (route.device) {
    personas.push({
      name: 'the Tessera Authenticator',
      cookies: {},
      csrfToken: null,
      sign: (method, url, payload) => g.device.signatureHeaders(method, url, payload),
    });
  }
  const oauth = route.oauth ? await oauthFixture(application.application.clientId, application.secret!, member.id) : null;
  return { personas, ids: [firm.id, firm.superuser.id, member.id, corporation.id, authenticator.id, application.application.id], oauth };
}

const PORTAL_REDIRECT_URI = 'https://portal.example/cb';
const PORTAL_POST_LOGOUT_URI = 'https://portal.example/signed-out';

/**
 * Real artefacts of a sign-in to the batch's application, so that the provider's routes are
 * reached with values that work until the fuzzer breaks them: an interaction, a code with its
 * PKCE verifier, and the tokens of another code (access, refresh, ID token). The codes are
 * minted through the provider's own models, as the login would have them issued.
 */
async function oauthFixture(clientId: string, secret: string, accountId: string): Promise<OAuthFixture> {
  const provider = await h.app.oidc.provider();
  const client = await provider.Client.find(clientId);
  if (!client) throw new Error('the registry did not give the provider its client');
  const start = await h.app.inject({
    method: 'GET',
    url: `/oidc/auth?${new URLSearchParams({ client_id: clientId, redirect_uri: PORTAL_REDIRECT_URI, response_type: 'code', scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })}`,
  });
  const interactionUid = /\/oidc\/interaction\/([\w-]+)$/.exec(String(start.headers.location))?.[1];
  if (!interactionUid) throw new Error(`no interaction: ${start.statusCode} ${start.body}`);
  const code = async () => {
    const grant = new provider.Grant({ clientId, accountId });
    grant.addOIDCScope('openid offline_access');
    const grantId = await grant.save();
    const verifier = randomUUID() + randomUUID();
    const value = await new provider.AuthorizationCode({
      client,
      grantId,
      accountId,
      redirectUri: PORTAL_REDIRECT_URI,
      scope: 'openid offline_access',
      codeChallenge: createHash('sha256').update(verifier).digest('base64url'),
      codeChallengeMethod: 'S256',
      authTime: Math.floor(Date.now() / 1000),
      acr: 'urn:tessera:acr:mfa',
      amr: ['pwd', 'otp', 'mfa'],
      gty: 'authorization_code',
    }).save();
    return { value, verifier };
  };
  const redeemed = await code();
  const tokens = await h.app.inject({
    method: 'POST',
    url: '/oidc/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}` },
    payload: new URLSearchParams({ grant_type: 'authorization_code', code: redeemed.value, redirect_uri: PORTAL_REDIRECT_URI, code_verifier: redeemed.verifier }).toString(),
  });
  if (tokens.statusCode !== 200) throw new Error(`could not redeem a minted code: ${tokens.body}`);
  const { access_token, refresh_token, id_token } = tokens.json() as Record<string, string>;
  const fresh = await code();
  return {
    clientId,
    secret,
    redirectUri: PORTAL_REDIRECT_URI,
    postLogoutRedirectUri: PORTAL_POST_LOGOUT_URI,
    code: fresh.value,
    verifier: fresh.verifier,
    accessToken: access_token!,
    refreshToken: refresh_token!,
    idToken: id_token!,
    interactionUid,
  };
}

/**
 * Where the provider may send a browser: its own pages, or a URI the application registered.
 * Anything else would make Tessera an open redirector (RFC 6749 10.15, RFC 9700 4.1).
 */
function redirectProblemOf(res: LightMyRequestResponse): string | null {
  if (res.statusCode < 300 || res.statusCode >= 400) return null;
  const location = String(res.headers.location ?? '');
  const allowed = [PORTAL_REDIRECT_URI, PORTAL_POST_LOGOUT_URI].some((uri) => location === uri || location.startsWith(`${uri}?`) || location.startsWith(`${uri}#`));
  const ownPage = /^\/oidc\//.test(location) || location.startsWith(`${h.ctx.config.publicUrl.origin}/oidc/`);
  return allowed || ownPage ? null : `${res.statusCode} redirect to ${location.slice(0, 200)}`;
}

/** Stable per route, so adding a route does not change the requests of the others. */
const seedOf = (route: FuzzRoute) => SEED ^ createHash('sha256').update(`${route.method} ${route.url}`).digest().readInt32BE(0);

let ipCounter = 0;
async function send(r: FuzzRequest): Promise<LightMyRequestResponse> {
  const headers = { ...r.headers };
  if (r.persona.sign && !('x-tessera-signature' in headers)) Object.assign(headers, await r.persona.sign(r.method, r.url, r.payload));
  // Different addresses, so that throttling (itself fine) does not hide the handlers.
  const ip = `198.51.100.${ipCounter++ % 250}`;
  return h.app.inject({ method: r.method as 'GET', url: r.url, headers, payload: r.payload, remoteAddress: ip });
}

const ERROR_CODE = /^[A-Z][A-Z0-9_]*$/;
/** RFC 6749 5.2 / appendix A.7: error codes are lower-case ASCII words joined by underscores. */
const OAUTH_ERROR_CODE = /^[a-z]+(_[a-z]+)*$/;

/**
 * The OpenID Provider's routes follow OAuth 2.0, not the API: a server must ignore parameters
 * it does not know (RFC 6749 3.1), so "malformed" by the API's rules may well be answered 2xx;
 * errors are `{ error, error_description }` (RFC 6749 5.2), or a page where the browser cannot be
 * sent back to the application. Fastify's own refusals before the provider (a broken URL) keep
 * the API's shape. Never a 5xx.
 */
function oauthProblemOf(res: LightMyRequestResponse): string | null {
  if (res.statusCode >= 500) return `${res.statusCode}: ${res.body.slice(0, 300)}`;
  if (res.statusCode < 400) return null;
  if (String(res.headers['content-type']).startsWith('text/html')) {
    // response_mode=form_post: the error goes back to the application as an auto-submitted form,
    // which must post to the URI it registered and nowhere else.
    const formPost = /<form method="post" action="([^"]*)">/.exec(res.body)?.[1];
    if (formPost !== undefined) return formPost.replace(/&amp;/g, '&') === PORTAL_REDIRECT_URI ? null : `${res.statusCode} form_post to ${formPost.slice(0, 200)}`;
    return /<h1>[^<]+<\/h1>/.test(res.body) ? null : `${res.statusCode} page without a heading: ${res.body.slice(0, 200)}`;
  }
  let body: { error?: unknown; error_description?: unknown; message?: unknown };
  try {
    body = res.json();
  } catch {
    return `${res.statusCode} neither JSON nor a page: ${res.headers['content-type']} ${res.body.slice(0, 200)}`;
  }
  const oauth = typeof body.error === 'string' && OAUTH_ERROR_CODE.test(body.error) && body.error !== 'server_error' && (body.error_description === undefined || typeof body.error_description === 'string');
  const api = typeof body.error === 'string' && ERROR_CODE.test(body.error) && typeof body.message === 'string';
  return oauth || api ? null : `${res.statusCode} not an OAuth error: ${res.body.slice(0, 300)}`;
}

/** A Duo route's refusal is Duo's envelope: `{"stat":"FAIL","code":<5 digits>,"message":...}`, its HTTP status the code's first three digits, never 5xx. */
function duoProblemOf(res: LightMyRequestResponse): string | null {
  if (res.statusCode >= 500) return `${res.statusCode}: ${res.body.slice(0, 300)}`;
  if (res.statusCode < 400) return null;
  let body: { stat?: unknown; code?: unknown; message?: unknown };
  try {
    body = res.json();
  } catch {
    return `${res.statusCode} without a JSON body: ${res.body.slice(0, 200)}`;
  }
  const ok = body.stat === 'FAIL' && typeof body.code === 'number' && Math.floor(body.code / 100) === res.statusCode && typeof body.message === 'string';
  return ok ? null : `${res.statusCode} not Duo's envelope: ${res.body.slice(0, 300)}`;
}

/** What is wrong with one answer, or null. */
function problemOf(r: FuzzRequest, res: LightMyRequestResponse, route?: FuzzRoute): string | null {
  if (route?.oauth) return oauthProblemOf(res);
  if (route?.duo) return r.malformed && res.statusCode < 400 ? `malformed but answered ${res.statusCode}: ${res.body.slice(0, 300)}` : duoProblemOf(res);
  if (res.statusCode >= 500) return `${res.statusCode}: ${res.body.slice(0, 300)}`;
  if (r.malformed && (res.statusCode < 400 || res.statusCode >= 500)) return `malformed but answered ${res.statusCode}: ${res.body.slice(0, 300)}`;
  if (res.statusCode >= 400) {
    let body: unknown;
    try {
      body = res.json();
    } catch {
      return `${res.statusCode} without a JSON body: ${res.headers['content-type']} ${res.body.slice(0, 200)}`;
    }
    const e = body as { error?: unknown; message?: unknown };
    if (typeof e.error !== 'string' || !ERROR_CODE.test(e.error) || e.error === 'INTERNAL' || typeof e.message !== 'string' || !/\S/.test(e.message)) {
      return `${res.statusCode} not the error shape: ${res.body.slice(0, 300)}`;
    }
    if ('statusCode' in e || 'code' in e || 'stack' in e) return `${res.statusCode} leaks framework fields: ${res.body.slice(0, 300)}`;
  }
  return null;
}

const describeRequest = (r: FuzzRequest) => `${r.method} ${r.url.slice(0, 120)} [${r.mutations.join('; ')}]`;

/** dbState, each table as text (compared many times). */
const fullSnapshot = async () => Object.fromEntries(Object.entries(await dbState(h)).map(([t, rows]) => [t, JSON.stringify(rows)]));

/**
 * A cheap, sound "did anything change" for the dbState tables, so that the full snapshot is
 * read only when something did: SQLite counts every row the (one) connection changed;
 * PostgreSQL gives each written row a new xmin, so per table the row count and the newest
 * xmin move on any insert, update or delete.
 */
async function fingerprint(tables: string[]): Promise<string> {
  if (h.ctx.config.database.kind === 'sqlite') return String((await sql<{ n: number }>`select total_changes() as n`.execute(h.ctx.db)).rows[0]!.n);
  const parts = tables.map((t) => `select '${t}' as t, count(*)::text || ':' || coalesce(max(xmin::text::bigint), 0)::text as f from ${t}`);
  return JSON.stringify((await sql<{ t: string; f: string }>`${sql.raw(parts.join(' union all '))}`.execute(h.ctx.db)).rows);
}

let last: { print: string; state: Record<string, string> } | null = null;
/** The dbState tables as text; read again only when the fingerprint moved. */
async function snapshot(): Promise<Record<string, string>> {
  if (last && last.print === (await fingerprint(Object.keys(last.state)))) return last.state;
  const state = await fullSnapshot();
  last = { print: await fingerprint(Object.keys(state)), state };
  return state;
}

/** The tables that differ between two snapshots. */
const changedTables = (a: Record<string, string>, b: Record<string, string>) => Object.keys(a).filter((t) => a[t] !== b[t]);

/** What a refused but well-formed attempt may write: the audit trail, failure counters, a lockout notice. */
const ATTEMPT_RECORDS = new Set(['audit_events', 'users', 'mail_outbox']);

const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();
const stats = { requests: 0, malformed: 0, accepted: 0, routes: 0 };
/** Successful answers of the provider's routes, by route: the OAuth-shaped requests reach past client authentication. */
const oauthAccepted = new Map<string, number>();

describe('fuzzing every route', () => {
  it('finds the routes from the app itself (documented or not)', () => {
    const seen = routes.map((r) => `${r.method} ${r.url}`);
    // The API, the device API, the operator's routes and the non-API routes are all there.
    for (const r of ['POST /api/v1/login', 'POST /api/v1/device/transactions/:id/answer', 'GET /api/v1/operator/firms', 'GET /api/docs/json']) expect(seen).toContain(r);
    expect(new Set(seen).size).toBe(seen.length);
    const documented = Object.entries((h.app.swagger() as { paths: Record<string, object> }).paths).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.replace(/\{([^}]+)\}/g, ':$1')}`),
    );
    for (const d of documented) expect(seen).toContain(d);
  });

  // vitest collects the tests before beforeAll runs: one test that walks the routes.
  it(`sends ${RUNS} malformed requests to every route: no 5xx, the JSON error shape, no change when refused`, async () => {
    const failures: string[] = [];
    const started = Date.now();
    for (const route of routes) {
      const { personas, ids, oauth } = await callers(route);
      const requests = fc.sample(requestsFor(route, personas, ids), { seed: seedOf(route), numRuns: RUNS });
      // The provider's routes also get RUNS / 2 requests in OAuth's own terms (test/support/fuzz-oauth.ts).
      if (oauth) requests.push(...fc.sample(oauthRequestsFor(route, personas, oauth), { seed: seedOf(route) + 1, numRuns: Math.ceil(RUNS / 2) }));
      const title = `${route.method} ${route.url}`;
      const check = async (r: FuzzRequest) => {
        const res = await send(r);
        stats.requests++;
        if (r.malformed) stats.malformed++;
        if (res.statusCode < 400) stats.accepted++;
        if (route.oauth && res.statusCode < 300) oauthAccepted.set(`${route.method} ${route.url}`, (oauthAccepted.get(`${route.method} ${route.url}`) ?? 0) + 1);
        const problem = problemOf(r, res, route) ?? (route.oauth ? redirectProblemOf(res) : null);
        if (problem) failures.push(`${describeRequest(r)} -> ${problem}`);
        return res;
      };
      // The provider keeps its own state in oidc_payloads whatever the request (an interaction for
      // a sign-in request, a session holding the logout form's xsrf secret): nothing else may change.
      const ownState = (tables: string[]) => (route.oauth ? tables.filter((t) => t !== 'oidc_payloads') : tables);

      // Malformed requests must not change one row; well-formed GET requests (a safe method) at
      // most leave an audit event (a refused device signature is audited).
      let before = await snapshot();
      for (const r of requests.filter((x) => x.malformed)) await check(r);
      let after = await snapshot();
      const changed = ownState(changedTables(before, after));
      if (changed.length) failures.push(`${title}: malformed requests changed ${changed.join(', ')}`);
      before = after;
      for (const r of requests.filter((x) => !x.malformed && x.method === 'GET')) await check(r);
      after = await snapshot();
      const wroteOnGet = ownState(changedTables(before, after)).filter((t) => t !== 'audit_events');
      if (wroteOnGet.length) failures.push(`${title}: GET requests changed ${wroteOnGet.join(', ')}`);

      // Well-formed changes reach the handler, which may act (2xx) or refuse and record the
      // attempt (an audit event, a failure counter, a lockout mail); a refusal changes nothing else.
      for (const r of requests.filter((x) => !x.malformed && x.method !== 'GET')) {
        before = after;
        const res = await check(r);
        after = await snapshot();
        const wrote = ownState(changedTables(before, after)).filter((t) => !ATTEMPT_RECORDS.has(t));
        if (res.statusCode >= 400 && wrote.length) failures.push(`${describeRequest(r)} -> ${res.statusCode} ${res.body.slice(0, 100)} but changed ${wrote.join(', ')}`);
      }
      stats.routes++;
      if (process.env.FUZZ_VERBOSE) console.info(`${title}: ${Date.now() - started} ms so far`);
    }
    console.info(
      `fuzz seed ${SEED}: ${stats.routes} routes, ${stats.requests} requests (${stats.malformed} malformed, ${stats.accepted} accepted) in ${Date.now() - started} ms`,
    );
    expect(failures.slice(0, 30), `seed ${SEED}, ${failures.length} failures`).toEqual([]);
    // Some generated requests were good enough to get tokens, claims and a revocation: the fuzzing got past the client checks.
    for (const r of ['POST /oidc/token', 'GET /oidc/userinfo', 'POST /oidc/token/revocation']) expect(oauthAccepted.get(r) ?? 0, r).toBeGreaterThan(0);
  }, 900_000);

  it('sends malformed requests to routes that do not exist: 404 in the JSON error shape', async () => {
    const paths = fc.oneof(
      fc.webPath().map((p) => `/api${p}`),
      fc.webPath().map((p) => `/api/v1${p}`),
      fc.constantFrom('/api/v1/%ZZ', '/api/v1/admin/users/a/b/c', '/api/v1/__proto__', '/api/v1/constructor/prototype', `/api/v1/${'x'.repeat(10_000)}`),
    );
    const requests = fc.sample(fc.tuple(fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'), paths), { seed: SEED, numRuns: RUNS });
    const failures: string[] = [];
    for (const [method, url] of requests) {
      if (routes.some((r) => r.method === method && new RegExp(`^${r.url.replace(/:[^/]+/g, '[^/]+').replace('*', '.*')}$`).test(url.split('?')[0]!))) continue;
      const r: FuzzRequest = { persona: { name: 'anonymous', cookies: {}, csrfToken: null }, method, url, headers: {}, payload: undefined, malformed: true, mutations: [] };
      const problem = problemOf(r, await send(r));
      if (problem) failures.push(`${method} ${url.slice(0, 100)} -> ${problem}`);
    }
    expect(failures.slice(0, 30)).toEqual([]);
  }, 120_000);

  it('leaves Object.prototype unpolluted', () => {
    // (after the other tests: it looks at what they sent)
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeBefore);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(stats.requests).toBeGreaterThanOrEqual(RUNS * routes.length);
  });
});

describe('what the fuzzing found (regressions)', () => {
  const anonymous = (): Persona => ({ name: 'anonymous', cookies: { tessera_csrf: g.csrf.cookie }, csrfToken: g.csrf.token });
  const post = (url: string, payload: string) =>
    send({ persona: anonymous(), method: 'POST', url, headers: { 'content-type': 'application/json', cookie: `tessera_csrf=${g.csrf.cookie}`, 'x-csrf-token': g.csrf.token }, payload, malformed: false, mutations: [] });

  it('JSON nested 30 000 deep inside an open schema (WebAuthn extension outputs) is refused, not a stack overflow', async () => {
    const deep = '['.repeat(30_000) + ']'.repeat(30_000);
    const response = `{"id":"a","rawId":"a","type":"public-key","clientExtensionResults":{"x":${deep}},"response":{"clientDataJSON":"a","authenticatorData":"a","signature":"a"}}`;
    const res = await post(api('/passkey/verify'), `{"challengeId":"${randomUUID()}","response":${response}}`);
    expect(res.statusCode, res.body).toBeGreaterThanOrEqual(400);
    expect(res.statusCode, res.body).toBeLessThan(500);
    expect(res.json()).toEqual({ error: expect.stringMatching(/^[A-Z_]+$/), message: expect.any(String) });
  });

  it('a path that does not percent-decode is 400 MALFORMED_URL in the error shape, on a route and off one', async () => {
    for (const url of [api('/admin/users/%ZZ'), api('/device/transactions/%E0%A4%A/answer'), api('/nowhere/%')]) {
      const res = await h.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(400);
      expect(res.json()).toEqual({ error: 'MALFORMED_URL', message: expect.stringMatching(/\S/) });
    }
  });

  it('/api itself is the API (a JSON 404), not a page of the web apps', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/api' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: 'NOT_FOUND' });
  });
});
