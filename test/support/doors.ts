import { systemActor, type Actor } from '../../src/audit/audit.service.js';
import type { Authentication } from '../../src/core/completion.js';
import { AppError, type ErrorCode } from '../../src/core/errors.js';
import type { LoginAttempt } from '../../src/core/login-attempt.js';
import { passwordStep } from '../../src/core/password-step.js';
import { answerSecondFactor, factorsFor, type SecondFactorSubject } from '../../src/core/second-factor.js';
import type { CodeMethod, LoginMethod } from '../../src/factors/kinds.js';
import { api } from './fixtures.js';
import { Agent, type Harness } from './harness.js';

/**
 * Door drivers: one login, said once, run against the core and then through each front door
 * (DESIGN.md, "Tests of a rule run once against the core and once per door"). A rule test
 * (test/login-rules.test.ts) speaks only these terms: a client (a browser, or whatever a door's
 * caller keeps between requests) signs in and answers the second factor, and gets a normalized
 * outcome back, whatever the wire format.
 *
 * Adding a door is one entry in DRIVERS: an object with `name`, what it `supports`, and `client(h)`
 * returning a DoorClient that translates signIn / answer into the door's requests and its answers
 * back into SignInOutcome / AnswerOutcome. For example:
 *   - the OIDC door: `signIn` starts an authorization request with a registered client (see
 *     test/support/oidc.ts), follows the interaction to Tessera's login and posts the password;
 *     a redirect back with a code is `signed_in` (the ID token's `sub` is the subject), the
 *     second-factor or enrollment page is `second_factor` / `enroll`, an error page or
 *     `error=access_denied` is `refused` with the code the page carries; supports
 *     `{ operators: false, rememberedBrowser: true }`.
 *   - the Duo Auth API: `signIn` is /auth/v2/preauth + the firm's password check for the user of
 *     the application's firm (`allow` -> signed_in, `auth` -> second_factor with the devices'
 *     capabilities as methods, `enroll` -> enroll, `deny` -> refused), `answer` is
 *     /auth/v2/auth with `factor=passcode`; supports `{ operators: false, rememberedBrowser: false }`.
 * A rule a door cannot express (a Duo client has no browser to remember) is left out of that
 * door's table by `supports`, not skipped.
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
  client(h: Harness): DoorClient;
}

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

/** The web door over HTTP (app.inject): POST /login or /operator/login, GET /mfa/challenge, POST /mfa/verify, GET /me. */
export const webDriver: DoorDriver = {
  name: 'web',
  supports: { operators: true, rememberedBrowser: true },
  client(h) {
    const agent = new Agent(h.app, { ip: '198.51.100.21' });
    const refused = (res: { statusCode: number; json(): unknown; body: string }): Refused => {
      const body = res.json() as { error?: string; attemptsLeft?: number };
      if (res.statusCode < 400 || res.statusCode >= 500 || typeof body.error !== 'string') throw new Error(`not a refusal: ${res.statusCode} ${res.body}`);
      return { result: 'refused', code: body.error, ...(typeof body.attemptsLeft === 'number' ? { attemptsLeft: body.attemptsLeft } : {}) };
    };
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

/** The core first, then each door. The OIDC and Duo doors join here (see the top of this file). */
export const DRIVERS: readonly DoorDriver[] = [coreDriver, webDriver];
