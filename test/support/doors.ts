import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { vi } from 'vitest';
import * as client from 'openid-client';
import { systemActor, type Actor } from '../../src/audit/audit.service.js';
import type { Authentication } from '../../src/core/completion.js';
import { isEnrolled } from '../../src/core/enrolled.js';
import { AppError, type ErrorCode } from '../../src/core/errors.js';
import type { LoginAttempt } from '../../src/core/login-attempt.js';
import { reasonMeaning, type DecisionReason } from '../../src/core/decision.js';
import { passwordStep } from '../../src/core/password-step.js';
import { answerSecondFactor, factorsFor, type SecondFactorSubject } from '../../src/core/second-factor.js';
import { LOGIN_METHODS, type CodeMethod, type LoginMethod } from '../../src/factors/kinds.js';
import { startPush, waitForPush, type PushSubject } from '../../src/factors/push/push.service.js';
import { isMfaEnabled, loadMfaPolicy } from '../../src/mfa-policy/mfa-policy.js';
import { ACR } from '../../src/oidc/accounts.js';
import type { DeviceSimulator } from './device-simulator.js';
import { nodeDuoCall, type DuoKeys, type DuoTarget } from './duo-clients.js';
import { api } from './fixtures.js';
import { Agent, type Harness, type TestFirm } from './harness.js';
import { Browser, ISSUER, listenAsOidcNode, relyingParty, throughLogin, type OidcNode } from './oidc.js';
import { createTestPki } from './tls.js';

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
 * The drivers here: the core, the web door, the OIDC door (oidcDriver below) and the Duo Auth
 * API (duoDriver below). A rule a door cannot express (an OIDC application has no operators, a
 * Duo application checks the password itself) is left out of that door's table by `supports`,
 * not skipped; where a door answers differently by design, the row asks the driver (what it
 * answers for a user it does not know, where a locked second factor is refused, what its audit
 * log says of the decision after the password).
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

export type FactorAnswer =
  | {
      method: CodeMethod;
      code: string;
      /** Remember this browser (a door with a browser, when the firm allows it). */
      remember?: boolean;
    }
  /** A push to the user's Tessera Authenticator, answered on `device` (the simulator) with the number the door showed. */
  | { method: 'push'; device: DeviceSimulator; approve: boolean };

/** The decision after the password (or, at the Duo door, after the application's own primary authentication), in the core's terms. */
export interface Decision {
  next: 'signed_in' | 'second_factor' | 'enroll';
  reason: DecisionReason;
}

/** One caller of a door: what it keeps between requests (cookies, a remembered browser) lives here. */
export interface DoorClient {
  signIn(login: Login): Promise<SignInOutcome>;
  /** Answers the second factor of the login this client's last signIn left pending. */
  answer(factor: FactorAnswer): Promise<AnswerOutcome>;
}

export interface DoorDriver {
  name: string;
  supports: {
    operators: boolean;
    rememberedBrowser: boolean;
    /** The door checks the password itself (the Duo door does not: the application did). */
    password: boolean;
    /** A refused code says how many attempts are left before the lockout (Duo's deny does not). */
    attemptsLeft: boolean;
  };
  /**
   * What the door answers for a user it does not know (an unknown address, another firm's user):
   * the core's doors refuse it exactly like a wrong password; the Duo door answers with the
   * application's new user policy (here "require enrollment", which denies an unknown user).
   */
  unknownUser: Refused;
  /**
   * Where a locked second factor is refused: at the `answer` (the core's doors: the password alone
   * must not tell a guesser that the password was right and the account locked), or already at
   * `sign_in` (the Duo door: the application vouched for the password, and Duo's preauth answers
   * `deny` for a locked-out user, as Duo documents it).
   */
  lockRefusedAt: 'answer' | 'sign_in';
  /** What the audit log says of the decision after the password: the event and details the row expects of the last login event. */
  audited(decision: Decision): { event: string; details: Record<string, unknown> };
  /**
   * What the door needs of a firm before its users sign in through it (the OIDC door: an
   * application of the firm, registered by its superuser). The rule tests' firm fixture runs it
   * before the firm enables MFA, while the superuser may still administer the firm.
   */
  setUpFirm?(h: Harness, f: TestFirm): Promise<void>;
  client(h: Harness): DoorClient;
}

/** The core's doors audit the password step: the login on the password alone, or the password accepted and what comes next. */
const passwordStepAudit = ({ next, reason }: Decision) =>
  next === 'signed_in' ? { event: 'login.succeeded', details: { factors: ['password'], reason } } : { event: 'login.password_accepted', details: { next, reason } };

/** The core's doors: what they share in the rows' questions. */
const CORE_DOOR = {
  unknownUser: { result: 'refused', code: 'INVALID_CREDENTIALS' },
  lockRefusedAt: 'answer',
  audited: passwordStepAudit,
} as const satisfies Pick<DoorDriver, 'unknownUser' | 'lockRefusedAt' | 'audited'>;

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
  supports: { operators: true, rememberedBrowser: true, password: true, attemptsLeft: true },
  ...CORE_DOOR,
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
        const asUser = { ...actor, type: attempt.subject.type, id: subject.id, firmId: subject.firm_id };
        if (factor.method === 'push') {
          // The core's push: sent to the user's devices, answered on the phone with the number shown, then the answer read.
          const login = { attempt, subject: subject as PushSubject };
          try {
            const sent = await startPush(h.ctx, login, asUser, h.app.log);
            await answerOnDevice(factor, sent.number);
            const waited = await waitForPush(h.ctx, login, asUser, sent.transactionId, async (_tx, a: Authentication) => a);
            if (waited.status !== 'approved' || !waited.authentication) return { result: 'refused', code: PUSH_REFUSED[waited.status] ?? `PUSH_${waited.status.toUpperCase()}` };
            attempt = null;
            return { result: 'signed_in', subjectId: waited.authentication.subject.id };
          } catch (err) {
            return refusedOf(err);
          }
        }
        try {
          const { authentication, remember } = await answerSecondFactor(
            h.ctx,
            { attempt, subject },
            asUser,
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

/** A push's end that is no sign-in, as every door reports it. */
const PUSH_REFUSED: Partial<Record<string, string>> = { denied: 'PUSH_DENIED', fraud: 'PUSH_DENIED', expired: 'PUSH_EXPIRED' };

/**
 * The phone: the Tessera Authenticator lists its pending requests (GET /device/transactions, as
 * the app does when notified) and answers the one waiting, with the number the door showed.
 */
async function answerOnDevice(factor: Extract<FactorAnswer, { method: 'push' }>, number: string): Promise<void> {
  const listed = await factor.device.transactions();
  const items = (listed.json() as { items: { id: string }[] }).items;
  if (listed.statusCode !== 200 || items.length !== 1) throw new Error(`the phone expected one pending push: ${listed.statusCode} ${listed.body}`);
  const answered = await factor.device.answer(items[0]!.id, factor.approve ? 'approve' : 'deny', factor.approve ? { number } : {});
  if (answered.statusCode !== 200) throw new Error(`the phone's answer: ${answered.statusCode} ${answered.body}`);
}

/** A 4xx answer of the web API (`{ error, attemptsLeft? }`) as a refusal; anything else is no refusal. */
function refusalOf(status: number, text: string): Refused {
  const body = JSON.parse(text) as { error?: string; attemptsLeft?: number };
  if (status < 400 || status >= 500 || typeof body.error !== 'string') throw new Error(`not a refusal: ${status} ${text}`);
  return { result: 'refused', code: body.error, ...(typeof body.attemptsLeft === 'number' ? { attemptsLeft: body.attemptsLeft } : {}) };
}

/** The web door over HTTP (app.inject): POST /login or /operator/login, GET /mfa/challenge, POST /mfa/verify, GET /me. */
export const webDriver: DoorDriver = {
  name: 'web',
  supports: { operators: true, rememberedBrowser: true, password: true, attemptsLeft: true },
  ...CORE_DOOR,
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
        if (factor.method === 'push') {
          const sent = await agent.post(api('/mfa/push'));
          if (sent.statusCode !== 201) return refused(sent);
          const { transactionId, number } = sent.json() as { transactionId: string; number: string };
          await answerOnDevice(factor, number);
          const waited = await agent.get(api(`/mfa/push/${transactionId}/wait`));
          if (waited.statusCode !== 200) return refused(waited);
          const { status } = waited.json() as { status: string };
          if (status !== 'approved') return { result: 'refused', code: PUSH_REFUSED[status] ?? `PUSH_${status.toUpperCase()}` };
          return { result: 'signed_in', subjectId: await me() };
        }
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
  supports: { operators: false, rememberedBrowser: true, password: true, attemptsLeft: true },
  ...CORE_DOOR,
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
        if (factor.method === 'push') {
          // The sign-in page's push: sent, answered on the phone, its answer awaited; then back to the application.
          const sent = await browser.api(node, 'POST', '/mfa/push');
          if (sent.status !== 201) return refusalOf(sent.status, await sent.text());
          const { transactionId, number } = (await sent.json()) as { transactionId: string; number: string };
          await answerOnDevice(factor, number);
          const waited = await browser.api(node, 'GET', `/mfa/push/${transactionId}/wait`);
          if (waited.status !== 200) return refusalOf(waited.status, await waited.text());
          const { status } = (await waited.json()) as { status: string };
          if (status !== 'approved') return { result: 'refused', code: PUSH_REFUSED[status] ?? `PUSH_${status.toUpperCase()}` };
        } else {
          const res = await browser.api(node, 'POST', '/mfa/verify', { method: factor.method, code: factor.code, ...(factor.remember ? { remember: true } : {}) });
          if (res.status !== 200) return refusalOf(res.status, await res.text());
        }
        const claims = await backAtApplication(node, pending);
        pending = null;
        if ('result' in claims) return claims;
        expectAuthentication(claims, true);
        return { result: 'signed_in', subjectId: claims.sub };
      },
    };
  },
};

// --- the Duo Auth API ------------------------------------------------------------------------

/**
 * Per harness: the Duo door over HTTPS (the official clients speak nothing else), and each firm's
 * Auth API application (by short name). The harness serves plain HTTP (the OIDC driver listens
 * on it), so TLS is terminated in front of the same app, as a reverse proxy does (README,
 * "HTTPS"): an https server of the test PKI handing each request to the app's router.
 */
const duoTargets = new WeakMap<Harness, Promise<DuoTarget>>();
const duoApplications = new WeakMap<Harness, Map<string, DuoKeys>>();

function duoTarget(h: Harness): Promise<DuoTarget> {
  let target = duoTargets.get(h);
  if (!target) {
    target = (async () => {
      const pki = await createTestPki();
      await h.app.ready();
      const server = https.createServer({ cert: pki.certPem, key: pki.keyPem }, (req, res) => h.app.routing(req, res));
      await new Promise<void>((resolve) => server.listen(0, 'localhost', resolve));
      // Closed with the harness (the rule file's afterAll calls h.close()).
      const close = h.close.bind(h);
      h.close = async () => {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
        pki.remove();
        await close();
      };
      return { host: 'localhost', port: (server.address() as AddressInfo).port, caFile: pki.caFile, caPem: pki.caPem };
    })();
    duoTargets.set(h, target);
  }
  return target;
}

interface DuoAnswer<R> {
  stat: string;
  response?: R;
  code?: number;
  message?: string;
  message_detail?: string;
}

/**
 * One call of the official node client (@duosecurity/duo_api, v5 signatures: JSON bodies), dated
 * by the harness's clock. The client dates its requests with `new Date()`, and the door checks
 * the date against the injected clock (a fixed day of 2026 in the rule tests, moved by hand for
 * TOTP steps and lockouts): so the test process's Date reads the harness's clock while the client
 * signs, exactly as the application's host would read its own clock. Only Date is faked (timers,
 * sockets and TLS, which checks certificates against the system's time, are untouched).
 */
async function duoCall<R>(h: Harness, keys: DuoKeys, method: 'GET' | 'POST', path: string, params: Record<string, string>): Promise<R> {
  const target = await duoTarget(h);
  vi.useFakeTimers({ toFake: ['Date'], now: h.clock.now() });
  let answer: DuoAnswer<R>;
  try {
    answer = (await nodeDuoCall(target, { ...keys, sigVersion: 5 }, method, path, params)) as DuoAnswer<R>;
  } finally {
    vi.useRealTimers();
  }
  if (answer.stat !== 'OK') throw new Error(`${method} ${path}: ${JSON.stringify(answer)}`);
  return answer.response as R;
}

/** Duo's devices -> the core's methods, in the core's order: a `push` capability is a push, `mobile_otp` a TOTP passcode; backup codes always (Duo's passcode factor takes them). */
function methodsOfDevices(devices: { capabilities: string[] }[]): LoginMethod[] {
  const caps = new Set(devices.flatMap((d) => d.capabilities));
  const methods = new Set<LoginMethod>(['backup_code']);
  if (caps.has('push')) methods.add('push');
  if (caps.has('mobile_otp')) methods.add('totp');
  return LOGIN_METHODS.filter((m) => methods.has(m));
}

/** Duo's `deny` of a preauth, by its message (Duo's answers carry no code): the refusals the rows can meet. */
const DUO_DENIALS: Record<string, string> = {
  [reasonMeaning('locked').duoStatusMsg]: 'MFA_LOCKED',
  'Unknown user: ask your administrator to add you to Tessera, then enroll.': 'UNKNOWN_USER',
  'Your account is disabled.': 'ACCOUNT_DISABLED',
};

/** An /auth answer in the core's terms: Duo's status says why a deny. */
function authRefusal(answer: { result: string; status: string; status_msg: string }): Refused {
  if (answer.status === 'locked_out') return { result: 'refused', code: 'MFA_LOCKED' };
  if (answer.status === 'deny' && answer.status_msg.startsWith('Incorrect passcode')) return { result: 'refused', code: 'INVALID_CODE' };
  if (answer.status === 'deny' || answer.status === 'fraud') return { result: 'refused', code: 'PUSH_DENIED' };
  if (answer.status === 'timeout') return { result: 'refused', code: 'PUSH_EXPIRED' };
  throw new Error(`an /auth answer the rules do not know: ${JSON.stringify(answer)}`);
}

/**
 * The Duo Auth API (src/duo/): the firm's Auth API application, registered by its superuser
 * through POST /admin/applications (setUpFirm), calls Tessera with Duo's official node client
 * (@duosecurity/duo_api 1.5, unmodified; v5 signatures) over HTTPS, as an application that
 * checked the password itself and moved from Duo to Tessera by changing its host and keys:
 *   signIn  /auth/v2/preauth (username = the address, client_supports_verified_push=1):
 *           `allow` -> signed in (the subject read from the directory, since Duo's answers carry
 *           no user id; bypassed when status_msg is the no-seat bypass's), `auth` -> the second
 *           factor with the methods of its devices, `enroll` -> enroll, `deny` -> refused;
 *   answer  /auth/v2/auth: factor=passcode (a TOTP or backup code), or factor=push async=1 with
 *           the verified-push txid of the preauth, answered on the device simulator with the
 *           verification_code the application shows, and /auth/v2/auth_status for the result.
 * The node client rather than python duo_client: both are proven against the door in
 * test/duo/auth-api.test.ts; the node one runs in this process (no interpreter started per
 * call), which the many calls of the rule table want.
 *
 * Left out by `supports`: operators (no firm, no application), remembered browsers (no browser),
 * the password (the application checked it: wrong passwords and the disabled user refused like
 * one are rows of the core's doors; Duo's own answers to a disabled user are in
 * test/duo/auth-api.test.ts), and the attempts left (Duo's deny carries no count).
 */
export const duoDriver: DoorDriver = {
  name: 'duo',
  supports: { operators: false, rememberedBrowser: false, password: false, attemptsLeft: false },
  unknownUser: { result: 'refused', code: 'UNKNOWN_USER' },
  lockRefusedAt: 'sign_in',
  audited: ({ next, reason }) => ({ event: 'duo.preauth', details: { result: next === 'signed_in' ? 'allow' : next === 'second_factor' ? 'auth' : 'enroll', reason } }),
  async setUpFirm(h, f) {
    const res = await f.admin.post(api('/admin/applications'), { type: 'duo_auth_api', name: 'Rules VPN' });
    if (res.statusCode !== 201) throw new Error(`registering the firm's Auth API application: ${res.statusCode} ${res.body}`);
    const { application, secret } = res.json() as { application: { clientId: string }; secret: string };
    if (!duoApplications.has(h)) duoApplications.set(h, new Map());
    duoApplications.get(h)!.set(f.firm.slug, { ikey: application.clientId, skey: secret });
  },
  client(h) {
    let pending: { keys: DuoKeys; username: string; subjectId: string; txid?: string; verificationCode?: string } | null = null;

    /** The user the application named, as the directory knows them (Duo's answers name nobody). */
    const subjectOf = async (firmSlug: string, email: string) =>
      (
        await h.ctx.db
          .selectFrom('users')
          .innerJoin('firms', 'firms.id', 'users.firm_id')
          .select('users.id')
          .where('firms.slug', '=', firmSlug)
          .where('users.email', '=', email.toLowerCase())
          .executeTakeFirstOrThrow()
      ).id;

    return {
      async signIn(login) {
        if (login.realm !== 'firm') throw new Error('the Duo door signs in firm users only (supports.operators is false)');
        pending = null;
        const keys = duoApplications.get(h)?.get(login.firmSlug);
        if (!keys) throw new Error(`firm ${login.firmSlug} has no Auth API application: create it with the driver's setUpFirm`);
        type Preauth = { result: 'allow' | 'auth' | 'enroll' | 'deny'; status_msg: string; devices?: { capabilities: string[] }[]; txid?: string; verification_code?: string };
        const r = await duoCall<Preauth>(h, keys, 'POST', '/auth/v2/preauth', { username: login.email, client_supports_verified_push: '1' });
        if (r.result === 'allow') return { result: 'signed_in', subjectId: await subjectOf(login.firmSlug, login.email), bypassed: r.status_msg === reasonMeaning('no_seat_bypass').duoStatusMsg };
        if (r.result === 'enroll') return { result: 'enroll' };
        if (r.result === 'deny') {
          const code = DUO_DENIALS[r.status_msg];
          if (!code) throw new Error(`a preauth deny the rules do not know: ${r.status_msg}`);
          return { result: 'refused', code };
        }
        pending = { keys, username: login.email, subjectId: await subjectOf(login.firmSlug, login.email), txid: r.txid, verificationCode: r.verification_code };
        return { result: 'second_factor', methods: methodsOfDevices(r.devices ?? []) };
      },
      async answer(factor) {
        if (!pending) throw new Error('no login waits for a second factor');
        const p = pending;
        type Final = { result: 'allow' | 'deny'; status: string; status_msg: string };
        let final: Final;
        if (factor.method === 'push') {
          if (!p.txid || !p.verificationCode) throw new Error('the preauth offered no verified push');
          // One verified push per preauth: the reservation is used up by this /auth.
          pending = { ...p, txid: undefined, verificationCode: undefined };
          const { txid } = await duoCall<{ txid: string }>(h, p.keys, 'POST', '/auth/v2/auth', { username: p.username, factor: 'push', device: 'auto', async: '1', txid: p.txid });
          await answerOnDevice(factor, p.verificationCode);
          let status: Final | { result: 'waiting' };
          do status = await duoCall<Final | { result: 'waiting' }>(h, p.keys, 'GET', '/auth/v2/auth_status', { txid });
          while (status.result === 'waiting');
          final = status;
        } else {
          final = await duoCall<Final>(h, p.keys, 'POST', '/auth/v2/auth', { username: p.username, factor: 'passcode', passcode: factor.code });
        }
        if (final.result !== 'allow') return authRefusal(final);
        pending = null;
        return { result: 'signed_in', subjectId: p.subjectId };
      },
    };
  },
};

/** The core first, then each door. */
export const DRIVERS: readonly DoorDriver[] = [coreDriver, webDriver, oidcDriver, duoDriver];
