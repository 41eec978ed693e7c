import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';
import type { Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import type { UserKind } from '../directory/user.table.js';
import { AppError, badRequest, conflict, notFound, unauthorized } from '../errors.js';
import { beginTotpEnrollment, checkTotpCode, type TotpEnrollment } from '../factors/totp/totp.factor.js';
import type { PendingLogin, PendingPrincipal } from '../http/auth.js';
import { ownedBy } from '../factors/factor.js';
import { PLATFORM_NAME } from '../operators/operator-mail.js';
import { isEnrolled } from '../core/enrolled.js';
import { recordBypass, seatAvailable } from '../core/seats.js';
import { activateAuthenticator, alreadyConfirmed } from '../core/activation.js';
import { assertNotLocked, invalidCode, loginPolicyOf, mfaLocked, recordFailure } from './lockout.service.js';
import { STEP_UP_MAX_AGE_MS, answer, completeSecondFactor, hasFreshStepUp, sessionOf, type Outcome } from './pending-login.js';
import { completeAttempt } from '../core/completion.js';

export const DEFAULT_TOTP_LABEL = 'Authenticator app';
export const DEFAULT_SECURITY_KEY_LABEL = 'Security key';
/** The Tessera Authenticator on a phone (reference 1.1 to 1.3): push approvals and offline passcodes. */
export const MOBILE_LABEL = 'Mobile (Tessera Authenticator)';

export interface EnrollmentView {
  firmName: string;
  user: { name: string; email: string; kind: UserKind | 'operator' };
  methods: { kind: 'push' | 'totp' | 'webauthn'; label: string }[];
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
      methods: [
        { kind: 'totp', label: DEFAULT_TOTP_LABEL },
        { kind: 'webauthn', label: DEFAULT_SECURITY_KEY_LABEL },
      ],
      seatAvailable: true,
      enrolled: await isEnrolled(ctx.db, user),
    };
  }
  const { user, firm } = pending;
  const [free, enrolled] = await Promise.all([seatAvailable(ctx.db, firm.id), isEnrolled(ctx.db, user)]);
  return {
    firmName: firm.name,
    user: { name: user.name, email: user.email, kind: user.kind },
    methods: [
      { kind: 'push', label: MOBILE_LABEL },
      { kind: 'totp', label: DEFAULT_TOTP_LABEL },
      { kind: 'webauthn', label: DEFAULT_SECURITY_KEY_LABEL },
    ],
    seatAvailable: free,
    enrolled,
  };
}

const secondFactorRequired = () =>
  new AppError('SECOND_FACTOR_REQUIRED', 403, `Verify with your second factor first: adding an authenticator needs one from the last ${STEP_UP_MAX_AGE_MS / 60_000} minutes.`);

const alreadyEnrolled = () => conflict('ALREADY_ENROLLED', 'You are enrolled now: log in again and use your second factor.');

/**
 * A password alone (or a remembered browser) must not be enough to add a factor an attacker
 * controls to an enrolled user: from a full session (My security, "add another") the user
 * must have passed a second factor in this session within STEP_UP_MAX_AGE_MS, and an
 * enrollment step opened before the user enrolled elsewhere is over.
 */
export async function assertMayEnroll(ctx: AppContext, pending: PendingPrincipal): Promise<void> {
  const { session } = pending;
  if (session.stage === 'full' && hasFreshStepUp(session, ctx.clock.now())) return;
  if (!(await isEnrolled(ctx.db, pending.user))) return;
  throw session.stage === 'full' ? secondFactorRequired() : alreadyEnrolled();
}

/** Starts an authenticator-app enrollment: a pending authenticator (an older pending one is replaced), issuer = the firm's name (operators: PLATFORM_NAME). */
export async function beginTotp(ctx: AppContext, pending: PendingPrincipal): Promise<TotpEnrollment> {
  await assertMayEnroll(ctx, pending);
  return ctx.db.transaction().execute((tx) => beginTotpEnrollment(ctx, tx, pending.user, pending.firm?.name ?? PLATFORM_NAME));
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

/** The phone of the device, with its country code (reference 1.2), in E.164; 400 when it is not a valid number. */
export function phoneE164(phone: ConfirmInput['phone']): string | null {
  if (!phone) return null;
  let parsed;
  try {
    parsed = parsePhoneNumberFromString(phone.number, phone.country?.toUpperCase() as CountryCode | undefined);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !parsed.isValid()) {
    throw badRequest('INVALID_PHONE', 'That phone number is not valid. Enter it with its country code, e.g. +44 20 7946 0958.');
  }
  return parsed.number;
}

/**
 * Confirms a pending authenticator-app enrollment with one valid code, then in ONE
 * transaction: activates the authenticator (pending -> active, conditionally), takes the
 * seat (none free: everything rolls back, 409 NO_SEAT), issues backup codes at the user's
 * first enrollment, and finishes the login. A wrong code counts toward the lockout like any
 * failed second factor; while locked nothing is checked.
 */
export async function confirmTotp(ctx: AppContext, pending: PendingPrincipal, actor: Actor, authenticatorId: string, input: ConfirmInput): Promise<ConfirmResult> {
  const { user } = pending;
  await assertMayEnroll(ctx, pending);
  const authenticator = await ctx.db
    .selectFrom('authenticators')
    .select(['id', 'status'])
    .where('id', '=', authenticatorId)
    .where(ownedBy('authenticators', user))
    .where('kind', '=', 'totp')
    .executeTakeFirst();
  if (!authenticator) throw notFound('The authenticator');
  if (authenticator.status === 'active') throw alreadyConfirmed();
  assertNotLocked(user, ctx.clock.now());
  // Before the code: a right code with a wrong phone must not use up its time step.
  const phone = phoneE164(input.phone);
  const label = input.label?.trim() || DEFAULT_TOTP_LABEL;
  const policy = await loginPolicyOf(ctx.db, user);

  const outcome = await ctx.db.transaction().execute(async (tx): Promise<Outcome<ConfirmResult>> => {
    const checked = await checkTotpCode(ctx, tx, authenticatorId, input.code);
    if (!checked.ok) {
      const failure = await recordFailure(ctx, tx, actor, user, policy, { method: 'totp', reason: checked.reason, during: 'enrollment' });
      return { ok: false, error: failure.locked ? mfaLocked(failure.until, ctx.clock.now()) : invalidCode(failure.attemptsLeft) };
    }
    const { backupCodes } = await activateAuthenticator(ctx, tx, pending, actor, {
      authenticatorId,
      kind: 'totp',
      set: { label, phone_e164: phone },
      details: { phone: phone !== null },
    });
    const token = await completeSecondFactor(ctx, tx, pending, actor, { method: 'totp', enrolled: true });
    return { ok: true, value: { token, backupCodes } };
  });
  return answer(outcome);
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
    if (await seatAvailable(tx, firm.id)) throw conflict('SEAT_AVAILABLE', 'A licence is free: set up your second factor to continue.');
    await recordBypass(ctx, tx, actor, user.id, firm.id);
    if (session.stage !== 'enroll') throw unauthorized();
    const authentication = await completeAttempt(ctx, tx, pending.attempt, actor, { satisfied: 'not_needed', reason: 'no_seat_bypass' });
    const token = await sessionOf(ctx, tx, session, authentication, actor);
    return token;
  });
}
