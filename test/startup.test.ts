import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../src/http/paths.js';
import { freePort } from '../bench/lib/server.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { startServerProcess, type ServerProcess } from './support/server-process.js';
import { startSmtpServer } from './support/smtp.js';

/**
 * Start-up (issue 16.10), with the real server process: a port in use ends the start with one
 * line naming TESSERA_PORT and writes nothing (no SQLite file, no key file, no table); `--demo`
 * with SMTP configured says the links were mailed, and mails them; `npm start` builds only
 * when the sources differ from what dist/ was built from.
 */

const onPostgres = /^postgres(ql)?:/.test(process.env.TESSERA_TEST_DATABASE_URL ?? '');

/** Runs `node --import tsx src/server.ts` to its end; answers its exit code and everything it printed. */
function runServer(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot(), 'src', 'server.ts')], {
      cwd: projectRoot(),
      env: { PATH: process.env.PATH ?? '', TESSERA_HOST: '127.0.0.1', TESSERA_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    proc.stdout.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** The tables of the test database's schema (PostgreSQL). */
async function tablesOf(database: TestDatabase): Promise<string[]> {
  if (database.config.kind !== 'postgres') return [];
  const client = new pg.Client({ connectionString: database.config.url });
  await client.connect();
  try {
    const res = await client.query<{ table_name: string }>('select table_name from information_schema.tables where table_schema = current_schema()');
    return res.rows.map((r) => r.table_name);
  } finally {
    await client.end();
  }
}

describe('a port already in use', () => {
  let database: TestDatabase;
  let dir: string;
  let blocker: net.Server;
  let port: number;

  beforeAll(async () => {
    database = await createTestDatabase();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-startup-'));
    blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    port = (blocker.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => blocker.close(resolve));
    fs.rmSync(dir, { recursive: true, force: true });
    await database.drop();
  });

  it(`ends the start with one line naming TESSERA_PORT, exit code 3, and writes nothing (${onPostgres ? 'PostgreSQL' : 'SQLite'})`, async () => {
    const dataDir = path.join(dir, 'data');
    const env: Record<string, string> = { TESSERA_PORT: String(port), TESSERA_DATA_DIR: dataDir, TESSERA_PUBLIC_URL: `http://127.0.0.1:${port}` };
    // SQLite: the default file in the data folder. PostgreSQL: the suite's schema, and still no key file in the data folder.
    if (database.config.kind === 'postgres') env.TESSERA_DATABASE_URL = database.config.url;
    const { code, output } = await runServer(env);

    expect(code).toBe(3);
    const lines = output.trim().split('\n');
    expect(lines, output).toHaveLength(1);
    expect(lines[0]).toBe(`Tessera cannot start: port ${port} on 127.0.0.1 is already in use by another process. Stop the other process or set TESSERA_PORT to a free port.`);
    expect(output).not.toMatch(/^\s+at /m);
    expect(fs.existsSync(dataDir), 'the data folder').toBe(false);
    expect(await tablesOf(database)).toEqual([]);
  });

  it('the same port free again: the same start serves', async () => {
    const free = await freePort();
    const dataDir = path.join(dir, 'data-2');
    const env: Record<string, string> = { TESSERA_PORT: String(free), TESSERA_DATA_DIR: dataDir };
    if (database.config.kind === 'postgres') env.TESSERA_DATABASE_URL = database.config.url;
    const server = await startServerProcess({ env });
    try {
      expect((await fetch(`${server.url}/api/v1/health`)).status).toBe(200);
      if (database.config.kind === 'sqlite') expect(fs.existsSync(path.join(dataDir, 'tessera.db'))).toBe(true);
      else expect(await tablesOf(database)).toContain('users');
    } finally {
      expect((await server.stop()).code).toBe(0);
    }
  });
});

describe('--demo with SMTP configured', () => {
  let database: TestDatabase;
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let server: ServerProcess | undefined;

  beforeAll(async () => {
    database = await createTestDatabase();
    smtp = await startSmtpServer();
  });
  afterAll(async () => {
    await server?.stop('SIGKILL');
    await smtp.close();
    await database.drop();
  });

  it('says the set-password links were mailed, prints none, and mails them', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-demo-'));
    const url = database.config.kind === 'postgres' ? database.config.url : `sqlite:${database.config.file}`;
    server = await startServerProcess({ env: { TESSERA_DATABASE_URL: url, TESSERA_DATA_DIR: dir, TESSERA_SMTP_URL: smtp.url }, args: ['--demo'] });
    const deadline = Date.now() + 30_000;
    while (!server.output.includes('Demo firm') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(server.output).toContain(`superuser ava.admin@demo-firm.example. Set-password links were mailed to each user through 127.0.0.1:${smtp.port}.`);
    expect(server.output).not.toContain('Set-password links follow');
    while (smtp.received.length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(smtp.received.flatMap((m) => m.to).sort()).toEqual(
      ['ava.admin@demo-firm.example', 'carl.case@demo-firm.example', 'cora@acme.example', 'felix@acme.example', 'gina@globex.example', 'vera.vendor@vendor.example'].sort(),
    );
    // The links went by mail, not to the console (the embedded mode would print each mail, addressed).
    expect(server.output).not.toContain('carl.case@demo-firm.example');
    expect((await server.stop()).code).toBe(0);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('npm start builds only when the sources changed (scripts/build-if-stale.mjs)', () => {
  let root: string;
  const script = path.join(projectRoot(), 'scripts', 'build-if-stale.mjs');
  // A stand-in build: counts its runs in dist/builds, or fails when the source says so.
  const build = `node -e "const fs=require('fs');if(fs.readFileSync('src/a.ts','utf8').includes('BROKEN'))process.exit(1);fs.mkdirSync('dist',{recursive:true});fs.appendFileSync('dist/builds','x')"`;
  const start = () => spawnSync(process.execPath, [script, '--root', root, '--build', build], { encoding: 'utf8' });
  const builds = () => (fs.existsSync(path.join(root, 'dist', 'builds')) ? fs.readFileSync(path.join(root, 'dist', 'builds'), 'utf8').length : 0);

  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-build-'));
    fs.mkdirSync(path.join(root, 'src'));
    fs.mkdirSync(path.join(root, 'web', 'src'), { recursive: true });
    fs.writeFileSync(path.join(root, 'src', 'a.ts'), 'export const a = 1;\n');
    fs.writeFileSync(path.join(root, 'web', 'src', 'App.tsx'), 'export {};\n');
    fs.writeFileSync(path.join(root, 'package.json'), '{}\n');
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('builds when there is no build, then not while nothing changed (touched files included)', () => {
    let run = start();
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('No build yet; building.');
    expect(builds()).toBe(1);

    run = start();
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('Build is up to date');
    expect(builds()).toBe(1);

    // A checkout that rewrites a file with the same bytes (new mtime) is no change.
    const later = new Date(Date.now() + 60_000);
    fs.utimesSync(path.join(root, 'src', 'a.ts'), later, later);
    expect(start().stdout).toContain('Build is up to date');
    expect(builds()).toBe(1);
  });

  it('rebuilds after a pull that changes a server source, a web source, or adds a file', () => {
    fs.writeFileSync(path.join(root, 'src', 'a.ts'), 'export const a = 2;\n');
    expect(start().stdout).toContain('Sources changed since the last build; building.');
    expect(builds()).toBe(2);

    fs.writeFileSync(path.join(root, 'web', 'src', 'App.tsx'), 'export const b = 1;\n');
    start();
    expect(builds()).toBe(3);

    fs.writeFileSync(path.join(root, 'src', 'b.ts'), 'export const b = 1;\n');
    start();
    expect(builds()).toBe(4);
    start();
    expect(builds()).toBe(4);
  });

  it('a failed build fails the start and is tried again at the next one', () => {
    fs.writeFileSync(path.join(root, 'src', 'a.ts'), 'BROKEN\n');
    expect(start().status).not.toBe(0);
    fs.writeFileSync(path.join(root, 'src', 'a.ts'), 'export const a = 3;\n');
    const run = start();
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('Sources changed since the last build; building.');
    expect(builds()).toBe(5);
  });
});
