import http from 'node:http';

/**
 * A load process of the held-connections scenario (bench/scenarios/held.ts), started with
 * fork(): it holds its share of device streams (SSE) and waiting logins (long-polls) open
 * against 127.0.0.1 until told to stop, and reports what it saw. Several of these run at
 * once: each process may hold only as many sockets as its open-file limit allows.
 *
 *   parent -> { type: 'hold', port, streams: string[], waits: { path, cookie }[] }
 *   worker -> { type: 'held', streams, waits, errors }          (everything connected)
 *   parent -> { type: 'stop' }
 *   worker -> { type: 'report', ...WorkerReport }               (then exits)
 */

export interface HoldOrder {
  type: 'hold';
  port: number;
  streams: string[];
  waits: { path: string; cookie: string }[];
}

export interface WorkerReport {
  streamsConnected: number;
  waitsHeld: number;
  /** `push` events received on the streams (each device of a waiting login should get one). */
  pushEvents: number;
  /** Long-polls that came back "pending" after 25 s and were made again, as the login page does. */
  repolls: number;
  errors: number;
  firstErrors: string[];
}

const report: WorkerReport = { streamsConnected: 0, waitsHeld: 0, pushEvents: 0, repolls: 0, errors: 0, firstErrors: [] };
let stopping = false;
const sockets = new Set<http.ClientRequest>();
// Keep-alive: a long-poll that came back "pending" is made again on the same socket, as a
// browser does; a new socket per poll would churn file descriptors at the server's limit.
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

function fail(what: string): void {
  if (stopping) return;
  report.errors++;
  if (report.firstErrors.length < 5) report.firstErrors.push(what);
}

/** Opens one device stream; resolves once the server said ": connected". */
function openStream(port: number, path: string): Promise<void> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent, headers: { accept: 'text/event-stream', 'user-agent': 'TesseraAuthenticator/1 (bench)' } }, (res) => {
      if (res.statusCode !== 200) {
        fail(`stream HTTP ${res.statusCode}`);
        res.resume();
        return resolve();
      }
      let connected = false;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (!connected && chunk.includes(': connected')) {
          connected = true;
          report.streamsConnected++;
          resolve();
        }
        report.pushEvents += chunk.split('event: push\n').length - 1;
      });
      res.on('end', () => fail('stream ended by the server'));
      res.on('error', (e) => fail(`stream: ${e.message}`));
    });
    sockets.add(req);
    req.on('error', (e) => {
      fail(`stream: ${e.message}`);
      resolve();
    });
  });
}

/** Holds one login's long-poll, polling again after each "pending"; resolves once the first request is in flight. */
function holdWait(port: number, w: { path: string; cookie: string }): Promise<void> {
  return new Promise((resolve) => {
    const poll = (first: boolean) => {
      if (stopping) return;
      const req = http.get({ host: '127.0.0.1', port, path: w.path, agent, headers: { cookie: w.cookie, 'user-agent': 'Mozilla/5.0 (bench) Firefox/130.0' } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          sockets.delete(req);
          if (stopping) return;
          if (res.statusCode === 200 && body.includes('"pending"')) {
            report.repolls++;
            return poll(false);
          }
          fail(`wait answered ${res.statusCode} ${body.slice(0, 100)}`);
        });
      });
      sockets.add(req);
      if (first)
        req.on('socket', (s) =>
          s.once('connect', () => {
            report.waitsHeld++;
            resolve();
          }),
        );
      req.on('error', (e) => {
        fail(`wait: ${e.message}`);
        if (first) resolve();
      });
    };
    poll(true);
  });
}

async function inParallel<T>(items: T[], concurrency: number, f: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await f(items[next++]!);
    }),
  );
}

process.on('message', async (m: HoldOrder | { type: 'stop' }) => {
  if (m.type === 'hold') {
    await inParallel(m.streams, 64, (p) => openStream(m.port, p));
    await inParallel(m.waits, 64, (w) => holdWait(m.port, w));
    process.send!({ type: 'held', streams: report.streamsConnected, waits: report.waitsHeld, errors: report.errors });
  } else if (m.type === 'stop') {
    stopping = true;
    for (const s of sockets) s.destroy();
    agent.destroy();
    process.send!({ type: 'report', ...report }, () => process.exit(0));
  }
});
