import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import type { App } from '../../src/app.js';
import { projectRoot } from '../../src/http/paths.js';
import { freePort } from '../../bench/lib/server.js';

/**
 * A real Tessera process for the tests that need one (crash safety, shutdown): the server
 * entry run from the TypeScript sources with tsx (`node --import tsx src/server.ts`, so no
 * build is needed), on a free port of 127.0.0.1, with only the environment given here
 * (plus PATH). Resolves once GET /api/v1/health answers; rejects with the process's output
 * if it exits or is not ready within `readyTimeoutMs`. With `ca` (the process given
 * TESSERA_TLS_CERT/KEY), it is spoken to over HTTPS, trusting that CA. `args` are the server's flags (--demo).
 */
export interface ServerProcess {
  url: string;
  port: number;
  proc: ChildProcess;
  /** Sends the signal (default SIGTERM) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<ExitStatus>;
  /** Resolves when the process has exited (at once if it already has). */
  waitExit(): Promise<ExitStatus>;
  /** Everything the process wrote to stdout and stderr so far. */
  readonly output: string;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** `readyLine`: ready when the process has printed this (checked every few ms), instead of when /api/v1/health answers. */
export async function startServerProcess(options: { env: Record<string, string>; cwd?: string; readyTimeoutMs?: number; ca?: string; args?: string[]; readyLine?: string }): Promise<ServerProcess> {
  const cwd = options.cwd ?? projectRoot();
  const port = options.env.TESSERA_PORT ? Number(options.env.TESSERA_PORT) : await freePort();
  const url = `${options.ca ? 'https' : 'http'}://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    TESSERA_HOST: '127.0.0.1',
    TESSERA_PUBLIC_URL: url,
    TESSERA_LOG_LEVEL: 'silent',
    ...options.env,
    TESSERA_PORT: String(port),
  };
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot(), 'src', 'server.ts'), ...(options.args ?? [])], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<ExitStatus>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));

  const server: ServerProcess = {
    url,
    port,
    proc,
    waitExit: () => exited,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
    get output() {
      return output;
    },
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`Tessera exited during start (${proc.exitCode ?? proc.signalCode}):\n${output}`);
    if (options.readyLine !== undefined) {
      if (output.includes(options.readyLine)) return server;
    } else {
      const res = await request(url, { method: 'GET', url: '/api/v1/health', ca: options.ca }).catch(() => null);
      if (res?.statusCode === 200) return server;
    }
    if (Date.now() > deadline) {
      await server.stop('SIGKILL');
      throw new Error(`Tessera was not ready within ${options.readyTimeoutMs ?? 30_000} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, options.readyLine !== undefined ? 2 : 50));
  }
}

// --- talking to it -------------------------------------------------------------------------

interface InjectLike {
  method: string;
  url: string;
  headers?: Record<string, string>;
  payload?: string;
  /** Sent as X-Forwarded-For (the process must run with TESSERA_TRUST_PROXY=1 for it to count: the test client is then its one proxy). */
  remoteAddress?: string;
  /** For an https base: the CA (PEM) its certificate chains to. */
  ca?: string;
}

export interface HttpResponse {
  statusCode: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json(): any;
  cookies: { name: string; value: string; maxAge?: number; expires?: Date }[];
}

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** One request over real HTTP (HTTPS for an https base); rejects when the connection fails (refused, reset by a killed process). */
export function request(base: string, o: InjectLike): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const headers = o.remoteAddress ? { ...o.headers, 'x-forwarded-for': o.remoteAddress } : o.headers;
    const target = new URL(o.url, base);
    const send = target.protocol === 'https:' ? https.request : http.request;
    const agent = target.protocol === 'https:' ? new https.Agent({ ca: o.ca }) : keepAlive;
    const req = send(target, { method: o.method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        resolve({ statusCode: res.statusCode!, headers: res.headers, body, json: () => JSON.parse(body), cookies: (res.headers['set-cookie'] ?? []).map(parseSetCookie) });
      });
    });
    req.on('error', reject);
    req.end(o.payload);
  });
}

function parseSetCookie(header: string): HttpResponse['cookies'][number] {
  const [pair = '', ...attrs] = header.split(';');
  const eq = pair.indexOf('=');
  const cookie: HttpResponse['cookies'][number] = { name: pair.slice(0, eq).trim(), value: decodeURIComponent(pair.slice(eq + 1).trim()) };
  for (const a of attrs) {
    const [k = '', v = ''] = a.split('=');
    if (k.trim().toLowerCase() === 'max-age') cookie.maxAge = Number(v);
    if (k.trim().toLowerCase() === 'expires') cookie.expires = new Date(v);
  }
  return cookie;
}

/**
 * The process seen through the one method the test clients use (`app.inject`), over real
 * HTTP: the harness's Agent (cookies, CSRF) and the DeviceSimulator (signed device API)
 * then drive a real process unchanged. A client's `ip` travels as X-Forwarded-For. `base` may
 * be a function, for clients that outlive one process and go on with the restarted one.
 */
export function overHttp(base: string | (() => string)): App {
  return { inject: (o: InjectLike) => request(typeof base === 'string' ? base : base(), o) } as unknown as App;
}
