import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { systemActor, type Actor } from '../../src/audit/audit.service.js';
import type { Authentication } from '../../src/core/completion.js';
import { isEnrolled } from '../../src/core/enrolled.js';
import { AppError, type ErrorCode } from '../../src/core/errors.js';
import type { LoginAttempt } from '../../src/core/login-attempt.js';
import { passwordStep } from '../../src/core/password-step.js';
import { answerSecondFactor, factorsFor, type SecondFactorSubject } from '../../src/core/second-factor.js';
import type { CodeMethod, LoginMethod } from '../../src/factors/kinds.js';
import { isMfaEnabled, loadMfaPolicy } from '../../src/mfa-policy/mfa-policy.js';
import { ACR } from '../../src/oidc/accounts.js';
import { api } from './fixtures.js';
import { Agent, type Harness, type TestFirm } from './harness.js';
import { Browser, ISSUER, listenAsOidcNode, relyingParty, throughLogin, type OidcNode } from './oidc.js';

/**
 * Door drivers: one login, said once, run against the core and then through each front door
 * (DESIGN.md, "Tests of a rule run once against the core and once per door"). A rule test
 * (test/login-rules.test.ts) speaks only these terms: a client (a browser, or whatever a door's
 * caller keeps between requests) signs in and answers the second factor, and gets a normalized
 * outcome back, whatever the wire format.
 *
 * Adding a door is one entry in DRIVERS: an object with `name`, what it `supports`, `setUpFirm`
 * when it needs something of a firm first, and `client(h)` returning a DoorClient that translates
 * signIn / answer into the door's requests and its answers back into SignInOutcome / AnswerOutcome.
 * The drivers here: the core, the web door, the OIDC door (oidcDriver below).
 * A rule a door cannot express (an OIDC application has no operators) is left out of that
 * door's table by `supports`, not skipped.
 *
 * To come, the Duo Auth API (src/duo/auth-api.service.ts, merged from duo-auth at 6374603). The
 * interface fits (setUpFirm registers a `duo_auth_api` application through POST /admin/applications
 * and keeps its ikey/skey; signIn is /auth/v2/preauth with `username` = the address; answer is
 * /auth/v2/auth with `factor=passcode`), with these to settle first:
 *   - outcomes: `allow` -> signed_in (subjectId: the user of that address in the firm, read from
 *     the directory: Duo's answers carry no user id; bypassed: status_msg is
 *     reasonMeaning('no_seat_bypass').duoStatusMsg, or /auth's status `bypass`), `auth` ->
 *     second_factor (a `mobile_otp` capability is totp, `push` is push, and backup_code always:
 *     Duo's passcode factor takes them), `enroll` -> enroll, `deny` -> refused; /auth's `deny`
 *     with status `locked_out` -> MFA_LOCKED, `deny` "Incorrect passcode" -> INVALID_CODE.
 *   - Duo checks no password (the application does its own primary authentication), so a
 *     `password` entry in `supports` (false for Duo) must leave out the rows of a wrong password,
 *     the disabled user refused like one (Duo says "Your account is disabled."), and another firm's
 *     user (Duo: an unknown user, answered by the application's new user policy).
 *   - Duo's deny carries no attempts left: the wrong-code and lockout rows need `attemptsLeft` in
 *     `supports` (false), or a Refused whose attemptsLeft is asserted only where a door says it.
 *   - The audit: preauth records `duo.preauth` with the reason, not the core's
 *     `login.password_accepted`, and an `allow` on the password alone no `login.succeeded` (the
 *     door calls decideAfterPassword itself, not passwordStep); only a passcode at /auth ends in
 *     the core's completion (`login.succeeded`). So the rows' `lastLogin` checks fail for it:
 *     either the door records the core's login events too, or the rows read a door-neutral
 *     "last decision" (event and reason).
 *   - A rule in the door: preauth and auth deny a locked user before the second factor
 *     (`lockedUntil` in the door), where the core asks for it and refuses the answer with
 *     MFA_LOCKED; the lockout row's "the next login is asked, then refused" differs. Either the
 *     core's decision gains the check for every door, or the Duo door drops its own.
 *   - Requests are signed and dated: the official clients date by the real clock and the door
 *     checks the date against ctx.clock, so the rule harness's clock (a fixed day in 2026) needs
 *     an offset clock as in duo-server.ts, or the driver signs with its own dated requests.
 *     And the door wants HTTPS for the official clients (a TLS node, test/support/tls.ts).
 *   - supports: `{ operators: false, rememberedBrowser: false }` (no browser to remember).
 */

/** Who signs in: a firm user (at their firm's short name, or another firm's), or an operator. */
export type Login = { realm: 'firm'; email: string; firmSlug: string; password: string } | { realm: 'operator'; email: string; password: string };

/** What a door answered to the password, in the core's terms. */
export type SignInOutcome =
  /** Signed in on the password alone; `bypassed`: because no seat was free (reference A.2.7). */
  | { result: 'signed_in'; subjectId: string; bypassed: boolean }
  /** The second factor is asked, with the methods this subject can answer with. */
  | { result: 'second_factor'; methods: LoginMethod[] }
  | { result: 'enroll' }
  | Refused;

/** What a door answered to a second factor. */
export type AnswerOutcome = { result: 'signed_in'; subjectId: string } | Refused;

export interface Refused {
  result: 'refused';
  code: ErrorCode | string;
  /** Wrong codes left before the lockout (a refused passcode). */
  attemptsLeft?: number;
}

export interface FactorAnswer {
  method: CodeMethod;
  code: string;
  /** Remember this browser (a door with a browser, when the firm allows it). */
  remember?: boolean;
}

/** One caller of a door: what it keeps between requests (cookies, a remembered browser) lives here. */
export interface DoorClient {
  signIn(login: Login): Promise<SignInOutcome>;
  /** Answers the second factor of the login this client's last signIn left pending. */
  answer(factor: FactorAnswer): Promise<AnswerOutcome>;
}

export interface DoorDriver {
  name: string;
  supports: { operators: boolean; rememberedBrowser: boolean };
  /**
   * What the door needs of a firm before its users sign in through it (the OIDC door: an
   * application of the firm, registered by its superuser). The rule tests' firm fixture runs it
   * before the firm enables MFA, while the superuser may still administer the firm.
   */
  setUpFirm?(h: Harness, f: TestFirm): Promise<void>;
  client(h: Harness): DoorClient;
}

/** The harness environment every driver works with: the OIDC door's issuer (test/support/oidc.ts) as the public URL. */
export const DOORS_ENV = { TESSERA_PUBLIC_URL: ISSUER } as const;

const refusedOf = (err: unknown): Refused => {
  if (!(err instanceof AppError)) throw err;
  const attemptsLeft = err.details?.attemptsLeft;
  return { result: 'refused', code: err.code, ...(typeof attemptsLeft === 'number' ? { attemptsLeft } : {}) };
};

/** Who answers a second factor, read fresh as a door reads it per request. */
async function subjectOf(h: Harness, subject: LoginAttempt['subject']): Promise<SecondFactorSubject> {
  if (subject.type === 'operator') {
    const op = await h.ctx.db.selectFrom('operators').selectAll().where('id', '=', subject.id).executeTakeFirstOrThrow();
    return { ...op, firm_id: null };
  }
  return h.ctx.db.selectFrom('users').selectAll().where('id', '=', subject.id).executeTakeFirstOrThrow();
}

/**
 * The core called directly: src/core/password-step.ts, decision.ts (inside it) and
 * second-factor.ts, no HTTP, no session. The `hold` keeps nothing (a door with no state of its
 * own), so the attempt is the only thing that ties the password to the second factor; the
 * remembered-browser token is kept by the client as a browser keeps its cookie.
 */
export const coreDriver: DoorDriver = {
  name: 'core',
  supports: { operators: true, rememberedBrowser: true },
  client(h) {
    const actor: Actor = { ...systemActor, type: 'anonymous', ip: '198.51.100.20', userAgent: 'core-driver' };
    let attempt: LoginAttempt | null = null;
    let rememberToken: string | undefined;
    return {
      async signIn(login) {
        attempt = null;
        try {
          const { accepted, attempt: opened } = await passwordStep(
            h.ctx,
            { realm: login.realm, email: login.email, password: login.password, firmSlug: login.realm === 'firm' ? login.firmSlug : undefined, actor, rememberToken, door: 'web' },
            async () => ({ value: null, expiresAt: h.clock.now() + 10 * 60_000 }),
          );
          attempt = opened;
          if (accepted.stage === 'full') return { result: 'signed_in', subjectId: accepted.subject.id, bypassed: accepted.bypassed };
          if (accepted.stage === 'enroll') return { result: 'enroll' };
          const { methods } = await factorsFor(h.ctx, await subjectOf(h, opened!.subject));
          return { result: 'second_factor', methods };
        } catch (err) {
          return refusedOf(err);
        }
      },
      async answer(factor) {
        if (!attempt) throw new Error('no login waits for a second factor');
        const subject = await subjectOf(h, attempt.subject);
        try {
          const { authentication, remember } = await answerSecondFactor(
            h.ctx,
            { attempt, subject },
            { ...actor, type: attempt.subject.type, id: subject.id, firmId: subject.firm_id },
            { method: factor.method, answer: factor.code, remember: factor.remember },
            async (_tx, a: Authentication) => a,
          );
          if (remember) rememberToken = remember.token;
          attempt = null;
          return { result: 'signed_in', subjectId: authentication.subject.id };
        } catch (err) {
          return refusedOf(err);
        }
      },
    };
  },
};

/** A 4xx answer of the web API (`{ error, attemptsLeft? }`) as a refusal; anything else is no refusal. */
function refusalOf(status: number, text: string): Refused {
  const body = JSON.parse(text) as { error?: string; attemptsLeft?: number };
  if (status < 400 || status >= 500 || typeof body.error !== 'string') throw new Error(`not a refusal: ${status} ${text}`);
  return { result: 'refused', code: body.error, ...(typeof body.attemptsLeft === 'number' ? { attemptsLeft: body.attemptsLeft } : {}) };
}

/** The web door over HTTP (app.inject): POST /login or /operator/login, GET /mfa/challenge, POST /mfa/verify, GET /me. */
export const webDriver: DoorDriver = {
  name: 'web',
  supports: { operators: true, rememberedBrowser: true },
  client(h) {
    const agent = new Agent(h.app, { ip: '198.51.100.21' });
    const refused = (res: { statusCode: number; body: string }) => refusalOf(res.statusCode, res.body);
    const me = async () => {
      const res = await agent.get(api('/me'));
      if (res.statusCode !== 200) throw new Error(`GET /me after a login: ${res.statusCode} ${res.body}`);
      const body = res.json() as { principal: 'user'; user: { id: string } } | { principal: 'operator'; operator: { id: string } };
      return body.principal === 'user' ? body.user.id : body.operator.id;
    };
    return {
      async signIn(login) {
        const res =
          login.realm === 'firm'
            ? await agent.post(api('/login'), { email: login.email, password: login.password, firm: login.firmSlug })
            : await agent.post(api('/operator/login'), { email: login.email, password: login.password });
        if (res.statusCode !== 200) return refused(res);
        const body = res.json() as { next: 'home' | 'second_factor' | 'enroll'; notice?: string };
        if (body.next === 'home') return { result: 'signed_in', subjectId: await me(), bypassed: body.notice === 'mfa_bypassed_no_seat' };
        if (body.next === 'enroll') return { result: 'enroll' };
        const challenge = await agent.get(api('/mfa/challenge'));
        if (challenge.statusCode !== 200) throw new Error(`GET /mfa/challenge: ${challenge.statusCode} ${challenge.body}`);
        return { result: 'second_factor', methods: (challenge.json() as { methods: LoginMethod[] }).methods };
      },
      async answer(factor) {
        const res = await agent.post(api('/mfa/verify'), { method: factor.method, code: factor.code, ...(factor.remember ? { remember: true } : {}) });
        if (res.statusCode !== 200) return refused(res);
        return { result: 'signed_in', subjectId: await me() };
      },
    };
  },
};

/** Where the rule tests' application sends its users back (registered with it). */
const OIDC_CALLBACK = 'https://rules-app.example/cb';

/** Per harness: the node its OIDC door listens as, and the application of each firm (by short name). */
const oidcNodes = new WeakMap<Harness, Promise<OidcNode>>();
const oidcApplications = new WeakMap<Harness, Map<string, { clientId: string; secret: string }>>();

function oidcNode(h: Harness): Promise<OidcNode> {
  let node = oidcNodes.get(h);
  if (!node) oidcNodes.set(h, (node = listenAsOidcNode(h)));
  return node;
}

/** What the application learnt from a sign-in: the ID token's claims, its signature checked with jose against the provider's JWKS. */
interface IdClaims {
  sub: string;
  amr: string[];
  acr: string;
}

/** An authorization request on its way through Tessera's login: what the application keeps, and where the sign-in page goes back to. */
interface PendingAuthorization {
  rp: client.Configuration;
  clientId: string;
  verifier: string;
  state: string;
  nonce: string;
  /** The sign-in page's way back to the interaction. */
  next: string;
}

/**
 * Was this login the no-seat bypass? The ID token says only "the password alone" (amr ["pwd"]),
 * which a user the configuration does not cover, a remembered browser and the bypass all get; the
 * bypass is the one of a covered user who holds no seat (a remembered browser needs an enrolled
 * user). Read with the core's own facts (coverage, enrolled), not a copy of them.
 */
async function coveredWithoutSeat(h: Harness, userId: string): Promise<boolean> {
  const user = await h.ctx.db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirstOrThrow();
  return isMfaEnabled(await loadMfaPolicy(h.ctx.db, user.firm_id, h.clock.now()), user) && !(await isEnrolled(h.ctx.db, user));
}

/**
 * The OpenID Connect door (src/oidc/): the firm's application, registered by its superuser through
 * POST /admin/applications (setUpFirm), signs a user in with openid-client over real HTTP (the
 * harness listens as a node of the issuer): an authorization request (code flow, PKCE, state,
 * nonce), the interaction sends the browser to Tessera's sign-in page for the application's firm,
 * which posts the password and the second factor to the web API as the pages do; back at the
 * application, the code is redeemed and the ID token checked with jose. `sub` is the subject;
 * `amr` / `acr` must say how the user signed in (["pwd"] and the password class on the password
 * alone; "mfa" and the MFA class after a second factor), else the driver throws.
 *
 * Every signIn sends `prompt=login`: a signIn is a login with the password, and without it a
 * client (a browser) that signed in before would be let through on its Tessera session (single
 * sign-on, test/oidc/login.test.ts) without reaching the password step at all.
 *
 * Left out by `supports`: operators (the door signs in a firm's users to the firm's applications;
 * an operator belongs to no firm and has no application). Remembered browsers are in: the sign-in
 * page is the web door's, so the browser keeps the cookie that remembers it.
 */
export const oidcDriver: DoorDriver = {
  name: 'oidc',
  supports: { operators: false, rememberedBrowser: true },
  async setUpFirm(h, f) {
    const res = await f.admin.post(api('/admin/applications'), { type: 'oidc', name: 'Rules Portal', redirectUris: [OIDC_CALLBACK] });
    if (res.statusCode !== 201) throw new Error(`registering the firm's application: ${res.statusCode} ${res.body}`);
    const { application, secret } = res.json() as { application: { clientId: string }; secret: string };
    if (!oidcApplications.has(h)) oidcApplications.set(h, new Map());
    oidcApplications.get(h)!.set(f.firm.slug, { clientId: application.clientId, secret });
  },
  client(h) {
    const browser = new Browser();
    let pending: PendingAuthorization | null = null;

    /** From the sign-in page's way back, through the interaction to the application: the code redeemed, the ID token checked. */
    const backAtApplication = async (node: OidcNode, a: PendingAuthorization): Promise<IdClaims | Refused> => {
      const { res } = await throughLogin(browser, node, await browser.get(node, a.next), null);
      const location = res.headers.get('location');
      const callback = location ? new URL(location, ISSUER) : null;
      if (res.status !== 303 || !callback || callback.origin + callback.pathname !== OIDC_CALLBACK) {
        throw new Error(`expected the way back to the application, got ${res.status} ${location ?? (await res.text())}`);
      }
      const error = callback.searchParams.get('error');
      if (error) return { result: 'refused', code: error };
      const tokens = await client.authorizationCodeGrant(a.rp, callback, { pkceCodeVerifier: a.verifier, expectedState: a.state, expectedNonce: a.nonce, idTokenExpected: true });
      const { payload } = await jwtVerify(tokens.id_token!, createRemoteJWKSet(new URL(`${node.base}/oidc/jwks`)), { issuer: ISSUER, audience: a.clientId });
      return payload as unknown as IdClaims;
    };

    const expectAuthentication = (claims: IdClaims, secondFactor: boolean) => {
      const said = secondFactor ? claims.amr.includes('mfa') && claims.acr === ACR.mfa : claims.amr.join() === 'pwd' && claims.acr === ACR.password;
      if (!said) throw new Error(`the ID token says amr ${JSON.stringify(claims.amr)}, acr ${claims.acr} after a login ${secondFactor ? 'with' : 'without'} a second factor`);
    };

    return {
      async signIn(login) {
        if (login.realm !== 'firm') throw new Error('the OIDC door signs in firm users only (supports.operators is false)');
        pending = null;
        const node = await oidcNode(h);
        const app = oidcApplications.get(h)?.get(login.firmSlug);
        if (!app) throw new Error(`firm ${login.firmSlug} has no application: create it with the driver's setUpFirm`);
        const rp = await relyingParty(node, app.clientId, {}, client.ClientSecretBasic(app.secret));
        const verifier = client.randomPKCECodeVerifier();
        const [state, nonce] = [client.randomState(), client.randomNonce()];
        const url = client.buildAuthorizationUrl(rp, {
          redirect_uri: OIDC_CALLBACK,
          scope: 'openid',
          prompt: 'login',
          state,
          nonce,
          code_challenge: await client.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
        });
        // To Tessera's sign-in page, for the application's firm.
        const { res, trail } = await throughLogin(browser, node, await browser.get(node, url), null);
        const page = new URL(res.headers.get('location') ?? '/', ISSUER);
        const firm = page.searchParams.get('firm');
        const next = page.searchParams.get('next');
        if (trail.steps.join() !== 'login' || firm !== login.firmSlug || !next) throw new Error(`expected the sign-in page of ${login.firmSlug}, got ${res.status} ${page}`);
        const answer = await browser.api(node, 'POST', '/login', { email: login.email, password: login.password, firm });
        const text = await answer.text();
        if (answer.status !== 200) return refusalOf(answer.status, text);
        const body = JSON.parse(text) as { next: 'home' | 'second_factor' | 'enroll'; notice?: string };
        const authorization = { rp, clientId: app.clientId, verifier, state, nonce, next };
        if (body.next === 'enroll') return { result: 'enroll' };
        if (body.next === 'second_factor') {
          pending = authorization;
          const challenge = await browser.api(node, 'GET', '/mfa/challenge');
          if (challenge.status !== 200) throw new Error(`GET /mfa/challenge: ${challenge.status} ${await challenge.text()}`);
          return { result: 'second_factor', methods: ((await challenge.json()) as { methods: LoginMethod[] }).methods };
        }
        const claims = await backAtApplication(node, authorization);
        if ('result' in claims) return claims;
        expectAuthentication(claims, false);
        const bypassed = await coveredWithoutSeat(h, claims.sub);
        // The sign-in page told the user the same (the web API's notice).
        if (bypassed !== (body.notice === 'mfa_bypassed_no_seat')) throw new Error(`the ID token and the sign-in page disagree on the bypass: ${text}`);
        return { result: 'signed_in', subjectId: claims.sub, bypassed };
      },
      async answer(factor) {
        if (!pending) throw new Error('no login waits for a second factor');
        const node = await oidcNode(h);
        const res = await browser.api(node, 'POST', '/mfa/verify', { method: factor.method, code: factor.code, ...(factor.remember ? { remember: true } : {}) });
        if (res.status !== 200) return refusalOf(res.status, await res.text());
        const claims = await backAtApplication(node, pending);
        pending = null;
        if ('result' in claims) return claims;
        expectAuthentication(claims, true);
        return { result: 'signed_in', subjectId: claims.sub };
      },
    };
  },
};

/** The core first, then each door. The Duo door joins here (see the top of this file). */
export const DRIVERS: readonly DoorDriver[] = [coreDriver, webDriver, oidcDriver];
