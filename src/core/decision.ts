import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import type { User } from '../directory/user.table.js';
import type { LoginMethod } from '../factors/kinds.js';
import { isRememberedBrowser } from './remembered-browsers.js';
import { isMfaEnabled, loadMfaPolicy } from '../mfa-policy/mfa-policy.js';
import { notLocked } from './lockout.js';
import { isEnrolled } from './enrolled.js';
import { seatAvailable } from './seats.js';

/**
 * The login decision after a correct password, as declared checks with reasons, in the manner
 * of oidc-provider's interaction policy (a Prompt's ordered `Check`s, each with a reason and a
 * description): the checks are walked in order and the first that applies decides. Its reason
 * goes to the audit log (details.reason) and is what a door says about the decision (a Duo
 * `status_msg`, an OIDC `amr`: reasonMeaning below).
 *
 * A firm user (issue 4.1, reference A.2.7):
 *   not_covered         the firm's configuration does not cover them      -> signed in
 *   no_seat_bypass      not enrolled, and no seat is free                  -> signed in, counted and audited
 *   seat_free           not enrolled, a seat is free                       -> enrol now
 *   locked              a remembered browser, but the second factor is locked -> refused (MFA_LOCKED)
 *   remembered_browser  enrolled, and this browser is remembered           -> signed in
 *   enrolled            enrolled                                           -> second factor
 * An enrolled user is never let through without the second factor, whatever the seat count.
 * A remembered browser skips the second factor, never its lockout (issue 12): the lock means
 * someone is guessing this user's codes, and a browser remembered earlier (perhaps the one the
 * guesser sits at) must not be the way around it.
 *
 * An operator (issue 8.6): always covered, no seat, no remembered browser:
 *   enrolled            -> second factor
 *   not_enrolled        -> enrol now
 *
 * "Paused" (pushes after a fraud report) decides nothing here: it takes push out of the factors a
 * user can answer with (the push factor's `available`) and refuses a push (PUSH_PAUSED); its
 * reason `push_paused` is listed with the others for the doors' messages.
 */
export type DecisionReason = 'not_covered' | 'no_seat_bypass' | 'seat_free' | 'locked' | 'remembered_browser' | 'enrolled' | 'not_enrolled';

/** What the decision asks of the login: signed in now, a second factor, an enrollment, or refused. */
export type Verdict = 'full' | 'second_factor' | 'enroll' | 'refused';

export interface Decision {
  verdict: Verdict;
  reason: DecisionReason;
}

/** What the checks may ask about the subject; each fact is read at most once per decision, and only when a check needs it. */
export interface Facts {
  covered(): Promise<boolean>;
  enrolled(): Promise<boolean>;
  seatFree(): Promise<boolean>;
  remembered(): Promise<boolean>;
  /** Takes the row lock of the failure count until commit (lockout.ts notLocked), so a lockout racing the login is not missed. */
  unlocked(): Promise<boolean>;
}

export interface LoginCheck {
  reason: DecisionReason;
  description: string;
  verdict: Verdict;
  applies(facts: Facts): Promise<boolean>;
}

const check = (reason: DecisionReason, verdict: Verdict, description: string, applies: LoginCheck['applies']): LoginCheck => ({ reason, verdict, description, applies });

/** The checks of a firm user's login, in order. */
export const USER_CHECKS: readonly LoginCheck[] = [
  check('not_covered', 'full', "the firm's MFA configuration does not cover this user", async (f) => !(await f.covered())),
  check('no_seat_bypass', 'full', 'not enrolled and no seat is free: the password alone, counted and audited', async (f) => !(await f.enrolled()) && !(await f.seatFree())),
  check('seat_free', 'enroll', 'not enrolled and a seat is free: enrol now', async (f) => !(await f.enrolled())),
  check('locked', 'refused', 'a remembered browser, but the second factor is locked', async (f) => (await f.remembered()) && !(await f.unlocked())),
  check('remembered_browser', 'full', 'enrolled, and this browser passed the second factor earlier and is remembered', (f) => f.remembered()),
  check('enrolled', 'second_factor', 'enrolled: the second factor is asked', async () => true),
];

/** The checks of an operator's login, in order. */
export const OPERATOR_CHECKS: readonly LoginCheck[] = [
  check('enrolled', 'second_factor', 'enrolled: the second factor is asked', (f) => f.enrolled()),
  check('not_enrolled', 'enroll', 'not enrolled: enrol now (operators always need a second factor)', async () => true),
];

/** Walks the checks in order: the first that applies decides. */
export async function walkChecks(checks: readonly LoginCheck[], facts: Facts): Promise<Decision> {
  for (const c of checks) if (await c.applies(facts)) return { verdict: c.verdict, reason: c.reason };
  throw new Error('the login checks end without a decision');
}

const once = <T>(read: () => Promise<T>): (() => Promise<T>) => {
  let value: Promise<T> | undefined;
  return () => (value ??= read());
};

export type DecisionUser = Pick<User, 'id' | 'firm_id' | 'kind' | 'corporation_id' | 'status' | 'portal_access' | 'record_state'>;

/** The facts of a firm user's login; `rememberToken` is the remembered-browser token the door received, if any. */
export function userFacts(ctx: AppContext, db: DbOrTx, user: DecisionUser, rememberToken: string | undefined): Facts {
  return {
    covered: once(async () => isMfaEnabled(await loadMfaPolicy(db, user.firm_id, ctx.clock.now()), user)),
    enrolled: once(() => isEnrolled(db, user)),
    seatFree: once(() => seatAvailable(db, user.firm_id)),
    remembered: once(() => isRememberedBrowser(ctx, db, user.id, rememberToken)),
    unlocked: once(() => notLocked(ctx, db, user)),
  };
}

/** The facts of an operator's login. */
export function operatorFacts(ctx: AppContext, db: DbOrTx, operatorId: string): Facts {
  const owner = { id: operatorId, firm_id: null };
  return {
    covered: async () => true,
    enrolled: once(() => isEnrolled(db, owner)),
    seatFree: async () => true,
    remembered: async () => false,
    unlocked: once(() => notLocked(ctx, db, owner)),
  };
}

/** The decision after a firm user's correct password. */
export const decideAfterPassword = (ctx: AppContext, db: DbOrTx, user: DecisionUser, rememberToken: string | undefined): Promise<Decision> =>
  walkChecks(USER_CHECKS, userFacts(ctx, db, user, rememberToken));

/** The decision after an operator's correct password. */
export const decideOperatorAfterPassword = (ctx: AppContext, db: DbOrTx, operatorId: string): Promise<Decision> =>
  walkChecks(OPERATOR_CHECKS, operatorFacts(ctx, db, operatorId));

/** A reason of the decision, or one the second factor meets later: pushes paused after a fraud report. */
export type LoginReason = DecisionReason | 'push_paused';

/** RFC 8176 authentication method reference values Tessera can claim. */
export type Amr = 'pwd' | 'otp' | 'hwk' | 'swk' | 'mfa';

/** Which RFC 8176 value each second factor adds: a code is `otp`; a security key `hwk`; the Tessera Authenticator's signed approval a software key, `swk`. */
export const AMR_OF_METHOD: Readonly<Record<LoginMethod, Amr>> = { totp: 'otp', backup_code: 'otp', webauthn: 'hwk', push: 'swk' };

/** The `amr` of a login: the password, and the second factor with `mfa` when there was one. */
export function amrOf(methods: readonly (LoginMethod | 'password')[]): Amr[] {
  const amr = new Set<Amr>();
  for (const m of methods) amr.add(m === 'password' ? 'pwd' : AMR_OF_METHOD[m]);
  if (methods.length > 1) amr.add('mfa');
  return [...amr];
}

export interface ReasonMeaning {
  /** details.reason of the audit entry. */
  audit: LoginReason;
  /** What the Duo-compatible door says (`status_msg`). */
  duoStatusMsg: string;
  /** The `amr` of a login this reason lets through on the password alone (null: it does not let one through). */
  amr: Amr[] | null;
}

const MEANINGS: Readonly<Record<LoginReason, Omit<ReasonMeaning, 'audit'>>> = {
  not_covered: { duoStatusMsg: 'Your organization does not require two-factor authentication for you.', amr: ['pwd'] },
  no_seat_bypass: { duoStatusMsg: 'Two-factor authentication was skipped: no licence is free.', amr: ['pwd'] },
  seat_free: { duoStatusMsg: 'Enroll in two-factor authentication to continue.', amr: null },
  not_enrolled: { duoStatusMsg: 'Enroll in two-factor authentication to continue.', amr: null },
  locked: { duoStatusMsg: 'Your second factor is locked after too many wrong codes.', amr: null },
  remembered_browser: { duoStatusMsg: 'This browser is remembered: no second factor needed.', amr: ['pwd'] },
  enrolled: { duoStatusMsg: 'Verify with your second factor.', amr: null },
  push_paused: { duoStatusMsg: 'Push requests are paused after a fraud report: use a passcode or a security key.', amr: null },
};

/** What a reason means to each door: the audit log, a Duo `status_msg`, an OIDC `amr`. */
export const reasonMeaning = (reason: LoginReason): ReasonMeaning => ({ audit: reason, ...MEANINGS[reason] });
