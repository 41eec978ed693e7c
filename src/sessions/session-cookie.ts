import { fastifyCookie, type SerializeOptions } from '@fastify/cookie';
import type { AppContext } from '../context.js';
import { loadSession } from './session.service.js';
import type { Session } from './session.table.js';

/**
 * The Tessera session as every door that meets a browser reads it: the web door (src/http/auth.ts)
 * and the OpenID Connect door (src/oidc/interaction.ts), which reuses it for single sign-on across
 * a firm's applications. Here rather than in either door, which do not import each other.
 */

/** The cookie is host-only; with https it gets the __Host- prefix (Secure, Path=/, no Domain). */
export function sessionCookieName(ctx: AppContext): string {
  return ctx.config.publicUrl.protocol === 'https:' ? '__Host-tessera_session' : 'tessera_session';
}

/**
 * The session cookie's attributes, one list for every door that sets or clears it (the web door's
 * login and logout, the OpenID Connect door's logout), so a cleared cookie always matches the one
 * it clears: HttpOnly (no script reads the token), SameSite=Lax (not sent on cross-site posts),
 * Secure with https, Path=/.
 */
export function sessionCookieOptions(ctx: AppContext): SerializeOptions & { httpOnly: true; sameSite: 'lax'; path: '/'; secure: boolean } {
  return { httpOnly: true, sameSite: 'lax', secure: ctx.config.publicUrl.protocol === 'https:', path: '/' };
}

/** The same cookie, emptied and expired: what a logout sends. */
export function clearedSessionCookieOptions(ctx: AppContext): SerializeOptions {
  return { ...sessionCookieOptions(ctx), expires: new Date(0), maxAge: 0 };
}

/** The Set-Cookie header value that clears the session cookie, for a door that writes its own headers (the OIDC door's Koa context). */
export function clearedSessionCookieHeader(ctx: AppContext): string {
  return fastifyCookie.serialize(sessionCookieName(ctx), '', clearedSessionCookieOptions(ctx));
}

/** The live session behind a raw Cookie header, or null (no cookie, an unknown token, an ended session). */
export async function sessionFromCookieHeader(ctx: AppContext, header: string | undefined): Promise<{ session: Session; token: string } | null> {
  const token = cookieValue(header, sessionCookieName(ctx));
  if (!token) return null;
  const session = await loadSession(ctx, token);
  return session ? { session, token } : null;
}

/** One cookie's value from a Cookie header (RFC 6265 5.4 syntax; the session token is base64url, never quoted or encoded). */
export function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/** How a full session's user signed in: its RFC 8176 `amr` and the login's time (ms). A session from before migration 0019: the password, at its creation. */
export function sessionAuthentication(session: Session): { amr: string[]; authTime: number } {
  let amr: string[] = ['pwd'];
  if (session.amr !== null) {
    try {
      const parsed: unknown = JSON.parse(session.amr);
      if (Array.isArray(parsed) && parsed.every((v) => typeof v === 'string')) amr = parsed;
    } catch {
      // Never written malformed; read as the weakest claim if it ever were.
    }
  } else if (session.second_factor_at !== null) amr = ['pwd', 'mfa'];
  return { amr, authTime: Number(session.auth_time ?? session.created_at) };
}
