import { createHmac } from 'node:crypto';
import { canonicalText, canonicalParams } from '../../src/duo/signature.js';
import { passcodeOf } from '../lib/flows.js';
import { healthBaseline, load, type LoadResult } from '../lib/load.js';
import { type Scenario, type ScenarioResult, ratioOf } from '../lib/scenario.js';
import { openDb, seedDuoIntegration, seedFirmIn } from '../lib/seed.js';
import { freshDatabase, startTessera, type TesseraProcess } from '../lib/server.js';

/**
 * Duo's Auth API (issue 15): preauth and passcode auth per second, each request signed as
 * @duosecurity/duo_api signs it by default (v2, HMAC-SHA512, form body, a fresh Date) and its
 * signature checked by the door, against an Auth API application of the registry (its secret key
 * sealed as Tessera seals it). Preauth walks the core's decision and lists the user's devices; a
 * passcode auth opens a LoginAttempt, checks the TOTP code (single use), completes and audits.
 */

interface Keys {
  ikey: string;
  skey: string;
}

/** A signed form POST, as duo_api 1.5 sends it. */
function signed(keys: Keys, path: string, params: Record<string, string>) {
  const pairs = Object.entries(params);
  const body = pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  const date = new Date().toUTCString();
  const text = canonicalText(2, { date, method: 'POST', host: '127.0.0.1', path, params: canonicalParams(pairs)[0]! });
  const sig = createHmac('sha512', keys.skey).update(text).digest('hex');
  return {
    body,
    headers: { 'content-type': 'application/x-www-form-urlencoded', date, authorization: `Basic ${Buffer.from(`${keys.ikey}:${sig}`).toString('base64')}` },
  };
}

function duoLoad(server: TesseraProcess, path: string, connections: number, count: number, build: (i: number) => Record<string, string>, keys: Keys): Promise<LoadResult> {
  return load({
    url: `${server.url}${path}`,
    method: 'POST',
    connections,
    amount: count,
    duration: 120,
    serverPid: server.pid,
    next: (i) => signed(keys, path, build(i)),
  });
}

/** Sleeps into the next 30-second step, so that no code of the previous run is a replay. */
async function nextTimeStep(): Promise<void> {
  await new Promise((r) => setTimeout(r, 30_000 - (Date.now() % 30_000) + 200));
}

export const duo: Scenario = {
  name: 'Duo Auth API',
  async run(ctx) {
    const users = ctx.quick ? 1_000 : 5_000;
    const database = await freshDatabase(ctx.pgBase);
    const server = await startTessera(database.url);
    try {
      const firm = await seedFirmIn(database.url, server.masterKey, { users, enrolled: users });
      const keys = await seedDuoIntegration(database.url, server.masterKey, { firm_id: firm.firmId, type: 'duo_auth_api', name: 'Bench VPN', new_user_policy: 'deny' });
      const enrolled = firm.users.filter((u) => u.secret);
      const baseline = await healthBaseline(server.url, server.pid);
      const preauthOf = (i: number) => ({ username: enrolled[i % enrolled.length]!.email });
      await duoLoad(server, '/auth/v2/preauth', 16, 500, preauthOf, keys); // warm-up
      const preauth = await duoLoad(server, '/auth/v2/preauth', 16, enrolled.length, preauthOf, keys);
      await nextTimeStep();
      const auth = await duoLoad(server, '/auth/v2/auth', 16, enrolled.length, (i) => ({ username: enrolled[i]!.email, factor: 'passcode', passcode: passcodeOf(enrolled[i]!.secret!) }), keys);
      // Every passcode must have been allowed: a refusal is a 200 in Duo's envelope, so the audit log tells.
      const check = await openDb(database.url);
      const denied = await check.selectFrom('audit_events').select((eb) => eb.fn.countAll<number>().as('n')).where('event', '=', 'duo.auth_denied').executeTakeFirstOrThrow();
      await check.destroy();
      const errors = preauth.errors + preauth.non2xx + auth.errors + auth.non2xx + Number(denied.n);
      const base = { database: ctx.database, baseline, dataSize: `${users} enrolled users, one Auth API application` };
      const result = (name: string, r: LoadResult): ScenarioResult => {
        const ratio = ratioOf(r.rps, baseline);
        return {
          ...base,
          scenario: `Duo ${name}`,
          measured: { rps: r.rps, p50Ms: r.p50, p99Ms: r.p99, errors: r.errors + r.non2xx, serverCpuMsPerCall: r.cpuMsPerRequest ?? 0, serverCpuMsPerHealth: baseline.cpuMsPerRequest ?? 0 },
          ratio,
          targets: [{ what: 'no errors', target: '0', actual: String(errors), met: errors === 0 }],
        };
      };
      return [result('preauth (signed)', preauth), result('passcode auth (signed)', auth)];
    } finally {
      await server.stop();
      await database.drop();
    }
  },
};
