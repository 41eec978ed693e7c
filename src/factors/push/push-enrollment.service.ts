import { createHash, randomBytes, randomUUID } from 'node:crypto';
import QRCode from 'qrcode';
import type { Actor } from '../../audit/audit.service.js';
import type { AppContext } from '../../context.js';
import { AppError, notFound } from '../../core/errors.js';
import { issueBackupCodes } from '../backup-codes/backup-codes.factor.js';
import { ACTIVATION_TTL_MS, PUSH_LABEL } from './push.factor.js';
import type { PendingLogin } from '../../http/auth.js';
import { assertMayEnroll, type ConfirmResult } from '../../mfa/enrollment-flow.service.js';
import { phoneE164 } from '../phone-number.js';
import { assertNotLocked, currentLock, resetFailures } from '../../core/lockout.js';
import { completeSecondFactor } from '../../mfa/pending-login.js';

export interface PushEnrollment {
  authenticatorId: string;
  activationUrl: string;
  qrSvg: string;
  expiresAt: number;
}

export type PushEnrollmentStatus = 'pending' | 'active' | 'expired';

/** An activation code is stored as its hash: the database alone cannot activate a device. */
export const activationId = (code: string) => createHash('sha256').update(code, 'utf8').digest('base64url');

export const notActivated = () => new AppError('NOT_ACTIVATED');

/**
 * "Mobile" at enrollment (reference 1.2, 1.3): the phone number with its country code, then
 * a pending authenticator and a single-use activation code (256 bits, 10 minutes), shown as a
 * QR code and a link that opens the app. The code is bound to this session: only this login
 * is finished by the activation, and the code activates nothing once the session is over
 * (the enrollment finished another way, a step-up, logout, expiry: device.service.ts).
 * An older pending push enrollment of the user is replaced.
 */
export async function beginPushEnrollment(ctx: AppContext, pending: PendingLogin, input: { phone: { number: string; country?: string } }): Promise<PushEnrollment> {
  const { user, firm, attempt } = pending;
  await assertMayEnroll(ctx, pending);
  assertNotLocked(user, ctx.clock.now());
  const phone = phoneE164(input.phone);
  const code = randomBytes(32).toString('base64url');
  const id = randomUUID();
  const now = ctx.clock.now();
  const expiresAt = now + ACTIVATION_TTL_MS;
  await ctx.db.transaction().execute(async (tx) => {
    // device_activations of the replaced one go with it (ON DELETE CASCADE).
    await tx.deleteFrom('authenticators').where('user_id', '=', user.id).where('firm_id', '=', firm.id).where('kind', '=', 'push').where('status', '=', 'pending').execute();
    await tx
      .insertInto('authenticators')
      .values({ id, firm_id: firm.id, user_id: user.id, kind: 'push', label: PUSH_LABEL, status: 'pending', created_at: now, confirmed_at: null, last_used_at: null, phone_e164: phone })
      .execute();
    await tx
      .insertInto('device_activations')
      .values({
        id: activationId(code),
        firm_id: firm.id,
        user_id: user.id,
        authenticator_id: id,
        session_id: attempt.sessionId,
        attempt_id: pending.attempt.id,
        created_at: now,
        expires_at: expiresAt,
        used_at: null,
        first_enrollment: 0,
        completed_at: null,
      })
      .execute();
  });
  const activationUrl = `${ctx.config.publicUrl.origin}/authenticator#activate=${code}`;
  const qrSvg = await QRCode.toString(activationUrl, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
  return { authenticatorId: id, activationUrl, qrSvg, expiresAt };
}

const ownActivation = (ctx: AppContext, pending: PendingLogin, authenticatorId: string) =>
  ctx.db
    .selectFrom('authenticators')
    .innerJoin('device_activations', 'device_activations.authenticator_id', 'authenticators.id')
    .select(['authenticators.status', 'device_activations.id as activation_id', 'device_activations.expires_at', 'device_activations.used_at', 'device_activations.first_enrollment'])
    .where('authenticators.id', '=', authenticatorId)
    .where('authenticators.user_id', '=', pending.user.id)
    .where('authenticators.firm_id', '=', pending.firm.id)
    .where('authenticators.kind', '=', 'push')
    .where('device_activations.attempt_id', '=', pending.attempt.id)
    .executeTakeFirst();

/** What the enrollment screen polls to notice the activation by itself. */
export async function pushEnrollmentStatus(ctx: AppContext, pending: PendingLogin, authenticatorId: string): Promise<PushEnrollmentStatus> {
  const row = await ownActivation(ctx, pending, authenticatorId);
  if (!row) throw notFound('The enrollment');
  if (row.status === 'active') return 'active';
  return row.used_at === null && Number(row.expires_at) > ctx.clock.now() ? 'pending' : 'expired';
}

/**
 * After the device activated (the seat was taken then, in the activation's transaction):
 * finishes this session's login, once, with backup codes at the user's first enrollment.
 * Before the activation: 409 NOT_ACTIVATED.
 */
export async function completePushEnrollment(ctx: AppContext, pending: PendingLogin, actor: Actor, authenticatorId: string): Promise<ConfirmResult> {
  const row = await ownActivation(ctx, pending, authenticatorId);
  if (!row) throw notFound('The enrollment');
  if (row.status !== 'active') throw notActivated();
  assertNotLocked(pending.user, ctx.clock.now());
  return ctx.db.transaction().execute(async (tx) => {
    const now = ctx.clock.now();
    const taken = await tx
      .updateTable('device_activations')
      .set({ completed_at: now })
      .where('id', '=', row.activation_id)
      .where('completed_at', 'is', null)
      .executeTakeFirst();
    if (Number(taken.numUpdatedRows) === 0) throw new AppError('ALREADY_CONFIRMED');
    const backupCodes = row.first_enrollment === 1 ? await issueBackupCodes(ctx, tx, pending.user) : null;
    if (!(await resetFailures(ctx, tx, pending.user))) throw await currentLock(ctx, tx, pending.user);
    const token = await completeSecondFactor(ctx, tx, pending, actor, { method: 'push', enrolled: true });
    return { token, backupCodes };
  });
}
