import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { ManualClock, systemClock } from '../src/clock.js';
import { SecretBox, keyIdOf } from '../src/crypto/secret-box.js';
import type { UserView } from '../src/directory/user.view.js';
import { hashPassword } from '../src/core/passwords.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { DeviceSimulator } from './support/device-simulator.js';
import { Agent, PASSWORD, activateSubscription, addUser, auditEvents, enableMfaForStaff, firmWithAdmin, startHarness, type Harness, type TestFirm, totpAt } from './support/harness.js';
import { overHttp, startServerProcess, type ServerProcess } from './support/server-process.js';
import { api } from './support/fixtures.js';

/**
 * Crash safety (issue 8.4). The real server process (node + tsx, on this file's own SQLite file
 * or PostgreSQL schema, the master key given in its environment so it survives restarts) is
 * SIGKILLed in the middle of 50 concurrent first-login enrollments (authenticator apps, and one
 * in five a Tessera Authenticator) racing for 30 free licences and of concurrent signed push answers (approvals, denials, fraud reports, wrong numbers, and
 * approve + deny of the same request at once), three times, at points drawn from a fixed seed
 * (the n-th success answer of the round, plus a few milliseconds). Every success answer a client
 * got is recorded. After each restart on the same database:
 *   - the server starts cleanly (ready in time, nothing printed about an error);
 *   - seats: `seats_used` = seat rows = users with an active authenticator <= the licence count,
 *     and no half-written enrollment (an active authenticator without its secret, device key or
 *     backup codes; a seat without an active authenticator; an acknowledged one not active);
 *   - push: no request both approved and denied, one audited answer per answered request and the
 *     row agreeing with it, and exactly one finished login per approved-and-taken request;
 *   - every success answer is in the audit log (the mapping is in `checkAudit`).
 * A last round, not killed, then fills every licence: seats end exactly at the licence count.
 *
 * What a success answer must leave in the audit log: POST /login -> login.password_accepted, or
 * login.mfa_bypassed_no_seat + login.succeeded; confirm -> mfa.enrolled (its authenticator) +
 * login.succeeded; a device's activation -> mfa.enrolled (its authenticator); completing it ->
 * login.succeeded; skip -> login.mfa_bypassed_no_seat + login.succeeded; POST /mfa/push ->
 * mfa.push_sent (its request); a device answer -> mfa.push_approved / _denied / _fraud (its
 * request); the waiting login told "approved" -> login.succeeded with push, told "denied" or
 * "fraud" -> mfa.failed. Starting an enrollment (POST /mfa/enrollment/totp or /push) is the one
 * success that is not audited: it makes a pending authenticator that grants nothing until
 * confirmed or activated, and that is audited.
 */

const SEED = 0x7e55e7a;
const KILL_ROUNDS = 3;
const ENROLLING = 50;
const FREE_LICENCES = 30;
const PUSH_USERS = 12;
const READY_MS = 30_000;

/** mulberry32: a small seeded generator, so every run kills at the same points of its progress. */
function seeded(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = seeded(SEED);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

let database: TestDatabase;
let dataDir: string;
let h: Harness;
let f: TestFirm;
let server: ServerProcess | null = null;
/** Every client talks to whichever process runs now: a browser tab outlives a restart. */
const app: App = overHttp(() => server!.url);
let env: Record<string, string>;
const masterKey = randomBytes(32);

interface Enroller {
  user: UserView;
  ip: string;
  /** An authenticator app, or the Tessera Authenticator (activated by the device, then completed by the login). */
  method: 'totp' | 'push';
  /** Confirmed, or activated and completed, with a success answer: never tried again. */
  enrolled: boolean;
  /** A Tessera Authenticator enrollment begun and not acknowledged as completed: its screen resumes it after a restart. */
  outstanding?: { agent: Agent; authenticatorId: string };
}
interface PushUser {
  user: UserView;
  ip: string;
  device: DeviceSimulator;
}
let enrollers: Enroller[] = [];
const pushUsers: PushUser[] = [];

/** Every success answer, by kind. */
const ok = {
  passwordAccepted: [] as string[],
  /** Enrolling users whose login went to the second factor: a confirmation cut by a kill had committed. */
  enrolledAtLogin: [] as string[],
  bypassLogins: [] as string[],
  skips: [] as string[],
  confirms: [] as { userId: string; authenticatorId: string }[],
  activations: [] as { userId: string; authenticatorId: string }[],
  completions: [] as string[],
  pushesSent: [] as { userId: string; transactionId: string }[],
  answers: [] as { transactionId: string; status: string }[],
  waits: [] as { userId: string; transactionId: string; status: string }[],
};
/** Answers no flow expects whatever the timing (a 5xx, an unknown error code): must stay empty. */
const unexpected: string[] = [];
const starts: number[] = [];
/** Requests of confirmations and answers that the kill cut (no answer came back). */
let cutByKill = 0;

async function start(): Promise<ServerProcess> {
  const t0 = Date.now();
  const s = await startServerProcess({ env, readyTimeoutMs: READY_MS });
  starts.push(Date.now() - t0);
  return s;
}

beforeAll(async () => {
  database = await createTestDatabase();
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-crash-'));
  env = {
    TESSERA_DATA_DIR: dataDir,
    TESSERA_DATABASE_URL: database.config.kind === 'sqlite' ? `sqlite:${database.config.file}` : database.config.url,
    TESSERA_MASTER_KEY: masterKey.toString('base64'),
    // Every simulated user comes from an address of their own (X-Forwarded-For), as they would:
    // the test client stands in for the one proxy in front of the process.
    TESSERA_TRUST_PROXY: '1',
  };
  // Seeding in this process, with the project's own services, on the same database and key,
  // before the server runs (with SQLite, only one process may write: see the README).
  h = await startHarness({ shared: database, clock: new ManualClock(Date.now()), secrets: new SecretBox({ id: keyIdOf(masterKey), key: masterKey }) });
  f = await firmWithAdmin(h);
  await activateSubscription(h, f.firm.id, PUSH_USERS + FREE_LICENCES);
  await enableMfaForStaff(h, f.firm.id);
  const people = [];
  for (let i = 0; i < ENROLLING + PUSH_USERS; i++) {
    people.push(await addUser(h, f.firm.id, { name: `Crash ${i}`, email: `crash-${i}@${f.firm.slug}.example`, kind: 'case_manager' }, null));
  }
  await h.ctx.db.updateTable('users').set({ password_hash: await hashPassword(PASSWORD) }).where('firm_id', '=', f.firm.id).execute();
  enrollers = people.slice(0, ENROLLING).map((user, i) => ({ user, ip: `10.8.0.${i + 1}`, method: i % 5 === 4 ? 'push' : 'totp', enrolled: false }));

  // The push users enrol their Tessera Authenticator (QR code -> activation -> complete) before the crashes.
  for (const [i, user] of people.slice(ENROLLING).entries()) {
    const agent = new Agent(h.app);
    expect((await agent.post(api('/login'), { email: user.email, password: PASSWORD, firm: f.firm.slug })).json().next).toBe('enroll');
    const begun = (await agent.post(api('/mfa/enrollment/push'), { phone: { number: '07911 123456', country: 'GB' } })).json();
    const device = await DeviceSimulator.create(h.app, systemClock);
    expect((await device.activate(begun.activationUrl)).statusCode).toBe(200);
    expect((await agent.post(api(`/mfa/enrollment/push/${begun.authenticatorId}/complete`))).statusCode).toBe(200);
    device.app = app;
    pushUsers.push({ user, ip: `10.9.0.${i + 1}`, device });
  }
  server = await start();
}, 90_000);

afterAll(async () => {
  await server?.stop('SIGKILL');
  await h?.close();
  await database?.drop();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

// --- the flows ----------------------------------------------------------------------------

function expectAnswer(where: string, res: { statusCode: number; body: string }, allowed: Record<number, string[] | true>): boolean {
  const rule = allowed[res.statusCode];
  if (rule === true) return true;
  let code = '';
  try {
    code = JSON.parse(res.body).error;
  } catch {
    // not JSON: unexpected anyway
  }
  if (!rule || !rule.includes(code)) unexpected.push(`${where}: ${res.statusCode} ${res.body.slice(0, 200)}`);
  return false;
}

interface LoggedIn {
  agent: Agent;
  next: string;
  notice?: string;
}
interface Sent {
  agent: Agent;
  transactionId: string;
  number: string;
}

/** The password step (argon2: the slow part, done for everyone before the racing writes start). */
async function passwordStep(who: { user: UserView; ip: string }): Promise<LoggedIn | null> {
  const agent = new Agent(app, { ip: who.ip });
  const login = await agent.post(api('/login'), { email: who.user.email, password: PASSWORD, firm: f.firm.slug }).catch(() => null);
  if (!login || !expectAnswer('login', login, { 200: true })) return null;
  const body = login.json() as { next: string; notice?: string };
  if (body.next === 'home' && body.notice === 'mfa_bypassed_no_seat') ok.bypassLogins.push(who.user.id);
  else if (['enroll', 'second_factor'].includes(body.next)) ok.passwordAccepted.push(who.user.id);
  else unexpected.push(`login of ${who.user.email}: ${login.body}`);
  return { agent, ...body };
}

/** First login of a user who is not known to be enrolled, after the password: enrollment, or the no-licence bypass. */
async function enrollFlow(e: Enroller, { agent, next }: LoggedIn, progress: (kind: Trigger) => void): Promise<void> {
  // A confirmation in flight at an earlier kill committed: the user is enrolled (checked against the seats below).
  if (next === 'second_factor') return void ok.enrolledAtLogin.push(e.user.id);
  if (next !== 'enroll') return;
  if (e.method === 'push') return mobileFlow(e, agent, progress);

  const begun = await agent.post(api('/mfa/enrollment/totp'), {});
  if (!expectAnswer('begin', begun, { 201: true })) return;
  const { authenticatorId, secret } = begun.json() as { authenticatorId: string; secret: string };
  const confirmed = await agent.post(api(`/mfa/enrollment/totp/${authenticatorId}/confirm`), { code: totpAt(secret, Date.now()) });
  if (expectAnswer('confirm', confirmed, { 200: true, 409: ['NO_SEAT'] })) {
    e.enrolled = true;
    ok.confirms.push({ userId: e.user.id, authenticatorId });
    progress('confirmation');
    return;
  }
  if (confirmed.statusCode === 409) await skip(e, agent);
}

/** No licence left: go on with the password alone (or, if one was freed meanwhile, be told so). */
async function skip(e: Enroller, agent: Agent): Promise<void> {
  const skipped = await agent.post(api('/mfa/enrollment/skip'));
  if (expectAnswer('skip', skipped, { 200: true, 409: ['SEAT_AVAILABLE'] })) ok.skips.push(e.user.id);
}

/** "Mobile" at enrollment: the QR code, the phone's app activating (the seat), the login screen completing (backup codes). */
async function mobileFlow(e: Enroller, agent: Agent, progress: (kind: Trigger) => void): Promise<void> {
  const begun = await agent.post(api('/mfa/enrollment/push'), { phone: { number: '07911 123456', country: 'GB' } });
  if (!expectAnswer('begin mobile', begun, { 201: true })) return;
  const { authenticatorId, activationUrl } = begun.json() as { authenticatorId: string; activationUrl: string };
  e.outstanding = { agent, authenticatorId };
  const device = await DeviceSimulator.create(app, systemClock);
  const activated = await device.activate(activationUrl);
  if (!expectAnswer('activate', activated, { 200: true, 409: ['NO_SEAT'] })) {
    e.outstanding = undefined;
    if (activated.statusCode === 409) await skip(e, agent);
    return;
  }
  ok.activations.push({ userId: e.user.id, authenticatorId });
  progress('confirmation');
  await complete(e);
}

/** The enrollment screen finishing a mobile enrollment (again after a restart, with the same session). */
async function complete(e: Enroller): Promise<void> {
  const { agent, authenticatorId } = e.outstanding!;
  const done = await agent.post(api(`/mfa/enrollment/push/${authenticatorId}/complete`));
  if (!expectAnswer('complete', done, { 200: true })) return;
  if ((done.json().backupCodes as string[] | null)?.length !== 10) unexpected.push(`completion of ${authenticatorId} without backup codes: ${done.body}`);
  e.enrolled = true;
  e.outstanding = undefined;
  ok.completions.push(e.user.id);
}

/** After a restart, a mobile enrollment screen left open polls, and completes if the activation went through. */
async function resume(e: Enroller): Promise<void> {
  const { agent, authenticatorId } = e.outstanding!;
  const status = await agent.get(api(`/mfa/enrollment/push/${authenticatorId}`));
  // 401: the pending login is over, because a completion in flight at the kill committed (it
  // replaced the session); the next round's login finds the user enrolled (second factor).
  if (!expectAnswer('enrollment status', status, { 200: true, 401: ['UNAUTHENTICATED'] })) return void (e.outstanding = undefined);
  if (status.json().status === 'active') return complete(e);
  e.outstanding = undefined;
}

type Plan = 'approve' | 'deny' | 'fraud' | 'wrong_number' | 'approve_and_deny';
const PLANS: readonly Plan[] = ['approve', 'deny', 'fraud', 'wrong_number', 'approve_and_deny', 'approve_and_deny'];

/** "Send me a push" after the password. */
async function sendPush(p: PushUser, { agent, next }: LoggedIn): Promise<Sent | null> {
  if (next !== 'second_factor') return void unexpected.push(`push user ${p.user.email} went to ${next}`), null;
  // Paused after an earlier "It seemed fraudulent": no push, by design.
  const sent = await agent.post(api('/mfa/push')).catch(() => null);
  if (!sent || !expectAnswer('push', sent, { 201: true, 409: ['PUSH_PAUSED'] })) return null;
  const { transactionId, number } = sent.json() as { transactionId: string; number: string };
  ok.pushesSent.push({ userId: p.user.id, transactionId });
  return { agent, transactionId, number };
}

/** The device answering a push as planned, while the login screen waits for the answer. */
async function answerPush(p: PushUser, { agent, transactionId, number }: Sent, plan: Plan, progress: (kind: Trigger) => void): Promise<void> {
  const waiting = agent
    .get(api(`/mfa/push/${transactionId}/wait`))
    .then((res) => {
      if (expectAnswer('wait', res, { 200: true, 401: ['PUSH_NOT_APPROVED'] })) ok.waits.push({ userId: p.user.id, transactionId, status: res.json().status });
    })
    .catch(() => undefined);
  const wrong = String((Number(number) + 1) % 10 ** number.length).padStart(number.length, '0');
  const answers =
    plan === 'approve'
      ? [p.device.approve(transactionId, number)]
      : plan === 'deny'
        ? [p.device.answer(transactionId, 'deny', { reason: 'mistake' })]
        : plan === 'fraud'
          ? [p.device.answer(transactionId, 'deny', { reason: 'fraud' })]
          : plan === 'wrong_number'
            ? [p.device.approve(transactionId, wrong)]
            : [p.device.approve(transactionId, number), p.device.answer(transactionId, 'deny', { reason: 'mistake' })];
  const settled = await Promise.allSettled(
    answers.map(async (pending) => {
      const res = await pending;
      if (!expectAnswer('answer', res, { 200: true, 409: ['TRANSACTION_NOT_PENDING'] })) return false;
      ok.answers.push({ transactionId, status: res.json().status });
      progress('push answer');
      return true;
    }),
  );
  cutByKill += settled.filter((r) => r.status === 'rejected').length;
  // Approve and deny of one request at once: one wins, the other is refused.
  if (settled.filter((s) => s.status === 'fulfilled' && s.value).length > 1) unexpected.push(`both answers of ${transactionId} accepted`);
  await waiting;
}

/**
 * One round: every enrolling user not known to be enrolled, and every push user. First all
 * password steps (argon2 makes them the slow part, and they write little) and the pushes sent,
 * then at once every enrollment (start, confirm: the seat) and every push answer (the device's
 * answers, and the login screen waiting for them).
 * With `kill`, the process is SIGKILLed `delayMs` after the n-th success answer of a
 * confirmation, or of a device answer (or, should the round finish first, at its end).
 */
type Trigger = 'confirmation' | 'push answer';
interface Kill {
  after: Trigger;
  successes: number;
  delayMs: number;
}

async function round(s: ServerProcess, kill: Kill | null): Promise<{ killedMidway: boolean }> {
  let successes = 0;
  let killedMidway = false;
  const progress = (kind: Trigger) => {
    if (kill && kind === kill.after && ++successes === kill.successes) {
      killedMidway = true;
      setTimeout(() => void s.stop('SIGKILL'), kill.delayMs);
    }
  };
  await Promise.allSettled(enrollers.filter((e) => e.outstanding).map(resume));
  const enrolling = enrollers.filter((e) => !e.enrolled);
  const [logins, pushLogins] = await Promise.all([Promise.all(enrolling.map((e) => passwordStep(e))), Promise.all(pushUsers.map((p) => passwordStep(p)))]);
  const sent = await Promise.all(pushUsers.map((p, i) => pushLogins[i] && sendPush(p, pushLogins[i])));
  const flows = [
    ...enrolling.map((e, i) => logins[i] && enrollFlow(e, logins[i], progress)),
    ...pushUsers.map((p, i) => sent[i] && answerPush(p, sent[i], pick(PLANS), progress)),
  ];
  // A request cut by the kill rejects (connection reset or refused): that is not an answer.
  cutByKill += (await Promise.allSettled(flows)).filter((r) => r.status === 'rejected').length;
  if (kill) {
    if (!killedMidway) await s.stop('SIGKILL');
    expect((await s.waitExit()).signal).toBe('SIGKILL');
  }
  return { killedMidway };
}

// --- the invariants -------------------------------------------------------------------------

const count = (rows: { n: unknown }) => Number(rows.n);

async function checkSeats(): Promise<{ seatsUsed: number; licences: number; uncompleted: number }> {
  const db = h.ctx.db;
  const sub = await db.selectFrom('subscriptions').selectAll().where('firm_id', '=', f.firm.id).executeTakeFirstOrThrow();
  const seats = (await db.selectFrom('seats').select('user_id').where('firm_id', '=', f.firm.id).orderBy('user_id').execute()).map((r) => r.user_id);
  const active = await db.selectFrom('authenticators').selectAll().where('firm_id', '=', f.firm.id).where('status', '=', 'active').execute();
  const enrolledUsers = [...new Set(active.map((a) => a.user_id))].sort();

  expect(sub.seats_used).toBe(seats.length);
  expect(seats.length).toBeLessThanOrEqual(sub.licence_count);
  expect(seats).toEqual(enrolledUsers);

  // No half-written enrollment: every active authenticator is whole.
  for (const a of active) {
    const totp = await db.selectFrom('totp_authenticators').select('secret_enc').where('authenticator_id', '=', a.id).executeTakeFirst();
    expect(totp, `secret of ${a.id}`).toBeDefined();
    expect(() => h.ctx.secrets.open(totp!.secret_enc, a.id)).not.toThrow();
    if (a.kind === 'push') expect(await db.selectFrom('push_devices').select('authenticator_id').where('authenticator_id', '=', a.id).executeTakeFirst()).toBeDefined();
    expect(a.confirmed_at).not.toBeNull();
  }
  // Backup codes come with the first enrollment; of a mobile one, when the login screen completes it (a screen
  // left open by a crash does that after the restart: see `resume`).
  const uncompleted = await db
    .selectFrom('device_activations')
    .select('user_id')
    .where('firm_id', '=', f.firm.id)
    .where('used_at', 'is not', null)
    .where('first_enrollment', '=', 1)
    .where('completed_at', 'is', null)
    .execute();
  for (const userId of enrolledUsers) {
    const codes = await db.selectFrom('backup_codes').select((eb) => eb.fn.countAll().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow();
    expect(count(codes), `backup codes of ${userId}`).toBe(uncompleted.some((u) => u.user_id === userId) ? 0 : 10);
  }
  // Every acknowledged confirmation is there; a user whose login asked for the second factor holds a seat.
  const activeIds = new Set(active.map((a) => a.id));
  for (const c of [...ok.confirms, ...ok.activations]) expect(activeIds.has(c.authenticatorId), `confirmed ${c.authenticatorId}`).toBe(true);
  for (const userId of ok.enrolledAtLogin) expect(seats, `seat of ${userId}`).toContain(userId);
  return { seatsUsed: sub.seats_used, licences: sub.licence_count, uncompleted: uncompleted.length };
}

async function checkPushes(events: Awaited<ReturnType<typeof auditEvents>>): Promise<void> {
  const txs = await h.ctx.db.selectFrom('push_transactions').selectAll().where('firm_id', '=', f.firm.id).execute();
  const ANSWER_EVENT = { approved: 'mfa.push_approved', denied: 'mfa.push_denied', fraud: 'mfa.push_fraud' } as const;
  const answerEvents = events.filter((e) => Object.values(ANSWER_EVENT).includes(e.event as never));
  for (const t of txs) {
    const mine = answerEvents.filter((e) => e.details.transactionId === t.id).map((e) => e.event);
    // Never both approved and denied: at most one answer, and the row agrees with its audit.
    expect(mine.length, `answers of ${t.id}`).toBeLessThanOrEqual(1);
    if (t.status in ANSWER_EVENT) expect(mine).toEqual([ANSWER_EVENT[t.status as keyof typeof ANSWER_EVENT]]);
    else expect(mine).toEqual([]);
  }
  // Exactly one finished login per approved request taken by its login, and none without one.
  for (const p of pushUsers) {
    const taken = txs.filter((t) => t.user_id === p.user.id && t.status === 'approved' && t.completed_at !== null).length;
    const logins = events.filter((e) => e.event === 'login.succeeded' && e.subject_id === p.user.id && (e.details.factors as string[]).includes('push') && !e.details.enrolled).length;
    expect(logins, `push logins of ${p.user.email}`).toBe(taken);
    const denied = txs.filter((t) => t.user_id === p.user.id && ['denied', 'fraud'].includes(t.status) && t.completed_at !== null).length;
    const failures = events.filter((e) => e.event === 'mfa.failed' && e.subject_id === p.user.id && e.details.method === 'push' && ['denied', 'fraud'].includes(e.details.reason as string)).length;
    expect(failures, `push failures of ${p.user.email}`).toBe(denied);
  }
}

function checkAudit(events: Awaited<ReturnType<typeof auditEvents>>): void {
  const of = (event: string, userId: string, where: (d: Record<string, unknown>) => boolean = () => true) =>
    events.filter((e) => e.event === event && e.subject_id === userId && where(e.details)).length;
  const times = (ids: string[]) => ids.reduce((m, id) => m.set(id, (m.get(id) ?? 0) + 1), new Map<string, number>());

  for (const [userId, n] of times(ok.passwordAccepted)) expect(of('login.password_accepted', userId), `password steps of ${userId}`).toBeGreaterThanOrEqual(n);
  const bypassed = times([...ok.bypassLogins, ...ok.skips]);
  for (const [userId, n] of bypassed) {
    expect(of('login.mfa_bypassed_no_seat', userId), `bypasses of ${userId}`).toBeGreaterThanOrEqual(n);
    expect(of('login.succeeded', userId, (d) => (d.factors as string[]).join() === 'password'), `password-only logins of ${userId}`).toBeGreaterThanOrEqual(n);
  }
  for (const c of ok.confirms) {
    expect(of('mfa.enrolled', c.userId, (d) => d.authenticatorId === c.authenticatorId), `enrollment ${c.authenticatorId}`).toBe(1);
    expect(of('login.succeeded', c.userId, (d) => d.enrolled === true), `enrollment login of ${c.userId}`).toBeGreaterThanOrEqual(1);
  }
  for (const a of ok.activations) expect(of('mfa.enrolled', a.userId, (d) => d.authenticatorId === a.authenticatorId), `activation ${a.authenticatorId}`).toBe(1);
  for (const [userId, n] of times(ok.completions)) {
    expect(of('login.succeeded', userId, (d) => d.enrolled === true && (d.factors as string[]).includes('push')), `mobile enrollment login of ${userId}`).toBe(n);
  }
  for (const s of ok.pushesSent) expect(of('mfa.push_sent', s.userId, (d) => d.transactionId === s.transactionId), `push ${s.transactionId}`).toBe(1);
  const EVENT_OF: Record<string, string> = { approved: 'mfa.push_approved', denied: 'mfa.push_denied', fraud: 'mfa.push_fraud' };
  for (const a of ok.answers) {
    expect(events.filter((e) => e.event === EVENT_OF[a.status] && e.details.transactionId === a.transactionId), `answer ${a.status} of ${a.transactionId}`).toHaveLength(1);
  }
  const waits = (userId: string, statuses: string[]) => ok.waits.filter((w) => w.userId === userId && statuses.includes(w.status)).length;
  for (const p of pushUsers) {
    expect(of('login.succeeded', p.user.id, (d) => (d.factors as string[]).includes('push'))).toBeGreaterThanOrEqual(waits(p.user.id, ['approved']));
    expect(of('mfa.failed', p.user.id, (d) => d.method === 'push')).toBeGreaterThanOrEqual(waits(p.user.id, ['denied', 'fraud']));
  }
}

async function checkInvariants() {
  const seats = await checkSeats();
  const events = await auditEvents(h, { firmId: f.firm.id });
  await checkPushes(events);
  checkAudit(events);
  expect(unexpected).toEqual([]);
  return seats;
}

// --- the test -------------------------------------------------------------------------------

describe('crash safety: SIGKILL during concurrent enrollments and push answers', () => {
  it(`keeps seats, pushes and the audit log consistent over ${KILL_ROUNDS} kills and restarts`, async () => {
    const kills: string[] = [];
    for (let r = 1; r <= KILL_ROUNDS; r++) {
      // On a busy machine the answers come after the confirmations: the last kill waits for
      // answers (and lets the licences fill up), the others cut into the confirmations.
      const kill: Kill =
        r < KILL_ROUNDS
          ? { after: 'confirmation', successes: 2 + Math.floor(random() * 10), delayMs: Math.floor(random() * 40) }
          : { after: 'push answer', successes: 1 + Math.floor(random() * 6), delayMs: Math.floor(random() * 40) };
      const { killedMidway } = await round(server!, kill);
      kills.push(`round ${r}: killed ${killedMidway ? `${kill.delayMs} ms after ${kill.after} ${kill.successes}` : 'after the round (it finished first)'}`);
      server = await start();
      expect(server.output).not.toMatch(/error|failed|cannot start/i);
      await checkInvariants();
    }
    // A last round runs to its end: the licences fill up exactly, and the rest go on without MFA.
    await round(server!, null);
    const seats = await checkInvariants();
    expect(seats).toEqual({ seatsUsed: PUSH_USERS + FREE_LICENCES, licences: PUSH_USERS + FREE_LICENCES, uncompleted: 0 });
    expect(enrollers.filter((e) => e.outstanding)).toEqual([]);
    expect(enrollers.filter((e) => e.enrolled).length).toBeLessThanOrEqual(FREE_LICENCES);
    // The kills did land in the middle of the work.
    expect(cutByKill).toBeGreaterThan(0);
    expect(ok.answers.length).toBeGreaterThan(0);
    console.log(
      `crash safety (${database.config.kind}): ${kills.join('; ')}; ${cutByKill} flows cut; starts ${starts.join(', ')} ms; ` +
        `${ok.confirms.length} app confirmations, ${ok.activations.length} device activations, ${ok.completions.length} completions (and ${ok.enrolledAtLogin.length} enrollments committed unacknowledged), ${ok.answers.length} push answers, ${ok.skips.length + ok.bypassLogins.length} no-licence logins acknowledged`,
    );
    expect(starts.every((ms) => ms < READY_MS)).toBe(true);
  }, 240_000);
});
