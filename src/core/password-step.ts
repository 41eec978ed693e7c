import { audit, type Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import type { Transaction } from 'kysely';
import type { Database } from '../db/database.js';
import { isActiveUser, type User } from '../directory/user.table.js';
import { currentLock } from './lockout.js';
import { metrics } from '../ops/metrics.js';
import { decideAfterPassword, decideOperatorAfterPassword, type Decision } from './decision.js';
import { AppError, tooManyAttempts } from './errors.js';
import { openAttempt, type LoginAttempt } from './login-attempt.js';
import type { Door } from './login-attempt.table.js';
import { verifyPassword } from './passwords.js';
import { recordBypass } from './seats.js';
import { ACCOUNT_POLICY, IP_POLICY, accountKey, reserveAttempt, settleAttempt } from './throttle.js';
import { countLogin } from './login-counts.js';

export const invalidCredentials = () => new AppError('INVALID_CREDENTIALS');

/** How many accounts with one address we try a password against before asking for the firm. */
const MAX_CANDIDATES = 10;

export interface PasswordStepInput {
  realm: 'firm' | 'operator';
  email: string;
  password: string;
  /** Narrows a firm login to one firm; needed only when the address exists in several. */
  firmSlug?: string;
  actor: Actor;
  /** A remembered-browser token, if the door has one (the web door's cookie). */
  rememberToken?: string;
  /** The door the login came in by; the attempt of a pending login records it. */
  door: Door;
}

/** A correct password and the decision on it (src/core/decision.ts). */
export interface PasswordAccepted {
  subject: { type: 'operator' | 'user'; id: string; firmId: string | null };
  decision: Decision;
  /** What the login needs next: nothing ('full'), a second factor, an enrollment. */
  stage: 'full' | 'second_factor' | 'enroll';
  /** Signed in without a second factor because no seat was free. */
  bypassed: boolean;
}

/**
 * What a door keeps of the login in its own terms, made in the password step's transaction (the
 * web door: its session). A pending login's attempt is bound to it (`sessionId`) and ends with it
 * (`expiresAt`).
 */
export interface DoorHold<T> {
  value: T;
  expiresAt: number;
  sessionId?: string | null;
}

export interface PasswordStepResult<T> {
  accepted: PasswordAccepted;
  /** The login in progress: null when the decision signs the subject in at once. */
  attempt: LoginAttempt | null;
  /** What the door made (its session). */
  held: T;
}

interface Candidate {
  kind: 'operator' | 'user';
  id: string;
  firmId: string | null;
  passwordHash: string | null;
  active: boolean;
}

async function findCandidates(ctx: AppContext, input: PasswordStepInput, email: string): Promise<Candidate[]> {
  if (input.realm === 'operator') {
    const ops = await ctx.db.selectFrom('operators').selectAll().where('email', '=', email).execute();
    return ops.map((o) => ({ kind: 'operator', id: o.id, firmId: null, passwordHash: o.password_hash, active: o.status === 'active' }));
  }
  let q = ctx.db
    .selectFrom('users')
    .innerJoin('firms', 'firms.id', 'users.firm_id')
    .selectAll('users')
    .where('users.email', '=', email);
  if (input.firmSlug) q = q.where('firms.slug', '=', input.firmSlug.trim().toLowerCase());
  const users = await q.orderBy('users.created_at').limit(MAX_CANDIDATES).execute();
  return users.map((u) => ({ kind: 'user', id: u.id, firmId: u.firm_id, passwordHash: u.password_hash, active: isActiveUser(u) }));
}

/**
 * The password step, the same for unknown and known addresses: throttled by what was typed, a
 * full argon2 verification either way, one answer for every kind of wrong (INVALID_CREDENTIALS),
 * then the decision. The door's `hold` runs in the same transaction as the decision's audit and
 * the attempt (the web door makes its session there), so a login is all written or not at all.
 * A refusal (a remembered browser, but the second factor is locked) throws MFA_LOCKED.
 */
export async function passwordStep<T>(
  ctx: AppContext,
  input: PasswordStepInput,
  hold: (tx: Transaction<Database>, accepted: PasswordAccepted) => Promise<DoorHold<T>>,
): Promise<PasswordStepResult<T>> {
  const email = input.email.trim().toLowerCase();
  const throttle = await reserveAttempt(ctx.db, ctx.clock, [
    { scope: 'account', key: accountKey(input.realm, email), policy: ACCOUNT_POLICY },
    { scope: 'ip', key: input.actor.ip ?? 'unknown', policy: IP_POLICY },
  ]);
  if (!throttle.allowed) {
    const retryAfterSeconds = Math.ceil(throttle.retryAfterMs / 1000);
    await audit(ctx.db, ctx.clock.now(), input.actor, { event: 'login.throttled', details: { realm: input.realm, retryAfterSeconds } });
    metrics(ctx).login('password', 'throttled');
    throw tooManyAttempts(retryAfterSeconds);
  }

  const candidates = await findCandidates(ctx, input, email);
  const matches: Candidate[] = [];
  if (candidates.length === 0) await verifyPassword(null, input.password);
  for (const c of candidates) {
    if ((await verifyPassword(c.passwordHash, input.password)) && c.active) matches.push(c);
  }

  if (matches.length === 0) {
    await settleAttempt(ctx.db, throttle.ticket, 'failure');
    const only = candidates.length === 1 ? candidates[0]! : null;
    await audit(ctx.db, ctx.clock.now(), input.actor, {
      event: 'login.failed',
      firmId: only?.firmId ?? null,
      subjectType: only?.kind,
      subjectId: only?.id ?? null,
      details: { realm: input.realm, reason: only && !only.active ? 'account_inactive' : 'bad_credentials' },
    });
    metrics(ctx).login('password', 'failure');
    throw invalidCredentials();
  }
  await settleAttempt(ctx.db, throttle.ticket, 'success');
  if (matches.length > 1) {
    metrics(ctx).login('password', 'firm_required');
    // Only someone who knows the password learns that the address is in several firms.
    throw new AppError('FIRM_REQUIRED');
  }

  const who = matches[0]!;
  const outcome = await ctx.db.transaction().execute(async (tx) => {
    const actor: Actor = { ...input.actor, type: who.kind, id: who.id, firmId: who.firmId };
    // Operators always need their own second factor (issue 8.6).
    let user: User | null = null;
    let decision: Decision;
    if (who.kind === 'operator') decision = await decideOperatorAfterPassword(ctx, tx, who.id);
    else {
      user = await tx.selectFrom('users').selectAll().where('id', '=', who.id).executeTakeFirstOrThrow();
      decision = await decideAfterPassword(ctx, tx, user, input.rememberToken);
    }
    const { reason } = decision;
    const remembered = reason === 'remembered_browser' || reason === 'locked';
    if (reason === 'no_seat_bypass') await recordBypass(ctx, tx, actor, who.id, who.firmId!);
    if (decision.verdict === 'refused' && user) {
      // Committed with the refusal: the administrators see a locked account being tried from a remembered browser.
      const lock = await currentLock(ctx, tx, user);
      await audit(tx, ctx.clock.now(), actor, {
        event: 'login.refused_locked',
        subjectType: 'user',
        subjectId: who.id,
        details: { realm: input.realm, factors: ['password'], rememberedBrowser: true, reason, retryAfterSeconds: lock.details?.retryAfterSeconds },
      });
      return { refused: lock };
    }
    const stage = decision.verdict === 'refused' ? 'second_factor' : decision.verdict;
    const pending = stage !== 'full';
    const accepted: PasswordAccepted = { subject: { type: who.kind, id: who.id, firmId: who.firmId }, decision, stage, bypassed: reason === 'no_seat_bypass' };
    const held = await hold(tx, accepted);
    // The login in progress (login-attempt.ts), bound to what the door holds and ending with it.
    const attempt = pending
      ? await openAttempt(ctx, tx, { owner: { id: who.id, firm_id: who.firmId }, stage, door: input.door, sessionId: held.sessionId ?? null, expiresAt: held.expiresAt })
      : null;
    await audit(tx, ctx.clock.now(), actor, {
      event: pending ? 'login.password_accepted' : 'login.succeeded',
      subjectType: who.kind,
      subjectId: who.id,
      details: { realm: input.realm, factors: ['password'], ...(pending ? { next: stage } : {}), ...(remembered ? { rememberedBrowser: true } : {}), reason },
    });
    // Signed in on the password alone: a login of Tessera's own sign-in (login-counts.ts).
    if (!pending && who.kind === 'user') await countLogin(tx, { firmId: who.firmId!, applicationId: null, at: ctx.clock.now(), kind: reason === 'no_seat_bypass' ? 'bypass' : 'password_only' });
    return { accepted, attempt, held: held.value };
  });
  if ('refused' in outcome) {
    metrics(ctx).login('password', 'locked');
    throw outcome.refused;
  }
  metrics(ctx).login('password', 'success');
  return outcome;
}
