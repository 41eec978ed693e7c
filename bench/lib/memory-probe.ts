/**
 * Preloaded into the server process of a soak run (NODE_OPTIONS=--import <this file>), never
 * part of Tessera itself: appends one JSON line to $TESSERA_SOAK_PROBE every
 * $TESSERA_SOAK_PROBE_MS (default 10 s) with the process's memory (V8 heap used and total,
 * external, array buffers, RSS) and its open handles by type (process.getActiveResourcesInfo:
 * sockets, timers, pending fs requests...). On SIGUSR2 it runs a full garbage collection first
 * and writes a line marked `gc`, the live heap, which is what a leak grows.
 */
import fs from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';
import { isMainThread } from 'node:worker_threads';

const file = process.env.TESSERA_SOAK_PROBE;
// The main thread only: a worker (SQLite's checkpointer) would report its own small heap.
if (file && isMainThread) {
  const every = Number(process.env.TESSERA_SOAK_PROBE_MS ?? 10_000);
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;

  const sample = (afterGc: boolean) => {
    const m = process.memoryUsage();
    const handles: Record<string, number> = {};
    for (const r of process.getActiveResourcesInfo()) handles[r] = (handles[r] ?? 0) + 1;
    const line = { at: Date.now(), gc: afterGc, rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, handles };
    fs.appendFileSync(file, JSON.stringify(line) + '\n');
  };

  setInterval(() => sample(false), every).unref();
  process.on('SIGUSR2', () => {
    gc();
    gc();
    sample(true);
  });
}
