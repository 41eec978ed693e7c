import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import type { User } from '../directory/user.table.js';
import { isMfaEnabled, loadMfaPolicy } from '../mfa-policy/mfa-policy.js';
import { notLocked } from '../mfa/lockout.service.js';
import { isRememberedBrowser } from './remembered-browsers.js';
import { isEnrolled } from '../core/enrolled.js';
import { seatAvailable } from '../core/seats.js';

/** What a session may do: 'full' is logged in; the two others are a half-finished login. */
export type SessionStage = 'full' | 'second_factor' | 'enroll';
export const PENDING_STAGES: readonly SessionStage[] = ['second_factor', 'enroll'];
/** A half-finished login expires this long after the password step (issue 4.1). */
export const PENDING_LOGIN_MS = 10 * 60_000;

export type LoginNotice = 'mfa_bypassed_no_seat';

export interface GateDecision {
  stage: SessionStage;
  notice?: LoginNotice;
  /** The second factor was skipped because this browser is remembered. */
  remembered?: boolean;
  /** No session at all: the browser is remembered but the second factor is locked (answer MFA_LOCKED). */
  refused?: 'mfa_locked';
}

/**
 * The login state machine after a correct password (issue 4.1, reference A.2.7):
 *   not MFA-enabled                        -> full
 *   MFA-enabled, enrolled                  -> second_factor (full if this browser is remembered,
 *                                             refused while the second factor is locked)
 *   MFA-enabled, not enrolled, seat free   -> enroll
 *   MFA-enabled, not enrolled, no seat     -> full, with a notice; audited and counted in Usage.
 * An enrolled user is never let through without the second factor, whatever the seat count.
 * A remembered browser skips the second factor, never its lockout (issue 12): the lock means
 * someone is guessing this user's codes, and a browser remembered earlier (perhaps the one the
 * guesser sits at) must not be the way around it. The login is refused with the answer a locked
 * user gets at the second factor (MFA_LOCKED), rather than sent to a second-factor screen that
 * could not be answered until the lock ends.
 */
export async function decideAfterPassword(
  ctx: AppContext,
  db: DbOrTx,
  user: Pick<User, 'id' | 'firm_id' | 'kind' | 'corporation_id' | 'status' | 'portal_access' | 'record_state'>,
  rememberToken: string | undefined,
): Promise<GateDecision> {
  const policy = await loadMfaPolicy(db, user.firm_id, ctx.clock.now());
  if (!isMfaEnabled(policy, user)) return { stage: 'full' };
  if (await isEnrolled(db, user)) {
    if (await isRememberedBrowser(ctx, db, user.id, rememberToken)) {
      if (!(await notLocked(ctx, db, user))) return { stage: 'second_factor', remembered: true, refused: 'mfa_locked' };
      return { stage: 'full', remembered: true };
    }
    return { stage: 'second_factor' };
  }
  if (await seatAvailable(db, user.firm_id)) return { stage: 'enroll' };
  return { stage: 'full', notice: 'mfa_bypassed_no_seat' };
}

/**
 * The operator's state machine after a correct password (issue 8.6): always a second factor,
 * whatever any firm's configuration says; an operator without one enrols first. No seat is
 * involved (operators belong to no firm) and no browser is remembered.
 */
export async function decideOperatorAfterPassword(db: DbOrTx, operatorId: string): Promise<GateDecision> {
  const active = await db.selectFrom('authenticators').select('id').where('operator_id', '=', operatorId).where('status', '=', 'active').executeTakeFirst();
  return { stage: active ? 'second_factor' : 'enroll' };
}
