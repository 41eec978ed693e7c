import { sql } from 'kysely';
import { audit, type Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import { AppError } from '../core/errors.js';
import { LOGIN_POLICY_DEFAULTS, loadLoginPolicy, type LoginPolicy } from '../mfa-policy/mfa-login-policy.service.js';
import { templates } from '../notify/templates.js';
import { mailSuperusers } from '../notify/superusers.js';
import { PLATFORM_NAME, mailOperators, operatorsUrl } from '../operators/operator-mail.js';

/**
 * Operators have no firm and so no firm policy: the defaults (10 failures lock for 15
 * minutes), and never "remember this browser" (the operator console always asks).
 */
export const OPERATOR_LOGIN_POLICY: Readonly<LoginPolicy> = Object.freeze({ ...LOGIN_POLICY_DEFAULTS, rememberDays: 0, passkeysEnabled: false });

/** The login policy that applies to a user (their firm's) or an operator (OPERATOR_LOGIN_POLICY). */
export async function loginPolicyOf(db: DbOrTx, owner: { firm_id: string | null }): Promise<LoginPolicy> {
  return owner.firm_id === null ? OPERATOR_LOGIN_POLICY : loadLoginPolicy(db, owner.firm_id);
}

/** The row that holds the failure count: the user's (within their firm) or the operator's. Both tables have the same two columns. */
function counterRow(db: DbOrTx, owner: { id: string; firm_id: string | null }) {
  const q = db.updateTable(owner.firm_id === null ? 'operators' : 'users').where('id', '=', owner.id);
  return owner.firm_id === null ? q : q.where(sql<boolean>`firm_id = ${owner.firm_id}`);
}

async function lockedUntilNow(db: DbOrTx, owner: { id: string; firm_id: string | null }): Promise<number | null> {
  const row = await db
    .selectFrom(owner.firm_id === null ? 'operators' : 'users')
    .select('mfa_locked_until')
    .where('id', '=', owner.id)
    .executeTakeFirst();
  return row?.mfa_locked_until ?? null;
}

/** The one answer to every wrong, malformed, replayed or expired code: it never says which. */
export const invalidCode = (attemptsLeft: number) => new AppError('INVALID_CODE', undefined, { attemptsLeft });

export function mfaLocked(until: number, now: number): AppError {
  const retryAfterSeconds = Math.max(1, Math.ceil((until - now) / 1000));
  const minutes = Math.ceil(retryAfterSeconds / 60);
  return new AppError(
    'MFA_LOCKED',
    `Too many wrong codes: your second factor is locked for ${minutes} minute${minutes === 1 ? '' : 's'}. Try again later, or ask your administrator to unlock it.`,
    { retryAfterSeconds },
  );
}

/** When the user's second factor is locked until, or null when it is not locked now. */
export function lockedUntil(user: { mfa_locked_until: number | null }, now: number): number | null {
  return user.mfa_locked_until !== null && user.mfa_locked_until > now ? user.mfa_locked_until : null;
}

/** Refuses before anything is checked while the second factor is locked: a locked account is not an oracle. */
export function assertNotLocked(user: { mfa_locked_until: number | null }, now: number): void {
  const until = lockedUntil(user, now);
  if (until !== null) throw mfaLocked(until, now);
}

/** A firm user, or an operator (firm_id null). */
export interface LockoutSubject {
  id: string;
  firm_id: string | null;
  name: string;
  email: string;
}

export type FailureOutcome = { locked: false; attemptsLeft: number } | { locked: true; until: number };

/**
 * Counts one failed second-factor attempt of any factor (issue 4.5) in ONE conditional
 * UPDATE ... RETURNING: two wrong codes racing count twice, and the attempt that reaches the
 * firm's threshold is the one that locks (count back to 0, locked until now + minutes).
 * The count lives in the users (operators) row, so it survives new challenges and restarts.
 * Audits the failure (a replay as `mfa.replay_refused`), and on lockout audits `mfa.locked`
 * and mails the firm's superusers (an operator's lockout: every operator). Call in the
 * transaction of the attempt.
 */
export async function recordFailure(
  ctx: AppContext,
  db: DbOrTx,
  actor: Actor,
  user: LockoutSubject,
  policy: LoginPolicy,
  attempt: { method: string; reason: string; detail?: string; during?: 'enrollment' },
): Promise<FailureOutcome> {
  const now = ctx.clock.now();
  const threshold = policy.lockoutThreshold;
  const until = now + policy.lockoutMinutes * 60_000;
  const reaches = sql`mfa_failed_count + 1 >= cast(${threshold} as integer)`;
  const row = await counterRow(db, user)
    .set({
      mfa_failed_count: sql<number>`case when ${reaches} then 0 else mfa_failed_count + 1 end`,
      mfa_locked_until: sql<number | null>`case when ${reaches} then cast(${until} as bigint) else mfa_locked_until end`,
    })
    .where((eb) => eb.or([eb('mfa_locked_until', 'is', null), eb('mfa_locked_until', '<=', now)]))
    .returning(['mfa_failed_count', 'mfa_locked_until'])
    .executeTakeFirst();

  const subject = { firmId: user.firm_id, subjectType: user.firm_id === null ? 'operator' : 'user', subjectId: user.id } as const;
  if (!row) {
    // Locked by a concurrent attempt between our check and this one: it counted, this one need not.
    return { locked: true, until: (await lockedUntilNow(db, user)) ?? until };
  }
  const justLocked = row.mfa_locked_until !== null && Number(row.mfa_locked_until) > now;
  const attemptsLeft = justLocked ? 0 : threshold - Number(row.mfa_failed_count);
  await audit(db, now, actor, {
    ...subject,
    event: attempt.reason === 'replay' ? 'mfa.replay_refused' : 'mfa.failed',
    details: {
      method: attempt.method,
      reason: attempt.reason,
      ...(attempt.detail ? { detail: attempt.detail } : {}),
      attemptsLeft,
      ...(attempt.during ? { during: attempt.during } : {}),
    },
  });
  if (!justLocked) return { locked: false, attemptsLeft };

  await audit(db, now, actor, { ...subject, event: 'mfa.locked', details: { failures: threshold, minutes: policy.lockoutMinutes, until } });
  await mailLockout(ctx, db, user, policy);
  return { locked: true, until };
}

/**
 * Sets the count in ONE conditional UPDATE that holds only while the second factor is not
 * locked, so a lock committed by a concurrent attempt is seen (PostgreSQL re-reads the row it
 * waited for; SQLite has one writer). False when locked: then nothing may pass.
 */
async function updateUnlessLocked(ctx: AppContext, db: DbOrTx, owner: { id: string; firm_id: string | null }, count: 0 | 'unchanged'): Promise<boolean> {
  const now = ctx.clock.now();
  const done = await counterRow(db, owner)
    .set({ mfa_failed_count: count === 0 ? 0 : sql<number>`mfa_failed_count` })
    .where((eb) => eb.or([eb('mfa_locked_until', 'is', null), eb('mfa_locked_until', '<=', now)]))
    .executeTakeFirst();
  return Number(done.numUpdatedRows) === 1;
}

/** A success: the count starts again. False when the second factor got locked meanwhile (then nothing may pass). */
export function resetFailures(ctx: AppContext, db: DbOrTx, owner: { id: string; firm_id: string | null }): Promise<boolean> {
  return updateUnlessLocked(ctx, db, owner, 0);
}

/**
 * For a way in that skips the second factor without answering one (a remembered browser): is
 * the second factor unlocked right now? Checked by the same conditional UPDATE as a success
 * (it changes nothing, and takes the row lock until commit), so a lockout racing the login
 * is not missed; the count is left alone, as no factor was answered.
 */
export function notLocked(ctx: AppContext, db: DbOrTx, owner: { id: string; firm_id: string | null }): Promise<boolean> {
  return updateUnlessLocked(ctx, db, owner, 'unchanged');
}

/** The current lock of a user (or operator), as an error to throw (for a success that lost the race to a lockout). */
export async function currentLock(ctx: AppContext, db: DbOrTx, owner: { id: string; firm_id: string | null }): Promise<AppError> {
  const now = ctx.clock.now();
  return mfaLocked((await lockedUntilNow(db, owner)) ?? now, now);
}

async function mailLockout(ctx: AppContext, db: DbOrTx, user: LockoutSubject, policy: LoginPolicy): Promise<void> {
  if (user.firm_id === null) {
    const content = templates.mfaLocked({
      firmName: PLATFORM_NAME,
      userName: user.name,
      userEmail: user.email,
      failures: policy.lockoutThreshold,
      minutes: policy.lockoutMinutes,
      url: operatorsUrl(ctx),
    });
    return mailOperators(ctx, db, content);
  }
  const firm = await db.selectFrom('firms').select('name').where('id', '=', user.firm_id).executeTakeFirstOrThrow();
  const content = templates.mfaLocked({
    firmName: firm.name,
    userName: user.name,
    userEmail: user.email,
    failures: policy.lockoutThreshold,
    minutes: policy.lockoutMinutes,
    url: new URL('/admin/users', ctx.config.publicUrl).toString(),
  });
  await mailSuperusers(ctx, db, user.firm_id, content);
}
