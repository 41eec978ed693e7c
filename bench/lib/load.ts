import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';

export interface LoadResult {
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  durationS: number;
  /** Server CPU time (user + system, from /proc) per completed request, when the server's pid was given. */
  cpuMsPerRequest?: number;
}

/** CPU time a process has used so far, in ms (Linux /proc/<pid>/stat utime + stime, 10 ms ticks). */
function cpuMs(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

export interface LoadOptions {
  url: string;
  connections: number;
  /** Seconds; or stop after `amount` requests. */
  duration?: number;
  amount?: number;
  /** Requests per second for a fixed-rate run (latency at a given load), across all connections. */
  rate?: number;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** Builds each request (body, headers, path) from its sequence number. */
  next?: (i: number) => { path?: string; body?: string; headers?: Record<string, string> };
  /** A sequence of requests each connection repeats (autocannon `requests`, with per-connection context). */
  steps?: autocannon.Request[];
  /** The server process: its CPU time per request is reported (robust on a shared machine, where throughput is not). */
  serverPid?: number;
}

/** Load is generated against this machine's loopback address only. */
export function assertLoopback(url: string): void {
  if (!/^http:\/\/127\.0\.0\.1:\d+/.test(url)) throw new Error('load is generated against 127.0.0.1 only');
}

/**
 * One autocannon run (the load generator lives in this process; Tessera in another),
 * against 127.0.0.1 only, bounded by `duration` or `amount`.
 */
export async function load(o: LoadOptions): Promise<LoadResult> {
  assertLoopback(o.url);
  let i = 0;
  const cpuBefore = o.serverPid ? cpuMs(o.serverPid) : 0;
  const started = performance.now();
  let lastResponse = started;
  const options: autocannon.Options = {
    url: o.url,
    connections: o.connections,
    duration: o.duration ?? 10,
    amount: o.amount,
    overallRate: o.rate,
    method: o.method ?? 'GET',
    headers: o.headers,
    body: o.body,
    requests: o.steps
      ? o.steps
      : o.next
      ? [
          {
            setupRequest: (req: autocannon.Request) => {
              const r = o.next!(i++);
              return { ...req, ...(r.path ? { path: r.path } : {}), ...(r.body ? { body: r.body } : {}), headers: { ...req.headers, ...r.headers } };
            },
          },
        ]
      : undefined,
  };
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const run = autocannon(options, (err, res) => (err ? reject(err) : resolve(res)));
    run.on('response', () => (lastResponse = performance.now()));
  });
  // Completed requests from the start to the last response, timed here: autocannon stops an
  // amount-bounded run on its next whole-second tick, so its own duration made a 1.2-second
  // run read as 2 seconds (1,000 logins at "~500/s" whatever the speed).
  const seconds = (lastResponse - started) / 1000;
  return {
    requests: result.requests.total,
    rps: Math.round(result.requests.total / Math.max(0.001, seconds)),
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    durationS: +seconds.toFixed(2),
    ...(o.serverPid && result.requests.total > 0 ? { cpuMsPerRequest: +((cpuMs(o.serverPid) - cpuBefore) / result.requests.total).toFixed(3) } : {}),
  };
}

/** The trivial route, measured in the same run as a scenario: the yardstick for its ratio. */
export async function healthBaseline(url: string, serverPid?: number, connections = 20, duration = 5): Promise<LoadResult> {
  return load({ url: `${url}/api/v1/health`, connections, duration, serverPid });
}
