import { timingSafeEqual } from 'node:crypto';
import { Secret } from 'otpauth';
import { audit, type Actor } from '../../audit/audit.service.js';
import type { AppContext } from '../../context.js';
import type { ExpressionBuilder } from 'kysely';
import type { Database, DbOrTx } from '../../db/database.js';
import { isActiveUser } from '../../directory/user.table.js';
import { AppError, notFound } from '../../core/errors.js';
import { FRAUD_PAUSE_MS } from './push.factor.js';
import type { PushContext, PushStatus, PushTransaction } from './push.table.js';
import { TOTP_PARAMS } from '../totp/totp.factor.js';
import { activateAuthenticator } from '../../core/activation.js';
import { endAttempt } from '../../core/login-attempt.js';
import { activationId } from './push-enrollment.service.js';
import { PENDING_STAGES } from '../../login/mfa-gate.js';
import { templates } from '../../notify/templates.js';
import { metrics } from '../../ops/metrics.js';
import {
  answerSigningString,
  DEVICE_CLOCK_SKEW_MS,
  keyOfStoredJwk,
  NONCE_PATTERN,
  parseDeviceKey,
  requestSigningString,
  timestampFresh,
  verifyDeviceSignature,
} from './device-signature.js';
import { pushHub } from './push-hub.js';
import { pushEndpointProblem } from './web-push.js';
import { mailSuperusers } from '../../notify/superusers.js';

/**
 * The Tessera Authenticator's side of the protocol (issue 5): activation with a single-use
 * code, then every request signed by the device's P-256 key, and every answer signed again
 * over exactly what it decides. See device-signature.ts for the signed strings.
 */

export const activationInvalid = () =>
  new AppError('ACTIVATION_INVALID');
export const deviceUnauthenticated = () => new AppError('DEVICE_UNAUTHENTICATED');
export const transactionNotPending = () => new AppError('TRANSACTION_NOT_PENDING');
const SECRET_BYTES = 20;

export interface ActivationResult {
  deviceId: string;
  secret: string;
  period: number;
  digits: number;
  account: { firmName: string; userName: string; email: string };
}

class Refused extends Error {
  constructor(
    readonly error: AppError,
    readonly auditDetails: Record<string, unknown>,
    readonly firmId: string | null = null,
    readonly subjectId: string | null = null,
  ) {
    super(error.message);
  }
}

/**
 * Activation (reference 1.3), in ONE transaction: the code used up (one conditional UPDATE:
 * unused, not expired, its enrollment still open), the key and a fresh passcode secret stored
 * (sealed, bound to the authenticator), the authenticator activated (pending -> active), the
 * seat taken (none free: everything rolls back, 409 NO_SEAT, and the code still works once a
 * seat is free), audited. An unknown, used or expired code, or one whose enrollment is over,
 * is 410 and audited: guessing codes is an attack, and so is using a photographed one late.
 */
export async function activateDevice(
  ctx: AppContext,
  actor: Actor,
  input: { code: string; publicKey: unknown; platform?: string },
): Promise<ActivationResult> {
  const parsed = parseDeviceKey(input.publicKey);
  if (!parsed) throw new AppError('INVALID_PUBLIC_KEY');
  try {
    return await ctx.db.transaction().execute(async (tx) => {
      const now = ctx.clock.now();
      const used = await tx
        .updateTable('device_activations')
        .set({ used_at: now })
        .where('id', '=', activationId(input.code))
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        // Bound to its enrollment (issue 12): the login attempt that showed the QR code must
        // still be live. Finishing the enrollment with any factor or a step-up replaces the web
        // session and with it its attempt, logout and a password change delete them, and they
        // expire: each voids the code, so a QR code photographed off the screen cannot activate a
        // device that approves pushes later. (A web attempt's session is tested as loadSession does.)
        .where((eb) =>
          eb.exists(
            eb
              .selectFrom('login_attempts')
              .select('login_attempts.id')
              .whereRef('login_attempts.id', '=', 'device_activations.attempt_id')
              .whereRef('login_attempts.user_id', '=', 'device_activations.user_id')
              .where('login_attempts.expires_at', '>', now)
              .where((a) =>
                a.or([
                  a('login_attempts.session_id', 'is', null),
                  a.exists(
                    a
                      .selectFrom('sessions')
                      .select('sessions.id')
                      .whereRef('sessions.id', '=', 'login_attempts.session_id')
                      .where('sessions.expires_at', '>', now)
                      .where('sessions.last_seen_at', '>', now - ctx.config.sessionIdleMs),
                  ),
                ]),
              ),
          ),
        )
        .returning(['id', 'firm_id', 'user_id', 'authenticator_id'])
        .executeTakeFirst();
      if (!used) throw await notActivatable(tx, activationId(input.code), now);
      const who = await tx
        .selectFrom('users')
        .innerJoin('firms', 'firms.id', 'users.firm_id')
        .selectAll('users')
        .select('firms.name as firm_name')
        .where('users.id', '=', used.user_id)
        .where('users.firm_id', '=', used.firm_id)
        .executeTakeFirst();
      if (!who || !isActiveUser(who)) throw new Refused(activationInvalid(), { reason: 'user_inactive' }, used.firm_id, used.user_id);
      // The one activation of every factor (seat, audit `mfa.enrolled`, the owner mailed); the
      // login that showed the QR code finishes later, with the backup codes of a first enrollment.
      const { firstEnrollment } = await activateAuthenticator(ctx, tx, { user: who, firm: { id: who.firm_id } }, { ...actor, type: 'user', id: who.id, firmId: who.firm_id }, {
        authenticatorId: used.authenticator_id,
        kind: 'push',
        details: { phone: true, platform: input.platform ?? null },
        completion: 'at_completion',
        notPending: () => new Refused(activationInvalid(), { reason: 'not_pending' }, used.firm_id, used.user_id),
      });
      const secret = new Secret({ size: SECRET_BYTES }).base32;
      await tx
        .insertInto('push_devices')
        .values({ authenticator_id: used.authenticator_id, public_key: JSON.stringify(parsed.jwk), platform: input.platform ?? null, web_push: null, created_at: now, last_seen_at: now })
        .execute();
      await tx.insertInto('totp_authenticators').values({ authenticator_id: used.authenticator_id, secret_enc: ctx.secrets.seal(secret, used.authenticator_id), last_step: null }).execute();
      await tx.updateTable('device_activations').set({ first_enrollment: firstEnrollment ? 1 : 0 }).where('id', '=', used.id).execute();
      return {
        deviceId: used.authenticator_id,
        secret,
        period: TOTP_PARAMS.period,
        digits: TOTP_PARAMS.digits,
        account: { firmName: who.firm_name, userName: who.name, email: who.email },
      };
    });
  } catch (err) {
    if (!(err instanceof Refused)) throw err;
    await audit(ctx.db, ctx.clock.now(), { ...actor, firmId: err.firmId }, {
      event: 'device.activation_refused',
      subjectType: err.subjectId ? 'user' : undefined,
      subjectId: err.subjectId,
      details: err.auditDetails,
    });
    throw err.error;
  }
}

/**
 * Why a code did not activate, for the audit log only: the answer is the same 410 whatever
 * the reason. A live, unused code whose enrollment is over names its user, since someone
 * holds a copy of that user's QR code.
 */
async function notActivatable(db: DbOrTx, id: string, now: number): Promise<Refused> {
  const row = await db.selectFrom('device_activations').select(['firm_id', 'user_id', 'used_at', 'expires_at']).where('id', '=', id).executeTakeFirst();
  if (!row || row.used_at !== null || Number(row.expires_at) <= now) return new Refused(activationInvalid(), { reason: 'unknown_used_or_expired' });
  return new Refused(activationInvalid(), { reason: 'enrollment_closed' }, row.firm_id, row.user_id);
}

/** An authenticated device: the authenticator (= device id) and its user. */
export interface DeviceIdentity {
  deviceId: string;
  userId: string;
  firmId: string;
}

export interface SignedRequest {
  method: string;
  /** The path with its query, as signed (for EventSource: without the device, ts and sig parameters). */
  path: string;
  deviceId: unknown;
  timestamp: unknown;
  nonce: unknown;
  signature: unknown;
  body: string | undefined;
}

async function loadDevice(db: DbOrTx, deviceId: string) {
  return db
    .selectFrom('push_devices')
    .innerJoin('authenticators', 'authenticators.id', 'push_devices.authenticator_id')
    .innerJoin('users', 'users.id', 'authenticators.user_id')
    .select(['push_devices.public_key', 'authenticators.user_id', 'authenticators.firm_id', 'authenticators.status', 'users.status as user_status', 'users.portal_access', 'users.record_state', 'users.kind'])
    .where('push_devices.authenticator_id', '=', deviceId)
    // A device is always a firm user's (the inner join): operators have none.
    .$narrowType<{ user_id: string; firm_id: string }>()
    .executeTakeFirst();
}

/**
 * Checks a device request's signature, as a declared list of steps:
 *   1. shape      - a device id, a timestamp within ±120 s of ours, a nonce;
 *   2. device     - one that exists;
 *   3. signature  - ECDSA over method, path, timestamp, nonce and body digest, by its key;
 *   4. active     - the device is active (removing it revokes the key at once), its user too;
 *   5. nonce      - used up by ONE insert into device_nonces, whose primary key (device, nonce)
 *                   refuses the same request sent again (a replay inside the ±120 s window),
 *                   race-free on both databases: of two copies sent at once, one insert wins.
 * Anything else: 401, audited. The nonce is spent only by a request that passed 1-4, so
 * nobody without the device key can fill the table.
 */
export async function authenticateDevice(ctx: AppContext, actor: Actor, req: SignedRequest): Promise<DeviceIdentity> {
  const refuse = async (reason: string, firmId: string | null = null, deviceId: string | null = null): Promise<never> => {
    await audit(ctx.db, ctx.clock.now(), { ...actor, firmId }, { event: 'device.auth_failed', subjectType: deviceId ? 'authenticator' : undefined, subjectId: deviceId, details: { reason, path: req.path.split('?')[0] } });
    throw deviceUnauthenticated();
  };
  const { deviceId, timestamp, nonce, signature } = req;
  if (typeof deviceId !== 'string' || !/^[0-9a-f-]{36}$/.test(deviceId)) return refuse('no_device');
  if (typeof timestamp !== 'string' || !/^\d{1,16}$/.test(timestamp)) return refuse('no_timestamp');
  if (!timestampFresh(Number(timestamp), ctx.clock.now())) return refuse('stale_timestamp');
  if (typeof nonce !== 'string' || !NONCE_PATTERN.test(nonce)) return refuse('no_nonce');
  const device = await loadDevice(ctx.db, deviceId);
  if (!device) return refuse('unknown_device');
  const key = keyOfStoredJwk(device.public_key);
  if (!key || !verifyDeviceSignature(key, requestSigningString(req.method, req.path, timestamp, nonce, req.body), signature)) return refuse('bad_signature', device.firm_id, deviceId);
  const userActive = isActiveUser({ kind: device.kind, status: device.user_status, portal_access: device.portal_access, record_state: device.record_state });
  if (device.status !== 'active' || !userActive) return refuse('inactive', device.firm_id, deviceId);
  if (!(await useNonce(ctx.db, deviceId, nonce, Number(timestamp)))) return refuse('nonce_replayed', device.firm_id, deviceId);
  return { deviceId, userId: device.user_id, firmId: device.firm_id };
}

/**
 * Uses a request nonce up: true for the first request with it, false for any later one. The row
 * is kept until the signed timestamp is no longer accepted (timestamp + 120 s); after that a
 * replay fails on the timestamp anyway, and housekeeping deletes it (pruneDeviceNonces).
 */
async function useNonce(db: DbOrTx, deviceId: string, nonce: string, timestamp: number): Promise<boolean> {
  const inserted = await db
    .insertInto('device_nonces')
    .values({ device_id: deviceId, nonce, expires_at: timestamp + DEVICE_CLOCK_SKEW_MS })
    .onConflict((oc) => oc.columns(['device_id', 'nonce']).doNothing())
    .executeTakeFirst();
  return Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1;
}

/**
 * Deletes the nonces whose requests can no longer be accepted. A window later than strictly
 * needed: with several nodes, one whose clock runs behind another's by up to that much still
 * finds the nonce of a request the other already took.
 */
export async function pruneDeviceNonces(db: DbOrTx, now: number): Promise<void> {
  await db.deleteFrom('device_nonces').where('expires_at', '<', now - DEVICE_CLOCK_SKEW_MS).execute();
}

export interface TransactionView {
  id: string;
  firmName: string;
  userName: string;
  email: string;
  app: string;
  ip: string | null;
  browser: string;
  os: string;
  createdAt: number;
  expiresAt: number;
  numberDigits: number;
  /** What the application calls the request (Duo's `type`, e.g. "Transaction"): the app then asks "Verify request"; null for a sign-in. */
  requestType: string | null;
  /** The name the application knows the user by (Duo's `display_username`), shown in place of the account's; null if none. */
  displayUsername: string | null;
  /** The pairs the application asked to show (Duo's `pushinfo`), in its order. */
  details: { label: string; value: string }[];
}

/**
 * A push is still open to an answer while its login is: a pending row whose attempt still exists
 * (a login that ended another way, and whose door did not withdraw its push, is not shown nor
 * answerable either).
 */
const loginStillOpen = (eb: ExpressionBuilder<Database, 'push_transactions'>, now: number) =>
  eb.exists(
    eb
      .selectFrom('login_attempts')
      .select('login_attempts.id')
      .whereRef('login_attempts.id', '=', 'push_transactions.attempt_id')
      .where('login_attempts.expires_at', '>', now),
  );

/** What the app shows (reference 1.4.1): firm, user, what is being logged into, IP, browser and OS, time. Never the number. */
export async function transactionViews(ctx: AppContext, device: DeviceIdentity, onlyId?: string): Promise<TransactionView[]> {
  const now = ctx.clock.now();
  let q = ctx.db
    .selectFrom('push_transactions')
    .innerJoin('users', 'users.id', 'push_transactions.user_id')
    .innerJoin('firms', 'firms.id', 'push_transactions.firm_id')
    .select([
      'push_transactions.id',
      'push_transactions.ip',
      'push_transactions.context',
      'push_transactions.number',
      'push_transactions.created_at',
      'push_transactions.expires_at',
      'users.name as user_name',
      'users.email',
      'firms.name as firm_name',
    ])
    .where('push_transactions.user_id', '=', device.userId)
    .where('push_transactions.firm_id', '=', device.firmId)
    .where('push_transactions.status', '=', 'pending')
    .where('push_transactions.expires_at', '>', now)
    .where((eb) => loginStillOpen(eb, now));
  if (onlyId) q = q.where('push_transactions.id', '=', onlyId);
  const rows = await q.orderBy('push_transactions.created_at', 'desc').execute();
  return rows.map((r) => {
    const context = JSON.parse(r.context) as PushContext;
    return {
      id: r.id,
      firmName: r.firm_name,
      userName: r.user_name,
      email: r.email,
      app: context.app ?? 'Tessera',
      ip: r.ip,
      browser: context.browser ?? 'Unknown browser',
      os: context.os ?? 'Unknown system',
      createdAt: Number(r.created_at),
      expiresAt: Number(r.expires_at),
      numberDigits: r.number.length,
      requestType: context.type ?? null,
      displayUsername: context.displayUsername ?? null,
      details: (context.details ?? []).map(([label, value]) => ({ label, value })),
    };
  });
}

/** Why a request the app shows is no longer open: the device stream's `withdrawn` event. */
export type WithdrawnReason = 'answered' | 'superseded' | 'cancelled' | 'expired';

/**
 * Whether a request of this device's user ended, and why (null: still open, or not this user's):
 * answered (on this device or another of the user's), superseded by a newer push, cancelled (its
 * login ended another way), or expired.
 */
export async function transactionEnd(ctx: AppContext, device: DeviceIdentity, transactionId: string): Promise<WithdrawnReason | null> {
  const now = ctx.clock.now();
  const row = await ctx.db
    .selectFrom('push_transactions')
    .select((eb) => ['status', 'expires_at', 'end_reason', loginStillOpen(eb, now).as('open')])
    .where('id', '=', transactionId)
    .where('user_id', '=', device.userId)
    .where('firm_id', '=', device.firmId)
    .executeTakeFirst();
  if (!row) return null;
  if (row.status === 'pending') {
    if (Number(row.expires_at) <= now) return 'expired';
    return row.open ? null : 'cancelled';
  }
  if (row.status !== 'expired') return 'answered';
  return row.end_reason === 'superseded' || row.end_reason === 'cancelled' ? row.end_reason : 'expired';
}

export interface AnswerInput {
  answer: 'approve' | 'deny';
  reason?: 'fraud' | 'mistake';
  number?: string;
  timestamp: number;
  signature: string;
}

const sameNumber = (a: string, b: string | undefined) => b !== undefined && a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/**
 * An answer (reference 1.4.1), as a declared list of steps:
 *   1. signed           - the device key's signature over id, answer, reason, number and timestamp
 *                         (on top of the request signature): a captured request body cannot be
 *                         turned into another answer;
 *   2. ours             - a transaction of this device's user and firm, else 404 (no oracle);
 *   3. decide           - approve with the right number (verified push) -> approved; a wrong
 *                         number -> denied; deny "It seemed fraudulent" -> fraud; else denied;
 *   4. consume          - ONE conditional UPDATE (pending, not expired, this user) ... RETURNING:
 *                         a replay or a late answer changes nothing (409);
 *   5. fraud            - pushes paused 20 minutes, the user's pending logins ended, every
 *                         active superuser mailed, audited;
 *   6. announce         - after the commit, through the hub: the waiting login learns it at once.
 */
export async function answerTransaction(ctx: AppContext, actor: Actor, device: DeviceIdentity, transactionId: string, input: AnswerInput): Promise<{ status: PushStatus }> {
  const deviceActor: Actor = { ...actor, type: 'user', id: device.userId, firmId: device.firmId };
  const refuse = async (error: AppError, reason: string): Promise<never> => {
    await audit(ctx.db, ctx.clock.now(), deviceActor, {
      event: 'mfa.push_answer_refused',
      subjectType: 'user',
      subjectId: device.userId,
      // Another user's request id stays out of this user's firm log (it may be another firm's).
      details: { ...(reason === 'other_user' ? {} : { transactionId }), deviceId: device.deviceId, reason },
    });
    throw error;
  };
  if (input.reason !== undefined && input.answer !== 'deny') throw new AppError('INVALID_ANSWER');
  const signed = answerSigningString({ id: transactionId, answer: input.answer, reason: input.reason, number: input.number, timestamp: input.timestamp });
  const device_ = await loadDevice(ctx.db, device.deviceId);
  const key = device_ ? keyOfStoredJwk(device_.public_key) : null;
  if (!key || !timestampFresh(input.timestamp, ctx.clock.now()) || !verifyDeviceSignature(key, signed, input.signature)) {
    return refuse(deviceUnauthenticated(), 'bad_answer_signature');
  }
  const row = await ctx.db.selectFrom('push_transactions').selectAll().where('id', '=', transactionId).executeTakeFirst();
  if (!row || row.user_id !== device.userId || row.firm_id !== device.firmId) {
    return refuse(notFound('The push request'), row ? 'other_user' : 'unknown');
  }
  const wrongNumber = input.answer === 'approve' && !sameNumber(row.number, input.number);
  const status: PushStatus = input.answer === 'approve' ? (wrongNumber ? 'denied' : 'approved') : input.reason === 'fraud' ? 'fraud' : 'denied';

  const answered = await ctx.db.transaction().execute(async (tx) => {
    const now = ctx.clock.now();
    const taken = await tx
      .updateTable('push_transactions')
      .set({ status, answered_at: now, answered_by: device.deviceId, end_reason: wrongNumber ? 'wrong_number' : input.reason === 'mistake' ? 'mistake' : null })
      .where('id', '=', transactionId)
      .where('user_id', '=', device.userId)
      .where('firm_id', '=', device.firmId)
      .where('status', '=', 'pending')
      .where('expires_at', '>', now)
      // Its login still waits: an answer to a login that ended another way decides nothing.
      .where((eb) => loginStillOpen(eb, now))
      .returningAll()
      .executeTakeFirst();
    if (!taken) return null;
    await tx.updateTable('push_devices').set({ last_seen_at: now }).where('authenticator_id', '=', device.deviceId).execute();
    const subject = { subjectType: 'user', subjectId: device.userId } as const;
    if (status === 'approved') {
      await audit(tx, now, deviceActor, { ...subject, event: 'mfa.push_approved', details: { transactionId, deviceId: device.deviceId } });
    } else if (status === 'fraud') {
      await reportFraud(ctx, tx, deviceActor, taken);
    } else {
      const reason = wrongNumber ? 'wrong_number' : (input.reason ?? 'unspecified');
      await audit(tx, now, deviceActor, { ...subject, event: 'mfa.push_denied', details: { transactionId, deviceId: device.deviceId, reason } });
    }
    return taken;
  });
  if (!answered) {
    const ended = row.status !== 'pending' ? `already_${row.status}` : Number(row.expires_at) <= ctx.clock.now() ? 'expired' : 'login_ended';
    return refuse(transactionNotPending(), ended);
  }
  metrics(ctx).push(status);
  await pushHub(ctx).publish(transactionId);
  return { status };
}

/**
 * "It seemed fraudulent": pushes paused for 20 minutes, the user's pending logins ended, the
 * superusers told (user, time, IP, browser), audited.
 *
 * Ending the logins: the user just said the login that asked was not theirs, so whoever typed
 * the password must not go on trying other factors (passcodes, backup codes, a key) in that
 * login or in another one started meanwhile. Every half-finished login of the user ends, and so
 * does the session that asked even if it is a full one (a step-up from a remembered browser).
 * The user's own signed-in sessions stay: the report is about a login attempt, not about them.
 */
async function reportFraud(ctx: AppContext, tx: DbOrTx, actor: Actor, t: PushTransaction): Promise<void> {
  const now = ctx.clock.now();
  const pausedUntil = now + FRAUD_PAUSE_MS;
  await tx.updateTable('users').set({ push_paused_until: pausedUntil }).where('id', '=', t.user_id).where('firm_id', '=', t.firm_id).execute();
  // The attempt that asked, and its web session if it has one (its session id is read first: deleting the attempt's session deletes the attempt).
  const asking = t.attempt_id === null ? undefined : await tx.selectFrom('login_attempts').select('session_id').where('id', '=', t.attempt_id).executeTakeFirst();
  const askingSession = asking?.session_id ?? null;
  const ended = await tx
    .deleteFrom('sessions')
    .where('firm_id', '=', t.firm_id)
    .where('user_id', '=', t.user_id)
    .where((eb) => eb.or([eb('stage', 'in', [...PENDING_STAGES]), ...(askingSession ? [eb('id', '=', askingSession)] : [])]))
    .executeTakeFirst();
  // Every attempt of the user in progress ends too, whatever its door.
  await tx.deleteFrom('login_attempts').where('firm_id', '=', t.firm_id).where('user_id', '=', t.user_id).where('stage', '!=', 'step_up').execute();
  if (t.attempt_id !== null) await endAttempt(tx, t.attempt_id);
  const context = JSON.parse(t.context) as { browser?: string; os?: string };
  await audit(tx, now, actor, {
    event: 'mfa.push_fraud',
    subjectType: 'user',
    subjectId: t.user_id,
    details: {
      transactionId: t.id,
      ip: t.ip,
      browser: context.browser ?? null,
      os: context.os ?? null,
      loginAt: Number(t.created_at),
      pausedUntil,
      loginsEnded: Number(ended.numDeletedRows),
    },
  });
  const who = await tx
    .selectFrom('users')
    .innerJoin('firms', 'firms.id', 'users.firm_id')
    .select(['users.name', 'users.email', 'firms.name as firm_name'])
    .where('users.id', '=', t.user_id)
    .executeTakeFirstOrThrow();
  const content = templates.pushFraud({
    firmName: who.firm_name,
    userName: who.name,
    userEmail: who.email,
    at: Number(t.created_at),
    ip: t.ip,
    browser: context.browser ?? 'Unknown browser',
    os: context.os ?? 'Unknown system',
    pauseMinutes: FRAUD_PAUSE_MS / 60_000,
    url: new URL('/admin/users', ctx.config.publicUrl).toString(),
  });
  await mailSuperusers(ctx, tx, t.firm_id, content);
}

/** Whether the device may still listen (a removed device's stream ends at its next event). */
export async function deviceStillActive(ctx: AppContext, device: DeviceIdentity): Promise<boolean> {
  const row = await loadDevice(ctx.db, device.deviceId);
  return !!row && row.status === 'active' && row.user_id === device.userId;
}

/** The app's Web Push subscription (null: unsubscribed); its endpoint must be one Tessera may send to (web-push.ts). */
export async function setWebPushSubscription(ctx: AppContext, device: DeviceIdentity, subscription: { endpoint: string } | null): Promise<void> {
  if (subscription !== null && pushEndpointProblem(subscription.endpoint) !== null) {
    throw new AppError('INVALID_PUSH_ENDPOINT');
  }
  await ctx.db
    .updateTable('push_devices')
    .set({ web_push: subscription === null ? null : JSON.stringify(subscription), last_seen_at: ctx.clock.now() })
    .where('authenticator_id', '=', device.deviceId)
    .execute();
}
