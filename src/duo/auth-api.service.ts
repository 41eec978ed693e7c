import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import QRCode from 'qrcode';
import type { DuoIntegration } from '../applications/application.lookup.js';
import { enrollLinkId } from '../applications/enroll-link.js';
import { audit, type Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import { decideAfterPassword, reasonMeaning } from '../core/decision.js';
import { AppError } from '../core/errors.js';
import { lockedUntil } from '../core/lockout.js';
import { countLogin } from '../core/login-counts.js';
import { endAttempt, openAttempt, type LoginAttempt } from '../core/login-attempt.js';
import { recordBypass } from '../core/seats.js';
import { answerSecondFactor } from '../core/second-factor.js';
import type { DbOrTx } from '../db/database.js';
import { isActiveUser, type User } from '../directory/user.table.js';
import { ACTIVATION_TTL_MS, PUSH_LABEL, PUSH_TTL_MS, pushPausedUntil } from '../factors/push/push.factor.js';
import { activationId, beginPushEnrollment } from '../factors/push/push-enrollment.service.js';
import { randomNumber, startPush, waitForPush, type PushSubject } from '../factors/push/push.service.js';
import { PASSCODE_KINDS } from '../factors/totp/totp.factor.js';
import { loadLoginPolicy } from '../mfa-policy/mfa-login-policy.service.js';
import type { DuoResult, DuoTransaction } from './duo-transaction.table.js';
import { DuoError } from './envelope.js';

/**
 * Duo's Auth API v2 answered by the authentication core (issue 15 items 2-3). No HTTP here: the
 * routes (auth-api.routes.ts) hand over the authenticated integration and the decoded parameters
 * and send what these functions return inside `{"stat":"OK","response":...}`; a DuoError is sent
 * in Duo's failure envelope.
 *
 * A username is a user of the integration's firm by address or username alias (either case);
 * `user_id` is Tessera's user id. Every call is audited with the application.
 */

/** Whom a call names: Duo's `username` or `user_id`, exactly one. */
export type Who = { username: string } | { userId: string };

export interface DuoCall {
  integration: DuoIntegration;
  actor: Actor;
  log: FastifyBaseLogger;
}

const unix = (ms: number) => Math.floor(ms / 1000);

/** The user a Duo call names, in the integration's firm: by address or alias (case-insensitive), or by id. */
export async function findDuoUser(db: DbOrTx, firmId: string, who: Who): Promise<User | undefined> {
  let q = db.selectFrom('users').selectAll().where('firm_id', '=', firmId);
  if ('userId' in who) q = q.where('id', '=', who.userId);
  else {
    const name = who.username.trim().toLowerCase();
    q = q.where((eb) => eb.or([eb('email', '=', name), eb(eb.fn('lower', ['username_alias']), '=', name)]));
  }
  // An address and another user's alias never coincide (the directory refuses it); the address wins if they ever did.
  const rows = await q.limit(2).execute();
  if (rows.length < 2 || 'userId' in who) return rows[0];
  return rows.find((r) => r.email === who.username.trim().toLowerCase()) ?? rows[0];
}

const auditCall = (ctx: AppContext, db: DbOrTx, call: DuoCall, event: 'duo.preauth' | 'duo.auth' | 'duo.auth_denied' | 'duo.enroll' | 'duo.enroll_refused' | 'duo.call', user: User | undefined, details: Record<string, unknown>) =>
  audit(db, ctx.clock.now(), call.actor, {
    event,
    firmId: call.integration.firmId,
    subjectType: user ? 'user' : undefined,
    subjectId: user?.id ?? null,
    applicationId: call.integration.applicationId,
    details: { application: call.integration.name, ...details },
  });

/** The actor of a call about a user: the user, from the address the application gave (ipaddr) or else its own. */
export function userActor(call: DuoCall, user: User | undefined): Actor {
  return user ? { ...call.actor, type: 'user', id: user.id, firmId: user.firm_id } : call.actor;
}

/**
 * An `allow` given to the application: one login to it (core/login-counts.ts), on the no-seat
 * bypass or the password alone (a user not covered, or one Tessera does not know whom the new
 * user policy allows). An application that calls auth after preauth allowed counts twice: Duo's
 * clients do not (an allow at preauth lets the user in).
 */
const countAllow = (ctx: AppContext, db: DbOrTx, call: DuoCall, bypass: boolean) =>
  countLogin(db, { firmId: call.integration.firmId, applicationId: call.integration.applicationId, at: ctx.clock.now(), kind: bypass ? 'bypass' : 'password_only' });

/** A call whose endpoint needs no user (check, logo): audited as the application's call. */
export async function recordCall(ctx: AppContext, call: DuoCall, endpoint: string): Promise<void> {
  await auditCall(ctx, ctx.db, call, 'duo.call', undefined, { endpoint });
}

// --- devices -------------------------------------------------------------------------------

export interface DuoDevice {
  device: string;
  type: 'phone' | 'token';
  name: string;
  display_name: string;
  number?: string;
  capabilities: string[];
}

/** "+15551230100" -> "XXX-XXX-0100", as Duo masks a number. */
const maskedNumber = (e164: string | null) => (e164 ? `XXX-XXX-${e164.slice(-4)}` : '');

/**
 * The user's devices in Duo's terms, from their active authenticators: a Tessera Authenticator is
 * a phone that can push (unless pushes are paused after a fraud report) and give passcodes
 * (`mobile_otp`); an authenticator app a token that gives passcodes. Security keys have no Auth
 * API factor and are left out; backup codes are passcodes of no device.
 */
export async function duoDevices(ctx: AppContext, db: DbOrTx, user: User): Promise<DuoDevice[]> {
  const rows = await db
    .selectFrom('authenticators')
    .leftJoin('push_devices', 'push_devices.authenticator_id', 'authenticators.id')
    .select(['authenticators.id', 'authenticators.kind', 'authenticators.label', 'authenticators.phone_e164', 'push_devices.authenticator_id as device_key'])
    .where('authenticators.user_id', '=', user.id)
    .where('authenticators.firm_id', '=', user.firm_id)
    .where('authenticators.status', '=', 'active')
    .where('authenticators.kind', 'in', PASSCODE_KINDS)
    .orderBy('authenticators.created_at')
    .execute();
  const paused = (await pushPausedUntil(db, user, ctx.clock.now())) !== null;
  return rows.map((r) => {
    if (r.kind === 'push' && r.device_key) {
      const number = maskedNumber(r.phone_e164);
      return {
        device: r.id,
        type: 'phone' as const,
        name: r.label,
        display_name: number ? `${PUSH_LABEL} (${number})` : PUSH_LABEL,
        number,
        capabilities: paused ? ['mobile_otp'] : ['auto', 'push', 'mobile_otp'],
      };
    }
    return { device: r.id, type: 'token' as const, name: r.label, display_name: r.label, capabilities: ['mobile_otp'] };
  });
}

// --- preauth -------------------------------------------------------------------------------

export type PreauthAnswer =
  | { result: 'allow' | 'deny'; status_msg: string }
  | { result: 'enroll'; status_msg: string; enroll_portal_url: string }
  | { result: 'auth'; status_msg: string; devices: DuoDevice[]; txid?: string; verification_code?: string; expiration?: number };

/** Why a call is refused or let through before the core's decision (the user Tessera knows, or not). */
export type Gate = { result: 'allow' | 'deny'; reason: string; statusMsg: string } | { user: User };

const UNKNOWN_USER_MSG = {
  allow: 'Allowing unknown user.',
  deny: 'Unknown user: this application denies access to users Tessera does not know.',
  // Tessera's users come from the firm's directory: an unknown username cannot enroll here.
  enroll: 'Unknown user: ask your administrator to add you to Tessera, then enroll.',
} as const;

/** The checks before the core's decision: the user exists (else the new user policy), can log in, and may use this application. */
export async function gate(db: DbOrTx, integration: DuoIntegration, who: Who): Promise<Gate> {
  const user = await findDuoUser(db, integration.firmId, who);
  if (!user) {
    const policy = integration.newUserPolicy;
    return { result: policy === 'allow' ? 'allow' : 'deny', reason: `unknown_user_${policy}`, statusMsg: UNKNOWN_USER_MSG[policy] };
  }
  if (!isActiveUser(user)) return { result: 'deny', reason: 'user_inactive', statusMsg: 'Your account is disabled.' };
  if (integration.allowedKinds && !integration.allowedKinds.includes(user.kind)) {
    return { result: 'deny', reason: 'kind_not_allowed', statusMsg: 'This application is not available to your account.' };
  }
  return { user };
}

/** How long an enroll_portal_url works: as long as a pending login (10 minutes). */
export const ENROLL_PORTAL_TTL_MS = 10 * 60_000;

/**
 * /auth/v2/preauth: the reference's rules through the core's decision (core/decision.ts), each
 * reason's `status_msg` from reasonMeaning:
 *   not covered                          -> allow
 *   covered, not enrolled, no seat free  -> allow (the no-seat bypass, counted and audited)
 *   covered, not enrolled, a seat free   -> enroll, with a one-time enroll_portal_url
 *   enrolled, second factor locked       -> deny
 *   enrolled                             -> auth, with the devices and their capabilities
 *   disabled, or not allowed to use this application -> deny; unknown -> the new user policy.
 * With client_supports_verified_push=1 and a device that can push, a number is reserved for the
 * push to come (Duo's Verified Duo Push): `txid`, `verification_code` and `expiration`.
 */
export async function preauth(ctx: AppContext, call: DuoCall, who: Who, options: { verifiedPush: boolean }): Promise<PreauthAnswer> {
  return ctx.db.transaction().execute(async (tx) => {
    const g = await gate(tx, call.integration, who);
    if (!('user' in g)) {
      if (g.result === 'allow') await countAllow(ctx, tx, call, false);
      await auditCall(ctx, tx, call, 'duo.preauth', undefined, { result: g.result, reason: g.reason, ...('username' in who ? { username: who.username } : {}) });
      return { result: g.result, status_msg: g.statusMsg };
    }
    const { user } = g;
    const actor = userActor(call, user);
    const decision = await decideAfterPassword(ctx, tx, user, undefined);
    const meaning = reasonMeaning(decision.reason);
    const now = ctx.clock.now();
    let answer: PreauthAnswer;
    if (decision.verdict === 'full') {
      if (decision.reason === 'no_seat_bypass') await recordBypass(ctx, tx, actor, user.id, user.firm_id);
      await countAllow(ctx, tx, call, decision.reason === 'no_seat_bypass');
      answer = { result: 'allow', status_msg: meaning.duoStatusMsg };
    } else if (decision.verdict === 'enroll') {
      answer = { result: 'enroll', status_msg: meaning.duoStatusMsg, enroll_portal_url: await enrollPortalUrl(ctx, tx, call, user, meaning.duoStatusMsg) };
    } else if (lockedUntil(user, now) !== null) {
      answer = { result: 'deny', status_msg: reasonMeaning('locked').duoStatusMsg };
    } else {
      const devices = await duoDevices(ctx, tx, user);
      const canPush = devices.some((d) => d.capabilities.includes('push'));
      const paused = devices.some((d) => d.type === 'phone') && !canPush;
      answer = { result: 'auth', status_msg: paused ? reasonMeaning('push_paused').duoStatusMsg : meaning.duoStatusMsg, devices };
      if (options.verifiedPush && canPush) {
        const policy = await loadLoginPolicy(tx, user.firm_id);
        const txid = randomUUID();
        const number = randomNumber(policy.pushNumberDigits);
        const expiresAt = now + PUSH_TTL_MS;
        await insertTransaction(tx, call, user, { id: txid, kind: 'verified_push', number, result: 'waiting', status: 'pending', status_msg: 'Verified push reserved', created_at: now, expires_at: expiresAt });
        answer = { ...answer, txid, verification_code: number, expiration: unix(expiresAt) };
      }
    }
    await auditCall(ctx, tx, call, 'duo.preauth', user, { result: answer.result, reason: answer.result === 'deny' ? 'locked' : decision.reason });
    return answer;
  });
}

/** A one-time enroll_portal_url for a user who must enroll (preauth; the Universal Prompt's "set up now"). */
export async function enrollPortalUrl(ctx: AppContext, db: DbOrTx, call: Pick<DuoCall, 'integration'>, user: User, statusMsg: string): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  const now = ctx.clock.now();
  await insertTransaction(db, call, user, { id: enrollLinkId(token), kind: 'enroll_portal', result: 'waiting', status: 'enroll', status_msg: statusMsg, created_at: now, expires_at: now + ENROLL_PORTAL_TTL_MS });
  return new URL(`/enroll/duo#${token}`, ctx.config.publicUrl).toString();
}

type NewTransaction = Pick<DuoTransaction, 'id' | 'kind' | 'result' | 'status' | 'status_msg' | 'created_at' | 'expires_at'> & Partial<Pick<DuoTransaction, 'number' | 'attempt_id' | 'push_id'>>;

async function insertTransaction(db: DbOrTx, call: Pick<DuoCall, 'integration'>, user: User, t: NewTransaction): Promise<void> {
  await db
    .insertInto('duo_transactions')
    .values({
      firm_id: user.firm_id,
      application_id: call.integration.applicationId,
      user_id: user.id,
      attempt_id: null,
      push_id: null,
      number: null,
      used_at: null,
      ...t,
    })
    .execute();
}

// --- auth ----------------------------------------------------------------------------------

export type Factor = 'auto' | 'push' | 'passcode';

export interface AuthInput {
  who: Who;
  factor: Factor;
  async: boolean;
  device?: string;
  passcode?: string;
  /** Duo's pushinfo, decoded into its pairs; with type and displayUsername what the phone shows (lengths checked by the route). */
  pushinfo: [string, string][];
  type?: string;
  displayUsername?: string;
  /** The txid of a verified push reserved at preauth. */
  txid?: string;
}

export type AuthAnswer = { result: Exclude<DuoResult, 'waiting'>; status: string; status_msg: string } | { txid: string };

const MSG = {
  allow: 'Success. Logging you in...',
  wrongPasscode: 'Incorrect passcode. Please try again.',
  locked: reasonMeaning('locked').duoStatusMsg,
  pushed: 'Pushed a login request to your device...',
  denied: 'Login request denied.',
  fraud: 'Login request reported as fraudulent.',
  timeout: 'Login timed out.',
  enroll: reasonMeaning('seat_free').duoStatusMsg,
} as const;

/** How long an /auth attempt and its txid live: a push's minute, and time to read the result. */
const AUTH_ATTEMPT_MS = 5 * 60_000;

const final = <R extends 'allow' | 'deny'>(result: R, status: string, status_msg: string) => ({ result, status, status_msg });

/** A core refusal of a second factor in Duo's words. */
function refusal(err: unknown): { result: 'deny'; status: string; status_msg: string } {
  if (err instanceof AppError) {
    if (err.code === 'MFA_LOCKED') return final('deny', 'locked_out', MSG.locked);
    if (err.code === 'INVALID_CODE' || err.code === 'PUSH_NOT_APPROVED') return final('deny', 'deny', MSG.wrongPasscode);
    if (err.code === 'PUSH_PAUSED') return final('deny', 'deny', reasonMeaning('push_paused').duoStatusMsg);
    if (err.code === 'PUSH_LIMIT') return final('deny', 'deny', err.message);
    if (err.code === 'PUSH_UNAVAILABLE') return final('deny', 'push_failed', err.message);
    if (err.code === 'UNAUTHENTICATED') return final('deny', 'deny', MSG.denied);
  }
  throw err;
}

/**
 * /auth/v2/auth, as declared steps:
 *   1. gate + decision  - the preauth rules: a user who would be allowed is allowed (status
 *                         `allow`, or `bypass` for the no-seat bypass), one who must enroll or
 *                         may not sign in is denied;
 *   2. attempt          - a LoginAttempt of door `duo` with no session, for this application;
 *   3. the factor       - passcode: the core's answerSecondFactor (TOTP, or a backup code; each
 *                         single use); push: the core's startPush to the Tessera Authenticator
 *                         with the application's name and pushinfo, then waitForPush;
 *   4. answer           - `allow`/`deny` with Duo's status, or with async=1 a txid whose progress
 *                         /auth_status reads (a duo_transactions row outliving the attempt).
 */
export async function auth(ctx: AppContext, call: DuoCall, input: AuthInput): Promise<AuthAnswer> {
  const pre = await ctx.db.transaction().execute(async (tx) => {
    const g = await gate(tx, call.integration, input.who);
    if (!('user' in g)) {
      if (g.result === 'allow') await countAllow(ctx, tx, call, false);
      return { answer: final(g.result, g.result, g.statusMsg), user: undefined, reason: g.reason };
    }
    const decision = await decideAfterPassword(ctx, tx, g.user, undefined);
    if (decision.verdict === 'full') {
      const bypass = decision.reason === 'no_seat_bypass';
      if (bypass) await recordBypass(ctx, tx, userActor(call, g.user), g.user.id, g.user.firm_id);
      await countAllow(ctx, tx, call, bypass);
      return { answer: final('allow', bypass ? 'bypass' : 'allow', reasonMeaning(decision.reason).duoStatusMsg), user: g.user, reason: decision.reason };
    }
    if (decision.verdict === 'enroll') return { answer: final('deny', 'deny', MSG.enroll), user: g.user, reason: decision.reason };
    if (lockedUntil(g.user, ctx.clock.now()) !== null) return { answer: final('deny', 'locked_out', MSG.locked), user: g.user, reason: 'locked' };
    return { answer: null, user: g.user, reason: decision.reason };
  });
  if (pre.answer) {
    await auditCall(ctx, ctx.db, call, pre.answer.result === 'deny' ? 'duo.auth_denied' : 'duo.auth', pre.user, { factor: input.factor, result: pre.answer.result, status: pre.answer.status, reason: pre.reason });
    return input.async ? { txid: await finishedTransaction(ctx, call, pre.user, pre.answer) } : pre.answer;
  }
  const user = pre.user!;
  const factor = await chooseFactor(ctx, user, input);
  // A push needs the number reserved at preauth: taken before the attempt opens, so a refusal (40002) leaves no attempt behind.
  const number = factor === 'push' ? await takeVerifiedPush(ctx, call, user, input.txid) : undefined;
  const attempt = await openAttempt(ctx, ctx.db, {
    owner: user,
    stage: 'second_factor',
    door: 'duo',
    applicationId: call.integration.applicationId,
    expiresAt: ctx.clock.now() + AUTH_ATTEMPT_MS,
  });
  const login = { attempt, subject: user as PushSubject };
  const actor = userActor(call, user);

  if (factor === 'passcode') {
    const passcode = input.passcode!.trim();
    const method = /^\d{6,8}$/.test(passcode) ? 'totp' : 'backup_code';
    let answer: { result: 'allow' | 'deny'; status: string; status_msg: string };
    try {
      await answerSecondFactor(ctx, login, actor, { method, answer: passcode }, async () => undefined);
      answer = final('allow', 'allow', MSG.allow);
    } catch (err) {
      answer = refusal(err);
      await endAttempt(ctx.db, attempt.id);
    }
    await auditCall(ctx, ctx.db, call, answer.result === 'deny' ? 'duo.auth_denied' : 'duo.auth', user, { factor: 'passcode', method, result: answer.result, status: answer.status });
    return input.async ? { txid: await finishedTransaction(ctx, call, user, answer) } : answer;
  }

  // A push, with the number the application showed (verified push).
  let push;
  try {
    push = await startPush(ctx, login, actor, call.log, { app: call.integration.name, type: input.type, displayUsername: input.displayUsername, details: input.pushinfo, number });
  } catch (err) {
    const answer = refusal(err);
    await endAttempt(ctx.db, attempt.id);
    await auditCall(ctx, ctx.db, call, 'duo.auth_denied', user, { factor: 'push', result: answer.result, status: answer.status });
    return input.async ? { txid: await finishedTransaction(ctx, call, user, answer) } : answer;
  }
  const txid = randomUUID();
  const now = ctx.clock.now();
  await insertTransaction(ctx.db, call, user, {
    id: txid,
    kind: 'auth',
    attempt_id: attempt.id,
    push_id: push.transactionId,
    result: 'waiting',
    status: 'pushed',
    status_msg: MSG.pushed,
    created_at: now,
    expires_at: now + AUTH_ATTEMPT_MS,
  });
  await auditCall(ctx, ctx.db, call, 'duo.auth', user, { factor: 'push', result: 'waiting', status: 'pushed', txid, async: input.async });
  if (input.async) return { txid };
  // Synchronous: Duo answers when the push is answered or times out (60 s).
  for (;;) {
    const status = await pollTransaction(ctx, call, txid, SYNC_POLL_MS);
    if (status.result === 'waiting') continue;
    await auditCall(ctx, ctx.db, call, status.result === 'deny' ? 'duo.auth_denied' : 'duo.auth', user, { factor: 'push', txid, result: status.result, status: status.status });
    return { result: status.result, status: status.status, status_msg: status.status_msg };
  }
}

/** A synchronous push re-reads its row this often (an answer wakes it at once through the hub; this notices a clock that moved). */
const SYNC_POLL_MS = 2_000;

/** Which factor `auto` means, and whether the asked one can be used at all (else 40002, as Duo answers). */
async function chooseFactor(ctx: AppContext, user: User, input: AuthInput): Promise<'push' | 'passcode'> {
  if (input.factor === 'passcode') {
    if (!input.passcode) throw new DuoError('INVALID_PARAMETERS', 'passcode');
    return 'passcode';
  }
  const devices = await duoDevices(ctx, ctx.db, user);
  const pushable = devices.filter((d) => d.capabilities.includes('push'));
  const device = input.device ?? (input.factor === 'auto' ? 'auto' : undefined);
  if (device === undefined) throw new DuoError('INVALID_PARAMETERS', 'device');
  if (device !== 'auto' && !devices.some((d) => d.device === device)) throw new DuoError('INVALID_PARAMETERS', 'device');
  // Tessera pushes to all of the user's devices at once; `device` names one that must be able to.
  if (device !== 'auto' && !pushable.some((d) => d.device === device)) throw new DuoError('INVALID_PARAMETERS', 'device: it cannot receive a push');
  return 'push';
}

/**
 * The number reserved at preauth (Verified Duo Push), taken once by one conditional UPDATE: of
 * the user, through this application, not expired, not taken. Tessera's pushes always ask for the
 * number the login screen shows; an Auth API application shows Duo's `verification_code`, so a
 * push without one is refused (40002 txid) rather than sent unverifiable.
 */
async function takeVerifiedPush(ctx: AppContext, call: DuoCall, user: User, txid: string | undefined): Promise<string> {
  const hint = 'txid: Tessera requires Verified Duo Push: call preauth with client_supports_verified_push=1, show its verification_code, and pass its txid';
  if (!txid) throw new DuoError('INVALID_PARAMETERS', hint);
  const now = ctx.clock.now();
  const taken = await ctx.db
    .updateTable('duo_transactions')
    .set({ used_at: now })
    .where('id', '=', txid)
    .where('kind', '=', 'verified_push')
    .where('user_id', '=', user.id)
    .where('application_id', '=', call.integration.applicationId)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .returning('number')
    .executeTakeFirst();
  if (!taken?.number) throw new DuoError('INVALID_PARAMETERS', `${hint} (this one is unknown, used or expired)`);
  return taken.number;
}

/** An async /auth decided at once (a passcode, a gate): its txid reads the final answer. */
async function finishedTransaction(ctx: AppContext, call: DuoCall, user: User | undefined, answer: { result: 'allow' | 'deny'; status: string; status_msg: string }): Promise<string> {
  const txid = randomUUID();
  const now = ctx.clock.now();
  // A username Tessera does not know has no user row to hang the txid on: its answer is kept nowhere and auth_status says so (deny).
  if (!user) return `unknown-${txid}`;
  await insertTransaction(ctx.db, call, user, { id: txid, kind: 'auth', ...answer, created_at: now, expires_at: now + AUTH_ATTEMPT_MS });
  return txid;
}

// --- auth_status ---------------------------------------------------------------------------

export type AuthStatus = { result: DuoResult; status: string; status_msg: string };

/** Push status -> Duo's final answer. */
const PUSH_OUTCOME: Record<'denied' | 'fraud' | 'expired', AuthStatus> = {
  denied: { result: 'deny', status: 'deny', status_msg: MSG.denied },
  fraud: { result: 'deny', status: 'fraud', status_msg: MSG.fraud },
  expired: { result: 'deny', status: 'timeout', status_msg: MSG.timeout },
};

/**
 * /auth/v2/auth_status: long-polls (at most 25 s) the txid of this application. A push's answer
 * finishes the login exactly once (the core's waitForPush: an approval completes the attempt; a
 * denial, a fraud report or a timeout counts one failure), and the result is kept on the row for
 * every later poll. A txid of another application, or none, is 40002.
 */
export async function authStatus(ctx: AppContext, call: DuoCall, txid: string, maxWaitMs = 25_000): Promise<AuthStatus> {
  const status = await pollTransaction(ctx, call, txid, maxWaitMs);
  await auditCall(ctx, ctx.db, call, status.result === 'deny' ? 'duo.auth_denied' : 'duo.call', undefined, { endpoint: 'auth_status', factor: 'push', txid, result: status.result, status: status.status });
  return status;
}

async function pollTransaction(ctx: AppContext, call: DuoCall, txid: string, maxWaitMs: number): Promise<AuthStatus> {
  if (txid.startsWith('unknown-')) return { result: 'deny', status: 'deny', status_msg: UNKNOWN_USER_MSG.deny };
  const row = await ctx.db
    .selectFrom('duo_transactions')
    .selectAll()
    .where('id', '=', txid)
    .where('kind', '=', 'auth')
    .where('application_id', '=', call.integration.applicationId)
    .where('expires_at', '>', ctx.clock.now())
    .executeTakeFirst();
  // Unknown, another application's, or past its five minutes (housekeeping removes it later): 40002.
  if (!row) throw new DuoError('INVALID_PARAMETERS', 'txid');
  if (row.result !== 'waiting' || !row.push_id || !row.attempt_id) return { result: row.result, status: row.status, status_msg: row.status_msg };

  const user = await ctx.db.selectFrom('users').selectAll().where('id', '=', row.user_id).executeTakeFirst();
  const attempt: LoginAttempt = {
    id: row.attempt_id,
    subject: { type: 'user', id: row.user_id },
    firmId: row.firm_id,
    stage: 'second_factor',
    door: 'duo',
    applicationId: row.application_id,
    sessionId: null,
    expiresAt: Number(row.expires_at),
  };
  let outcome: AuthStatus;
  if (!user) outcome = { result: 'deny', status: 'deny', status_msg: MSG.denied };
  else {
    try {
      const waited = await waitForPush(ctx, { attempt, subject: user as PushSubject }, userActor(call, user), row.push_id, async () => undefined, maxWaitMs);
      if (waited.status === 'pending') return { result: 'waiting', status: 'pushed', status_msg: MSG.pushed };
      // Approved: this request completed the attempt (authentication set), or an earlier one did and wrote the row.
      if (waited.status === 'approved' && !waited.authentication) return readFinal(ctx, txid);
      outcome = waited.status === 'approved' ? { result: 'allow', status: 'allow', status_msg: MSG.allow } : PUSH_OUTCOME[waited.status];
    } catch (err) {
      // The attempt ended meanwhile (a fraud report ends the user's logins, a concurrent poll finished it).
      const r = refusal(err);
      outcome = r;
    }
  }
  // The first poll to see the end writes it; a later one reads what was written.
  await ctx.db.updateTable('duo_transactions').set(outcome).where('id', '=', txid).where('result', '=', 'waiting').execute();
  if (outcome.result === 'deny') await endAttempt(ctx.db, row.attempt_id);
  return readFinal(ctx, txid);
}

async function readFinal(ctx: AppContext, txid: string): Promise<AuthStatus> {
  const row = await ctx.db.selectFrom('duo_transactions').select(['result', 'status', 'status_msg']).where('id', '=', txid).executeTakeFirstOrThrow();
  return row.result === 'waiting' ? { result: 'waiting', status: 'pushed', status_msg: MSG.pushed } : row;
}

// --- enroll --------------------------------------------------------------------------------

export interface EnrollAnswer {
  activation_barcode: string;
  activation_code: string;
  activation_url: string;
  expiration: number;
  user_id: string;
  username: string;
}

/** valid_secs: Tessera's activation lifetime (10 minutes) by default, at most a day (Duo's default). */
export const ENROLL_MAX_SECS = 86_400;

/**
 * /auth/v2/enroll: an activation of the Tessera Authenticator for a user of the firm who is not
 * enrolled yet (Duo creates a user; Tessera's users come from the firm's directory, so the
 * username must name one, by address or alias). A pending authenticator and a single-use code
 * bound to a LoginAttempt of door `duo` (stage enroll, no session) that lives as long as the code;
 * the device's activation takes the seat as any enrollment does. `activation_code` is the code the
 * app takes, `activation_url` the link that opens the app with it, `activation_barcode` its QR
 * code (a data: URL of a PNG).
 */
export async function enroll(ctx: AppContext, call: DuoCall, input: { username?: string; validSecs?: number }): Promise<EnrollAnswer> {
  if (!input.username) throw new DuoError('INVALID_PARAMETERS', 'username: Tessera enrolls users of the firm only; name one by address or username alias');
  const user = await findDuoUser(ctx.db, call.integration.firmId, { username: input.username });
  if (!user || !isActiveUser(user) || (call.integration.allowedKinds && !call.integration.allowedKinds.includes(user.kind))) {
    await auditCall(ctx, ctx.db, call, 'duo.enroll_refused', user, { result: 'refused', reason: user ? 'user_not_allowed' : 'unknown_user', username: input.username });
    throw new DuoError('INVALID_PARAMETERS', 'username: no user of this firm who may enroll here');
  }
  const decision = await decideAfterPassword(ctx, ctx.db, user, undefined);
  if (decision.verdict !== 'enroll') {
    await auditCall(ctx, ctx.db, call, 'duo.enroll_refused', user, { result: 'refused', reason: decision.reason });
    throw new DuoError('INVALID_PARAMETERS', `username: ${decision.reason === 'no_seat_bypass' ? 'no licence is free' : decision.reason === 'not_covered' ? 'the firm does not require two-factor authentication of this user' : 'already enrolled'}`);
  }
  const validMs = (input.validSecs ?? ACTIVATION_TTL_MS / 1000) * 1000;
  // The enrollment's login attempt (door duo, no session) lives as long as its code; the core's push enrollment binds the code to it.
  const attempt = await openAttempt(ctx, ctx.db, { owner: user, stage: 'enroll', door: 'duo', applicationId: call.integration.applicationId, expiresAt: ctx.clock.now() + validMs });
  let begun;
  try {
    begun = await beginPushEnrollment(ctx, { attempt, subject: user }, { validMs });
  } catch (err) {
    await endAttempt(ctx.db, attempt.id);
    if (!(err instanceof AppError)) throw err;
    await auditCall(ctx, ctx.db, call, 'duo.enroll_refused', user, { result: 'refused', reason: err.code });
    throw new DuoError('INVALID_PARAMETERS', `username: ${err.message}`);
  }
  await auditCall(ctx, ctx.db, call, 'duo.enroll', user, { result: 'activation_issued', validSecs: validMs / 1000 });
  const activationUrl = begun.activationUrl;
  const code = new URLSearchParams(new URL(activationUrl).hash.slice(1)).get('activate')!;
  const expiresAt = begun.expiresAt;
  return {
    activation_barcode: await QRCode.toDataURL(activationUrl, { errorCorrectionLevel: 'M', margin: 2 }),
    activation_code: code,
    activation_url: activationUrl,
    expiration: unix(expiresAt),
    user_id: user.id,
    username: input.username,
  };
}

/**
 * /auth/v2/enroll_status: `success` once the device activated the code, `waiting` while the code
 * is live and unused, `invalid` for a code of another user, used up otherwise or expired, and
 * for a code another application issued (Duo scopes an enrollment to its integration: one
 * application of a firm cannot watch, or learn the users of, another's enrollments; the
 * activation keeps its application, migration 0025). A success ends the enrollment's attempt.
 */
export async function enrollStatus(ctx: AppContext, call: DuoCall, input: { userId: string; activationCode: string }): Promise<'success' | 'waiting' | 'invalid'> {
  const row = await ctx.db
    .selectFrom('device_activations')
    .innerJoin('authenticators', 'authenticators.id', 'device_activations.authenticator_id')
    .select(['device_activations.attempt_id', 'device_activations.expires_at', 'device_activations.used_at', 'authenticators.status'])
    .where('device_activations.id', '=', activationId(input.activationCode))
    .where('device_activations.user_id', '=', input.userId)
    .where('device_activations.firm_id', '=', call.integration.firmId)
    .where('device_activations.application_id', '=', call.integration.applicationId)
    .executeTakeFirst();
  let status: 'success' | 'waiting' | 'invalid';
  if (!row) status = 'invalid';
  else if (row.status === 'active') status = 'success';
  else if (row.used_at === null && Number(row.expires_at) > ctx.clock.now()) status = 'waiting';
  else status = 'invalid';
  if (status === 'success' && row?.attempt_id) await endAttempt(ctx.db, row.attempt_id);
  await auditCall(ctx, ctx.db, call, 'duo.call', undefined, { endpoint: 'enroll_status', status });
  return status;
}
