import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceSimulator } from './support/device-simulator.js';
import { Agent, PASSWORD, totpAt } from './support/harness.js';
import { pgClusterAvailable, startPgCluster, type PgCluster } from './support/pg-cluster.js';
import { deviceOverHttp, seedForProcess, type ProcessSeed } from './support/process-seed.js';
import { overHttp, request, startServerProcess, type ServerProcess } from './support/server-process.js';

/**
 * Database outage (issue 8.5). The test makes a PostgreSQL cluster of its own (never the
 * machine's shared server), runs the REAL server process on it, puts logins and second
 * factors of several users on it, and crashes PostgreSQL (`pg_ctl stop -m immediate`) in the
 * middle. While it is down every answer is the normal one or 503 DATABASE_UNAVAILABLE with
 * Retry-After (never a 500, never a dropped connection), the process stays up, and nobody
 * gets a full session without the second factor. When PostgreSQL is back, Tessera recovers by
 * itself within seconds: logins, passcodes, and a push delivered over a device stream that
 * was opened before the outage (the push hub's LISTEN connection is re-opened).
 * Runs in `npm test` and `npm run test:pg` alike, wherever PostgreSQL's binaries are installed;
 * in CI (.ci/run sets CI=true) it always runs, so a machine without them fails instead of skipping.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An answer from the harness's Agent over HTTP, or from a plain request. */
type Answer = { statusCode: number; headers: Record<string, unknown>; body: string; json(): any };

interface Seen {
  step: string;
  status: number;
  body: string;
}

describe.runIf(process.env.CI === 'true' || pgClusterAvailable())('PostgreSQL outage under load (private cluster)', () => {
  let cluster: PgCluster;
  /** Also a second Tessera node on the same database (in-process), for the cross-process push. */
  let seed: ProcessSeed;
  let server: ServerProcess;
  let totpUsers: { email: string; slug: string; secret: string }[];
  let spareTotp: { email: string; slug: string; secret: string };
  let plainUsers: { email: string; slug: string }[];
  let push: { email: string; slug: string; device: DeviceSimulator };

  beforeAll(async () => {
    cluster = await startPgCluster();
    seed = await seedForProcess({ config: { kind: 'postgres', url: cluster.url, poolSize: 5 }, drop: async () => undefined });
    totpUsers = [await seed.totpUser(), await seed.totpUser(), await seed.totpUser()];
    spareTotp = await seed.totpUser();
    plainUsers = [await seed.plainUser(), await seed.plainUser()];
    push = await seed.pushUser();
    server = await startServerProcess({ env: { ...seed.env, TESSERA_DB_POOL_SIZE: '5', TESSERA_LOG_LEVEL: 'warn' } });
  }, 120_000);

  afterAll(async () => {
    await server?.stop('SIGKILL');
    await seed?.close();
    await cluster?.destroy();
  });

  it('answers 503 + Retry-After while PostgreSQL is down, never lets anyone in without the second factor, and recovers by itself', async () => {
    const problems: string[] = [];
    const counts = { ok: 0, unavailable: 0 };
    /** Every answer is one of the normal ones for its step, or 503 DATABASE_UNAVAILABLE with Retry-After. */
    const check = (step: string, res: Answer, normal: number[]): 'ok' | 'unavailable' => {
      if (res.statusCode === 503) {
        if (res.json().error !== 'DATABASE_UNAVAILABLE' || !/^\d+$/.test(String(res.headers['retry-after'] ?? ''))) problems.push(`${step}: 503 without the outage shape: ${res.body}`);
        counts.unavailable++;
        return 'unavailable';
      }
      if (!normal.includes(res.statusCode)) problems.push(`${step}: ${res.statusCode} ${res.body}`);
      counts.ok++;
      return 'ok';
    };
    const seen: Seen[] = [];
    const call = async (step: string, p: Promise<Answer>): Promise<Answer | null> => {
      try {
        const res = await p;
        seen.push({ step, status: res.statusCode, body: res.body });
        return res;
      } catch (err) {
        problems.push(`${step}: no HTTP answer (${(err as Error).message}; cause ${String((err as { cause?: unknown }).cause)})`);
        return null;
      }
    };

    /** A full session must be refused to a login that has not passed its second factor. */
    const assertNotIn = async (agent: Agent, why: string) => {
      const me = await call('me', agent.get('/api/v1/me'));
      if (me && me.statusCode === 200) problems.push(`${why}: GET /me answered 200 without a second factor: ${me.body}`);
      if (me) check('me (pending)', me, [401]);
    };

    let running = true;
    const plainWorker = async (user: { email: string; slug: string }) => {
      while (running) {
        const agent = new Agent(overHttp(server.url));
        const login = await call('login', agent.post('/api/v1/login', { email: user.email, password: PASSWORD, firm: user.slug }));
        // 429: the login throttle (a policy answer, normal under load from one address).
        if (login && check('login (no MFA)', login, [200, 429]) === 'ok' && login.statusCode === 200) {
          if (login.json().next !== 'home') problems.push(`login (no MFA): next ${login.body}`);
          const me = await call('me', agent.get('/api/v1/me'));
          if (me) check('me (full)', me, [200]);
        }
        await sleep(50);
      }
    };
    const totpWorker = async (user: { email: string; slug: string; secret: string }, wrongCodes: boolean) => {
      while (running) {
        const agent = new Agent(overHttp(server.url));
        const login = await call('login', agent.post('/api/v1/login', { email: user.email, password: PASSWORD, firm: user.slug }));
        if (login && check('login (TOTP)', login, [200, 429]) === 'ok' && login.statusCode === 200) {
          if (login.json().next !== 'second_factor') problems.push(`login (TOTP user): next ${login.body}`);
          await assertNotIn(agent, 'after the password');
          // A right code works once per time step (a replay is refused), so most attempts are refusals.
          const code = wrongCodes ? '000000' : totpAt(user.secret, Date.now());
          const verify = await call('verify', agent.post('/api/v1/mfa/verify', { method: 'totp', code }));
          if (verify && check('verify', verify, [200, 401, 423]) === 'ok' && verify.statusCode === 200) {
            if (wrongCodes) problems.push('a wrong code was accepted');
          } else {
            await assertNotIn(agent, `after a refused or failed verify (${verify?.statusCode})`);
          }
        }
        await sleep(50);
      }
    };

    // The device's live stream, opened before the outage and kept open through it.
    const device = deviceOverHttp(push.device, server.url);
    const stream = await fetch(server.url + (await device.streamUrl()));
    expect(stream.status).toBe(200);
    const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
    expect((await reader.read()).value).toContain(': connected');

    const workers = [...plainUsers.map((u) => plainWorker(u)), ...totpUsers.map((u, i) => totpWorker(u, i === 0))];
    await sleep(1500);
    const before = { ...counts };
    await cluster.stop('immediate');
    const downAt = Date.now();

    await sleep(3000);
    const healthz = await call('healthz', request(server.url, { method: 'GET', url: '/healthz' }));
    expect(healthz?.statusCode, `${problems.slice(0, 5).join("\n")}\n${server.output.slice(-3000)}`).toBe(200);
    const readyDown = await call('readyz', request(server.url, { method: 'GET', url: '/readyz' }));
    expect(readyDown?.statusCode, readyDown?.body).toBe(503);
    expect(readyDown?.headers['retry-after']).toMatch(/^\d+$/);
    expect(server.proc.exitCode).toBeNull();
    const during = { ok: counts.ok - before.ok, unavailable: counts.unavailable - before.unavailable };

    await cluster.start();
    const upAt = Date.now();
    let recoveredMs = -1;
    while (Date.now() - upAt < 20_000) {
      const r = await fetch(`${server.url}/readyz`);
      if (r.status === 200) {
        recoveredMs = Date.now() - upAt;
        break;
      }
      await sleep(100);
    }
    await sleep(1500);
    running = false;
    await Promise.all(workers);

    expect(problems, problems.slice(0, 10).join('\n')).toEqual([]);
    expect(before.ok).toBeGreaterThan(0);
    expect(during.unavailable).toBeGreaterThan(0);
    expect(recoveredMs).toBeGreaterThanOrEqual(0);
    expect(recoveredMs).toBeLessThan(10_000);
    expect(seen.some((s) => s.status === 500)).toBe(false);
    console.log(
      `outage: ${during.unavailable} answers 503 while down (${Date.now() - downAt} ms incl. recovery); ready again ${recoveredMs} ms after PostgreSQL started; ${seen.length} answers in all`,
    );

    // After: a passcode login works again.
    const agent = new Agent(overHttp(server.url));
    const login = await agent.post('/api/v1/login', { email: spareTotp.email, password: PASSWORD, firm: spareTotp.slug });
    expect(login.json().next, login.body).toBe('second_factor');
    const verify = await agent.post('/api/v1/mfa/verify', { method: 'totp', code: totpAt(spareTotp.secret, Date.now()) });
    expect(verify.statusCode, verify.body).toBe(200);
    expect((await agent.get('/api/v1/me')).statusCode).toBe(200);

    // And a push made on the OTHER node reaches the server process's device stream, opened
    // before the outage: only PostgreSQL NOTIFY carries it there, so the hub LISTENs again.
    seed.h.clock.set(Date.now());
    const browser = new Agent(seed.h.app);
    const pushLogin = await browser.post('/api/v1/login', { email: push.email, password: PASSWORD, firm: push.slug });
    expect(pushLogin.json().next, pushLogin.body).toBe('second_factor');
    const started = await browser.post('/api/v1/mfa/push');
    expect(started.statusCode, started.body).toBe(201);
    const { transactionId, number } = started.json();
    let received = '';
    const deadline = Date.now() + 10_000;
    while (!received.includes(`"id":"${transactionId}"`) && Date.now() < deadline) {
      const chunk = await Promise.race([reader.read(), sleep(deadline - Date.now()).then(() => ({ value: '', done: true }))]);
      if (chunk.done) break;
      received += chunk.value;
    }
    expect(received).toContain(`"id":"${transactionId}"`);
    const waiting = browser.get(`/api/v1/mfa/push/${transactionId}/wait`);
    const approved = await device.approve(transactionId, number);
    expect(approved.statusCode, approved.body).toBe(200);
    const answer = await waiting;
    expect(answer.json().status, answer.body).toBe('approved');
    expect((await browser.get('/api/v1/me')).statusCode).toBe(200);
    await reader.cancel();
    expect(server.output).toContain('"msg":"database unavailable"'); // what an operator sees in the log

    // In the database: no full session of an MFA user without a second factor.
    const client = new pg.Client({ connectionString: cluster.url });
    await client.connect();
    const { rows } = await client.query(
      `select count(*)::int as n from sessions s join users u on u.id = s.user_id
        where u.email = any($1) and s.stage = 'full' and s.second_factor_at is null`,
      [[...totpUsers, spareTotp, push].map((u) => u.email)],
    );
    await client.end();
    expect(rows[0].n).toBe(0);
    expect(server.proc.exitCode).toBeNull();
    expect(server.output).not.toMatch(/unhandled|INTERNAL/);
  }, 120_000);
});
