import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { CLIENT_ASSERTION_TYPE } from '../../src/duo/universal-prompt.service.js';
import { healthBaseline, load, type LoadResult } from '../lib/load.js';
import { type Scenario, type ScenarioResult, ratioOf } from '../lib/scenario.js';
import { openDb, seedDuoIntegration, seedFirmIn } from '../lib/seed.js';
import { freshDatabase, startTessera } from '../lib/server.js';

/**
 * Duo's Web SDK v4 (issue 15 item 4): /oauth/v1/authorize and /oauth/v1/token per second, with
 * the JWTs duo_universal 3.0 signs (HS512 with the client secret; made before the run, so the
 * load generator only sends). authorize for an enrolled user verifies the request object, walks
 * the core's decision and opens the prompt (a LoginAttempt and a duo_prompts row); authorize for
 * a user the application lets through (new user policy allow) goes straight back with a code;
 * token verifies the client assertion (its jti spent), takes the code once and signs the ID token.
 */

const REDIRECT = 'https://bench-portal.example/duo-callback';
const enc = (s: string) => new TextEncoder().encode(s);

export const universal: Scenario = {
  name: 'Duo Universal Prompt',
  async run(ctx) {
    const users = ctx.quick ? 1_000 : 5_000;
    const database = await freshDatabase(ctx.pgBase);
    const server = await startTessera(database.url);
    try {
      const firm = await seedFirmIn(database.url, server.masterKey, { users, enrolled: users });
      const { ikey: clientId, skey: secret } = await seedDuoIntegration(database.url, server.masterKey, { firm_id: firm.firmId, type: 'duo_web_sdk', name: 'Bench Portal', new_user_policy: 'allow', redirect_uris: JSON.stringify([REDIRECT]) });
      const host = new URL(server.url).host;
      const now = () => Math.floor(Date.now() / 1000);
      const requestObject = (username: string) =>
        new SignJWT({ response_type: 'code', scope: 'openid', exp: now() + 300, client_id: clientId, redirect_uri: REDIRECT, state: randomUUID(), duo_uname: username, iss: clientId, aud: `https://${host}`, use_duo_code_attribute: true })
          .setProtectedHeader({ alg: 'HS512' })
          .sign(enc(secret));
      const authorizePath = (request: string) => `/oauth/v1/authorize?${new URLSearchParams({ response_type: 'code', client_id: clientId, request, redirect_uri: REDIRECT, scope: 'openid' })}`;
      const assertion = () =>
        new SignJWT({ iss: clientId, sub: clientId, aud: `https://${host}/oauth/v1/token`, jti: randomUUID(), iat: now(), exp: now() + 300 }).setProtectedHeader({ alg: 'HS512' }).sign(enc(secret));

      const baseline = await healthBaseline(server.url, server.pid);
      const n = ctx.quick ? 1_000 : 5_000;
      const enrolled = firm.users.filter((u) => u.secret);
      const toPrompt = await Promise.all(Array.from({ length: n }, (_, i) => requestObject(enrolled[i % enrolled.length]!.email).then(authorizePath)));
      const straight = await Promise.all(Array.from({ length: n }, (_, i) => requestObject(`outsider${i}@bench.example`).then(authorizePath)));
      const getLoad = (paths: string[]) => load({ url: `${server.url}/oauth/v1/authorize`, method: 'GET', connections: 16, amount: paths.length, duration: 120, serverPid: server.pid, next: (i) => ({ path: paths[i % paths.length]! }) });
      const prompt = await getLoad(toPrompt);

      // Codes for the token run: the straight-back authorize, measured, then its Location read once more per code (unmeasured).
      const back = await getLoad(straight.slice(0, Math.min(200, n)));
      const codes: string[] = [];
      for (let i = 0; i < n; i += 32) {
        const batch = await Promise.all(
          straight.slice(i, i + 32).map(async (path) => {
            const res = await fetch(`${server.url}${path}`, { redirect: 'manual' });
            return new URL(res.headers.get('location')!).searchParams.get('duo_code')!;
          }),
        );
        codes.push(...batch);
      }
      const bodies = await Promise.all(
        codes.map(async (code) => new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: clientId, client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: await assertion() }).toString()),
      );
      const token = await load({
        url: `${server.url}/oauth/v1/token`,
        method: 'POST',
        connections: 16,
        amount: bodies.length,
        duration: 120,
        serverPid: server.pid,
        next: (i) => ({ body: bodies[i]!, headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
      });

      const check = await openDb(database.url);
      const opened = await check.selectFrom('duo_prompts').select((eb) => eb.fn.countAll<number>().as('n')).where('stage', '=', 'second_factor').executeTakeFirstOrThrow();
      const exchanged = await check.selectFrom('duo_prompts').select((eb) => eb.fn.countAll<number>().as('n')).where('code_used_at', 'is not', null).executeTakeFirstOrThrow();
      await check.destroy();
      const base = { database: ctx.database, baseline, dataSize: `${users} enrolled users, one Web SDK application` };
      const result = (name: string, r: LoadResult, failures: number): ScenarioResult => ({
        ...base,
        scenario: `Duo Universal ${name}`,
        // authorize answers 302 (autocannon's non2xx): only transport errors and missing rows count as failures there.
        measured: { rps: r.rps, p50Ms: r.p50, p99Ms: r.p99, errors: failures, serverCpuMsPerCall: r.cpuMsPerRequest ?? 0, serverCpuMsPerHealth: baseline.cpuMsPerRequest ?? 0 },
        ratio: ratioOf(r.rps, baseline),
        targets: [{ what: 'no errors', target: '0', actual: String(failures), met: failures === 0 }],
      });
      return [
        result('authorize -> prompt', prompt, prompt.errors + Math.max(0, n - Number(opened.n))),
        result('authorize -> straight back', back, back.errors),
        result('token exchange', token, token.errors + token.non2xx + Math.max(0, codes.length - Number(exchanged.n))),
      ];
    } finally {
      await server.stop();
      await database.drop();
    }
  },
};
