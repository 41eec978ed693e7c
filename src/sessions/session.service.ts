import { createHash, randomBytes } from 'node:crypto';
import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import type { Session, SessionTable } from './session.table.js';

/** A last-seen update is written at most this often, so reads do not all turn into writes. */
const TOUCH_EVERY_MS = 60_000;

export const hashToken = (token: string) => createHash('sha256').update(token).digest('base64url');

/** 128 random bits, base64url. */
export const newToken = () => randomBytes(16).toString('base64url');

export interface NewSessionInput {
  principal: SessionTable['principal'];
  operatorId?: string | null;
  userId?: string | null;
  firmId?: string | null;
  stage: string;
  ip: string | null;
  userAgent: string | null;
  /** Sooner than the absolute lifetime: a half-finished login gets 10 minutes. */
  lifetimeMs?: number;
  /** When a second factor was passed, for sessions that start right after one. */
  secondFactorAt?: number | null;
  /** How a full session's user signed in (RFC 8176), and when (epoch ms; now unless given): what the OpenID Provider claims for it. */
  amr?: readonly string[] | null;
  authTime?: number | null;
  /** The login went through on the password alone because no licence was free (the no-seat bypass). */
  mfaBypassed?: boolean;
}

/** Creates a session and returns the token for the cookie (the database keeps only its hash). */
export async function createSession(ctx: AppContext, db: DbOrTx, input: NewSessionInput): Promise<string> {
  const token = newToken();
  const now = ctx.clock.now();
  await db
    .insertInto('sessions')
    .values({
      id: hashToken(token),
      principal: input.principal,
      operator_id: input.operatorId ?? null,
      user_id: input.userId ?? null,
      firm_id: input.firmId ?? null,
      stage: input.stage,
      created_at: now,
      last_seen_at: now,
      expires_at: now + Math.min(input.lifetimeMs ?? Infinity, ctx.config.sessionAbsoluteMs),
      second_factor_at: input.secondFactorAt ?? null,
      amr: input.amr ? JSON.stringify(input.amr) : null,
      auth_time: input.amr ? (input.authTime ?? now) : null,
      mfa_bypassed: input.mfaBypassed ? 1 : 0,
      ip: input.ip,
      user_agent: input.userAgent?.slice(0, 512) ?? null,
    })
    .execute();
  return token;
}

/**
 * The live session behind a cookie token, or null. A session ends at its absolute
 * expiry or after the idle timeout, whichever comes first; an ended one is deleted.
 */
export async function loadSession(ctx: AppContext, token: string): Promise<Session | null> {
  if (!/^[A-Za-z0-9_-]{22}$/.test(token)) return null;
  const id = hashToken(token);
  const session = await ctx.db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
  if (!session) return null;
  const now = ctx.clock.now();
  if (now >= session.expires_at || now - session.last_seen_at >= ctx.config.sessionIdleMs) {
    await ctx.db.deleteFrom('sessions').where('id', '=', id).execute();
    return null;
  }
  if (now - session.last_seen_at >= TOUCH_EVERY_MS) {
    await ctx.db.updateTable('sessions').set({ last_seen_at: now }).where('id', '=', id).execute();
    session.last_seen_at = now;
  }
  return session;
}

export async function deleteSession(db: DbOrTx, token: string): Promise<void> {
  await db.deleteFrom('sessions').where('id', '=', hashToken(token)).execute();
}

/** Ends every session of a user: on disable, deletion, password change. */
export async function deleteUserSessions(db: DbOrTx, userId: string): Promise<void> {
  await db.deleteFrom('sessions').where('user_id', '=', userId).execute();
}

export async function deleteOperatorSessions(db: DbOrTx, operatorId: string): Promise<void> {
  await db.deleteFrom('sessions').where('operator_id', '=', operatorId).execute();
}

export async function pruneSessions(ctx: AppContext): Promise<void> {
  const now = ctx.clock.now();
  await ctx.db
    .deleteFrom('sessions')
    .where((eb) => eb.or([eb('expires_at', '<=', now), eb('last_seen_at', '<=', now - ctx.config.sessionIdleMs)]))
    .execute();
}
