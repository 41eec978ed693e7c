import type { FastifyReply, FastifyRequest } from 'fastify';
import { audit, type Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import { AppError, unauthorized } from '../core/errors.js';
import { actorOf, type PendingPrincipal } from '../http/auth.js';
import { rememberCookieName } from '../login/remembered-browsers.js';
import { createSession } from '../sessions/session.service.js';
import type { Session } from '../sessions/session.table.js';

/** Who acts on a pending login: the user (or operator) the password step identified (actorOf says "anonymous" until then). */
export function pendingActor(request: FastifyRequest, pending: PendingPrincipal): Actor {
  return { ...actorOf(request), type: pending.firm ? 'user' : 'operator', id: pending.user.id, firmId: pending.firm?.id ?? null };
}

/**
 * How long a second factor passed in a session counts as a step-up: security changes (My
 * security, adding an authenticator) need one at most this old, then ask again (issue 12). A
 * session token stolen after the step-up (a copied cookie) therefore inherits at most this
 * much of it, and a session left open on a remembered browser does not keep it all day.
 */
export const STEP_UP_MAX_AGE_MS = 15 * 60_000;

/** Did this session pass a second factor recently enough for a security change? */
export function hasFreshStepUp(session: Pick<Session, 'second_factor_at'>, now: number): boolean {
  return session.second_factor_at !== null && now - Number(session.second_factor_at) < STEP_UP_MAX_AGE_MS;
}

/**
 * Ends a second factor or an enrollment confirmation: the session is deleted and a NEW full
 * session is made, so a token seen before the second factor is worth nothing after it. That
 * holds for a half-finished login and equally for a step-up on a full session (a remembered
 * browser going to My security, an authenticator added there, issue 12): a token copied before
 * the step-up does not inherit it. The delete is conditional: of two requests finishing the
 * same session at once, one wins and the other rolls back with 401. A step-up keeps the
 * session's absolute expiry (it counts from the login); a finished login starts a full session.
 * Deleting the old session also voids what was bound to it (an open push enrollment's QR code).
 */
export async function completeSecondFactor(
  ctx: AppContext,
  db: DbOrTx,
  pending: PendingPrincipal,
  actor: Actor,
  factors: { method: string; enrolled?: boolean },
): Promise<string> {
  const now = ctx.clock.now();
  const { session } = pending;
  const stepUp = session.stage === 'full';
  const gone = await db.deleteFrom('sessions').where('id', '=', session.id).where('stage', '=', session.stage).executeTakeFirst();
  if (Number(gone.numDeletedRows) === 0) throw unauthorized();
  const operator = pending.firm === null;
  const token = await createSession(ctx, db, {
    principal: operator ? 'operator' : 'user',
    operatorId: operator ? pending.user.id : null,
    userId: operator ? null : pending.user.id,
    firmId: pending.firm?.id ?? null,
    stage: 'full',
    secondFactorAt: now,
    lifetimeMs: stepUp ? Number(session.expires_at) - now : undefined,
    ip: actor.ip,
    userAgent: actor.userAgent,
  });
  const subject = { subjectType: operator ? 'operator' : 'user', subjectId: pending.user.id } as const;
  const realm = operator ? 'operator' : 'firm';
  if (!stepUp) {
    await audit(db, now, actor, {
      event: 'login.succeeded',
      ...subject,
      details: { realm, factors: ['password', factors.method], ...(factors.enrolled ? { enrolled: true } : {}) },
    });
  } else if (!factors.enrolled) {
    // (An authenticator added from a full session is audited as mfa.enrolled by its caller.)
    await audit(db, now, actor, { event: 'login.step_up', ...subject, details: { realm, method: factors.method } });
  }
  return token;
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

/** Runs `work` in a transaction whose outcome is a value or an error to answer with AFTER the commit: a failed attempt must still be counted. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: AppError };

export const answer = <T>(outcome: Outcome<T>): T => {
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
};
