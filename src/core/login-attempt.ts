import { randomUUID } from 'node:crypto';
import type { AppContext } from '../context.js';
import { isForeignKeyViolation } from '../db/constraints.js';
import type { DbOrTx } from '../db/database.js';
import type { FactorUser } from '../factors/factor.js';
import type { AttemptStage, Door, LoginAttemptRow } from './login-attempt.table.js';

/**
 * A login in progress, whatever the door (issue 13 item 2): who (a firm user, or an operator:
 * `firmId` null), what it waits for, where it came in, for which application, until when. What
 * the login binds (a WebAuthn challenge, a push transaction, a device activation) names the
 * attempt, so only the login that began a ceremony can finish it, and ending the attempt voids
 * them all. The web door keeps one attempt per session (`sessionId`): the password step opens it
 * with the pending session, and a full session gets one the first time it steps up or adds an
 * authenticator; the attempt is deleted with its session (logout, completion, a password change, a
 * fraud report). The Duo door will open attempts with no browser (a txid), the OIDC door inside
 * an interaction.
 */
export interface LoginAttempt {
  id: string;
  subject: { type: 'user' | 'operator'; id: string };
  firmId: string | null;
  stage: AttemptStage;
  door: Door;
  applicationId: string | null;
  sessionId: string | null;
  expiresAt: number;
  /**
   * A step-up: when the subject last answered a second factor in the login it steps up (the web
   * door fills it from its session's second_factor_at); null if never, absent when not known.
   */
  secondFactorAt?: number | null;
}

/**
 * How long a second factor passed in a login counts as a step-up: security changes (My
 * security, adding an authenticator) need one at most this old, then ask again (issue 12). A
 * session token stolen after the step-up (a copied cookie) therefore inherits at most this
 * much of it, and a session left open on a remembered browser does not keep it all day.
 */
export const STEP_UP_MAX_AGE_MS = 15 * 60_000;

/**
 * An enrollment the Duo door opened (a preauth's enroll_portal_url, served by Tessera's own
 * enrollment pages; /auth/v2/enroll): like Duo's own enrollment portal, it ends with the
 * authenticator set up and NO sign-in anywhere. The link stands in for the password only because
 * the application vouched for the user; whoever holds the application's secret key could mint
 * one, so a session of its completion would be a Tessera login without the Tessera password
 * (an administrator's, and single sign-on into every OIDC application). The user goes back to the
 * application, whose next preauth asks for the new factor.
 */
export const enrollsOnly = (attempt: Pick<LoginAttempt, 'door' | 'stage'>): boolean => attempt.door === 'duo' && attempt.stage === 'enroll';

/** Did the login this attempt steps up pass a second factor recently enough for a security change? */
export function hasFreshSecondFactor(attempt: Pick<LoginAttempt, 'stage' | 'secondFactorAt'>, now: number): boolean {
  return attempt.stage === 'step_up' && attempt.secondFactorAt != null && now - attempt.secondFactorAt < STEP_UP_MAX_AGE_MS;
}

const attemptOf = (r: LoginAttemptRow): LoginAttempt => ({
  id: r.id,
  subject: r.subject_type === 'operator' ? { type: 'operator', id: r.operator_id! } : { type: 'user', id: r.user_id! },
  firmId: r.firm_id,
  stage: r.stage,
  door: r.door,
  applicationId: r.application_id,
  sessionId: r.session_id,
  expiresAt: Number(r.expires_at),
});

export interface OpenAttempt {
  owner: FactorUser;
  stage: AttemptStage;
  door: Door;
  expiresAt: number;
  applicationId?: string | null;
  sessionId?: string | null;
}

const rowOf = (ctx: AppContext, a: OpenAttempt) => ({
  id: randomUUID(),
  subject_type: a.owner.firm_id === null ? ('operator' as const) : ('user' as const),
  user_id: a.owner.firm_id === null ? null : a.owner.id,
  operator_id: a.owner.firm_id === null ? a.owner.id : null,
  firm_id: a.owner.firm_id,
  stage: a.stage,
  door: a.door,
  application_id: a.applicationId ?? null,
  session_id: a.sessionId ?? null,
  created_at: ctx.clock.now(),
  expires_at: a.expiresAt,
  enrolling_authenticator_id: null,
});

/** Opens an attempt (in the caller's transaction: the password step's, with its pending session). */
export async function openAttempt(ctx: AppContext, db: DbOrTx, a: OpenAttempt): Promise<LoginAttempt> {
  const row = rowOf(ctx, a);
  await db.insertInto('login_attempts').values(row).execute();
  return attemptOf(row);
}

/** The attempt a web session holds, or null (none: never opened, or ended). */
export async function findAttemptOfSession(db: DbOrTx, sessionId: string): Promise<LoginAttempt | null> {
  const found = await db.selectFrom('login_attempts').selectAll().where('session_id', '=', sessionId).executeTakeFirst();
  return found ? attemptOf(found) : null;
}

/**
 * The attempt of a web session, opened on first need (a full session stepping up or adding an
 * authenticator; a pending session has had one since its password step). Of two requests of the
 * same session opening one at once, the unique session_id keeps one, which both then read. Null
 * when the session has just ended (completed by a concurrent request, logged out): its attempt
 * went with it and no new one may be opened for it.
 */
export async function attemptOfSession(ctx: AppContext, db: DbOrTx, a: OpenAttempt & { sessionId: string }): Promise<LoginAttempt | null> {
  const found = await findAttemptOfSession(db, a.sessionId);
  if (found) return found;
  try {
    await db.insertInto('login_attempts').values(rowOf(ctx, a)).onConflict((oc) => oc.column('session_id').doNothing()).execute();
  } catch (err) {
    if (isForeignKeyViolation(err)) return null;
    throw err;
  }
  return findAttemptOfSession(db, a.sessionId);
}

/** Ends an attempt (what it bound is void from then on). */
export async function endAttempt(db: DbOrTx, attemptId: string): Promise<void> {
  await db.deleteFrom('login_attempts').where('id', '=', attemptId).execute();
}

/** Housekeeping: attempts past their expiry (their sessions, if any, are gone or going). */
export async function pruneLoginAttempts(db: DbOrTx, now: number): Promise<void> {
  await db.deleteFrom('login_attempts').where('expires_at', '<=', now).execute();
}
