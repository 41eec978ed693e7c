import { audit, type Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import type { AuthenticatorKind } from '../factors/kinds.js';
import { AppError } from './errors.js';
import { issueBackupCodes } from '../factors/backup-codes/backup-codes.factor.js';
import { ownedBy, type FactorUser } from '../factors/factor.js';
import { currentLock, resetFailures } from './lockout.js';
import { mailSecurityNotice, mySecurityUrl } from '../notify/security-notice.js';
import { templates } from '../notify/templates.js';
import { takeSeat } from '../subscriptions/seat.service.js';
import { isEnrolled } from './enrolled.js';

export const alreadyConfirmed = () => new AppError('ALREADY_CONFIRMED');
export const noSeat = () => new AppError('NO_SEAT');

/** Whose authenticator is activated: a firm user (and their firm) or an operator (firm null, takes no seat). */
export interface ActivationSubject {
  user: FactorUser & { name: string; email: string };
  firm: { id: string } | null;
}

export interface Activation {
  authenticatorId: string;
  kind: AuthenticatorKind;
  /** Columns set with the activation (the label, the phone). */
  set?: { label?: string; phone_e164?: string | null };
  /** More for the audit entry `mfa.enrolled`. */
  details?: Record<string, unknown>;
  /**
   * 'now' (an authenticator app, a security key): the enrollment is confirmed by the login it
   * finishes, so the backup codes of a first enrollment are issued here and the failure count
   * restarts. 'at_completion' (a Tessera Authenticator): the device activates, and the login that
   * showed the QR code finishes later (push-enrollment.service.ts completePushEnrollment) and
   * does both then.
   */
  completion?: 'now' | 'at_completion';
  /** The error when the authenticator is not pending (confirmed already, or gone): default 409 ALREADY_CONFIRMED. */
  notPending?: () => AppError | Error;
}

/**
 * The end of every enrollment, whatever the factor and wherever (first login, My security, a
 * device scanning its QR code), in the caller's transaction: the pending authenticator becomes
 * active (one conditional UPDATE: a second confirmation finds nothing to activate), the seat is
 * taken (409 NO_SEAT rolls it all back), the first enrollment gets its backup codes, the failure
 * count restarts, it is audited `mfa.enrolled` and the owner is mailed. An operator takes no seat.
 */
export async function activateAuthenticator(
  ctx: AppContext,
  tx: DbOrTx,
  subject: ActivationSubject,
  actor: Actor,
  a: Activation,
): Promise<{ firstEnrollment: boolean; backupCodes: string[] | null }> {
  const { user, firm } = subject;
  const firstEnrollment = !(await isEnrolled(tx, user));
  const now = ctx.clock.now();
  const activated = await tx
    .updateTable('authenticators')
    .set({ status: 'active', confirmed_at: now, last_used_at: now, ...a.set })
    .where('id', '=', a.authenticatorId)
    .where(ownedBy('authenticators', user))
    .where('kind', '=', a.kind)
    .where('status', '=', 'pending')
    .returning('label')
    .executeTakeFirst();
  if (!activated) throw (a.notPending ?? alreadyConfirmed)();
  if (firm && (await takeSeat(ctx, tx, firm.id, user.id)) === 'no_seat') throw noSeat();
  const completesNow = (a.completion ?? 'now') === 'now';
  const backupCodes = completesNow && firstEnrollment ? await issueBackupCodes(ctx, tx, user) : null;
  if (completesNow && !(await resetFailures(ctx, tx, user))) throw await currentLock(ctx, tx, user);
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
 * Mails the owner that an authenticator was added, in the transaction that activates it. After
 * an MFA reset, an authenticator someone else enrolled is how they keep the account: the owner
 * must hear of it, also at an address changed in the last 7 days (issue 12, item 3).
 */
async function announceNewAuthenticator(ctx: AppContext, tx: DbOrTx, owner: FactorUser, actor: Actor, added: { kind: AuthenticatorKind; label: string }): Promise<void> {
  const now = ctx.clock.now();
  await mailSecurityNotice(ctx, tx, owner, {
    event: 'mfa.enrolled',
    mail: (h) =>
      templates.authenticatorAdded({ name: h.name, firmName: h.firmName, authenticator: `${KIND_NAMES[added.kind]} named "${added.label}"`, at: now, ip: actor.ip, url: mySecurityUrl(ctx, owner) }),
  });
}
