import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Actor } from '../audit/audit.service.js';
import { completeAttempt, type Authentication } from '../core/completion.js';
import { STEP_UP_MAX_AGE_MS } from '../core/login-attempt.js';
import type { LoginMethod } from '../factors/kinds.js';
import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import { unauthorized } from '../core/errors.js';
import { actorOf, type PendingPrincipal } from '../http/auth.js';
import { rememberCookieName } from '../login/remembered-browsers.js';
import { createSession } from '../sessions/session.service.js';
import type { Session } from '../sessions/session.table.js';

/** Who acts on a pending login: the user (or operator) the password step identified (actorOf says "anonymous" until then). */
export function pendingActor(request: FastifyRequest, pending: PendingPrincipal): Actor {
  return { ...actorOf(request), type: pending.firm ? 'user' : 'operator', id: pending.user.id, firmId: pending.firm?.id ?? null };
}

/** How long a second factor counts as a step-up (the core's, src/core/login-attempt.ts). */
export { STEP_UP_MAX_AGE_MS };

/** Did this session pass a second factor recently enough for a security change? */
export function hasFreshStepUp(session: Pick<Session, 'second_factor_at'>, now: number): boolean {
  return session.second_factor_at !== null && now - Number(session.second_factor_at) < STEP_UP_MAX_AGE_MS;
}

/**
 * Ends a second factor or an enrollment confirmation. The core completes the login attempt
 * (src/core/completion.ts: one conditional DELETE, audited) and returns its Authentication; the
 * web door's part is here: the session is deleted and a NEW full session is made, so a token seen
 * before the second factor is worth nothing after it. That holds for a half-finished login and
 * equally for a step-up on a full session (a remembered browser going to My security, an
 * authenticator added there, issue 12): a token copied before the step-up does not inherit it. Of
 * two requests finishing the same login at once, one wins and the other rolls back with 401. A
 * step-up keeps the session's absolute expiry (it counts from the login); a finished login starts
 * a full session. Ending the attempt also voids what was bound to it (an open push enrollment's
 * QR code).
 */
export async function completeSecondFactor(
  ctx: AppContext,
  db: DbOrTx,
  pending: PendingPrincipal,
  actor: Actor,
  factors: { method: LoginMethod; enrolled?: boolean },
): Promise<string> {
  const authentication = await completeAttempt(ctx, db, pending.attempt, actor, { satisfied: factors.enrolled ? 'enrolled' : 'verified', method: factors.method });
  return sessionOf(ctx, db, pending.session, authentication, actor);
}

/** The web door's answer to an Authentication: the session (pending, or full for a step-up) replaced by a new full one; returns its token. */
export async function sessionOf(ctx: AppContext, db: DbOrTx, session: Session, authentication: Authentication, actor: Actor): Promise<string> {
  const now = ctx.clock.now();
  const gone = await db.deleteFrom('sessions').where('id', '=', session.id).where('stage', '=', session.stage).executeTakeFirst();
  if (Number(gone.numDeletedRows) === 0) throw unauthorized();
  const operator = authentication.subject.type === 'operator';
  return createSession(ctx, db, {
    principal: authentication.subject.type,
    operatorId: operator ? authentication.subject.id : null,
    userId: operator ? null : authentication.subject.id,
    firmId: authentication.firmId,
    stage: 'full',
    secondFactorAt: authentication.secondFactor.satisfied === 'not_needed' ? null : authentication.authTime,
    // How and when the user signed in, for the OpenID Provider's claims: a step-up adds its factor but keeps the login's time.
    amr: authentication.amr,
    authTime: authentication.stepUp ? Number(session.auth_time ?? session.created_at) : authentication.authTime,
    lifetimeMs: authentication.stepUp ? Number(session.expires_at) - now : undefined,
    ip: actor.ip,
    userAgent: actor.userAgent,
  });
}

/** The "remember this browser" cookie (issue 4.7): HttpOnly, SameSite=Lax, Secure on https, for the firm's number of days. */
export function setRememberCookie(ctx: AppContext, reply: FastifyReply, token: string, days: number): void {
  reply.setCookie(rememberCookieName(ctx), token, {
    httpOnly: true,
    sameSite: 'lax',
    secure: ctx.config.publicUrl.protocol === 'https:',
    path: '/',
    maxAge: days * 86_400,
  });
}

/** Takes the "remember this browser" cookie away (its row was forgotten). */
export function clearRememberCookie(ctx: AppContext, reply: FastifyReply): void {
  reply.clearCookie(rememberCookieName(ctx), { path: '/', secure: ctx.config.publicUrl.protocol === 'https:' });
}
