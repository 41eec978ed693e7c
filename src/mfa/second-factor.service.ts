import type { Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import { answerSecondFactor, factorsFor, type FactorChoice, type SecondFactorAnswer } from '../core/second-factor.js';
import type { PendingPrincipal } from '../http/auth.js';
import { PLATFORM_NAME } from '../operators/operator-mail.js';
import { sessionOf } from './pending-login.js';

/**
 * The web door's second-factor step: which factors and each verification are the core's
 * (src/core/second-factor.ts); here the screen's words and the session the answer becomes.
 */
export interface ChallengeView extends FactorChoice {
  user: { name: string; email: string };
  firmName: string;
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
