import type { Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import { ownedBy, type LoginMethod } from '../factors/factor.js';
import { FACTORS, factorFor } from '../factors/registry.js';
import type { PendingPrincipal } from '../http/auth.js';
import { rememberBrowser } from '../login/remembered-browsers.js';
import { assertNotLocked, currentLock, invalidCode, lockedUntil, loginPolicyOf, mfaLocked, recordFailure, resetFailures } from './lockout.service.js';
import { PLATFORM_NAME } from '../operators/operator-mail.js';
import { metrics } from '../ops/metrics.js';
import { answer, completeSecondFactor, type Outcome } from './pending-login.js';

export interface ChallengeView {
  user: { name: string; email: string };
  firmName: string;
  methods: LoginMethod[];
  /** What the screen offers first: a push when the user has a device, the security key when the user has one and no phone (reference 2.2.c), else the passcode. */
  defaultMethod: 'push' | 'totp' | 'webauthn';
  lockedUntil: number | null;
  rememberDays: number;
}

/** What the second-factor screen shows: the factors this user can answer with now, in the registry's order. */
export async function secondFactorChallenge(ctx: AppContext, pending: PendingPrincipal): Promise<ChallengeView> {
  const { user, firm } = pending;
  const policy = await loginPolicyOf(ctx.db, user);
  const methods: LoginMethod[] = [];
  for (const f of FACTORS) if (await f.available(ctx.db, user, ctx.clock.now())) methods.push(f.method);
  const phone = await ctx.db
    .selectFrom('authenticators')
    .select('id')
    .where(ownedBy('authenticators', user))
    .where('status', '=', 'active')
    .where('kind', 'in', ['totp', 'push'])
    .executeTakeFirst();
  return {
    user: { name: user.name, email: user.email },
    firmName: firm?.name ?? PLATFORM_NAME,
    methods,
    defaultMethod: methods.includes('push') ? 'push' : methods.includes('webauthn') && !phone ? 'webauthn' : 'totp',
    lockedUntil: lockedUntil(user, ctx.clock.now()),
    rememberDays: policy.rememberDays,
  };
}

export interface VerifyInput {
  method: LoginMethod;
  /** A code (passcode, backup code) or a WebAuthn response, as the route validated it. */
  answer: unknown;
  remember?: boolean;
}

export interface VerifyResult {
  /** The new session's token (a new one for a step-up too). */
  token: string;
  remember: { token: string; days: number } | null;
}

/**
 * The second factor of a login, as a declared list of small steps:
 *   1. not locked       - while locked, nothing is checked (423): a locked account is no oracle;
 *   2. verify           - the registry's factor checks the code and consumes what it used
 *                         (time step, backup code) in one conditional UPDATE;
 *   3. record           - a failure counts toward the lockout and is audited, and is committed
 *                         even though the answer is an error; a success resets the count;
 *   4. upgrade session  - the session (pending, or full for a step-up) is replaced by a new full one;
 *   5. remember browser - when asked and the firm allows it.
 * Every failure answers the same "That code is not right." (a security key: "not accepted") with the attempts left.
 */
export async function verifySecondFactor(ctx: AppContext, pending: PendingPrincipal, actor: Actor, input: VerifyInput): Promise<VerifyResult> {
  const { user } = pending;
  if (lockedUntil(user, ctx.clock.now()) !== null) metrics(ctx).login(input.method, 'locked');
  assertNotLocked(user, ctx.clock.now());
  const outcome = await ctx.db.transaction().execute(async (tx): Promise<Outcome<VerifyResult>> => {
    const factor = factorFor(input.method);
    const result = await factor.verify(ctx, tx, user, input.answer, { attemptId: pending.attempt.id, sessionId: pending.session.id, actor });
    // The firm's policy matters only to a failure (lockout) or a "remember me": not read on the hot path.
    if (!result.ok) {
      const policy = await loginPolicyOf(tx, user);
      const failure = await recordFailure(ctx, tx, actor, user, policy, { method: input.method, reason: result.reason, detail: result.detail });
      if (failure.locked) return { ok: false, error: mfaLocked(failure.until, ctx.clock.now()) };
      return { ok: false, error: factor.refusal ? factor.refusal(failure.attemptsLeft) : invalidCode(failure.attemptsLeft) };
    }
    // Locked by a concurrent attempt since step 1: roll back, this code stays unused.
    if (!(await resetFailures(ctx, tx, user))) throw await currentLock(ctx, tx, user);
    const token = await completeSecondFactor(ctx, tx, pending, actor, { method: input.method });
    // Operators are never remembered (their policy says 0 days).
    const rememberDays = input.remember && pending.firm ? (await loginPolicyOf(tx, user)).rememberDays : 0;
    const remember = rememberDays > 0 && pending.firm ? { token: await rememberBrowser(ctx, tx, pending.user, rememberDays, actor.userAgent), days: rememberDays } : null;
    return { ok: true, value: { token, remember } };
  });
  metrics(ctx).login(input.method, outcome.ok ? 'success' : outcome.error.code === 'MFA_LOCKED' ? 'locked' : 'failure');
  return answer(outcome);
}
