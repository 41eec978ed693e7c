import { audit, type Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import { isActiveUser } from '../directory/user.table.js';
import { AppError, tooManyAttempts } from '../core/errors.js';
import { currentLock } from '../mfa/lockout.service.js';
import { metrics } from '../ops/metrics.js';
import { createSession } from '../sessions/session.service.js';
import { PENDING_LOGIN_MS, decideAfterPassword, decideOperatorAfterPassword, recordBypass, type GateDecision, type LoginNotice } from './mfa-gate.js';
import { verifyPassword } from './passwords.js';
import { ACCOUNT_POLICY, IP_POLICY, accountKey, reserveAttempt, settleAttempt } from './throttle.js';

export const invalidCredentials = () =>
  new AppError('INVALID_CREDENTIALS');

/** How many accounts with one address we try a password against before asking for the firm. */
const MAX_CANDIDATES = 10;

export interface PasswordLoginInput {
  realm: 'firm' | 'operator';
  email: string;
  password: string;
  /** Narrows a firm login to one firm; needed only when the address exists in several. */
  firmSlug?: string;
  actor: Actor;
  /** The "remember this browser" cookie, if the browser sent one. */
  rememberToken?: string;
}

export interface LoginOutcome {
  token: string;
  principal: 'operator' | 'user';
  /** Where the user goes next: the homepage, or the second-factor or enrollment screen. */
  next: 'home' | 'second_factor' | 'enroll';
  notice?: LoginNotice;
}

const NEXT_OF_STAGE = { full: 'home', second_factor: 'second_factor', enroll: 'enroll' } as const;

interface Candidate {
  kind: 'operator' | 'user';
  id: string;
  firmId: string | null;
  passwordHash: string | null;
  active: boolean;
}

async function findCandidates(ctx: AppContext, input: PasswordLoginInput, email: string): Promise<Candidate[]> {
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
 * Password login, the same for unknown and known addresses: throttled by what was typed,
 * a full argon2 verification either way, one answer for every kind of wrong. Returns the
 * session token; the stage says what the session may do (later issues add the MFA stages).
 */
export async function passwordLogin(ctx: AppContext, input: PasswordLoginInput): Promise<LoginOutcome> {
  const email = input.email.trim().toLowerCase();
  const decision = await reserveAttempt(ctx.db, ctx.clock, [
    { scope: 'account', key: accountKey(input.realm, email), policy: ACCOUNT_POLICY },
    { scope: 'ip', key: input.actor.ip ?? 'unknown', policy: IP_POLICY },
  ]);
  if (!decision.allowed) {
    const retryAfterSeconds = Math.ceil(decision.retryAfterMs / 1000);
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
    await settleAttempt(ctx.db, decision.ticket, 'failure');
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
  await settleAttempt(ctx.db, decision.ticket, 'success');
  if (matches.length > 1) {
    metrics(ctx).login('password', 'firm_required');
    // Only someone who knows the password learns that the address is in several firms.
    throw new AppError('FIRM_REQUIRED');
  }

  const who = matches[0]!;
  const outcome = await ctx.db.transaction().execute(async (tx) => {
    const actor: Actor = { ...input.actor, type: who.kind, id: who.id, firmId: who.firmId };
    // Operators always need their own second factor (issue 8.6): enrolment at the first login, then every time.
    let decision: GateDecision = who.kind === 'operator' ? await decideOperatorAfterPassword(tx, who.id) : { stage: 'full' };
    if (who.kind === 'user') {
      const user = await tx.selectFrom('users').selectAll().where('id', '=', who.id).executeTakeFirstOrThrow();
      decision = await decideAfterPassword(ctx, tx, user, input.rememberToken);
      if (decision.notice === 'mfa_bypassed_no_seat') await recordBypass(ctx, tx, actor, who.id, who.firmId!);
      if (decision.refused === 'mfa_locked') {
        // Committed with the refusal: the administrators see a locked account being tried from a remembered browser.
        const lock = await currentLock(ctx, tx, user);
        await audit(tx, ctx.clock.now(), actor, {
          event: 'login.refused_locked',
          subjectType: 'user',
          subjectId: who.id,
          details: { realm: input.realm, factors: ['password'], rememberedBrowser: true, retryAfterSeconds: lock.details?.retryAfterSeconds },
        });
        return { refused: lock };
      }
    }
    const pending = decision.stage !== 'full';
    const token = await createSession(ctx, tx, {
      principal: who.kind,
      operatorId: who.kind === 'operator' ? who.id : null,
      userId: who.kind === 'user' ? who.id : null,
      firmId: who.firmId,
      stage: decision.stage,
      lifetimeMs: pending ? PENDING_LOGIN_MS : undefined,
      ip: input.actor.ip,
      userAgent: input.actor.userAgent,
    });
    await audit(tx, ctx.clock.now(), actor, {
      event: pending ? 'login.password_accepted' : 'login.succeeded',
      subjectType: who.kind,
      subjectId: who.id,
      details: { realm: input.realm, factors: ['password'], ...(pending ? { next: decision.stage } : {}), ...(decision.remembered ? { rememberedBrowser: true } : {}) },
    });
    return { token, principal: who.kind, next: NEXT_OF_STAGE[decision.stage], ...(decision.notice ? { notice: decision.notice } : {}) };
  });
  if ('refused' in outcome) {
    metrics(ctx).login('password', 'locked');
    throw outcome.refused;
  }
  metrics(ctx).login('password', 'success');
  return outcome;
}
