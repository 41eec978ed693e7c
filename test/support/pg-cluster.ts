import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../bench/lib/server.js';

const run = promisify(execFile);

/** Debian's PostgreSQL server binaries (initdb, pg_ctl). */
export const PG_BIN = process.env.TESSERA_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** Whether a private cluster can be made here: the binaries, root (to act as the postgres user) and that user. */
export function pgClusterAvailable(): boolean {
  if (!fs.existsSync(path.join(PG_BIN, 'pg_ctl')) || process.getuid?.() !== 0) return false;
  try {
    return fs.readFileSync('/etc/passwd', 'utf8').split('\n').some((l) => l.startsWith('postgres:'));
  } catch {
    return false;
  }
}

export interface PgCluster {
  port: number;
  /** postgres://postgres@127.0.0.1:<port>/postgres (trust authentication) */
  url: string;
  /** pg_ctl stop; 'immediate' is a crash as far as clients are concerned. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  /** Stops it (if running) and deletes its files. */
  destroy(): Promise<void>;
}

/**
 * A PostgreSQL cluster of the test's own, in a temporary folder owned by the postgres user,
 * listening on 127.0.0.1:<free port> (and a socket in that folder): a test may stop and start
 * it at will without touching the machine's shared server on 5432.
 */
export async function startPgCluster(): Promise<PgCluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-pg-'));
  const data = path.join(dir, 'data');
  const { stdout } = await run('id', ['-u', 'postgres']);
  const { stdout: gid } = await run('id', ['-g', 'postgres']);
  fs.chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  const asPostgres = (bin: string, args: string[]) => run('runuser', ['-u', 'postgres', '--', path.join(PG_BIN, bin), ...args], { cwd: dir });

  await asPostgres('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '--encoding=UTF8']);
  const port = await freePort();
  // fsync off: a test cluster, throw-away data; immediate stops are still crashes to the clients.
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`;
  let running = false;
  const start = async () => {
    await asPostgres('pg_ctl', ['-D', data, '-l', path.join(dir, 'server.log'), '-o', options, '-w', '-t', '30', 'start']);
    running = true;
  };
  const stop = async (mode: 'fast' | 'immediate' = 'fast') => {
    if (!running) return;
    await asPostgres('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '30', 'stop']);
    running = false;
  };
  await start();
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop,
    start,
    async destroy() {
      await stop('immediate').catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
