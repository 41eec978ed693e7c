import type { Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import type { UserKind } from '../directory/user.table.js';
import { AUTHENTICATOR_KINDS, type AuthenticatorKind } from '../factors/kinds.js';
import type { FactorUser } from '../factors/factor.js';
import { AppError, secondFactorRequired, unauthorized } from '../core/errors.js';
import type { PendingLogin, PendingPrincipal } from '../http/auth.js';
import { PLATFORM_NAME } from '../operators/operator-mail.js';
import { isEnrolled } from '../core/enrolled.js';
import { recordBypass, seatAvailable } from '../core/seats.js';
import { completeAttempt } from '../core/completion.js';
import { sessionOf } from './pending-login.js';
import { STEP_UP_MAX_AGE_MS, hasFreshSecondFactor, type LoginAttempt } from '../core/login-attempt.js';

export const DEFAULT_TOTP_LABEL = 'Authenticator app';
export const DEFAULT_SECURITY_KEY_LABEL = 'Security key';
/** The Tessera Authenticator on a phone (reference 1.1 to 1.3): push approvals and offline passcodes. */
export const MOBILE_LABEL = 'Mobile (Tessera Authenticator)';
/** The name each kind's enrollment offers (the user may change it). */
const OFFERED_LABELS: Record<AuthenticatorKind, string> = { push: MOBILE_LABEL, totp: DEFAULT_TOTP_LABEL, webauthn: DEFAULT_SECURITY_KEY_LABEL };
const offers = (kinds: readonly AuthenticatorKind[]) => kinds.map((kind) => ({ kind, label: OFFERED_LABELS[kind] }));

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
export async function enrollmentInfo(ctx: AppContext, pending: PendingPrincipal): Promise<EnrollmentView> {
  if (pending.firm === null) {
    const { user } = pending;
    return {
      firmName: PLATFORM_NAME,
      user: { name: user.name, email: user.email, kind: 'operator' },
      methods: offers(AUTHENTICATOR_KINDS.filter((kind) => kind !== 'push')),
      seatAvailable: true,
      enrolled: await isEnrolled(ctx.db, user),
    };
  }
  const { user, firm } = pending;
  const [free, enrolled] = await Promise.all([seatAvailable(ctx.db, firm.id), isEnrolled(ctx.db, user)]);
  return {
    firmName: firm.name,
    user: { name: user.name, email: user.email, kind: user.kind },
    methods: offers(AUTHENTICATOR_KINDS),
    seatAvailable: free,
    enrolled,
  };
}


const alreadyEnrolled = () => new AppError('ALREADY_ENROLLED');

/**
 * A password alone (or a remembered browser) must not be enough to add a factor an attacker
 * controls to an enrolled user: from a full session (My security, "add another") the user
 * must have passed a second factor in this session within STEP_UP_MAX_AGE_MS, and an
 * enrollment step opened before the user enrolled elsewhere is over.
 */
export async function assertMayEnroll(ctx: AppContext, login: { attempt: LoginAttempt; user: FactorUser }): Promise<void> {
  const { attempt } = login;
  const stepUp = attempt.stage === 'step_up';
  if (hasFreshSecondFactor(attempt, ctx.clock.now())) return;
  if (!(await isEnrolled(ctx.db, login.user))) return;
  throw stepUp ? secondFactorRequired(STEP_UP_MAX_AGE_MS, 'new authenticator') : alreadyEnrolled();
}

export interface ConfirmInput {
  code: string;
  label?: string;
  phone?: { number: string; country?: string };
}

export interface ConfirmResult {
  /** The new full session (a login finished, or an authenticator added from a full session: a new token either way). */
  token: string;
  backupCodes: string[] | null;
}

/**
 * "No licence free" at the enrollment step (reference A.2.7): the user goes on with the
 * password alone, audited and counted. Only while no seat is free, and never for a user
 * who is enrolled (enrolled users always need their second factor).
 */
export async function skipEnrollment(ctx: AppContext, pending: PendingLogin, actor: Actor): Promise<string> {
  const { user, firm, session } = pending;
  return ctx.db.transaction().execute(async (tx) => {
    if (await isEnrolled(tx, user)) throw alreadyEnrolled();
    if (await seatAvailable(tx, firm.id)) throw new AppError('SEAT_AVAILABLE');
    await recordBypass(ctx, tx, actor, user.id, firm.id);
    if (session.stage !== 'enroll') throw unauthorized();
    const authentication = await completeAttempt(ctx, tx, pending.attempt, actor, { satisfied: 'not_needed', reason: 'no_seat_bypass' });
    const token = await sessionOf(ctx, tx, session, authentication, actor);
    return token;
  });
}
