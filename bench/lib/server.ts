import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { projectRoot } from '../../src/http/paths.js';

/** A real Tessera process, started from the build (dist/src/server.js) on a fresh database. */
export interface TesseraProcess {
  url: string;
  port: number;
  pid: number;
  env: Record<string, string>;
  databaseUrl: string;
  masterKey: string;
  /** Resident memory of the server process, in bytes (Linux /proc). */
  rssBytes(): number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** A fresh database: a temporary SQLite file, or a new database on the PostgreSQL server of `pgBase`. */
export async function freshDatabase(pgBase: string | undefined): Promise<{ url: string; drop(): Promise<void> }> {
  if (pgBase) {
    const name = `tessera_bench_${Date.now()}_${process.pid}`;
    const admin = new URL(pgBase);
    const c = new pg.Client({ connectionString: admin.toString() });
    await c.connect();
    await c.query(`CREATE DATABASE ${name}`);
    await c.end();
    const url = new URL(pgBase);
    url.pathname = `/${name}`;
    return {
      url: url.toString(),
      async drop() {
        const d = new pg.Client({ connectionString: admin.toString() });
        await d.connect();
        await d.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await d.end();
      },
    };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-'));
  return { url: `sqlite:${path.join(dir, 'tessera.db')}`, drop: async () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export async function startTessera(databaseUrl: string, extraEnv: Record<string, string> = {}): Promise<TesseraProcess> {
  // The free port can be taken by another process before the server listens on it: try another.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(databaseUrl, extraEnv);
    } catch (err) {
      if (attempt >= 3 || !String((err as Error).message).includes('EADDRINUSE')) throw err;
    }
  }
}

async function startOnce(databaseUrl: string, extraEnv: Record<string, string>): Promise<TesseraProcess> {
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-data-'));
  const masterKey = randomBytes(32).toString('base64');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    TESSERA_HOST: '127.0.0.1',
    TESSERA_PORT: String(port),
    TESSERA_PUBLIC_URL: `http://127.0.0.1:${port}`,
    TESSERA_DATA_DIR: dataDir,
    TESSERA_DATABASE_URL: databaseUrl,
    TESSERA_MASTER_KEY: masterKey,
    TESSERA_LOG_LEVEL: 'warn',
    ...extraEnv,
  };
  const child: ChildProcess = spawn(process.execPath, [...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []), path.join(projectRoot(), 'dist', 'src', 'server.js')], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) {
      fs.rmSync(dataDir, { recursive: true, force: true });
      throw new Error(`Tessera exited during start:\n${output}`);
    }
    try {
      const res = await fetch(`${url}/api/v1/health`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() - started > 60_000) throw new Error(`Tessera did not start in 60 s:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    port,
    pid: child.pid!,
    env,
    databaseUrl,
    masterKey,
    rssBytes() {
      const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
