import type { FastifyReply, FastifyRequest } from 'fastify';
import { audit, type Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import { AppError, unauthorized } from '../errors.js';
import { actorOf, type PendingPrincipal } from '../http/auth.js';
import { rememberCookieName } from '../login/remembered-browsers.js';
import { createSession } from '../sessions/session.service.js';

/** Who acts on a pending login: the user (or operator) the password step identified (actorOf says "anonymous" until then). */
export function pendingActor(request: FastifyRequest, pending: PendingPrincipal): Actor {
  return { ...actorOf(request), type: pending.firm ? 'user' : 'operator', id: pending.user.id, firmId: pending.firm?.id ?? null };
}

/**
 * Ends a half-finished login after its last step (a second factor, or an enrollment
 * confirmation): the pending session is deleted and a NEW full session is made, so a
 * token seen before the second factor is worth nothing after it. The delete is conditional:
 * of two requests finishing the same pending login at once, one wins and the other rolls
 * back with 401. From a full session (adding an authenticator) the session only records
 * that a second factor was passed. Returns the new token, or null when the session stays.
 */
export async function completeSecondFactor(
  ctx: AppContext,
  db: DbOrTx,
  pending: PendingPrincipal,
  actor: Actor,
  factors: { method: string; enrolled?: boolean },
): Promise<string | null> {
  const now = ctx.clock.now();
  const { session } = pending;
  if (session.stage === 'full') {
    await db.updateTable('sessions').set({ second_factor_at: now }).where('id', '=', session.id).execute();
    return null;
  }
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
    ip: actor.ip,
    userAgent: actor.userAgent,
  });
  await audit(db, now, actor, {
    event: 'login.succeeded',
    subjectType: operator ? 'operator' : 'user',
    subjectId: pending.user.id,
    details: { realm: operator ? 'operator' : 'firm', factors: ['password', factors.method], ...(factors.enrolled ? { enrolled: true } : {}) },
  });
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
