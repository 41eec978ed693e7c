import type { Transaction } from 'kysely';
import type { Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import type { Database, DbOrTx } from '../db/database.js';
import type { UserKind } from '../directory/user.table.js';
import type { FactorUser } from '../factors/factor.js';
import { AUTHENTICATOR_KINDS, type AuthenticatorKind, type LoginMethod } from '../factors/kinds.js';
import { PLATFORM_NAME } from '../operators/operator-mail.js';
import type { ActivationSubject } from './activation.js';
import { noSeat } from './activation.js';
import { completeAttempt, type Authentication } from './completion.js';
import { isEnrolled } from './enrolled.js';
import { AppError, forbidden, secondFactorRequired, unauthorized } from './errors.js';
import { STEP_UP_MAX_AGE_MS, enrollsOnly, hasFreshSecondFactor } from './login-attempt.js';
import { recordBypass, seatAvailable } from './seats.js';
import type { AttemptOf, SecondFactorSubject } from './second-factor.js';

/**
 * Enrollment in the core (issue 13 item 1): who may begin one, the screen's facts, the no-seat
 * skip, and how a confirmation finishes the login. Every door passes the login attempt and its
 * subject; a confirmation's Authentication is turned into the door's answer by its `hold`, in the
 * same transaction (the web door: a new full session, src/mfa/pending-login.ts sessionOf).
 * Each factor's begin/confirm is in its folder (src/factors/<kind>/*-enrollment.service.ts).
 */

export const DEFAULT_TOTP_LABEL = 'Authenticator app';
export const DEFAULT_SECURITY_KEY_LABEL = 'Security key';
/** The Tessera Authenticator on a phone (reference 1.1 to 1.3): push approvals and offline passcodes. */
export const MOBILE_LABEL = 'Mobile (Tessera Authenticator)';
/** The name each kind's enrollment offers (the user may change it). */
const OFFERED_LABELS: Record<AuthenticatorKind, string> = { push: MOBILE_LABEL, totp: DEFAULT_TOTP_LABEL, webauthn: DEFAULT_SECURITY_KEY_LABEL };
const offers = (kinds: readonly AuthenticatorKind[]) => kinds.map((kind) => ({ kind, label: OFFERED_LABELS[kind] }));

/** Who enrols: a firm user (with their kind) or an operator (`firm_id` null), with their lock. */
export type Enrollee = SecondFactorSubject & { name: string; email: string; kind?: UserKind };

/** An enrollment in a login: the attempt and who enrols. */
export type EnrollmentLogin = AttemptOf<Enrollee>;

/** The door's answer to the Authentication a confirmation ends in, made in its transaction. */
export type Hold<T> = (tx: Transaction<Database>, authentication: Authentication) => Promise<T>;

/** The firm's name (an authenticator app's issuer, the key's relying party user), or the platform's for an operator. */
export async function firmNameOf(db: DbOrTx, subject: FactorUser): Promise<string> {
  if (subject.firm_id === null) return PLATFORM_NAME;
  const firm = await db.selectFrom('firms').select('name').where('id', '=', subject.firm_id).executeTakeFirstOrThrow();
  return firm.name;
}

/** What activateAuthenticator needs to know of the enrollee. */
export const activationSubject = (subject: Enrollee): ActivationSubject => ({ user: subject, firm: subject.firm_id === null ? null : { id: subject.firm_id } });

export interface EnrollmentView {
  firmName: string;
  user: { name: string; email: string; kind: UserKind | 'operator' };
  methods: { kind: AuthenticatorKind; label: string }[];
  seatAvailable: boolean;
  enrolled: boolean;
}

/**
 * The enrollment screen: who, which methods, and whether a seat is free (else the user may skip).
 * An operator takes no seat (operators belong to no firm and no licence counts them) and has no
 * Tessera Authenticator (its devices and pushes are firm accounts'): an authenticator app or a security key.
 */
export async function enrollmentInfo(ctx: AppContext, { subject }: EnrollmentLogin): Promise<EnrollmentView> {
  if (subject.firm_id === null) {
    return {
      firmName: PLATFORM_NAME,
      user: { name: subject.name, email: subject.email, kind: 'operator' },
      methods: offers(AUTHENTICATOR_KINDS.filter((kind) => kind !== 'push')),
      seatAvailable: true,
      enrolled: await isEnrolled(ctx.db, subject),
    };
  }
  const firmId = subject.firm_id;
  const kindOf = async () => subject.kind ?? (await ctx.db.selectFrom('users').select('kind').where('id', '=', subject.id).where('firm_id', '=', firmId).executeTakeFirstOrThrow()).kind;
  const [firmName, free, enrolled, kind] = await Promise.all([firmNameOf(ctx.db, subject), seatAvailable(ctx.db, firmId), isEnrolled(ctx.db, subject), kindOf()]);
  return {
    firmName,
    user: { name: subject.name, email: subject.email, kind },
    methods: offers(AUTHENTICATOR_KINDS),
    seatAvailable: free,
    enrolled,
  };
}

export const alreadyEnrolled = () => new AppError('ALREADY_ENROLLED');

/**
 * A password alone (or a remembered browser) must not be enough to add a factor an attacker
 * controls to an enrolled user: from a full session (My security, "add another") the user
 * must have passed a second factor in this session within STEP_UP_MAX_AGE_MS, and an
 * enrollment step opened before the user enrolled elsewhere is over.
 */
export async function assertMayEnroll(ctx: AppContext, login: AttemptOf<FactorUser>): Promise<void> {
  const { attempt } = login;
  const stepUp = attempt.stage === 'step_up';
  if (hasFreshSecondFactor(attempt, ctx.clock.now())) return;
  if (!(await isEnrolled(ctx.db, login.subject))) return;
  throw stepUp ? secondFactorRequired(STEP_UP_MAX_AGE_MS, 'new authenticator') : alreadyEnrolled();
}

/**
 * No seat, no enrollment (reference A.2.7, issue 16 item 2): a firm user who holds no seat (not
 * enrolled: a login let through on the no-seat bypass) cannot begin one while none is free; the
 * same 409 NO_SEAT the confirmation would answer, before a secret or a QR code is made.
 * Taking the seat stays the confirmation's (activateAuthenticator): this only refuses early.
 */
export async function assertSeatForEnrollment(db: DbOrTx, subject: FactorUser): Promise<void> {
  if (subject.firm_id === null) return;
  if (await isEnrolled(db, subject)) return;
  if (!(await seatAvailable(db, subject.firm_id))) throw noSeat();
}

/** Everything a begin checks: may enrol (a fresh step-up from a full login), a seat for a first enrollment. */
export async function assertMayBeginEnrollment(ctx: AppContext, login: AttemptOf<FactorUser>): Promise<void> {
  await assertMayEnroll(ctx, login);
  await assertSeatForEnrollment(ctx.db, login.subject);
}

/** Remembers on the attempt which enrollment it is in (what /mfa/enrollment/state continues after a reload). */
export async function noteEnrollment(db: DbOrTx, attemptId: string, authenticatorId: string): Promise<void> {
  await db.updateTable('login_attempts').set({ enrolling_authenticator_id: authenticatorId }).where('id', '=', attemptId).execute();
}

export interface ConfirmInput {
  code: string;
  label?: string;
  phone?: { number: string; country?: string };
}

/** A confirmed enrollment: the login it finished, what the door made of it, and a first enrollment's backup codes. */
export interface EnrollmentConfirmed<T> {
  authentication: Authentication;
  held: T;
  backupCodes: string[] | null;
}

/** The end of a confirmation, in its transaction: the attempt completes ('enrolled': the confirmation was the second factor) and the door holds it. */
export async function completeEnrollment<T>(
  ctx: AppContext,
  tx: Transaction<Database>,
  login: EnrollmentLogin,
  actor: Actor,
  method: LoginMethod,
  hold: Hold<T>,
): Promise<{ authentication: Authentication; held: T }> {
  const authentication = await completeAttempt(ctx, tx, login.attempt, actor, { satisfied: 'enrolled', method });
  return { authentication, held: await hold(tx, authentication) };
}

/**
 * "No licence free" at the enrollment step (reference A.2.7): the user goes on with the
 * password alone, audited and counted. Only while no seat is free, and never for a user
 * who is enrolled (enrolled users always need their second factor).
 */
export async function skipEnrollment<T>(ctx: AppContext, login: EnrollmentLogin, actor: Actor, hold: Hold<T>): Promise<T> {
  const { subject, attempt } = login;
  if (subject.firm_id === null) throw unauthorized();
  // An enrollment the Duo door opened has no skip: it signs in nowhere, and the application's next preauth decides the bypass.
  if (enrollsOnly(attempt)) throw forbidden('No licence is free right now: go back to the application and sign in again.');
  const firmId = subject.firm_id;
  return ctx.db.transaction().execute(async (tx) => {
    if (await isEnrolled(tx, subject)) throw alreadyEnrolled();
    if (await seatAvailable(tx, firmId)) throw new AppError('SEAT_AVAILABLE');
    await recordBypass(ctx, tx, actor, subject.id, firmId);
    if (attempt.stage !== 'enroll') throw unauthorized();
    const authentication = await completeAttempt(ctx, tx, attempt, actor, { satisfied: 'not_needed', reason: 'no_seat_bypass' });
    return hold(tx, authentication);
  });
}
