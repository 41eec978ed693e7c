import { performance } from 'node:perf_hooks';
import { hashPassword, verifyPassword } from '../../src/core/passwords.js';
import { healthBaseline, load } from '../lib/load.js';
import { type Scenario, ratioOf } from '../lib/scenario.js';
import { BENCH_PASSWORD, csrfPair, openDb, seedFirm } from '../lib/seed.js';
import { freshDatabase, startTessera } from '../lib/server.js';

/**
 * Scenario 5: the password step, bounded by argon2id on purpose. Reported beside the
 * cost of one hash and one verification alone, measured in this process.
 */
export const passwordStep: Scenario = {
  name: 'Password step',
  async run(ctx) {
    const users = 500;
    const database = await freshDatabase(ctx.pgBase);
    const server = await startTessera(database.url);
    try {
      const db = await openDb(database.url);
      const firm = await seedFirm(db, server.masterKey, { users, enrolled: 0 });
      await db.updateTable('mfa_settings').set({ case_managers: 0 }).where('firm_id', '=', firm.firmId).execute();
      await db.destroy();

      const hashTimes: number[] = [];
      const verifyTimes: number[] = [];
      for (let i = 0; i < 10; i++) {
        let t = performance.now();
        const h = await hashPassword(BENCH_PASSWORD);
        hashTimes.push(performance.now() - t);
        t = performance.now();
        await verifyPassword(h, BENCH_PASSWORD);
        verifyTimes.push(performance.now() - t);
      }
      const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

      const baseline = await healthBaseline(server.url);
      const csrf = await csrfPair(server.url);
      const result = await load({
        url: `${server.url}/api/v1/login`,
        method: 'POST',
        connections: 4,
        duration: ctx.quick ? 5 : 10,
        headers: { 'content-type': 'application/json', cookie: csrf.cookie, 'x-csrf-token': csrf.token },
        next: (i) => ({ body: JSON.stringify({ email: firm.users[i % users]!.email, password: BENCH_PASSWORD }) }),
      });
      return [
        {
          scenario: passwordStep.name,
          database: ctx.database,
          dataSize: `${users} users`,
          baseline,
          measured: {
            loginsPerSecond: result.rps,
            p50Ms: result.p50,
            p99Ms: result.p99,
            errors: result.errors + result.non2xx,
            argon2idHashMs: Math.round(median(hashTimes) * 10) / 10,
            argon2idVerifyMs: Math.round(median(verifyTimes) * 10) / 10,
          },
          ratio: ratioOf(result.rps, baseline),
          targets: [
            { what: 'no errors', target: '0', actual: String(result.errors + result.non2xx), met: result.errors + result.non2xx === 0 },
          ],
        },
      ];
    } finally {
      await server.stop();
      await database.drop();
    }
  },
};
