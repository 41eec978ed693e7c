import fs from 'node:fs';
import type { TesseraProcess } from '../lib/server.js';

const MiB = 2 ** 20;
const mib = (bytes: number) => Math.round((bytes / MiB) * 10) / 10;

/** A probe line (bench/lib/memory-probe.ts). */
export interface ProbeLine {
  at: number;
  gc: boolean;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  handles: Record<string, number>;
}

export interface MemorySample {
  /** Seconds since the soak started. */
  t: number;
  rssMiB: number;
  /** From the probe's latest line (at most one interval old). */
  heapUsedMiB: number | null;
  handles: number | null;
  /** Flows in flight at that moment. */
  inFlight: number;
}

export function readProbe(file: string): ProbeLine[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ProbeLine);
}

/** The probe's line written after a full GC (SIGUSR2), waited for. */
export async function liveHeap(server: TesseraProcess, file: string): Promise<ProbeLine | null> {
  const before = readProbe(file).filter((l) => l.gc).length;
  process.kill(server.pid, 'SIGUSR2');
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const gcs = readProbe(file).filter((l) => l.gc);
    if (gcs.length > before) return gcs.at(-1)!;
  }
  return null;
}

/** One reading of the server's RSS (from /proc, outside the process): every second, for the regression. */
export interface RssReading {
  t: number;
  rssMiB: number;
}

/**
 * Reads the server's RSS every second and keeps a sample every `reportEveryMs` (RSS, and heap
 * and handles from the probe's latest line). The RSS of a process that hashes passwords swings
 * by argon2id's 19 MiB per hash in flight, so the slope is fitted to the one-second readings,
 * not only to the reported samples: ten times the points, a third of the noise in the slope.
 */
export function startSampler(server: TesseraProcess, probeFile: string, reportEveryMs: number, inFlight: () => number) {
  const t0 = Date.now();
  const samples: MemorySample[] = [];
  const readings: RssReading[] = [];
  const read = () => {
    const reading = { t: (Date.now() - t0) / 1000, rssMiB: mib(server.rssBytes()) };
    readings.push(reading);
    return reading;
  };
  const report = () => {
    const { t, rssMiB } = read();
    const latest = readProbe(probeFile).filter((l) => !l.gc).at(-1);
    const handles = latest ? Object.values(latest.handles).reduce((a, b) => a + b, 0) : null;
    samples.push({ t: Math.round(t), rssMiB, heapUsedMiB: latest ? mib(latest.heapUsed) : null, handles, inFlight: inFlight() });
  };
  report();
  let n = 0;
  const perReport = Math.max(1, Math.round(reportEveryMs / 1000));
  const timer = setInterval(() => (++n % perReport === 0 ? report() : read()), 1000);
  return {
    samples,
    readings,
    stop() {
      clearInterval(timer);
      report();
      return { samples, readings };
    },
  };
}

/** Least-squares slope of y over x, and its standard error. */
export function slope(points: { x: number; y: number }[]): { slope: number; se: number } {
  const n = points.length;
  if (n < 3) return { slope: 0, se: 0 };
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  const sxx = points.reduce((a, p) => a + (p.x - mx) ** 2, 0);
  if (sxx === 0) return { slope: 0, se: 0 };
  const b = points.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0) / sxx;
  const residuals = points.reduce((a, p) => a + (p.y - my - b * (p.x - mx)) ** 2, 0);
  return { slope: b, se: Math.sqrt(residuals / (n - 2) / sxx) };
}

const r2 = (x: number) => Math.round(x * 100) / 100;

/** MiB per minute over the second half of the run (the first half includes warming caches and JIT), with its standard error. */
export function secondHalfSlope<T extends { t: number }>(points: T[], value: (p: T) => number | null): { perMin: number; se: number } {
  const end = points.at(-1)?.t ?? 0;
  const fit = slope(points.filter((p) => p.t >= end / 2 && value(p) !== null).map((p) => ({ x: p.t / 60, y: value(p)! })));
  return { perMin: r2(fit.slope), se: r2(fit.se) };
}

export function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : 0;
}

export { mib };
