import { audit, type Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import { isActiveUser } from '../directory/user.table.js';
import { AppError, tooManyAttempts } from '../core/errors.js';
import { beginAuthentication, checkAssertion, recordAssertion, reportCounterRegression, type CeremonyReason } from '../factors/webauthn/webauthn.ceremony.js';
import type { AuthenticationResponse } from '../factors/webauthn/webauthn.schemas.js';
import { loadLoginPolicy } from '../mfa-policy/mfa-login-policy.service.js';
import { currentLock, resetFailures } from '../core/lockout.js';
import { metrics } from '../ops/metrics.js';
import { createSession } from '../sessions/session.service.js';
import { PASSKEY_CHECKS, userFacts, walkChecks, type DecisionReason } from '../core/decision.js';
import { IP_POLICY, reserveAttempt, settleAttempt, settleLatestAsSuccess, type ThrottlePolicy } from '../core/throttle.js';
import { countLogin } from '../core/login-counts.js';

/** The one answer to every refused passkey: unknown key, foreign firm, firm without passkeys, disabled user, bad signature... */
export const passkeyRefused = () => new AppError('INVALID_CREDENTIALS', 'This passkey cannot sign you in. Sign in with your email address and password.');

/**
 * Options asked per client IP: 200 in a run free, then a doubling delay up to a minute, at most
 * 1000 an hour (the password login's hourly cap per address). Generous on purpose: every open
 * login page asks for options in the email field's autofill when it opens and again every four
 * and a half minutes (the challenge lives five), so an office's open pages ask often without
 * signing in with a passkey; a guesser meets the sign-in's own throttle (IP_POLICY, counted on
 * /passkey/verify) long before this one, which stops a loop that asks and never signs in from
 * filling the challenge table. The login page waits out a 429 silently (passkey-login.ts).
 */
export const PASSKEY_OPTIONS_POLICY: ThrottlePolicy = { freeFailures: 200, baseDelayMs: 1000, maxDelayMs: 60_000, hourlyCap: 1000 };

/**
 * Options for "Sign in with a passkey": a challenge with no session and no user (the
 * authenticator picks its discoverable credential), user verification required. Offered to
 * everyone alike; whether the firm allows passkeys is decided at verification, with the same
 * answer as any other failure, so the login page tells nothing about firms.
 *
 * Anyone may ask, so each answer is counted against the client IP (scope `passkey_options`,
 * PASSKEY_OPTIONS_POLICY; 429 with Retry-After), else a loop could fill the challenge table. A
 * passkey sign-in that succeeds from the address settles one of them as a success, so an office
 * whose staff use passkeys is not slowed by its own sign-ins.
 */
export async function passkeyOptions(ctx: AppContext, actor: Actor) {
  const decision = await reserveAttempt(ctx.db, ctx.clock, [{ scope: 'passkey_options', key: actor.ip ?? 'unknown', policy: PASSKEY_OPTIONS_POLICY }]);
  if (!decision.allowed) {
    const retryAfterSeconds = Math.ceil(decision.retryAfterMs / 1000);
    await audit(ctx.db, ctx.clock.now(), actor, { event: 'login.throttled', details: { realm: 'firm', method: 'passkey', step: 'options', retryAfterSeconds } });
    metrics(ctx).login('passkey', 'throttled');
    throw tooManyAttempts(retryAfterSeconds);
  }
  await settleAttempt(ctx.db, decision.ticket, 'failure');
  return ctx.db.transaction().execute(async (tx) => {
    const { challengeId, options } = await beginAuthentication(ctx, tx, null);
    return { challengeId, options };
  });
}

type Refusal = CeremonyReason | 'passkeys_disabled' | 'not_passkey' | 'user_inactive' | DecisionReason;

/**
 * A passkey sign-in (issue 6.5): no email, no password. Throttled per client IP like the
 * password login. Then, as a declared list of steps:
 *   1. ceremony      - the assertion over the 'passkey' challenge named by id, user presence
 *                      AND verification required, the user handle naming the key's owner;
 *   2. a passkey     - the credential was registered AS a passkey (its stored purpose, set by the
 *                      server from the registration's challenge), not merely discoverable;
 *   3. the user      - active, in a firm that turned passkeys on; then the decision's
 *                      PASSKEY_CHECKS (src/core/decision.ts): enrolled, or covered by the firm's
 *                      configuration, else refused; its reason is audited, as at the password step;
 *   4. record        - challenge used up and counter moved on, in the transaction that makes
 *                      the full session (second factor passed: the key is both factors);
 *   5. not locked    - a passkey is a second factor, so the second factor's lockout holds here
 *                      too (issue 12), and a success restarts the count like any second factor.
 *                      Checked after step 4 so that the refused assertion is used up and cannot
 *                      be replayed once the lock ends.
 * Every refusal but the lock answers the same 401 INVALID_CREDENTIALS and is audited `login.failed`
 * with its reason. A locked user answers 423 MFA_LOCKED as at the second factor (only the holder
 * of the key, with its PIN or biometrics, learns of the lock), audited `login.refused_locked`.
 */
export async function passkeyLogin(
  ctx: AppContext,
  input: { challengeId: string; response: AuthenticationResponse; actor: Actor },
): Promise<{ token: string }> {
  const { actor } = input;
  const decision = await reserveAttempt(ctx.db, ctx.clock, [{ scope: 'ip', key: actor.ip ?? 'unknown', policy: IP_POLICY }]);
  if (!decision.allowed) {
    const retryAfterSeconds = Math.ceil(decision.retryAfterMs / 1000);
    await audit(ctx.db, ctx.clock.now(), actor, { event: 'login.throttled', details: { realm: 'firm', method: 'passkey', retryAfterSeconds } });
    metrics(ctx).login('passkey', 'throttled');
    throw tooManyAttempts(retryAfterSeconds);
  }

  const refuse = async (reason: Refusal, subject?: { userId: string | null; firmId: string | null }, detail?: string): Promise<never> => {
    await settleAttempt(ctx.db, decision.ticket, 'failure');
    await audit(ctx.db, ctx.clock.now(), actor, {
      event: 'login.failed',
      firmId: subject?.firmId ?? null,
      subjectType: subject ? 'user' : undefined,
      subjectId: subject?.userId ?? null,
      details: { realm: 'firm', method: 'passkey', reason, ...(detail ? { detail } : {}) },
    });
    metrics(ctx).login('passkey', 'failure');
    throw passkeyRefused();
  };

  const checked = await checkAssertion(ctx, ctx.db, {
    response: input.response,
    challenge: { id: input.challengeId },
    owner: null,
    requireUserVerification: true,
  });
  if (!checked.ok) {
    const owner = checked.credential ? { userId: checked.credential.user_id, firmId: checked.credential.firm_id } : undefined;
    if (checked.reason === 'counter_regression' && checked.credential) {
      await reportCounterRegression(ctx, ctx.db, actor, checked.credential, checked.newCounter);
    }
    return refuse(checked.reason, owner, checked.detail);
  }
  const { credential } = checked;
  // checkAssertion without an owner finds firm users' keys only (an operator's key is never a passkey).
  const { user_id: userId, firm_id: firmId } = credential;
  if (userId === null || firmId === null) return refuse('unknown_credential');
  const subject = { userId, firmId };
  // A security key registered as a second factor never signs in alone, even when its browser
  // said it stored the credential (credProps.rk is unsigned client output: anyone holding the
  // password and the key could otherwise claim rk=true and skip the password from then on).
  if (credential.purpose !== 'passkey') return refuse('not_passkey', subject);
  const user = await ctx.db.selectFrom('users').selectAll().where('id', '=', userId).where('firm_id', '=', firmId).executeTakeFirst();
  if (!user || !isActiveUser(user)) return refuse('user_inactive', subject);
  if (!(await loadLoginPolicy(ctx.db, user.firm_id)).passkeysEnabled) return refuse('passkeys_disabled', subject);
  const decided = await walkChecks(PASSKEY_CHECKS, userFacts(ctx, ctx.db, user, undefined));
  if (decided.verdict !== 'full') return refuse(decided.reason, subject);

  const outcome = await ctx.db.transaction().execute(async (tx) => {
    const recorded = await recordAssertion(ctx, tx, checked);
    if (recorded !== 'ok') {
      if (recorded === 'counter_regression') await reportCounterRegression(ctx, tx, actor, credential, checked.newCounter);
      return { ok: false as const, reason: recorded };
    }
    const now = ctx.clock.now();
    if (!(await resetFailures(ctx, tx, user))) {
      const lock = await currentLock(ctx, tx, user);
      await audit(tx, now, { ...actor, type: 'user', id: user.id, firmId: user.firm_id }, {
        event: 'login.refused_locked',
        subjectType: 'user',
        subjectId: user.id,
        details: { realm: 'firm', method: 'passkey', authenticatorId: credential.authenticator_id, retryAfterSeconds: lock.details?.retryAfterSeconds },
      });
      return { ok: false as const, locked: lock };
    }
    const token = await createSession(ctx, tx, {
      principal: 'user',
      userId: user.id,
      firmId: user.firm_id,
      stage: 'full',
      secondFactorAt: now,
      // A passkey with user verification: something held (the key) and something known or been (its PIN or biometric).
      amr: ['hwk', 'mfa'],
      ip: actor.ip,
      userAgent: actor.userAgent,
    });
    await audit(tx, now, { ...actor, type: 'user', id: user.id, firmId: user.firm_id }, {
      event: 'login.succeeded',
      subjectType: 'user',
      subjectId: user.id,
      details: { realm: 'firm', factors: ['passkey'], authenticatorId: credential.authenticator_id, userVerified: checked.userVerified, reason: decided.reason },
    });
    await countLogin(tx, { firmId: user.firm_id, applicationId: null, at: now, kind: 'second_factor' });
    return { ok: true as const, token };
  });
  if (!outcome.ok && 'locked' in outcome) {
    // The key itself was right: for the address throttle this was no guess.
    await settleAttempt(ctx.db, decision.ticket, 'success');
    metrics(ctx).login('passkey', 'locked');
    throw outcome.locked;
  }
  if (!outcome.ok) return refuse(outcome.reason, subject);
  await settleAttempt(ctx.db, decision.ticket, 'success');
  await settleLatestAsSuccess(ctx.db, 'passkey_options', actor.ip ?? 'unknown');
  metrics(ctx).login('passkey', 'success');
  return { token: outcome.token };
}
