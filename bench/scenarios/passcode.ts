import { passcodeOf } from '../lib/flows.js';
import { healthBaseline, load, type LoadResult } from '../lib/load.js';
import { type Scenario, type ScenarioResult, ratioOf } from '../lib/scenario.js';
import { csrfPair, openDb, seedFirmIn, seedSessions, type SeededFirm } from '../lib/seed.js';
import { freshDatabase, startTessera, type TesseraProcess } from '../lib/server.js';

/** Sleeps into the next 30-second step, so that no code of the previous run is a replay. */
async function nextTimeStep(): Promise<void> {
  const ms = 30_000 - (Date.now() % 30_000) + 200;
  await new Promise((r) => setTimeout(r, ms));
}

/**
 * One pending login per enrolled user (the password step prepared before the clock starts,
 * as the rules allow), each completed by its own request with a valid passcode: the real
 * path, with replay protection, lockout bookkeeping, audit and the session upgrade.
 */
async function completeLogins(server: TesseraProcess, firm: SeededFirm, o: { connections: number; rate?: number; count?: number }): Promise<LoadResult> {
  const db = await openDb(server.databaseUrl);
  const users = firm.users.filter((u) => u.secret).slice(0, o.count);
  const tokens = await seedSessions(db, firm.firmId, users.map((u) => u.id), 'second_factor');
  await db.destroy();
  const csrf = await csrfPair(server.url);
  return load({
    url: `${server.url}/api/v1/mfa/verify`,
    method: 'POST',
    connections: o.connections,
    amount: users.length,
    duration: 120,
    rate: o.rate,
    serverPid: server.pid,
    headers: { 'content-type': 'application/json', 'x-csrf-token': csrf.token },
    next: (i) => ({
      body: JSON.stringify({ method: 'totp', code: passcodeOf(users[i % users.length]!.secret!) }),
      headers: { cookie: `tessera_session=${tokens[i % users.length]}; ${csrf.cookie}` },
    }),
  });
}

/** Scenario 1, at 1/10 and at the full data size (10,000 enrolled users). */
export const passcode: Scenario = {
  name: 'Passcode verification',
  async run(ctx) {
    const sizes = ctx.quick ? [1_000] : [1_000, 10_000];
    const out: ScenarioResult[] = [];
    for (const users of sizes) {
      const database = await freshDatabase(ctx.pgBase);
      const server = await startTessera(database.url);
      try {
        const firm = await seedFirmIn(database.url, server.masterKey, { users, enrolled: users });
        const baseline = await healthBaseline(server.url, server.pid);
        // Warm-up (JIT, statement cache) on up to 1,000 users, one time step before the
        // measured runs, so that a 2-second run at 1/10 size is not mostly a cold start.
        await nextTimeStep();
        await completeLogins(server, firm, { connections: 16, count: 1_000 });
        await nextTimeStep();
        const peak = await completeLogins(server, firm, { connections: 16 });
        await nextTimeStep();
        const half = await completeLogins(server, firm, { connections: 16, rate: Math.max(1, Math.floor(peak.rps / 2)) });
        const errors = peak.errors + peak.non2xx + half.errors + half.non2xx;
        const ratio = ratioOf(peak.rps, baseline);
        out.push({
          scenario: passcode.name,
          database: ctx.database,
          dataSize: `${users} enrolled users, one pending login each`,
          baseline,
          measured: { peakRps: peak.rps, peakP99Ms: peak.p99, halfRateRps: half.rps, halfRateP50Ms: half.p50, halfRateP99Ms: half.p99, errors, serverCpuMsPerVerify: peak.cpuMsPerRequest ?? 0, serverCpuMsPerHealth: baseline.cpuMsPerRequest ?? 0 },
          ratio,
          targets: [
            { what: 'throughput vs health', target: '≥ 0.35', actual: String(ratio), met: ratio >= 0.35 },
            { what: 'p99 at half the peak rate', target: '≤ 25 ms', actual: `${half.p99} ms`, met: half.p99 <= 25 },
            { what: 'no errors', target: '0', actual: String(errors), met: errors === 0 },
          ],
        });
      } finally {
        await server.stop();
        await database.drop();
      }
    }
    return out;
  },
};
