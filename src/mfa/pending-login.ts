import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Actor } from '../audit/audit.service.js';
import type { Authentication } from '../core/completion.js';
import { STEP_UP_MAX_AGE_MS, enrollsOnly, type LoginAttempt } from '../core/login-attempt.js';
import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import { unauthorized } from '../core/errors.js';
import { actorOf, type PendingPrincipal } from '../http/auth.js';
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

/** The core's terms for a web login: its attempt and who (the services take these, never the session). */
export const coreLogin = <P extends PendingPrincipal>(pending: P): { attempt: P['attempt']; subject: P['user'] } => ({ attempt: pending.attempt, subject: pending.user });

/**
 * The web door's `hold` for a second factor or an enrollment confirmation. The core completes the
 * login attempt (src/core/completion.ts: one conditional DELETE, audited) and passes its
 * Authentication here, in its transaction; the web door's part is sessionOf: the session is
 * deleted and a NEW full session is made, so a token seen before the second factor is worth
 * nothing after it. That holds for a half-finished login and equally for a step-up on a full
 * session (a remembered browser going to My security, an authenticator added there, issue 12): a
 * token copied before the step-up does not inherit it. Of two requests finishing the same login at
 * once, one wins and the other rolls back with 401. Ending the attempt also voids what was bound to
 * it (an open push enrollment's QR code).
 */
export const sessionHold =
  (ctx: AppContext, pending: PendingPrincipal, actor: Actor) =>
  (tx: DbOrTx, authentication: Authentication): Promise<string> =>
    sessionOf(ctx, tx, pending.session, authentication, actor);

/**
 * How an enrollment confirmation ends in the web door: a new full session (`home`), or, for an
 * enrollment the Duo door opened (an application's enroll link, core/login-attempt.ts enrollsOnly),
 * no session at all: the user goes back to the application and signs in there again.
 */
export type EnrollmentEnd = { next: 'home'; token: string } | { next: 'application'; application: { name: string } };

/**
 * The web door's `hold` for an enrollment confirmation (every method: authenticator app, security
 * key, Tessera Authenticator): sessionOf, except for an enrollment an application's link opened,
 * which ends here without a session: the pending session is deleted (of two requests finishing
 * it at once, one wins; the other rolls back with 401) and the answer names the application.
 */
export const enrollmentHold =
  (ctx: AppContext, pending: PendingPrincipal, actor: Actor) =>
  async (tx: DbOrTx, authentication: Authentication): Promise<EnrollmentEnd> => {
    if (authentication.signsIn) return { next: 'home', token: await sessionOf(ctx, tx, pending.session, authentication, actor) };
    await endSession(tx, pending.session);
    return { next: 'application', application: (await returnTo(tx, pending.attempt)) ?? { name: 'the application' } };
  };

/** The application an enrollment goes back to when it signs in nowhere (an application's enroll link), by name; else null. */
export async function returnTo(db: DbOrTx, attempt: LoginAttempt): Promise<{ name: string } | null> {
  if (!enrollsOnly(attempt) || attempt.applicationId === null || attempt.firmId === null) return null;
  const app = await db.selectFrom('applications').select('name').where('id', '=', attempt.applicationId).where('firm_id', '=', attempt.firmId).executeTakeFirst();
  return { name: app?.name ?? 'the application' };
}

/** Deletes the session as it was read (same stage): 401 when it already ended or changed meanwhile. */
async function endSession(db: DbOrTx, session: Session): Promise<void> {
  const gone = await db.deleteFrom('sessions').where('id', '=', session.id).where('stage', '=', session.stage).executeTakeFirst();
  if (Number(gone.numDeletedRows) === 0) throw unauthorized();
}

/**
 * The web door's answer to an Authentication: the session (pending, or full for a step-up) replaced by a new full one; returns its token.
 * Only of the web door's own logins: a login another door opened (an application's enroll link) never becomes a Tessera session.
 */
export async function sessionOf(ctx: AppContext, db: DbOrTx, session: Session, authentication: Authentication, actor: Actor): Promise<string> {
  if (authentication.door !== 'web' || !authentication.signsIn) throw unauthorized();
  const now = ctx.clock.now();
  await endSession(db, session);
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
    mfaBypassed: authentication.stepUp ? session.mfa_bypassed === 1 : authentication.secondFactor.satisfied === 'not_needed' && authentication.secondFactor.reason === 'no_seat_bypass',
    ip: actor.ip,
    userAgent: actor.userAgent,
  });
}

/** The "remember this browser" cookie's name (its token: src/core/remembered-browsers.ts). */
export function rememberCookieName(ctx: AppContext): string {
  return ctx.config.publicUrl.protocol === 'https:' ? '__Host-tessera_remember' : 'tessera_remember';
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
