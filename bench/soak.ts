import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { projectRoot } from '../src/http/paths.js';
import { seedPushDevices } from './lib/devices.js';
import { Recorder, type ErrorSample, type KindStats } from './lib/flow-client.js';
import { openDb, seedFirm, seedSessions } from './lib/seed.js';
import { freshDatabase, startTessera, type TesseraProcess } from './lib/server.js';
import { liveHeap, median, mib, secondHalfSlope, startSampler, type MemorySample } from './soak/memory.js';
import { DeviceStream, MIX, pickFlow, runFlow, type FlowOptions, type SoakWorld } from './soak/mix.js';

/**
 * `npm run soak [-- --minutes N] [-- --rate F] [-- --db sqlite|postgres]`: a bounded
 * mixed-load run against a real Tessera process on a fresh database (SQLite; then
 * PostgreSQL too when TESSERA_DATABASE_URL is a postgres:// URL), from this process, on
 * 127.0.0.1 only. It measures leaks and errors, not peak: after a short closed-loop
 * calibration (the flows per second this machine completes now), it runs the mix of
 * bench/soak/mix.ts open-loop at half that rate (or at --rate flows per second) for N
 * minutes (default 10), samples the server's memory every 10 s, and stops by itself.
 * Writes bench/results/soak-<date>.json and .md and prints the JSON; exits 1 when a
 * request failed or memory was not flat.
 */

const USERS = 10_000;
const TOTP_USERS = 5_000;
const PUSH_USERS = 2_000;
/** Push users whose app is open (an event stream held for the whole run). */
const STREAMED = 100;
const SAMPLE_EVERY_MS = 10_000;
const CALIBRATE_S = 20;
const CALIBRATE_CONCURRENCY = 8;
const WARM_UP_S = 30;
/** More flows than this in flight means the server is not keeping up: new ones are dropped (and reported), not queued. */
const MAX_IN_FLIGHT = 400;
/**
 * "Flat": the live heap (after a full GC) grew by at most FLAT_LIVE_HEAP_GROWTH_MIB from start
 * to end, and the RSS did not grow over the second half: a slope above FLAT_RSS_MIB_PER_MIN
 * that is also more than two standard errors above zero counts as growth (a short run's
 * slope is mostly noise, and is not judged as growth unless it stands out of it).
 */
const FLAT_RSS_MIB_PER_MIN = 1;
const FLAT_LIVE_HEAP_GROWTH_MIB = 4;

interface Options {
  minutes: number;
  rate: number | undefined;
  databases: ('sqlite' | 'postgres')[];
  pgBase: string | undefined;
}

function options(argv: string[]): Options {
  const arg = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
  const minutes = Number(arg('--minutes') ?? 10);
  const rate = arg('--rate') === undefined ? undefined : Number(arg('--rate'));
  if (!(minutes > 0)) throw new Error('--minutes must be a positive number');
  if (rate !== undefined && !(rate > 0)) throw new Error('--rate must be a positive number of flows per second');
  const pgUrl = process.env.TESSERA_DATABASE_URL;
  const pgBase = pgUrl && /^postgres(ql)?:\/\//.test(pgUrl) ? pgUrl : undefined;
  const only = arg('--db');
  const databases: Options['databases'] = only === 'sqlite' ? ['sqlite'] : only === 'postgres' ? ['postgres'] : pgBase ? ['sqlite', 'postgres'] : ['sqlite'];
  if (databases.includes('postgres') && !pgBase) throw new Error('--db postgres needs TESSERA_DATABASE_URL=postgres://...');
  return { minutes, rate, databases, pgBase };
}

/** Deterministic randomness (mulberry32), so two runs make the same choices. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Phase {
  flows: Record<string, { started: number; failed: number }>;
  dropped: number;
  seconds: number;
}

/** Closed loop: `concurrency` workers run flows back to back; what the machine completes per second. */
async function closedLoop(rec: Recorder, w: SoakWorld, o: FlowOptions, concurrency: number, seconds: number): Promise<number> {
  const until = Date.now() + seconds * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < until) if (await runFlow(pickFlow(o.random()), rec, w, o)) done++;
    }),
  );
  return done / seconds;
}

/** Open loop: flows start at Poisson arrivals of `rate` per second whatever the server's speed (as users do), for `seconds`. */
async function openLoop(rec: Recorder, w: SoakWorld, o: FlowOptions, rate: number, seconds: number, inFlight: Set<Promise<void>>): Promise<Phase> {
  const phase: Phase = { flows: Object.fromEntries(MIX.map((f) => [f.name, { started: 0, failed: 0 }])), dropped: 0, seconds };
  const t0 = Date.now();
  let nextAt = 0;
  while (Date.now() - t0 < seconds * 1000) {
    const now = Date.now() - t0;
    while (nextAt <= now) {
      nextAt += (-Math.log(1 - o.random()) / rate) * 1000;
      const f = pickFlow(o.random());
      if (inFlight.size >= MAX_IN_FLIGHT) {
        phase.dropped++;
        continue;
      }
      phase.flows[f.name]!.started++;
      const p: Promise<void> = runFlow(f, rec, w, o).then((ok) => {
        if (!ok) phase.flows[f.name]!.failed++;
        inFlight.delete(p);
      });
      inFlight.add(p);
    }
    await sleep(Math.min(20, Math.max(1, nextAt - now)));
  }
  // Bounded: what is in flight finishes (a push waits for its phone), then the run ends.
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(inFlight), new Promise((r) => (timer = setTimeout(r, 60_000)))]);
  clearTimeout(timer);
  return phase;
}

export interface SoakRun {
  database: 'sqlite' | 'postgres';
  minutes: number;
  data: string;
  calibration: { flowsPerSecond: number; seconds: number; concurrency: number } | null;
  rateFlowsPerSecond: number;
  flows: Phase['flows'];
  droppedFlows: number;
  requests: number;
  errors: number;
  errorRate: number;
  byKind: Record<string, KindStats>;
  perMinute: ReturnType<Recorder['perMinute']>;
  errorSamples: ErrorSample[];
  memory: {
    rssStartMiB: number;
    rssEndMiB: number;
    rssMaxMiB: number;
    /** Medians of the one-second readings of the first and the last minute (single readings swing with the hashes in flight). */
    rssFirstMinuteMedianMiB: number;
    rssLastMinuteMedianMiB: number;
    rssSlopeSecondHalfMiBPerMin: number;
    rssSlopeStandardError: number;
    heapUsedSlopeSecondHalfMiBPerMin: number;
    liveHeapStartMiB: number | null;
    liveHeapEndMiB: number | null;
    handlesStart: Record<string, number> | null;
    handlesEnd: Record<string, number> | null;
    flat: boolean;
    samples: MemorySample[];
  };
  databaseBytes: { start: number; end: number } | null;
  ok: boolean;
}

function sqliteBytes(url: string): number {
  const file = url.replace(/^sqlite:/, '');
  return ['', '-wal'].reduce((a, s) => a + (fs.existsSync(file + s) ? fs.statSync(file + s).size : 0), 0);
}

async function soakOne(database: 'sqlite' | 'postgres', o: Options): Promise<SoakRun> {
  const db0 = await freshDatabase(database === 'postgres' ? o.pgBase : undefined);
  const probeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-soak-'));
  const probeFile = path.join(probeDir, 'probe.jsonl');
  const probe = pathToFileURL(path.join(projectRoot(), 'dist', 'bench', 'lib', 'memory-probe.js')).href;
  const streams = new Map<string, DeviceStream>();
  let server: TesseraProcess | undefined;
  try {
    server = await startTessera(db0.url, { NODE_OPTIONS: `--import ${probe}`, TESSERA_SOAK_PROBE: probeFile, TESSERA_SOAK_PROBE_MS: String(SAMPLE_EVERY_MS) });
    log(`${database}: seeding ${USERS} users`);
    const db = await openDb(db0.url);
    const firm = await seedFirm(db, server.masterKey, { users: USERS, enrolled: TOTP_USERS + PUSH_USERS });
    const devices = await seedPushDevices(db, firm, firm.users.slice(TOTP_USERS, TOTP_USERS + PUSH_USERS));
    const plainUsers = firm.users.slice(TOTP_USERS + PUSH_USERS);
    // The firm's MFA covers case managers only: these are vendor case managers, password only.
    for (let i = 0; i < plainUsers.length; i += 500) {
      const ids = plainUsers.slice(i, i + 500).map((u) => u.id);
      await db.updateTable('users').set({ kind: 'vendor_case_manager' }).where('id', 'in', ids).execute();
    }
    // The administrator logged in (with a second factor) before the run and keeps browsing.
    const [adminToken] = await seedSessions(db, firm.firmId, [firm.superuserId], 'full', (o.minutes + 30) * 60_000);
    await db.destroy();

    const random = prng(8);
    let rec = new Recorder();
    const world: SoakWorld = {
      origin: server.url,
      firmSlug: firm.slug,
      totpUsers: firm.users.slice(0, TOTP_USERS),
      devices,
      streams,
      plainUsers,
      adminToken: adminToken!,
      enrolledCount: TOTP_USERS + PUSH_USERS,
      userCount: USERS + 1,
    };
    for (const d of devices.slice(0, STREAMED)) streams.set(d.deviceId, new DeviceStream(rec, server.url, d));
    await Promise.all([...streams.values()].map((s) => s.open()));

    let calibration: SoakRun['calibration'] = null;
    let rate = o.rate;
    if (rate === undefined) {
      log(`${database}: calibrating (${CALIBRATE_S} s, ${CALIBRATE_CONCURRENCY} flows at a time, phones answering at once)`);
      const peak = await closedLoop(rec, world, { humanDelayMs: () => 0, random }, CALIBRATE_CONCURRENCY, CALIBRATE_S);
      calibration = { flowsPerSecond: Math.round(peak * 10) / 10, seconds: CALIBRATE_S, concurrency: CALIBRATE_CONCURRENCY };
      if (rec.totalErrors() > 0) throw new Error(`calibration failed: ${JSON.stringify(rec.errorSamples.slice(0, 3))}`);
      rate = Math.max(1, Math.round(peak * 5) / 10);
    }
    // Phones answer after 0.5 to 2.5 s: the person looks, compares the number, taps.
    const flowOptions: FlowOptions = { humanDelayMs: () => 500 + random() * 2000, random };
    const inFlight = new Set<Promise<void>>();
    log(`${database}: warming up (${WARM_UP_S} s at ${rate} flows/s)`);
    rec = new Recorder();
    for (const s of streams.values()) s.rec = rec;
    await openLoop(rec, world, flowOptions, rate, WARM_UP_S, inFlight);
    if (rec.totalErrors() > 0) throw new Error(`warm-up failed: ${JSON.stringify(rec.errorSamples.slice(0, 3))}`);

    rec = new Recorder();
    for (const s of streams.values()) s.rec = rec;
    const heapStart = await liveHeap(server, probeFile);
    const bytesStart = database === 'sqlite' ? sqliteBytes(db0.url) : null;
    log(`${database}: soak, ${o.minutes} min at ${rate} flows/s`);
    const sampler = startSampler(server, probeFile, SAMPLE_EVERY_MS, () => inFlight.size);
    const progress = setInterval(() => log(`${database}: ${Math.round(rec.elapsedS())} s, ${rec.totalErrors()} errors, RSS ${sampler.samples.at(-1)?.rssMiB} MiB`), 60_000);
    const phase = await openLoop(rec, world, flowOptions, rate, o.minutes * 60, inFlight);
    clearInterval(progress);
    const { samples, readings } = sampler.stop();
    // Measured with the phones' streams still open, as at the start: the same handles should be there.
    const heapEnd = await liveHeap(server, probeFile);
    for (const s of streams.values()) s.close();
    const bytesEnd = database === 'sqlite' ? sqliteBytes(db0.url) : null;

    const byKind = rec.byKind();
    const requests = Object.values(byKind).reduce((a, k) => a + k.requests, 0);
    const errors = rec.totalErrors();
    const rss = samples.map((s) => s.rssMiB);
    const rssSlope = secondHalfSlope(readings, (r) => r.rssMiB);
    const lastT = readings.at(-1)!.t;
    const liveGrowth = heapStart && heapEnd ? mib(heapEnd.heapUsed - heapStart.heapUsed) : null;
    const rssGrows = rssSlope.perMin > FLAT_RSS_MIB_PER_MIN && rssSlope.perMin > 2 * rssSlope.se;
    const flat = !rssGrows && liveGrowth !== null && liveGrowth <= FLAT_LIVE_HEAP_GROWTH_MIB;
    return {
      database,
      minutes: o.minutes,
      data: `1 firm, ${USERS} users: ${TOTP_USERS} with an authenticator app, ${PUSH_USERS} with a Tessera Authenticator (${STREAMED} with the app open on an event stream), ${USERS - TOTP_USERS - PUSH_USERS} without MFA, 1 administrator`,
      calibration,
      rateFlowsPerSecond: rate,
      flows: phase.flows,
      droppedFlows: phase.dropped,
      requests,
      errors,
      errorRate: requests ? errors / requests : 0,
      byKind,
      perMinute: rec.perMinute(),
      errorSamples: rec.errorSamples,
      memory: {
        rssStartMiB: rss[0]!,
        rssEndMiB: rss.at(-1)!,
        rssMaxMiB: Math.max(...rss),
        rssFirstMinuteMedianMiB: median(readings.filter((r) => r.t < 60).map((r) => r.rssMiB)),
        rssLastMinuteMedianMiB: median(readings.filter((r) => r.t >= lastT - 60).map((r) => r.rssMiB)),
        rssSlopeSecondHalfMiBPerMin: rssSlope.perMin,
        rssSlopeStandardError: rssSlope.se,
        heapUsedSlopeSecondHalfMiBPerMin: secondHalfSlope(samples, (s) => s.heapUsedMiB).perMin,
        liveHeapStartMiB: heapStart ? mib(heapStart.heapUsed) : null,
        liveHeapEndMiB: heapEnd ? mib(heapEnd.heapUsed) : null,
        handlesStart: heapStart?.handles ?? null,
        handlesEnd: heapEnd?.handles ?? null,
        flat,
        samples,
      },
      databaseBytes: bytesStart !== null && bytesEnd !== null ? { start: bytesStart, end: bytesEnd } : null,
      ok: errors === 0 && phase.dropped === 0 && flat,
    };
  } finally {
    for (const s of streams.values()) s.close();
    await server?.stop();
    await db0.drop();
    fs.rmSync(probeDir, { recursive: true, force: true });
  }
}

function log(line: string): void {
  process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

function markdown(machine: Record<string, unknown>, runs: SoakRun[]): string {
  const out: string[] = [`Machine: ${machine.cpus} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, Node ${machine.node}, shared with other work.`, ''];
  for (const r of runs) {
    const m = r.memory;
    out.push(
      `## ${r.database}, ${r.minutes} min — ${r.ok ? 'passed' : '**failed**'}`,
      '',
      `${r.data}. ${r.calibration ? `Calibration: ${r.calibration.flowsPerSecond} flows/s closed-loop; soak` : 'Soak'} at ${r.rateFlowsPerSecond} flows/s (open loop, Poisson arrivals).`,
      '',
      `Requests ${r.requests}, errors ${r.errors} (rate ${r.errorRate}), dropped flows ${r.droppedFlows}.`,
      `RSS start ${m.rssStartMiB} MiB, end ${m.rssEndMiB} MiB, max ${m.rssMaxMiB} MiB (sampled every 10 s); median of the first minute ${m.rssFirstMinuteMedianMiB} MiB, of the last ${m.rssLastMinuteMedianMiB} MiB; slope over the second half ${m.rssSlopeSecondHalfMiBPerMin} ± ${m.rssSlopeStandardError} MiB/min (read every second; heap used ${m.heapUsedSlopeSecondHalfMiBPerMin} MiB/min).`,
      `Live heap after a full GC: start ${m.liveHeapStartMiB} MiB, end ${m.liveHeapEndMiB} MiB. Memory ${m.flat ? 'flat' : '**not flat**'} (no RSS slope above ${FLAT_RSS_MIB_PER_MIN} MiB/min and two standard errors, live heap growth ≤ ${FLAT_LIVE_HEAP_GROWTH_MIB} MiB).`,
      `Open handles: start ${JSON.stringify(m.handlesStart)}, end ${JSON.stringify(m.handlesEnd)}.`,
      ...(r.databaseBytes ? [`Database file: ${mib(r.databaseBytes.start)} MiB → ${mib(r.databaseBytes.end)} MiB.`] : []),
      '',
      '| Flow | Started | Failed |',
      '| --- | --- | --- |',
      ...Object.entries(r.flows).map(([k, v]) => `| ${k} | ${v.started} | ${v.failed} |`),
      '',
      '| Request kind | Requests | Errors | p50 ms | p99 ms | max ms |',
      '| --- | --- | --- | --- | --- | --- |',
      ...Object.entries(r.byKind).map(([k, v]) => `| ${k} | ${v.requests} | ${v.errors} | ${v.p50Ms} | ${v.p99Ms} | ${v.maxMs} |`),
      '',
      '| Minute | Requests | Errors | p50 ms | p99 ms |',
      '| --- | --- | --- | --- | --- |',
      ...r.perMinute.map((p) => `| ${p.minute} | ${p.requests} | ${p.errors} | ${p.p50Ms} | ${p.p99Ms} |`),
      '',
      ...(r.errorSamples.length ? ['First errors:', '', ...r.errorSamples.map((e) => `- ${e.atS} s ${e.kind} ${e.status ?? ''}: ${e.detail.replace(/\n/g, ' ')}`), ''] : []),
      `\`mfa.push.wait\` includes the time the phone takes to answer (0.5–2.5 s). The ${STREAMED} event streams were opened before the soak; \`device.stream\` counts reconnections (none expected).`,
      '',
    );
  }
  return out.join('\n');
}

async function main(argv: string[]): Promise<void> {
  const o = options(argv);
  const runs: SoakRun[] = [];
  const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? '', memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version };
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = path.join(projectRoot(), 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const result = { kind: 'soak', machine, runs };
  // Written after each database's run, so that a later failure keeps what was measured.
  for (const database of o.databases) {
    runs.push(await soakOne(database, o));
    fs.writeFileSync(path.join(dir, `soak-${stamp}.json`), JSON.stringify(result, null, 2) + '\n');
    fs.writeFileSync(path.join(dir, `soak-${stamp}.md`), markdown(machine, runs));
    log(`wrote bench/results/soak-${stamp}.json and .md`);
  }
  console.log(JSON.stringify(result));
  if (!runs.every((r) => r.ok)) process.exitCode = 1;
}

main(process.argv.slice(2)).catch((err) => {
  console.error(err);
  process.exit(1);
});
