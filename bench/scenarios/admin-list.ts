import { ENROLLED_LIST, listPagePath, listSearchPath } from '../lib/flows.js';
import { healthBaseline, load } from '../lib/load.js';
import type { Scenario, Target } from '../lib/scenario.js';
import { openDb, seedFirm, seedSessions } from '../lib/seed.js';
import { freshDatabase, startTessera } from '../lib/server.js';

/** Scenario 6: the Enrolled Users list of a firm with 100,000 enrolled users: browse and search. */
export const adminList: Scenario = {
  name: 'Admin list (Enrolled Users)',
  async run(ctx) {
    const users = ctx.quick ? 10_000 : 100_000;
    const database = await freshDatabase(ctx.pgBase);
    const server = await startTessera(database.url);
    try {
      const db = await openDb(database.url);
      const firm = await seedFirm(db, server.masterKey, { users, enrolled: users });
      const [adminToken] = await seedSessions(db, firm.firmId, [firm.superuserId], 'full', 3_600_000);
      await db.destroy();
      const headers = { cookie: `tessera_session=${adminToken}` };
      const baseline = await healthBaseline(server.url);
      const url = `${server.url}${ENROLLED_LIST}`;
      const pages = Math.floor(users / 20);
      // One admin at a time: the latency an administrator sees, not a queue of them.
      const browse = await load({ url, connections: 1, duration: ctx.quick ? 4 : 8, headers, next: (i) => ({ path: listPagePath(ENROLLED_LIST, i, pages) }) });
      const search = await load({
        url,
        connections: 1,
        duration: ctx.quick ? 4 : 8,
        headers,
        next: (i) => ({ path: listSearchPath(ENROLLED_LIST, i, users) }),
      });
      // Issue 7's target is the search; browsing (random pages, up to the last one) is reported beside it.
      const targets: Target[] = [
        { what: 'search p99', target: '≤ 50 ms', actual: `${search.p99} ms`, met: search.p99 <= 50 },
        { what: 'no errors', target: '0', actual: String(browse.errors + browse.non2xx + search.errors + search.non2xx), met: browse.errors + browse.non2xx + search.errors + search.non2xx === 0 },
      ];
      return [
        {
          scenario: adminList.name,
          database: ctx.database,
          dataSize: `${users} enrolled users in one firm`,
          baseline,
          measured: { browseRps: browse.rps, browseP50Ms: browse.p50, browseP99Ms: browse.p99, searchRps: search.rps, searchP50Ms: search.p50, searchP99Ms: search.p99 },
          targets,
        },
      ];
    } finally {
      await server.stop();
      await database.drop();
    }
  },
};
