import { createHash, randomBytes, randomUUID } from 'node:crypto';
import QRCode from 'qrcode';
import type { Actor } from '../../audit/audit.service.js';
import type { AppContext } from '../../context.js';
import { AppError, notFound, tooManyAttempts, unauthorized } from '../../core/errors.js';
import { reserveAttempt, settleAttempt, type ThrottlePolicy } from '../../core/throttle.js';
import { issueBackupCodes } from '../backup-codes/backup-codes.factor.js';
import { ACTIVATION_TTL_MS, PUSH_LABEL } from './push.factor.js';
import { assertMayBeginEnrollment, completeEnrollment, noteEnrollment, type EnrollmentConfirmed, type EnrollmentLogin, type Enrollee, type Hold } from '../../core/enrollment.js';
import type { AttemptOf } from '../../core/second-factor.js';
import { phoneE164 } from '../phone-number.js';
import { assertNotLocked, currentLock, resetFailures } from '../../core/lockout.js';
import { SecretUnavailable } from '../../crypto/secret-box.js';
import { templates } from '../../notify/templates.js';

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

/** Who enrols a Tessera Authenticator: a firm user (operators have none). */
export type PushEnrollee = Enrollee & { firm_id: string };

/** A push enrollment's login; an operator's is refused (401, nothing to enrol). */
export function pushEnrollmentLogin(login: EnrollmentLogin): AttemptOf<PushEnrollee> {
  if (login.subject.firm_id === null) throw unauthorized();
  return login as AttemptOf<PushEnrollee>;
}

const qrOf = async (ctx: AppContext, authenticatorId: string, code: string, expiresAt: number): Promise<PushEnrollment> => {
  const activationUrl = `${ctx.config.publicUrl.origin}/authenticator#activate=${code}`;
  const qrSvg = await QRCode.toString(activationUrl, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
  return { authenticatorId, activationUrl, qrSvg, expiresAt };
};

/**
 * "Mobile" at enrollment (reference 1.2, 1.3): the phone number with its country code, then
 * a pending authenticator and a single-use activation code (256 bits, 10 minutes), shown as a
 * QR code and a link that opens the app. The code is bound to the login attempt: only this login
 * is finished by the activation, and the code activates nothing once the attempt is over
 * (the enrollment finished another way, a step-up, logout, expiry: device.service.ts).
 * An older pending push enrollment of the user is replaced. The code is also kept sealed (the
 * row's id is its hash), so a reload shows the same QR code while it lives (issue 16 item 1).
 */
export async function beginPushEnrollment(
  ctx: AppContext,
  enrolling: EnrollmentLogin,
  // The Duo door enrols a "numberless phone" (no number) and lets the application choose how long the code lives (valid_secs).
  input: { phone?: { number: string; country?: string }; validMs?: number },
): Promise<PushEnrollment> {
  const login = pushEnrollmentLogin(enrolling);
  const { subject: user, attempt } = login;
  const firm = { id: user.firm_id };
  await assertMayBeginEnrollment(ctx, login);
  assertNotLocked(user, ctx.clock.now());
  const phone = input.phone ? phoneE164(input.phone) : null;
  const code = randomBytes(32).toString('base64url');
  const id = randomUUID();
  const now = ctx.clock.now();
  const expiresAt = now + (input.validMs ?? ACTIVATION_TTL_MS);
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
        attempt_id: attempt.id,
        created_at: now,
        expires_at: expiresAt,
        used_at: null,
        first_enrollment: 0,
        completed_at: null,
        code_sealed: ctx.secrets.seal(Buffer.from(code, 'utf8'), activationId(code)),
        application_id: attempt.applicationId,
      })
      .execute();
    await noteEnrollment(tx, attempt.id, id);
  });
  return qrOf(ctx, id, code, expiresAt);
}

const ownActivation = (ctx: AppContext, { subject, attempt }: AttemptOf<PushEnrollee>, authenticatorId: string) =>
  ctx.db
    .selectFrom('authenticators')
    .innerJoin('device_activations', 'device_activations.authenticator_id', 'authenticators.id')
    .select([
      'authenticators.status',
      'device_activations.id as activation_id',
      'device_activations.expires_at',
      'device_activations.used_at',
      'device_activations.first_enrollment',
      'device_activations.completed_at',
      'device_activations.code_sealed',
    ])
    .where('authenticators.id', '=', authenticatorId)
    .where('authenticators.user_id', '=', subject.id)
    .where('authenticators.firm_id', '=', subject.firm_id)
    .where('authenticators.kind', '=', 'push')
    .where('device_activations.attempt_id', '=', attempt.id)
    .executeTakeFirst();

/** Where a push enrollment of this login stands, for a screen continuing after a reload. */
export type PushEnrollmentProgress =
  | { status: 'pending'; shown: PushEnrollment | null }
  | { status: 'active'; completed: boolean }
  | { status: 'expired' };

/**
 * The push enrollment this login began: waiting for the phone (with the same QR code again while
 * the code lives, when it can be opened), activated (the login not completed yet: backup codes
 * next), or expired; undefined when there is none.
 */
export async function pushEnrollmentProgress(ctx: AppContext, enrolling: EnrollmentLogin, authenticatorId: string): Promise<PushEnrollmentProgress | undefined> {
  const login = pushEnrollmentLogin(enrolling);
  const row = await ownActivation(ctx, login, authenticatorId);
  if (!row) return undefined;
  if (row.status === 'active') return { status: 'active', completed: row.completed_at !== null };
  if (row.used_at !== null || Number(row.expires_at) <= ctx.clock.now()) return { status: 'expired' };
  let shown: PushEnrollment | null = null;
  if (row.code_sealed !== null) {
    try {
      shown = await qrOf(ctx, authenticatorId, ctx.secrets.open(row.code_sealed, row.activation_id).toString('utf8'), Number(row.expires_at));
    } catch (err) {
      // Sealed under a key no longer configured (a rotation within its 10 minutes): a new code is needed.
      if (!(err instanceof SecretUnavailable)) throw err;
    }
  }
  return { status: 'pending', shown };
}

/**
 * "Send the link by mail" (issue 16 item 7): the activation link of this login's pending push
 * enrollment, mailed to the user's own address only (never one typed on the screen), for a user
 * at a computer whose phone has mail. The link is as single-use and short-lived as the QR code;
 * a used, expired or unreadable code (sealed under a retired key) is 410 ACTIVATION_INVALID.
 */
/**
 * Mails of one activation's link: each one counts, so a pending login cannot fill the user's
 * mailbox (and the outbox): three at once, then a growing wait, at most ten an hour.
 */
const ACTIVATION_MAIL_POLICY: ThrottlePolicy = { freeFailures: 3, baseDelayMs: 1000, maxDelayMs: 60_000, hourlyCap: 10 };

export async function mailActivationLink(ctx: AppContext, enrolling: EnrollmentLogin, authenticatorId: string): Promise<{ sentTo: string; expiresAt: number }> {
  const login = pushEnrollmentLogin(enrolling);
  const row = await ownActivation(ctx, login, authenticatorId);
  if (!row) throw notFound('The enrollment');
  const expiresAt = Number(row.expires_at);
  if (row.status !== 'pending' || row.used_at !== null || expiresAt <= ctx.clock.now() || row.code_sealed === null) throw new AppError('ACTIVATION_INVALID');
  let code: string;
  try {
    code = ctx.secrets.open(row.code_sealed, row.activation_id).toString('utf8');
  } catch (err) {
    if (err instanceof SecretUnavailable) throw new AppError('ACTIVATION_INVALID');
    throw err;
  }
  const throttle = await reserveAttempt(ctx.db, ctx.clock, [{ scope: 'activation_mail', key: row.activation_id, policy: ACTIVATION_MAIL_POLICY }]);
  if (!throttle.allowed) throw tooManyAttempts(Math.ceil(throttle.retryAfterMs / 1000));
  await settleAttempt(ctx.db, throttle.ticket, 'failure');
  const { subject } = login;
  const firm = await ctx.db.selectFrom('firms').select('name').where('id', '=', subject.firm_id).executeTakeFirstOrThrow();
  const content = templates.activationLink({ name: subject.name, firmName: firm.name, url: `${ctx.config.publicUrl.origin}/authenticator#activate=${code}`, expiresAt });
  await ctx.mail.enqueue(ctx.db, { firmId: subject.firm_id, to: subject.email, ...content });
  return { sentTo: subject.email, expiresAt };
}

/** What the enrollment screen polls to notice the activation by itself. */
export async function pushEnrollmentStatus(ctx: AppContext, enrolling: EnrollmentLogin, authenticatorId: string): Promise<PushEnrollmentStatus> {
  const row = await ownActivation(ctx, pushEnrollmentLogin(enrolling), authenticatorId);
  if (!row) throw notFound('The enrollment');
  if (row.status === 'active') return 'active';
  return row.used_at === null && Number(row.expires_at) > ctx.clock.now() ? 'pending' : 'expired';
}

/**
 * After the device activated (the seat was taken then, in the activation's transaction):
 * completes this login attempt, once, with backup codes at the user's first enrollment; the
 * door's `hold` turns the Authentication into its answer. Before the activation: 409 NOT_ACTIVATED.
 */
export async function completePushEnrollment<T>(ctx: AppContext, enrolling: EnrollmentLogin, actor: Actor, authenticatorId: string, hold: Hold<T>): Promise<EnrollmentConfirmed<T>> {
  const login = pushEnrollmentLogin(enrolling);
  const user = login.subject;
  const row = await ownActivation(ctx, login, authenticatorId);
  if (!row) throw notFound('The enrollment');
  if (row.status !== 'active') throw notActivated();
  assertNotLocked(user, ctx.clock.now());
  return ctx.db.transaction().execute(async (tx) => {
    const now = ctx.clock.now();
    const taken = await tx
      .updateTable('device_activations')
      .set({ completed_at: now })
      .where('id', '=', row.activation_id)
      .where('completed_at', 'is', null)
      .executeTakeFirst();
    if (Number(taken.numUpdatedRows) === 0) throw new AppError('ALREADY_CONFIRMED');
    const backupCodes = row.first_enrollment === 1 ? await issueBackupCodes(ctx, tx, user) : null;
    if (!(await resetFailures(ctx, tx, user))) throw await currentLock(ctx, tx, user);
    const { authentication, held } = await completeEnrollment(ctx, tx, login, actor, 'push', hold);
    return { authentication, held, backupCodes };
  });
}
