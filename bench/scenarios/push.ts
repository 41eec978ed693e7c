import http from 'node:http';
import { healthBaseline } from '../lib/load.js';
import { ms, percentile, pool, round2, seedPushDevices, send, signedApproval, startPushes, waitRequest, type BenchDevice, type Sent } from '../lib/push.js';
import { type Scenario, type ScenarioResult, ratioOf } from '../lib/scenario.js';
import { csrfPair, openDb, seedFirm, seedSessions } from '../lib/seed.js';
import { freshDatabase, startTessera, type TesseraProcess } from '../lib/server.js';

/**
 * How the devices' answers are sent: a burst (all of them, as fast as 32 connections go: the
 * peak rate), then spread at a fixed rate of half that peak (as scenario 1 measures latency at
 * half the peak rate), but fast enough that the last answer comes within 45 s: a push lives
 * 60 s. The latency targets are judged on the spread run; the burst's latency includes the queue.
 */
type Pace = { kind: 'spread'; perSecond: number } | { kind: 'burst'; connections: number };
const BURST: Pace = { kind: 'burst', connections: 32 };
const spreadAfter = (peak: number, logins: number): Pace => ({ kind: 'spread', perSecond: Math.max(Math.ceil(logins / 45), Math.floor(peak / 2), 1) });
const paceLabel = (p: Pace) => (p.kind === 'spread' ? `spread, ${p.perSecond} answers/s` : `burst, as fast as ${p.connections} connections go`);

interface RoundTrips {
  latenciesMs: number[];
  errors: number;
  /** Completed logins over the time from the first answer sent to the last login's response. */
  loginsPerSecond: number;
  answerP50Ms: number;
  /** From the device's own 200 to the login's response: the hub's wake-up and the login's completion, without the answer's processing. */
  wakeP50Ms: number;
  wakeP99Ms: number;
}

/**
 * One batch: a pending login per device's user (password step prepared), a push started for
 * each through POST /mfa/push, every login holding GET /mfa/push/:id/wait at once; then the
 * devices answer with signed approvals over the device API, at the given pace. The clock of
 * one round trip runs from the moment the answer is handed to the socket to the moment the
 * waiting login's (approved, session-upgrading) response has arrived, both in this process.
 */
async function roundTrips(server: TesseraProcess, firmId: string, devices: BenchDevice[], pace: Pace): Promise<RoundTrips> {
  const base = new URL(server.url);
  const db = await openDb(server.databaseUrl);
  const tokens = await seedSessions(db, firmId, devices.map((d) => d.userId), 'second_factor');
  await db.destroy();
  const csrf = await csrfPair(server.url);
  const pushes = await startPushes(base, tokens, csrf);

  // Every login holds its own connection, as every browser would.
  const waitAgent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const answerAgent = new http.Agent({ keepAlive: true, maxSockets: pace.kind === 'burst' ? pace.connections : 64 });
  let errors = 0;
  const answered: Promise<Sent | null>[] = [];
  const waits = pushes.map(async (p, i) => {
    // The login page polls again after a "pending" (25 s without an answer).
    for (;;) {
      const r = await send(base, waitAgent, waitRequest(tokens[i]!, p.transactionId), 60_000);
      const status = r.status === 200 ? (JSON.parse(r.body) as { status: string }).status : `HTTP ${r.status}`;
      if (status === 'pending') continue;
      if (status !== 'approved' || !r.setCookie.some((c) => c.startsWith('tessera_session='))) errors++;
      return r;
    }
  });
  // Let every wait reach the server and subscribe before the first answer.
  await new Promise((r) => setTimeout(r, 1000 + devices.length * 2));

  // Signed before the clock starts: the device's own work is not what is measured.
  const approvals = pushes.map((p, i) => signedApproval(devices[i]!, p.transactionId, p.number));
  const answer = (i: number) => {
    const a = send(base, answerAgent, approvals[i]!).then(
      (r) => {
        if (r.status !== 200) errors++;
        return r;
      },
      () => {
        errors++;
        return null;
      },
    );
    answered[i] = a;
    return a;
  };
  if (pace.kind === 'burst') {
    await pool(
      approvals.map((_, i) => () => answer(i)),
      pace.connections,
    );
  } else {
    const start = Date.now();
    for (let i = 0; i < approvals.length; i++) {
      const due = start + (i * 1000) / pace.perSecond;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      void answer(i);
    }
  }
  const answers = await Promise.all(answered);
  const logins = await Promise.all(waits.map((w) => w.catch(() => (errors++, null))));
  waitAgent.destroy();
  answerAgent.destroy();

  const latenciesMs: number[] = [];
  const answerMs: number[] = [];
  const wakeMs: number[] = [];
  let first = BigInt(Number.MAX_SAFE_INTEGER) * 1_000_000n;
  let last = 0n;
  logins.forEach((login, i) => {
    const a = answers[i];
    if (!login || !a) return;
    latenciesMs.push(ms(login.doneAt - a.sentAt));
    answerMs.push(ms(a.doneAt - a.sentAt));
    wakeMs.push(ms(login.doneAt - a.doneAt));
    if (a.sentAt < first) first = a.sentAt;
    if (login.doneAt > last) last = login.doneAt;
  });
  latenciesMs.sort((x, y) => x - y);
  answerMs.sort((x, y) => x - y);
  wakeMs.sort((x, y) => x - y);
  return {
    latenciesMs,
    errors,
    loginsPerSecond: Math.round(latenciesMs.length / Math.max(0.001, ms(last - first) / 1000)),
    answerP50Ms: round2(percentile(answerMs, 50)),
    wakeP50Ms: round2(percentile(wakeMs, 50)),
    wakeP99Ms: round2(percentile(wakeMs, 99)),
  };
}

/** Scenario 2, at 1/10 (100 logins, 1,000 users) and at the full size (1,000 logins, 10,000 users). */
export const push: Scenario = {
  name: 'Push round trip',
  async run(ctx) {
    const sizes = ctx.quick ? [{ logins: 100, users: 1_000 }] : [{ logins: 100, users: 1_000 }, { logins: 1_000, users: 10_000 }];
    const out: ScenarioResult[] = [];
    for (const { logins, users } of sizes) {
      const database = await freshDatabase(ctx.pgBase);
      const server = await startTessera(database.url);
      try {
        const db = await openDb(database.url);
        const firm = await seedFirm(db, server.masterKey, { users, enrolled: users });
        // Every user has a device; the first `logins` of them log in.
        const devices = await seedPushDevices(db, firm.firmId, firm.users);
        await db.destroy();
        const baseline = await healthBaseline(server.url);
        const batch = devices.slice(0, logins);
        let pace: Pace = BURST;
        for (let run = 0; run < 2; run++) {
          const r = await roundTrips(server, firm.firmId, batch, pace);
          const p50 = round2(percentile(r.latenciesMs, 50));
          const p99 = round2(percentile(r.latenciesMs, 99));
          const judged = pace.kind === 'spread';
          out.push({
            scenario: `${push.name} (${paceLabel(pace)})`,
            database: ctx.database,
            dataSize: `${users} users with a push device, ${logins} logins waiting at once`,
            baseline,
            measured: { answerToLoginP50Ms: p50, answerToLoginP99Ms: p99, loginsPerSecond: r.loginsPerSecond, deviceAnswerP50Ms: r.answerP50Ms, answeredToLoginP50Ms: r.wakeP50Ms, answeredToLoginP99Ms: r.wakeP99Ms, completed: r.latenciesMs.length, errors: r.errors },
            ratio: ratioOf(r.loginsPerSecond, baseline),
            targets: [
              // The latency targets are judged at the controlled rate; the burst measures the queue as well.
              ...(judged
                ? [
                    { what: 'answer → login p50', target: '≤ 5 ms', actual: `${p50} ms`, met: p50 <= 5 },
                    { what: 'answer → login p99', target: '≤ 25 ms', actual: `${p99} ms`, met: p99 <= 25 },
                  ]
                : []),
              { what: 'all logins completed, no errors', target: `${logins}, 0`, actual: `${r.latenciesMs.length}, ${r.errors}`, met: r.errors === 0 && r.latenciesMs.length === logins },
            ],
          });
          pace = spreadAfter(r.loginsPerSecond, logins);
        }
      } finally {
        await server.stop();
        await database.drop();
      }
    }
    return out;
  },
};
