import type { Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import { answerSecondFactor, factorsFor, type FactorChoice, type SecondFactorAnswer } from '../core/second-factor.js';
import type { PendingPrincipal } from '../http/auth.js';
import { PLATFORM_NAME } from '../operators/operator-mail.js';
import type { FactorUser } from '../factors/factor.js';
import { activeDevices, pushPausedUntil } from '../factors/push/push.factor.js';
import { sessionOf } from './pending-login.js';

/**
 * The web door's second-factor step: which factors and each verification are the core's
 * (src/core/second-factor.ts); here the screen's words and the session the answer becomes.
 */
export interface ChallengeView extends FactorChoice {
  user: { name: string; email: string };
  firmName: string;
  /** Pushes to this user's Tessera Authenticator are paused until then (a fraud report), so push is not offered; else null. */
  pushPausedUntil: number | null;
}

/** The end of a fraud report's pause, for a user who has a device to push to (the screen says why push is missing). */
async function pausedPushUntil(ctx: AppContext, user: FactorUser): Promise<number | null> {
  if (user.firm_id === null) return null;
  const until = await pushPausedUntil(ctx.db, user, ctx.clock.now());
  return until !== null && (await activeDevices(ctx.db, user)).length > 0 ? until : null;
}

/** What the second-factor screen shows: the factors this user can answer with now, in the registry's order. */
export async function secondFactorChallenge(ctx: AppContext, pending: PendingPrincipal): Promise<ChallengeView> {
  const { user, firm } = pending;
  const choice = await factorsFor(ctx, user);
  return {
    user: { name: user.name, email: user.email },
    firmName: firm?.name ?? PLATFORM_NAME,
    methods: choice.methods,
    defaultMethod: choice.defaultMethod,
    lockedUntil: choice.lockedUntil,
    rememberDays: choice.rememberDays,
    pushPausedUntil: await pausedPushUntil(ctx, user),
  };
}

export type VerifyInput = SecondFactorAnswer;

export interface VerifyResult {
  /** The new session's token (a new one for a step-up too). */
  token: string;
  remember: { token: string; days: number } | null;
}

/** The core's answerSecondFactor; its Authentication becomes a new full session (pending-login.ts sessionOf). */
export async function verifySecondFactor(ctx: AppContext, pending: PendingPrincipal, actor: Actor, input: VerifyInput): Promise<VerifyResult> {
  const { held: token, remember } = await answerSecondFactor(ctx, { attempt: pending.attempt, subject: pending.user }, actor, input, (tx, authentication) =>
    sessionOf(ctx, tx, pending.session, authentication, actor),
  );
  return { token, remember };
}
