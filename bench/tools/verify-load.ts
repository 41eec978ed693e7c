/**
 * Passcode verification over HTTP at several connection counts, with the server's CPU use
 * (from /proc) beside each run: tells a saturated server from one waiting on something.
 *   node dist/bench/tools/verify-load.js [users] [connections,...]
 */
import fs from 'node:fs';
import { Secret, TOTP } from 'otpauth';
import { healthBaseline, load } from '../lib/load.js';
import { csrfPair, openDb, seedFirm, seedSessions } from '../lib/seed.js';
import { freshDatabase, startTessera } from '../lib/server.js';

const users = Number(process.argv[2] ?? 6000);
const connectionCounts = (process.argv[3] ?? '4,16,64').split(',').map(Number);
const cpuMs = (pid: number) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
};
const database = await freshDatabase(process.env.TESSERA_DATABASE_URL);
const server = await startTessera(database.url);
try {
  const db = await openDb(database.url);
  const firm = await seedFirm(db, server.masterKey, { users, enrolled: users });
  const per = Math.floor(users / connectionCounts.length);
  const csrf = await csrfPair(server.url);
  let c0 = cpuMs(server.pid);
  const t0 = Date.now();
  const health = await healthBaseline(server.url);
  console.log(JSON.stringify({ run: 'health', rps: health.rps, serverCpu: +((cpuMs(server.pid) - c0) / (Date.now() - t0)).toFixed(2) }));
  for (const [k, connections] of connectionCounts.entries()) {
    const slice = firm.users.slice(k * per, (k + 1) * per);
    const tokens = await seedSessions(db, firm.firmId, slice.map((u) => u.id), 'second_factor');
    c0 = cpuMs(server.pid);
    const t = Date.now();
    const r = await load({
      url: `${server.url}/api/v1/mfa/verify`, method: 'POST', connections, amount: slice.length, duration: 60,
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrf.token },
      next: (i) => ({
        body: JSON.stringify({ method: 'totp', code: new TOTP({ secret: Secret.fromBase32(slice[i % slice.length]!.secret!), period: 30 }).generate() }),
        headers: { cookie: `tessera_session=${tokens[i % slice.length]}; ${csrf.cookie}` },
      }),
    });
    console.log(JSON.stringify({ run: 'verify', connections, rps: r.rps, p50: r.p50, p99: r.p99, non2xx: r.non2xx, serverCpu: +((cpuMs(server.pid) - c0) / (Date.now() - t)).toFixed(2), ratio: +(r.rps / health.rps).toFixed(3) }));
  }
  await db.destroy();
} finally {
  await server.stop();
  await database.drop();
}
