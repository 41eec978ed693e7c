import type { BenchDevice } from '../lib/devices.js';
import { Browser, call, expectThat, FlowError, type Recorder } from '../lib/flow-client.js';
import { ENROLLED_LIST, listPagePath, listSearchPath, passcodeOf, USERS_LIST, wrongPasscodeOf } from '../lib/flows.js';
import { BENCH_PASSWORD, type SeededUser } from '../lib/seed.js';

/**
 * The soak's traffic: what a firm's staff and administrators do in a working day, as whole
 * flows (a browser, and for push logins the user's phone, taking turns), each request of
 * them timed under its kind. Users are taken round-robin from a pool per flow, so a user is
 * never in two flows at once and a TOTP user comes back only after many 30-second steps
 * (a passcode is single-use per step: a faster return would be a replay, refused).
 */

export interface SoakWorld {
  origin: string;
  firmSlug: string;
  /** Case managers with an authenticator app (MFA on for their kind). */
  totpUsers: SeededUser[];
  /** Case managers with a Tessera Authenticator. */
  devices: BenchDevice[];
  /** The devices whose app is open: they hear of a push on their event stream rather than by a notification. */
  streams: Map<string, DeviceStream>;
  /** Vendor case managers, for whom the firm has MFA off: password only. */
  plainUsers: SeededUser[];
  adminToken: string;
  /** Rows of the two admin lists, for page numbers and searches. */
  enrolledCount: number;
  userCount: number;
}

export interface FlowOptions {
  /** How long the phone's owner takes to look and tap (0 when calibrating). */
  humanDelayMs: () => number;
  random: () => number;
}

type Flow = (rec: Recorder, w: SoakWorld, o: FlowOptions) => Promise<void>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pools = new Map<unknown, number>();
function take<T>(pool: T[]): T {
  const i = pools.get(pool) ?? 0;
  pools.set(pool, i + 1);
  return pool[i % pool.length]!;
}

async function passwordStep(rec: Recorder, b: Browser, user: SeededUser, expectNext: 'second_factor' | 'home', password = BENCH_PASSWORD) {
  const a = await b.request({ kind: 'login', method: 'POST', path: '/api/v1/login', body: JSON.stringify({ email: user.email, password }), expect: [200] });
  const got = (a.body as { next?: string }).next;
  expectThat(rec, 'login', got === expectNext, `login of ${user.email}: next ${got}, expected ${expectNext}`);
}

/** Home, then (half of the time) logging out; the other half leave their session to expire. */
async function homeAndMaybeLeave(rec: Recorder, b: Browser, user: SeededUser, o: FlowOptions) {
  const me = await b.request({ kind: 'me', method: 'GET', path: '/api/v1/me', expect: [200] });
  expectThat(rec, 'me', (me.body as { user?: { email?: string } }).user?.email === user.email, `me: ${JSON.stringify(me.body).slice(0, 120)}`);
  if (o.random() < 0.5) await b.request({ kind: 'logout', method: 'POST', path: '/api/v1/logout', expect: [204] });
}

/** Password, then a passcode from the authenticator app; one in twenty mistypes it once first. */
const passcodeLogin: Flow = async (rec, w, o) => {
  const user = take(w.totpUsers);
  const b = new Browser(rec, w.origin);
  await b.csrf();
  await passwordStep(rec, b, user, 'second_factor');
  await b.request({ kind: 'mfa.challenge', method: 'GET', path: '/api/v1/mfa/challenge', expect: [200] });
  if (o.random() < 0.05) {
    await b.request({ kind: 'mfa.verify', method: 'POST', path: '/api/v1/mfa/verify', body: JSON.stringify({ method: 'totp', code: wrongPasscodeOf(user.secret!) }), expect: [401] });
  }
  await b.request({ kind: 'mfa.verify', method: 'POST', path: '/api/v1/mfa/verify', body: JSON.stringify({ method: 'totp', code: passcodeOf(user.secret!) }), expect: [200] });
  await homeAndMaybeLeave(rec, b, user, o);
};

/** The phone's side of one push: learn of it (event stream, or the notification then the list), look, answer. */
async function answerOnPhone(rec: Recorder, w: SoakWorld, o: FlowOptions, device: BenchDevice, push: { transactionId: string; number: string }, answer: 'approve' | 'deny') {
  const stream = w.streams.get(device.deviceId);
  if (stream) {
    await stream.arrival(push.transactionId);
    await sleep(o.humanDelayMs());
  } else {
    await sleep(o.humanDelayMs());
    const path = '/api/v1/device/transactions';
    const list = await call(rec, w.origin, { kind: 'device.transactions', method: 'GET', path, headers: device.headers('GET', path), expect: [200] });
    const ids = (list.body as { items: { id: string }[] }).items.map((t) => t.id);
    expectThat(rec, 'device.transactions', ids.includes(push.transactionId), `push ${push.transactionId} not in the device's list (${ids.length} items)`);
  }
  const path = `/api/v1/device/transactions/${push.transactionId}/answer`;
  const body = answer === 'approve' ? device.answerBody(push.transactionId, 'approve', { number: push.number }) : device.answerBody(push.transactionId, 'deny', { reason: 'mistake' });
  await call(rec, w.origin, { kind: 'device.answer', method: 'POST', path, headers: device.headers('POST', path, body), body, expect: [200] });
}

/** The login screen's long-poll, repeated while it answers "pending" (each poll ends after at most 25 s). */
async function waitFor(b: Browser, transactionId: string): Promise<string> {
  for (;;) {
    const a = await b.request({ kind: 'mfa.push.wait', method: 'GET', path: `/api/v1/mfa/push/${transactionId}/wait`, expect: [200] });
    const status = (a.body as { status: string }).status;
    if (status !== 'pending') return status;
  }
}

async function pushRound(rec: Recorder, w: SoakWorld, o: FlowOptions, b: Browser, device: BenchDevice, answer: 'approve' | 'deny') {
  const sent = await b.request({ kind: 'mfa.push', method: 'POST', path: '/api/v1/mfa/push', expect: [201] });
  const push = sent.body as { transactionId: string; number: string };
  // The screen waits while the phone answers, as in a browser.
  const [waited, answered] = await Promise.allSettled([waitFor(b, push.transactionId), answerOnPhone(rec, w, o, device, push, answer)]);
  if (answered.status === 'rejected') throw answered.reason;
  if (waited.status === 'rejected') throw waited.reason;
  const status = waited.value;
  const expected = answer === 'approve' ? 'approved' : 'denied';
  expectThat(rec, 'mfa.push.wait', status === expected, `push ${push.transactionId}: ${status}, expected ${expected}`);
}

/** Password, then "Send me a push", approved on the phone with the number; one in thirty is denied by mistake first. */
const pushLogin: Flow = async (rec, w, o) => {
  const device = take(w.devices);
  const b = new Browser(rec, w.origin);
  await b.csrf();
  await passwordStep(rec, b, device.user, 'second_factor');
  await b.request({ kind: 'mfa.challenge', method: 'GET', path: '/api/v1/mfa/challenge', expect: [200] });
  if (o.random() < 1 / 30) await pushRound(rec, w, o, b, device, 'deny');
  await pushRound(rec, w, o, b, device, 'approve');
  await homeAndMaybeLeave(rec, b, device.user, o);
};

/** A user the firm's MFA does not cover: the password is the whole login. */
const passwordLogin: Flow = async (rec, w, o) => {
  const user = take(w.plainUsers);
  const b = new Browser(rec, w.origin);
  await b.csrf();
  await passwordStep(rec, b, user, 'home');
  await homeAndMaybeLeave(rec, b, user, o);
};

/** A mistyped password (401, throttling bookkeeping), then the right one. */
const passwordTypo: Flow = async (rec, w, o) => {
  const user = take(w.plainUsers);
  const b = new Browser(rec, w.origin);
  await b.csrf();
  await b.request({ kind: 'login', method: 'POST', path: '/api/v1/login', body: JSON.stringify({ email: user.email, password: `${BENCH_PASSWORD}!` }), expect: [401] });
  await passwordStep(rec, b, user, 'home');
  await homeAndMaybeLeave(rec, b, user, o);
};

/** An administrator's page view: the Enrolled Users or the users list, a page or a search. */
const adminPage: Flow = async (rec, w, o) => {
  const b = new Browser(rec, w.origin);
  b.cookie('tessera_session', w.adminToken);
  const i = Math.floor(o.random() * 1_000_000);
  const r = o.random();
  const [kind, path] =
    r < 0.4
      ? ['admin.enrolled.browse', listPagePath(ENROLLED_LIST, i, Math.ceil(w.enrolledCount / 20))]
      : r < 0.6
        ? ['admin.enrolled.search', listSearchPath(ENROLLED_LIST, i, w.enrolledCount)]
        : r < 0.85
          ? ['admin.users.browse', listPagePath(USERS_LIST, i, Math.ceil(w.userCount / 20))]
          : ['admin.users.search', listSearchPath(USERS_LIST, i, w.userCount)];
  const a = await b.request({ kind, method: 'GET', path, expect: [200] });
  const page = a.body as { items: unknown[] };
  expectThat(rec, kind, Array.isArray(page.items), `${path}: no items`);
};

/** The mix, by share of flows started. Roughly: most staff log in with a passcode, a third by push, a few without MFA, administrators now and then. */
export const MIX: { name: string; weight: number; run: Flow }[] = [
  { name: 'passcode login', weight: 45, run: passcodeLogin },
  { name: 'push login', weight: 30, run: pushLogin },
  { name: 'password-only login', weight: 10, run: passwordLogin },
  { name: 'password typo, then login', weight: 3, run: passwordTypo },
  { name: 'admin page', weight: 12, run: adminPage },
];

export function pickFlow(r: number): (typeof MIX)[number] {
  const total = MIX.reduce((a, f) => a + f.weight, 0);
  let x = r * total;
  for (const f of MIX) if ((x -= f.weight) < 0) return f;
  return MIX[MIX.length - 1]!;
}

/** Runs one flow; its errors are recorded already, so a failed flow only counts as failed. */
export async function runFlow(f: (typeof MIX)[number], rec: Recorder, w: SoakWorld, o: FlowOptions): Promise<boolean> {
  try {
    await f.run(rec, w, o);
    return true;
  } catch (err) {
    if (err instanceof FlowError) return false;
    rec.error('flow', null, `${f.name}: ${(err as Error).stack ?? err}`, 'counted');
    return false;
  }
}

/**
 * An open Tessera Authenticator app: its signed event stream (GET /device/stream), held for
 * the whole run. Pushes announced on it are kept until the flow that sent them asks; the
 * stream ending before the run does is an error (and it reconnects, as the app would).
 */
export class DeviceStream {
  private readonly arrived = new Set<string>();
  private readonly waiting = new Map<string, () => void>();
  private readonly abort = new AbortController();
  private closing = false;

  constructor(
    /** Where its connections and errors are recorded (the calibration's, then the soak's). */
    public rec: Recorder,
    readonly origin: string,
    readonly device: BenchDevice,
  ) {}

  /** Opens the stream and keeps it open until close(); resolves once the first connection is up. */
  open(): Promise<void> {
    return new Promise((ready, failed) => {
      const connect = async (first: boolean) => {
        const started = performance.now();
        try {
          const res = await fetch(`${this.origin}${this.device.streamPath()}`, { signal: this.abort.signal });
          if (res.status !== 200 || !res.body) throw new Error(`status ${res.status}`);
          this.rec.ok('device.stream', performance.now() - started);
          if (first) ready();
          let buffer = '';
          const decoder = new TextDecoder();
          for await (const chunk of res.body) {
            buffer += decoder.decode(chunk as Uint8Array, { stream: true });
            let end: number;
            while ((end = buffer.indexOf('\n\n')) >= 0) {
              this.event(buffer.slice(0, end));
              buffer = buffer.slice(end + 2);
            }
          }
          if (!this.closing) throw new Error('stream ended');
        } catch (err) {
          if (this.closing) return;
          this.rec.error('device.stream', null, `${this.device.deviceId}: ${(err as Error).message}`, first ? 'no-answer' : 'counted');
          if (first) return failed(err);
          await sleep(1000);
          if (!this.closing) void connect(false);
        }
      };
      void connect(true);
    });
  }

  private event(block: string): void {
    const type = /^event: (.*)$/m.exec(block)?.[1];
    if (type !== 'push') return;
    const id = (JSON.parse(/^data: (.*)$/m.exec(block)![1]!) as { id: string }).id;
    const wake = this.waiting.get(id);
    if (wake) {
      this.waiting.delete(id);
      wake();
    } else this.arrived.add(id);
  }

  /** Resolves when the push arrived on the stream (an error after 10 s: the announcement was lost). */
  async arrival(id: string): Promise<void> {
    if (this.arrived.delete(id)) return;
    let timer: NodeJS.Timeout | undefined;
    const came = await Promise.race([
      new Promise<boolean>((resolve) => this.waiting.set(id, () => resolve(true))),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 10_000))),
    ]);
    clearTimeout(timer);
    this.waiting.delete(id);
    expectThat(this.rec, 'device.stream', came, `push ${id} not announced on the stream of ${this.device.deviceId} within 10 s`);
  }

  close(): void {
    this.closing = true;
    this.abort.abort();
  }
}
