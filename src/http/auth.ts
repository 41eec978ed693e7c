import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import { isActiveUser, type User } from '../directory/user.table.js';
import { AppError, forbidden, unauthorized } from '../core/errors.js';
import type { Firm } from '../firms/firm.table.js';
import type { SessionStage } from '../login/mfa-gate.js';
import type { Operator } from '../operators/operator.table.js';
import { loadSession } from '../sessions/session.service.js';
import { clearedSessionCookieOptions, sessionCookieName, sessionCookieOptions } from '../sessions/session-cookie.js';
import type { Session } from '../sessions/session.table.js';
import { attemptOfSession, findAttemptOfSession, type LoginAttempt } from '../core/login-attempt.js';
import { enrollmentDue } from '../core/decision.js';
import type { FactorUser } from '../factors/factor.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The live session behind the cookie, set for /api routes; null when there is none. */
    session: Session | null;
  }
}

export { sessionCookieName };

export function setSessionCookie(ctx: AppContext, reply: FastifyReply, token: string): void {
  reply.setCookie(sessionCookieName(ctx), token, { ...sessionCookieOptions(ctx), maxAge: Math.floor(ctx.config.sessionAbsoluteMs / 1000) });
}

export function clearSessionCookie(ctx: AppContext, reply: FastifyReply): void {
  reply.setCookie(sessionCookieName(ctx), '', clearedSessionCookieOptions(ctx));
}

export function sessionToken(ctx: AppContext, request: FastifyRequest): string | null {
  return request.cookies[sessionCookieName(ctx)] ?? null;
}

export async function attachSession(ctx: AppContext, request: FastifyRequest): Promise<void> {
  const token = sessionToken(ctx, request);
  request.session = token ? await loadSession(ctx, token) : null;
}

export function actorOf(request: FastifyRequest): Actor {
  const s = request.session;
  const ua = request.headers['user-agent'];
  return {
    type: s && s.stage === 'full' ? s.principal : 'anonymous',
    id: s && s.stage === 'full' ? (s.principal === 'operator' ? s.operator_id : s.user_id) : null,
    firmId: s?.firm_id ?? null,
    ip: request.ip,
    userAgent: typeof ua === 'string' ? ua : null,
  };
}

/** The session's user and their firm, in one query (every authenticated request pays for it). */
async function loadUserAndFirm(ctx: AppContext, userId: string, firmId: string): Promise<{ user: User; firm: Firm } | null> {
  const row = await ctx.db
    .selectFrom('users')
    .innerJoin('firms', 'firms.id', 'users.firm_id')
    .selectAll('users')
    .select(['firms.slug as firm_slug', 'firms.name as firm_name', 'firms.created_at as firm_created_at'])
    .where('users.id', '=', userId)
    .where('users.firm_id', '=', firmId)
    .executeTakeFirst();
  if (!row) return null;
  const { firm_slug, firm_name, firm_created_at, ...user } = row;
  return { user, firm: { id: user.firm_id, slug: firm_slug, name: firm_name, created_at: firm_created_at } };
}

/** An operator's session that has not passed the operator's own second factor (issue 8.6): a stable 403, so the console sends them to /mfa or /enroll. */
export const mfaRequired = () =>
  new AppError('MFA_REQUIRED');

async function loadActiveOperator(ctx: AppContext, operatorId: string): Promise<Operator> {
  const op = await ctx.db.selectFrom('operators').selectAll().where('id', '=', operatorId).executeTakeFirst();
  if (!op || op.status !== 'active') throw unauthorized();
  return op;
}

const operatorPassedMfa = (s: Session) => s.stage === 'full' && s.second_factor_at !== null;

/**
 * Every operator API path (/api/v1/operator/..., the login aside) refuses an operator's session
 * that has not passed its second factor with 403 MFA_REQUIRED, before the request is even
 * validated, so the answer is the same whatever the body (issue 8.6). requireOperator, in
 * every operator route, checks it again.
 */
export function refusePendingOperator(request: FastifyRequest): void {
  const s = request.session;
  if (s?.principal !== 'operator' || operatorPassedMfa(s)) return;
  const path = request.url.split('?')[0]!;
  if (path.startsWith('/api/v1/operator/') && path !== '/api/v1/operator/login') throw mfaRequired();
}

/**
 * A fully logged-in operator who passed their second factor in this session, or 401/403.
 * Every operator route calls this: a session still at the second-factor or enrollment step
 * (or one that somehow never passed a second factor) gets 403 MFA_REQUIRED.
 */
export async function requireOperator(ctx: AppContext, request: FastifyRequest): Promise<Operator> {
  const s = request.session;
  if (!s) throw unauthorized();
  if (s.principal === 'operator' && !operatorPassedMfa(s)) throw mfaRequired();
  if (s.stage !== 'full') throw unauthorized();
  if (s.principal !== 'operator' || !s.operator_id) throw forbidden('This is for platform operators only.');
  return loadActiveOperator(ctx, s.operator_id);
}

/** A fully logged-in, active firm user (and their firm), or 401/403. */
export async function requireUser(ctx: AppContext, request: FastifyRequest): Promise<{ user: User; firm: Firm }> {
  const s = request.session;
  if (!s || s.stage !== 'full') throw unauthorized();
  if (s.principal !== 'user' || !s.user_id || !s.firm_id) throw forbidden('This is for firm users only.');
  const found = await loadUserAndFirm(ctx, s.user_id, s.firm_id);
  if (!found || !isActiveUser(found.user)) throw unauthorized();
  return found;
}

/**
 * A firm superuser. Every admin route scopes its queries by the returned firm id. A superuser whose
 * own account became covered after they signed in (they enabled MFA for case managers, say) owes
 * an enrollment while a seat is free: 403 MFA_ENROLLMENT_REQUIRED at their next admin request, and
 * the admin pages send them to /enroll (issue 16 item 4). The core's decision says so
 * (enrollmentDue), not a copy of the rule; with no seat free the bypass goes on, as at login.
 */
export async function requireSuperuser(ctx: AppContext, request: FastifyRequest): Promise<{ user: User; firm: Firm }> {
  const who = await requireUser(ctx, request);
  if (who.user.is_superuser !== 1) throw forbidden('This is for firm administrators (superusers) only.');
  if (await enrollmentDue(ctx, ctx.db, who.user)) throw new AppError('MFA_ENROLLMENT_REQUIRED');
  return who;
}

/** What every firm administration route starts with: the superuser's firm (every query is scoped by it) and the actor of the change for the audit log. */
export async function requireFirmAdmin(ctx: AppContext, request: FastifyRequest): Promise<{ firmId: string; actor: Actor }> {
  const { user, firm } = await requireSuperuser(ctx, request);
  return { firmId: firm.id, actor: { ...actorOf(request), id: user.id, firmId: firm.id } };
}

/**
 * The web door's view of a login in progress: its session, its attempt (src/core/login-attempt.ts,
 * one per session: what the services bind challenges, pushes and activations to), and who.
 */
export interface PendingLogin {
  session: Session;
  attempt: LoginAttempt;
  user: User;
  firm: Firm;
}

/** An operator as the factors see them: no firm (FactorUser with firm_id null). */
export type OperatorSubject = Operator & { firm_id: null };

/** An operator's login at the second-factor or enrollment step (or a full session adding a factor): no firm. */
export interface PendingOperatorLogin {
  session: Session;
  attempt: LoginAttempt;
  user: OperatorSubject;
  firm: null;
}

/** Either: the second-factor and enrollment steps serve firm users and operators alike (`firm === null`: an operator). */
export type PendingPrincipal = PendingLogin | PendingOperatorLogin;

/**
 * The session of a firm user at one of the given stages (a half-finished login, or a full
 * one where the route allows it, e.g. adding an authenticator), with its active user and
 * firm; else 401. Only the /mfa routes call this: everything else uses requireUser, which
 * refuses a half-finished login.
 */
export async function requirePendingLogin(ctx: AppContext, request: FastifyRequest, stages: readonly SessionStage[]): Promise<PendingLogin> {
  const s = request.session;
  if (!s || !stages.includes(s.stage as SessionStage) || s.principal !== 'user' || !s.user_id || !s.firm_id) throw unauthorized();
  const found = await loadUserAndFirm(ctx, s.user_id, s.firm_id);
  if (!found || !isActiveUser(found.user)) throw unauthorized();
  return { session: s, attempt: await webAttempt(ctx, s, found.user), ...found };
}

/**
 * The attempt of this session: a pending session's was opened with it at the password step (or by an application's enroll link); a
 * full session gets one ('step_up') the first time it answers a second factor again or adds an
 * authenticator. It ends with the session (ON DELETE CASCADE).
 */
async function webAttempt(ctx: AppContext, s: Session, owner: FactorUser): Promise<LoginAttempt> {
  // A pending session's attempt was opened with it (the password step, an application's enroll
  // link) and is never opened again: one that ended took the login with it. Opening a fresh web
  // attempt here would turn a link's login (door duo, which signs in nowhere) into a web one.
  const attempt =
    s.stage === 'full'
      ? await attemptOfSession(ctx, ctx.db, { owner, stage: 'step_up', door: 'web', sessionId: s.id, expiresAt: Number(s.expires_at) })
      : await findAttemptOfSession(ctx.db, s.id);
  // The session ended since it was read (a concurrent request finished the login): nothing to answer.
  if (!attempt) throw unauthorized();
  // A step-up's freshness travels on the attempt: the core's services read no session.
  return { ...attempt, secondFactorAt: s.second_factor_at === null ? null : Number(s.second_factor_at) };
}

/** requirePendingLogin for firm users and operators: the routes of the second factor, enrollment and My security. */
export async function requirePendingPrincipal(ctx: AppContext, request: FastifyRequest, stages: readonly SessionStage[]): Promise<PendingPrincipal> {
  const s = request.session;
  if (s?.principal !== 'operator') return requirePendingLogin(ctx, request, stages);
  if (!stages.includes(s.stage as SessionStage) || !s.operator_id) throw unauthorized();
  const op = await loadActiveOperator(ctx, s.operator_id);
  const user: OperatorSubject = { ...op, firm_id: null };
  return { session: s, attempt: await webAttempt(ctx, s, user), user, firm: null };
}
