import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { newClientSecret } from '../../src/applications/credentials.js';
import { Browser, expectThat, FlowError, Recorder } from '../lib/flow-client.js';
import { passcodeOf } from '../lib/flows.js';
import { healthBaseline } from '../lib/load.js';
import { type Scenario, type ScenarioResult, ratioOf } from '../lib/scenario.js';
import { BENCH_PASSWORD, seedApplication, seedFirmIn, type SeededFirm, type SeededUser } from '../lib/seed.js';
import { freshDatabase, startTessera, type TesseraProcess } from '../lib/server.js';

/**
 * Issue 14's bench scenario: full OpenID Connect sign-ins per second, as a firm's application
 * and its users' browsers make them, against a real Tessera process. One sign-in is eight
 * requests: the authorization request (code + PKCE S256, state, nonce), the interaction page,
 * the CSRF token and the password step of Tessera's login (argon2id), the passcode, back to the
 * interaction and the resumed authorization request (the code), and the code redeemed at the
 * token endpoint with client_secret_basic (the ID token signed ES256). Every user signs in once
 * (a passcode is single-use per time step), from its own browser; `connections` browsers at a time.
 */

const CLIENT_ID = 'bench-portal';
const REDIRECT_URI = 'https://portal.bench.example/callback';

/** The application, a confidential client with a secret as the registry makes one. */
async function registerApplication(databaseUrl: string, masterKey: string, firmId: string): Promise<string> {
  const secret = newClientSecret();
  await seedApplication(
    databaseUrl,
    masterKey,
    { firm_id: firmId, type: 'oidc', name: 'Bench Portal', client_id: CLIENT_ID, client_type: 'confidential', token_endpoint_auth_method: 'client_secret_basic', redirect_uris: JSON.stringify([REDIRECT_URI]) },
    secret,
  );
  return secret;
}

const b64url = (b: Buffer) => b.toString('base64url');

/** One whole sign-in of `user`; throws FlowError (recorded) on any unexpected answer. */
async function signIn(rec: Recorder, server: TesseraProcess, firm: SeededFirm, user: SeededUser, secret: string): Promise<void> {
  const browser = new Browser(rec, server.url);
  const verifier = b64url(randomBytes(32));
  const state = b64url(randomBytes(16));
  const authorize = `/oidc/auth?${new URLSearchParams({
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope: 'openid profile email tessera',
    code_challenge: b64url(createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
    state,
    nonce: b64url(randomBytes(16)),
  })}`;
  const html = { accept: 'text/html' };
  const path = (location: string | null) => {
    const u = new URL(location ?? '', server.url);
    return `${u.pathname}${u.search}`;
  };
  const toInteraction = await browser.request({ kind: 'authorize', method: 'GET', path: authorize, headers: html, expect: [303] });
  const toLogin = await browser.request({ kind: 'interaction', method: 'GET', path: path(toInteraction.location), headers: html, expect: [303] });
  const loginPage = new URL(toLogin.location ?? '', server.url);
  expectThat(rec, 'interaction', loginPage.pathname === '/login' && loginPage.searchParams.get('firm') === firm.slug, `sent to ${toLogin.location}`);
  await browser.csrf();
  const password = await browser.request({ kind: 'password', method: 'POST', path: '/api/v1/login', body: JSON.stringify({ email: user.email, password: BENCH_PASSWORD, firm: firm.slug }), expect: [200] });
  expectThat(rec, 'password', (password.body as { next?: string }).next === 'second_factor', JSON.stringify(password.body));
  await browser.request({ kind: 'passcode', method: 'POST', path: '/api/v1/mfa/verify', body: JSON.stringify({ method: 'totp', code: passcodeOf(user.secret!) }), expect: [200] });
  const back = await browser.request({ kind: 'interaction', method: 'GET', path: loginPage.searchParams.get('next')!, headers: html, expect: [303] });
  const withCode = await browser.request({ kind: 'resume', method: 'GET', path: path(back.location), headers: html, expect: [303] });
  const callback = new URL(withCode.location ?? '');
  expectThat(rec, 'resume', callback.origin + callback.pathname === REDIRECT_URI && callback.searchParams.get('state') === state, `sent to ${withCode.location}`);
  const tokens = await browser.request({
    kind: 'token',
    method: 'POST',
    path: '/oidc/token',
    headers: { authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: REDIRECT_URI, code_verifier: verifier }).toString(),
    expect: [200],
  });
  const idToken = (tokens.body as { id_token?: string }).id_token ?? '';
  const claims = JSON.parse(Buffer.from(idToken.split('.')[1] ?? '', 'base64url').toString() || '{}') as { sub?: string; amr?: string[] };
  expectThat(rec, 'token', claims.sub === user.id && claims.amr?.includes('otp') === true, `claims ${JSON.stringify(claims)}`);
}

/** `users` sign-ins, `connections` at a time; throughput counted to the last one's end. */
async function signIns(server: TesseraProcess, firm: SeededFirm, users: SeededUser[], secret: string, connections: number) {
  const rec = new Recorder();
  const cpuBefore = cpuMs(server.pid);
  const started = performance.now();
  let next = 0;
  let completed = 0;
  const durations: number[] = [];
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (next < users.length) {
        const user = users[next++]!;
        const t = performance.now();
        try {
          await signIn(rec, server, firm, user, secret);
          completed++;
          durations.push(performance.now() - t);
        } catch (err) {
          if (!(err instanceof FlowError)) throw err;
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  durations.sort((a, b) => a - b);
  const q = (p: number) => Math.round((durations[Math.min(durations.length - 1, Math.floor(p * durations.length))] ?? 0) * 10) / 10;
  return {
    signInsPerSecond: Math.round((completed / seconds) * 10) / 10,
    completed,
    errors: rec.totalErrors(),
    p50Ms: q(0.5),
    p99Ms: q(0.99),
    serverCpuMsPerSignIn: completed ? Math.round(((cpuMs(server.pid) - cpuBefore) / completed) * 100) / 100 : 0,
    byKind: rec.byKind(),
    errorSamples: rec.errorSamples,
  };
}

/** CPU time of a process so far, in ms (Linux /proc). */
function cpuMs(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

export const oidcSignIn: Scenario = {
  name: 'OIDC sign-in',
  async run(ctx) {
    const users = ctx.quick ? 300 : 1_000;
    const warm = 50;
    const database = await freshDatabase(ctx.pgBase);
    const server = await startTessera(database.url);
    try {
      const firm = await seedFirmIn(database.url, server.masterKey, { users: users + warm, enrolled: users + warm });
      const secret = await registerApplication(database.url, server.masterKey, firm.firmId);
      const baseline = await healthBaseline(server.url, server.pid);
      // Warm-up (JIT, statement caches, the provider built and its keys loaded) on users not measured.
      await signIns(server, firm, firm.users.slice(users), secret, 4);
      const run = await signIns(server, firm, firm.users.slice(0, users), secret, 8);
      const ratio = ratioOf(run.signInsPerSecond, baseline);
      const result: ScenarioResult = {
        scenario: oidcSignIn.name,
        database: ctx.database,
        dataSize: `${users} users enrolled with an authenticator app, each signing in once to one application`,
        baseline,
        measured: {
          signInsPerSecond: run.signInsPerSecond,
          requestsPerSignIn: 8,
          completed: run.completed,
          errors: run.errors,
          signInP50Ms: run.p50Ms,
          signInP99Ms: run.p99Ms,
          serverCpuMsPerSignIn: run.serverCpuMsPerSignIn,
          serverCpuMsPerHealth: baseline.cpuMsPerRequest ?? 0,
          // Per step: p50 / p99 in ms, to see where a sign-in's time goes.
          ...Object.fromEntries(Object.entries(run.byKind).map(([k, s]) => [`${k}P50P99Ms`, `${s.p50Ms} / ${s.p99Ms}`])),
          ...(run.errorSamples.length ? { firstError: JSON.stringify(run.errorSamples[0]) } : {}),
        },
        ratio,
        targets: [
          { what: 'every sign-in completed', target: `${users}`, actual: String(run.completed), met: run.completed === users },
          { what: 'no errors', target: '0', actual: String(run.errors), met: run.errors === 0 },
        ],
      };
      return [result];
    } finally {
      await server.stop();
      await database.drop();
    }
  },
};
