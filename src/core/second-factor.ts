import type { Transaction } from 'kysely';
import type { Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import type { Database } from '../db/database.js';
import { ownedBy, type FactorUser } from '../factors/factor.js';
import type { AuthenticatorKind, LoginMethod } from '../factors/kinds.js';
import { FACTORS, factorFor } from '../factors/registry.js';
import { PASSCODE_KINDS } from '../factors/totp/totp.factor.js';
import { rememberBrowser } from './remembered-browsers.js';
import { metrics } from '../ops/metrics.js';
import { completeAttempt, type Authentication } from './completion.js';
import { assertNotLocked, currentLock, invalidCode, lockedUntil, loginPolicyOf, mfaLocked, recordFailure, resetFailures, type LockoutSubject } from './lockout.js';
import type { LoginAttempt } from './login-attempt.js';
import { answer, type Outcome } from './outcome.js';

/** Who answers a second factor: a firm user, or an operator (`firm_id` null), with their lock. */
export type SecondFactorSubject = LockoutSubject & { mfa_locked_until: number | null };

/** A login waiting for its second factor (or a complete one stepping up): the attempt and its subject. */
export interface AttemptOf<S extends FactorUser = SecondFactorSubject> {
  attempt: LoginAttempt;
  subject: S;
}

export interface FactorChoice {
  /** The factors this subject can answer with now, in the registry's order. */
  methods: LoginMethod[];
  /** What to offer first: a push when the user has a device, the security key when the user has one and no phone (reference 2.2.c), else the passcode. */
  defaultMethod: AuthenticatorKind;
  lockedUntil: number | null;
  rememberDays: number;
}

/** Which factors a subject can answer with now. */
export async function factorsFor(ctx: AppContext, subject: SecondFactorSubject): Promise<FactorChoice> {
  const policy = await loginPolicyOf(ctx.db, subject);
  const methods: LoginMethod[] = [];
  for (const f of FACTORS) if (await f.available(ctx.db, subject, ctx.clock.now())) methods.push(f.method);
  // A phone: an authenticator that gives passcodes (an authenticator app, a Tessera Authenticator).
  const phone = await ctx.db
    .selectFrom('authenticators')
    .select('id')
    .where(ownedBy('authenticators', subject))
    .where('status', '=', 'active')
    .where('kind', 'in', PASSCODE_KINDS)
    .executeTakeFirst();
  return {
    methods,
    defaultMethod: methods.includes('push') ? 'push' : methods.includes('webauthn') && !phone ? 'webauthn' : 'totp',
    lockedUntil: lockedUntil(subject, ctx.clock.now()),
    rememberDays: policy.rememberDays,
  };
}

export interface SecondFactorAnswer {
  method: LoginMethod;
  /** A code (passcode, backup code) or a WebAuthn response, as the door validated it. */
  answer: unknown;
  /** Remember this browser (a door with a browser), when the firm allows it. */
  remember?: boolean;
}

export interface SecondFactorResult<T> {
  authentication: Authentication;
  /** What the door made of the Authentication (the web door: its new session's token). */
  held: T;
  remember: { token: string; days: number } | null;
}

/**
 * The second factor of a login, as a declared list of small steps:
 *   1. not locked       - while locked, nothing is checked (MFA_LOCKED): a locked account is no oracle;
 *   2. verify           - the registry's factor checks the answer and consumes what it used
 *                         (time step, backup code) in one conditional UPDATE;
 *   3. record           - a failure counts toward the lockout and is audited, and is committed
 *                         even though the answer is an error; a success resets the count;
 *   4. complete         - the attempt ends into an Authentication (completion.ts), which the
 *                         door's `hold` turns into its answer in the same transaction;
 *   5. remember browser - when asked and the firm allows it.
 * Every failure answers the same INVALID_CODE (a security key: its own refusal) with the attempts left.
 */
export async function answerSecondFactor<T>(
  ctx: AppContext,
  login: AttemptOf,
  actor: Actor,
  input: SecondFactorAnswer,
  hold: (tx: Transaction<Database>, authentication: Authentication) => Promise<T>,
): Promise<SecondFactorResult<T>> {
  const { subject, attempt } = login;
  if (lockedUntil(subject, ctx.clock.now()) !== null) metrics(ctx).login(input.method, 'locked');
  assertNotLocked(subject, ctx.clock.now());
  const outcome = await ctx.db.transaction().execute(async (tx): Promise<Outcome<SecondFactorResult<T>>> => {
    const factor = factorFor(input.method);
    const result = await factor.verify(ctx, tx, subject, input.answer, { attemptId: attempt.id, sessionId: attempt.sessionId, actor });
    // The firm's policy matters only to a failure (lockout) or a "remember me": not read on the hot path.
    if (!result.ok) {
      const policy = await loginPolicyOf(tx, subject);
      const failure = await recordFailure(ctx, tx, actor, subject, policy, { method: input.method, reason: result.reason, detail: result.detail });
      if (failure.locked) return { ok: false, error: mfaLocked(failure.until, ctx.clock.now()) };
      return { ok: false, error: factor.refusal ? factor.refusal(failure.attemptsLeft) : invalidCode(failure.attemptsLeft) };
    }
    // Locked by a concurrent attempt since step 1: roll back, this code stays unused.
    if (!(await resetFailures(ctx, tx, subject))) throw await currentLock(ctx, tx, subject);
    const authentication = await completeAttempt(ctx, tx, attempt, actor, { satisfied: 'verified', method: input.method });
    const held = await hold(tx, authentication);
    // Operators are never remembered (their policy says 0 days).
    const firmId = subject.firm_id;
    const rememberDays = input.remember && firmId !== null ? (await loginPolicyOf(tx, subject)).rememberDays : 0;
    const remember =
      rememberDays > 0 && firmId !== null ? { token: await rememberBrowser(ctx, tx, { id: subject.id, firm_id: firmId }, rememberDays, actor.userAgent), days: rememberDays } : null;
    return { ok: true, value: { authentication, held, remember } };
  });
  metrics(ctx).login(input.method, outcome.ok ? 'success' : outcome.error.code === 'MFA_LOCKED' ? 'locked' : 'failure');
  return answer(outcome);
}
