import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { PUSH_TTL_MS } from '../../src/factors/push/push.factor.js';
import { projectRoot } from '../../src/http/paths.js';
import { hashToken } from '../../src/sessions/session.service.js';
import type { HoldOrder, WorkerReport } from '../lib/held-worker.js';
import { healthBaseline } from '../lib/load.js';
import { ms, percentile, round2, seedPushDevices, send, signedApproval, signedStreamPath, startPushes, waitRequest, type BenchDevice } from '../lib/push.js';
import type { Scenario, Target } from '../lib/scenario.js';
import { csrfPair, openDb, seedFirm, seedSessions } from '../lib/seed.js';
import { freshDatabase, startTessera, type TesseraProcess } from '../lib/server.js';

const WORKERS = 4;
/** Devices (of their own users) whose stream this process holds, for the sampled round trips while everything else is held. */
const SAMPLES = 10;
/** File descriptors kept free in the server for everything else: database, pool growth, the samples, health checks. */
const FD_RESERVE = 300;
const MIB = 2 ** 20;

/** The server's open-file limit (soft, which Node raises to the hard one) and how many it has open now. */
function fdBudget(server: TesseraProcess): { limit: number; hard: number; open: number } {
  const limits = fs.readFileSync(`/proc/${server.pid}/limits`, 'utf8');
  const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(limits);
  const num = (s: string | undefined) => (s === undefined || s === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(s));
  return { limit: num(m?.[1]), hard: num(m?.[2]), open: fs.readdirSync(`/proc/${server.pid}/fd`).length };
}

/** The seeded logins' pushes, written as startPush writes them (the route's cost is scenario 2's). */
async function seedPendingPushes(server: TesseraProcess, firmId: string, devices: BenchDevice[], tokens: string[], ttlMs: number): Promise<string[]> {
  const db = await openDb(server.databaseUrl);
  const now = Date.now();
  const rows = devices.map((d, i) => ({
    id: randomUUID(),
    firm_id: firmId,
    user_id: d.userId,
    session_id: hashToken(tokens[i]!),
    status: 'pending' as const,
    number: String(i % 100).padStart(2, '0'),
    created_at: now,
    expires_at: now + ttlMs,
    answered_at: null,
    answered_by: null,
    completed_at: null,
    ip: '127.0.0.1',
    user_agent: 'Mozilla/5.0 (bench) Firefox/130.0',
    context: JSON.stringify({ browser: 'Firefox', os: 'Linux', app: 'Tessera' }),
  }));
  for (let i = 0; i < rows.length; i += 500) await db.insertInto('push_transactions').values(rows.slice(i, i + 500)).execute();
  await db.destroy();
  return rows.map((r) => r.id);
}

function startWorker(): { child: ChildProcess; next(type: string): Promise<Record<string, unknown>> } {
  const child = fork(path.join(projectRoot(), 'dist', 'bench', 'lib', 'held-worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const queue: Record<string, unknown>[] = [];
  const waiting: ((m: Record<string, unknown>) => void)[] = [];
  child.on('message', (m: Record<string, unknown>) => (waiting.length ? waiting.shift()!(m) : queue.push(m)));
  return {
    child,
    next: (type) =>
      new Promise((resolve, reject) => {
        const take = (m: Record<string, unknown>) => (m.type === type ? resolve(m) : reject(new Error(`worker sent ${String(m.type)}, expected ${type}`)));
        if (queue.length) take(queue.shift()!);
        else waiting.push(take);
        child.once('exit', (code) => reject(new Error(`held-worker exited (${code}) before "${type}"`)));
      }),
  };
}

/** An SSE stream held by this process, resolving the time each push event (by transaction id) arrived. */
function sampleStream(server: TesseraProcess, device: BenchDevice): Promise<{ arrivals: Map<string, bigint>; close(): void }> {
  return new Promise((resolve, reject) => {
    const arrivals = new Map<string, bigint>();
    const req = http.get({ host: '127.0.0.1', port: server.port, path: signedStreamPath(device), agent: false }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`sample stream HTTP ${res.statusCode}`));
      res.setEncoding('utf8');
      let buffer = '';
      res.on('data', (chunk: string) => {
        const at = process.hrtime.bigint();
        buffer += chunk;
        if (buffer.includes(': connected')) resolve({ arrivals, close: () => req.destroy() });
        for (const m of buffer.matchAll(/event: push\ndata: (\{.*?\})\n\n/g)) {
          const id = (JSON.parse(m[1]!) as { id: string }).id;
          if (!arrivals.has(id)) arrivals.set(id, at);
        }
      });
    });
    req.on('error', reject);
  });
}

/**
 * Scenario 3: 10,000 devices connected to the live request stream plus 10,000 logins waiting
 * on a push, on one server process; no errors, resident memory at most 1 GiB.
 */
export const held: Scenario = {
  name: 'Held connections',
  async run(ctx) {
    const devicesWanted = ctx.quick ? 1_000 : 10_000;
    const loginsWanted = devicesWanted;
    const database = await freshDatabase(ctx.pgBase);
    const server = await startTessera(database.url);
    const workers: ReturnType<typeof startWorker>[] = [];
    try {
      const db = await openDb(database.url);
      const firm = await seedFirm(db, server.masterKey, { users: devicesWanted, enrolled: devicesWanted });
      const devices = await seedPushDevices(db, firm.firmId, firm.users);
      await db.destroy();
      const baseline = await healthBaseline(server.url);

      // What the server's open-file limit leaves for logins once every device is connected.
      const fds = fdBudget(server);
      const logins = Math.max(0, Math.min(loginsWanted, fds.limit - fds.open - FD_RESERVE - devicesWanted));
      const limitNote =
        logins < loginsWanted
          ? `${logins} logins instead of ${loginsWanted}: the server process may open ${fds.limit} files (RLIMIT_NOFILE soft ${fds.limit}, hard ${fds.hard}; ` +
            `raising the hard limit needs CAP_SYS_RESOURCE, which this sandbox does not grant), ${fds.open} were open before the run and ${FD_RESERVE} are kept ` +
            `for the database, the samples and health checks, so ${devicesWanted} device streams leave room for ${logins} waiting logins (one socket each)`
          : `open-file limit ${fds.limit} suffices`;

      const bulk = devices.slice(0, devicesWanted - SAMPLES);
      const samples = devices.slice(devicesWanted - SAMPLES);
      const waiting = bulk.slice(0, logins);
      const planNote = waiting.length < loginsWanted ? `; ${waiting.length} logins held throughout (${loginsWanted - waiting.length} fewer: ${logins < loginsWanted ? 'the open-file limit' : `the ${SAMPLES} sampled users log in one at a time`})` : '';
      const dbx = await openDb(database.url);
      const tokens = await seedSessions(dbx, firm.firmId, waiting.map((d) => d.userId), 'second_factor', 30 * 60_000);
      const sampleTokens = await seedSessions(dbx, firm.firmId, samples.map((d) => d.userId), 'second_factor', 30 * 60_000);
      await dbx.destroy();
      // Ten minutes instead of the 60 s of a real push: connecting 20,000 sockets takes longer
      // than a push lives on this machine. The sampled pushes below are real ones (60 s).
      const ttlMs = 10 * 60_000;
      const txIds = await seedPendingPushes(server, firm.firmId, waiting, tokens, ttlMs);

      await new Promise((r) => setTimeout(r, 1000));
      const rssBefore = server.rssBytes();
      const started = Date.now();
      const heldSamples = await Promise.all(samples.map((d) => sampleStream(server, d)));
      for (let w = 0; w < WORKERS; w++) workers.push(startWorker());
      const share = <T>(xs: T[], w: number) => xs.filter((_, i) => i % WORKERS === w);
      const order = (w: number): HoldOrder => ({
        type: 'hold',
        port: server.port,
        streams: share(bulk, w).map((d) => signedStreamPath(d)),
        waits: share(
          waiting.map((_, i) => i),
          w,
        ).map((i) => ({ path: waitRequest(tokens[i]!, txIds[i]!).path, cookie: `tessera_session=${tokens[i]}` })),
      });
      workers.forEach((w, i) => w.child.send(order(i)));
      const heldReports = await Promise.all(workers.map((w) => w.next('held')));
      const rampSeconds = round2((Date.now() - started) / 1000);
      // Let the server take in the last requests, then read its memory a few times.
      await new Promise((r) => setTimeout(r, 5000));
      let rssHeld = 0;
      for (let i = 0; i < 5; i++) {
        rssHeld = Math.max(rssHeld, server.rssBytes());
        await new Promise((r) => setTimeout(r, 500));
      }
      const serverFds = fdBudget(server).open;

      // While everything is held: real pushes reach the devices, and answers reach the logins.
      const base = new URL(server.url);
      const csrf = await csrfPair(server.url);
      const pushToDeviceMs: number[] = [];
      const answerToLoginMs: number[] = [];
      let sampleErrors = 0;
      const agent = new http.Agent({ keepAlive: false, maxSockets: 4 });
      const sample = async (i: number) => {
        const t0 = process.hrtime.bigint();
        const [p] = await startPushes(base, [sampleTokens[i]!], csrf, 1);
        while (!heldSamples[i]!.arrivals.has(p!.transactionId) && ms(process.hrtime.bigint() - t0) < 10_000) await new Promise((r) => setTimeout(r, 1));
        const arrived = heldSamples[i]!.arrivals.get(p!.transactionId);
        if (arrived === undefined) sampleErrors++;
        else pushToDeviceMs.push(ms(arrived - t0));
        const wait = send(base, agent, waitRequest(sampleTokens[i]!, p!.transactionId), 30_000);
        await new Promise((r) => setTimeout(r, 200));
        const answer = await send(base, agent, signedApproval(samples[i]!, p!.transactionId, p!.number));
        const login = await wait;
        if (answer.status !== 200 || login.status !== 200 || !login.body.includes('"approved"')) sampleErrors++;
        else answerToLoginMs.push(ms(login.doneAt - answer.sentAt));
      };
      const sampleFailures: string[] = [];
      for (let i = 0; i < SAMPLES; i++) {
        await sample(i).catch((err: Error) => {
          sampleErrors++;
          sampleFailures.push(err.message);
        });
      }
      agent.destroy();
      const healthWhileHeld = (await fetch(`${server.url}/api/v1/health`)).status;
      const heldSeconds = round2((Date.now() - started) / 1000);

      workers.forEach((w) => w.child.send({ type: 'stop' }));
      const reports = (await Promise.all(workers.map((w) => w.next('report')))) as unknown as WorkerReport[];
      heldSamples.forEach((s) => s.close());
      const sum = (k: keyof WorkerReport) => reports.reduce((a, r) => a + (r[k] as number), 0);
      const streams = sum('streamsConnected') + SAMPLES;
      const waits = sum('waitsHeld');
      const errors = sum('errors') + sampleErrors + (healthWhileHeld === 200 ? 0 : 1);
      const connections = streams + waits;
      const bytesPerConnection = Math.round((rssHeld - rssBefore) / Math.max(1, connections));
      const firstErrors = [...sampleFailures, ...reports.flatMap((r) => r.firstErrors)].slice(0, 5);
      pushToDeviceMs.sort((a, b) => a - b);
      answerToLoginMs.sort((a, b) => a - b);
      const targets: Target[] = [
        { what: 'no errors', target: '0', actual: `${errors}${firstErrors.length ? ` (${firstErrors.join('; ')})` : ''}`, met: errors === 0 },
        { what: 'server RSS held', target: '≤ 1024 MiB', actual: `${Math.round(rssHeld / MIB)} MiB`, met: rssHeld <= 1024 * MIB },
        { what: 'devices connected', target: String(devicesWanted), actual: String(streams), met: streams === devicesWanted },
        // The sampled users' devices are among the streams; their logins come and go with the samples.
        { what: 'logins waiting', target: waiting.length < loginsWanted ? `${loginsWanted}; ${waiting.length} here (note)` : String(loginsWanted), actual: String(waits), met: waits === waiting.length },
        { what: 'sampled pushes reached devices and logins', target: `${SAMPLES}/${SAMPLES}`, actual: `${pushToDeviceMs.length}/${answerToLoginMs.length}`, met: pushToDeviceMs.length === SAMPLES && answerToLoginMs.length === SAMPLES },
      ];
      void heldReports;
      return [
        {
          scenario: held.name,
          database: ctx.database,
          dataSize: `${devicesWanted} users, each with a device on the live stream; ${logins} of them with a login waiting on a push`,
          baseline,
          measured: {
            devicesConnected: streams,
            loginsWaiting: waits,
            connections,
            serverOpenFiles: serverFds,
            rssBeforeMiB: Math.round(rssBefore / MIB),
            rssHeldMiB: Math.round(rssHeld / MIB),
            bytesPerConnection,
            pushEventsOnStreams: sum('pushEvents'),
            repolls: sum('repolls'),
            rampSeconds,
            heldSeconds,
            samplePushToDeviceP50Ms: round2(percentile(pushToDeviceMs, 50)),
            samplePushToDeviceMaxMs: round2(pushToDeviceMs.at(-1) ?? NaN),
            sampleAnswerToLoginP50Ms: round2(percentile(answerToLoginMs, 50)),
            sampleAnswerToLoginMaxMs: round2(answerToLoginMs.at(-1) ?? NaN),
            loadProcesses: WORKERS + 1,
            pushTtlMs: `${ttlMs} for the held logins (seeded), ${PUSH_TTL_MS} for the samples`,
            note: limitNote + planNote,
          },
          targets,
        },
      ];
    } finally {
      for (const w of workers) if (w.child.exitCode === null) w.child.kill();
      await server.stop();
      await database.drop();
    }
  },
};
