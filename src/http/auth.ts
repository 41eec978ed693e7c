import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import { isActiveUser, type User } from '../directory/user.table.js';
import { forbidden, unauthorized } from '../errors.js';
import type { Firm } from '../firms/firm.table.js';
import type { SessionStage } from '../login/mfa-gate.js';
import type { Operator } from '../operators/operator.table.js';
import { loadSession } from '../sessions/session.service.js';
import type { Session } from '../sessions/session.table.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The live session behind the cookie, set for /api routes; null when there is none. */
    session: Session | null;
  }
}

/** The cookie is host-only; with https it gets the __Host- prefix (Secure, Path=/, no Domain). */
export function sessionCookieName(ctx: AppContext): string {
  return ctx.config.publicUrl.protocol === 'https:' ? '__Host-tessera_session' : 'tessera_session';
}

export function setSessionCookie(ctx: AppContext, reply: FastifyReply, token: string): void {
  reply.setCookie(sessionCookieName(ctx), token, {
    httpOnly: true,
    sameSite: 'lax',
    secure: ctx.config.publicUrl.protocol === 'https:',
    path: '/',
    maxAge: Math.floor(ctx.config.sessionAbsoluteMs / 1000),
  });
}

export function clearSessionCookie(ctx: AppContext, reply: FastifyReply): void {
  reply.clearCookie(sessionCookieName(ctx), { path: '/', secure: ctx.config.publicUrl.protocol === 'https:' });
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

/** A fully logged-in operator, or 401/403. */
export async function requireOperator(ctx: AppContext, request: FastifyRequest): Promise<Operator> {
  const s = request.session;
  if (!s || s.stage !== 'full') throw unauthorized();
  if (s.principal !== 'operator' || !s.operator_id) throw forbidden('This is for platform operators only.');
  const op = await ctx.db.selectFrom('operators').selectAll().where('id', '=', s.operator_id).executeTakeFirst();
  if (!op || op.status !== 'active') throw unauthorized();
  return op;
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

/** A firm superuser. Every admin route scopes its queries by the returned firm id. */
export async function requireSuperuser(ctx: AppContext, request: FastifyRequest): Promise<{ user: User; firm: Firm }> {
  const who = await requireUser(ctx, request);
  if (who.user.is_superuser !== 1) throw forbidden('This is for firm administrators (superusers) only.');
  return who;
}

export interface PendingLogin {
  session: Session;
  user: User;
  firm: Firm;
}

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
  return { session: s, ...found };
}
