/**
 * Passcode verification over HTTP at several connection counts, with the server's CPU time per
 * request (from /proc) beside each run: tells a saturated server from one waiting on something.
 *   node dist/bench/tools/verify-load.js [users] [connections,...]
 */
import { Secret, TOTP } from 'otpauth';
import { healthBaseline, load } from '../lib/load.js';
import { csrfPair, openDb, seedFirm, seedSessions } from '../lib/seed.js';
import { freshDatabase, startTessera } from '../lib/server.js';

const users = Number(process.argv[2] ?? 6000);
const connectionCounts = (process.argv[3] ?? '4,16,64').split(',').map(Number);
const database = await freshDatabase(process.env.TESSERA_DATABASE_URL);
const server = await startTessera(database.url);
try {
  const db = await openDb(database.url);
  const firm = await seedFirm(db, server.masterKey, { users, enrolled: users });
  const per = Math.floor(users / connectionCounts.length);
  const csrf = await csrfPair(server.url);
  const health = await healthBaseline(server.url, server.pid);
  console.log(JSON.stringify({ run: 'health', rps: health.rps, cpuMsPerRequest: health.cpuMsPerRequest }));
  for (const [k, connections] of connectionCounts.entries()) {
    const slice = firm.users.slice(k * per, (k + 1) * per);
    const tokens = await seedSessions(db, firm.firmId, slice.map((u) => u.id), 'second_factor');
    const r = await load({
      url: `${server.url}/api/v1/mfa/verify`, method: 'POST', connections, amount: slice.length, duration: 60, serverPid: server.pid,
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrf.token },
      next: (i) => ({
        body: JSON.stringify({ method: 'totp', code: new TOTP({ secret: Secret.fromBase32(slice[i % slice.length]!.secret!), period: 30 }).generate() }),
        headers: { cookie: `tessera_session=${tokens[i % slice.length]}; ${csrf.cookie}` },
      }),
    });
    console.log(JSON.stringify({ run: 'verify', connections, rps: r.rps, p50: r.p50, p99: r.p99, non2xx: r.non2xx, cpuMsPerRequest: r.cpuMsPerRequest, ratio: +(r.rps / health.rps).toFixed(3) }));
  }
  await db.destroy();
} finally {
  await server.stop();
  await database.drop();
}
