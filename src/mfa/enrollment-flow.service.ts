import { audit, type Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import type { UserKind } from '../directory/user.table.js';
import type { AuthenticatorKind } from '../enrollment/authenticator.table.js';
import { AppError, secondFactorRequired, unauthorized } from '../core/errors.js';
import { issueBackupCodes } from '../factors/backup-codes/backup-codes.factor.js';
import type { PendingLogin, PendingPrincipal } from '../http/auth.js';
import { ownedBy, type FactorUser } from '../factors/factor.js';
import { mailSecurityNotice, mySecurityUrl } from '../notify/security-notice.js';
import { templates } from '../notify/templates.js';
import { PLATFORM_NAME } from '../operators/operator-mail.js';
import { isEnrolled, recordBypass, seatAvailable } from '../login/mfa-gate.js';
import { createSession } from '../sessions/session.service.js';
import { takeSeat } from '../subscriptions/seat.service.js';
import { currentLock, resetFailures } from './lockout.service.js';
import { STEP_UP_MAX_AGE_MS, hasFreshStepUp } from './pending-login.js';

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
      enrolled: await hasActiveAuthenticator(ctx.db, user),
    };
  }
  const { user, firm } = pending;
  const [free, enrolled] = await Promise.all([seatAvailable(ctx.db, firm.id), isEnrolled(ctx.db, user.id)]);
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


export async function hasActiveAuthenticator(db: DbOrTx, owner: FactorUser): Promise<boolean> {
  const row = await db.selectFrom('authenticators').select('id').where(ownedBy('authenticators', owner)).where('status', '=', 'active').executeTakeFirst();
  return row !== undefined;
}

const alreadyEnrolled = () => new AppError('ALREADY_ENROLLED');

/**
 * A password alone (or a remembered browser) must not be enough to add a factor an attacker
 * controls to an enrolled user: from a full session (My security, "add another") the user
 * must have passed a second factor in this session within STEP_UP_MAX_AGE_MS, and an
 * enrollment step opened before the user enrolled elsewhere is over.
 */
export async function assertMayEnroll(ctx: AppContext, pending: PendingPrincipal): Promise<void> {
  const { session } = pending;
  if (session.stage === 'full' && hasFreshStepUp(session, ctx.clock.now())) return;
  if (!(await hasActiveAuthenticator(ctx.db, pending.user))) return;
  throw session.stage === 'full' ? secondFactorRequired(STEP_UP_MAX_AGE_MS) : alreadyEnrolled();
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

export const alreadyConfirmed = () => new AppError('ALREADY_CONFIRMED');
export const noSeat = () =>
  new AppError('NO_SEAT');

/**
 * The end of every enrollment, whatever the factor, in the caller's transaction: the pending
 * authenticator becomes active (one conditional UPDATE: a second confirmation finds nothing to
 * activate), the seat is taken (409 NO_SEAT rolls it all back), the first enrollment gets its
 * backup codes, the failure count restarts, and it is audited. An operator takes no seat.
 */
export async function activateAuthenticator(
  ctx: AppContext,
  tx: DbOrTx,
  pending: PendingPrincipal,
  actor: Actor,
  a: { authenticatorId: string; kind: 'totp' | 'webauthn'; set?: { label?: string; phone_e164?: string | null }; details?: Record<string, unknown> },
): Promise<{ firstEnrollment: boolean; backupCodes: string[] | null }> {
  const { user, firm } = pending;
  const firstEnrollment = !(await hasActiveAuthenticator(tx, user));
  const now = ctx.clock.now();
  const activated = await tx
    .updateTable('authenticators')
    .set({ status: 'active', confirmed_at: now, last_used_at: now, ...a.set })
    .where('id', '=', a.authenticatorId)
    .where(ownedBy('authenticators', user))
    .where('status', '=', 'pending')
    .returning('label')
    .executeTakeFirst();
  if (!activated) throw alreadyConfirmed();
  if (firm && (await takeSeat(ctx, tx, firm.id, user.id)) === 'no_seat') throw noSeat();
  const backupCodes = firstEnrollment ? await issueBackupCodes(ctx, tx, user) : null;
  if (!(await resetFailures(ctx, tx, user))) throw await currentLock(ctx, tx, user);
  await audit(tx, now, actor, {
    event: 'mfa.enrolled',
    firmId: firm?.id ?? null,
    subjectType: firm ? 'user' : 'operator',
    subjectId: user.id,
    details: { kind: a.kind, authenticatorId: a.authenticatorId, firstEnrollment, ...a.details },
  });
  await announceNewAuthenticator(ctx, tx, user, actor, { kind: a.kind, label: activated.label });
  return { firstEnrollment, backupCodes };
}

const KIND_NAMES: Record<AuthenticatorKind, string> = {
  totp: 'an authenticator app',
  webauthn: 'a security key',
  push: 'the Tessera Authenticator on a phone',
};

/**
 * Mails the owner that an authenticator was added, whatever the factor and wherever (first
 * enrollment, My security), in the transaction that activates it. After an MFA reset, an
 * authenticator someone else enrolled is how they keep the account: the owner must hear of it,
 * also at an address changed in the last 7 days (issue 12, item 3).
 */
export async function announceNewAuthenticator(
  ctx: AppContext,
  tx: DbOrTx,
  owner: FactorUser,
  actor: Actor,
  added: { kind: AuthenticatorKind; label: string },
): Promise<void> {
  const now = ctx.clock.now();
  await mailSecurityNotice(ctx, tx, owner, {
    event: 'mfa.enrolled',
    mail: (h) =>
      templates.authenticatorAdded({ name: h.name, firmName: h.firmName, authenticator: `${KIND_NAMES[added.kind]} named "${added.label}"`, at: now, ip: actor.ip, url: mySecurityUrl(ctx, owner) }),
  });
}

/**
 * "No licence free" at the enrollment step (reference A.2.7): the user goes on with the
 * password alone, audited and counted. Only while no seat is free, and never for a user
 * who is enrolled (enrolled users always need their second factor).
 */
export async function skipEnrollment(ctx: AppContext, pending: PendingLogin, actor: Actor): Promise<string> {
  const { user, firm, session } = pending;
  return ctx.db.transaction().execute(async (tx) => {
    if (await isEnrolled(tx, user.id)) throw alreadyEnrolled();
    if (await seatAvailable(tx, firm.id)) throw new AppError('SEAT_AVAILABLE');
    const now = ctx.clock.now();
    await recordBypass(ctx, tx, actor, user.id, firm.id);
    const gone = await tx.deleteFrom('sessions').where('id', '=', session.id).where('stage', '=', 'enroll').executeTakeFirst();
    if (Number(gone.numDeletedRows) === 0) throw unauthorized();
    const token = await createSession(ctx, tx, { principal: 'user', userId: user.id, firmId: firm.id, stage: 'full', ip: actor.ip, userAgent: actor.userAgent });
    await audit(tx, now, actor, {
      event: 'login.succeeded',
      subjectType: 'user',
      subjectId: user.id,
      details: { realm: 'firm', factors: ['password'], notice: 'mfa_bypassed_no_seat' },
    });
    return token;
  });
}
