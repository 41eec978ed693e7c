import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { Agent, PASSWORD } from './support/harness.js';
import { deviceOverHttp, seedForProcess } from './support/process-seed.js';
import { overHttp, startServerProcess, type ServerProcess } from './support/server-process.js';

/**
 * Graceful shutdown (issue 8.2) of the REAL server process (node --import tsx src/server.ts):
 * SIGTERM while a push long-poll is waiting and a device's live stream is open. The long-poll
 * is answered (not cut), the stream is closed, new connections are refused, and the process
 * exits 0 well within 10 s. On the suite's database (SQLite, or a PostgreSQL schema).
 */

const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(false)));
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });

describe('SIGTERM', () => {
  let database: TestDatabase;
  let server: ServerProcess | undefined;

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await server?.stop('SIGKILL');
    await database.drop();
  });

  it('finishes the request in flight, closes the device stream, refuses new connections and exits 0 within 10 s', async () => {
    const seed = await seedForProcess(database);
    const push = await seed.pushUser();
    await seed.close();
    server = await startServerProcess({ env: { ...seed.env, TESSERA_LOG_LEVEL: 'warn' } });

    // The Tessera Authenticator's live stream.
    const device = deviceOverHttp(push.device, server.url);
    const stream = await fetch(server.url + (await device.streamUrl()));
    expect(stream.status).toBe(200);
    const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
    expect((await reader.read()).value).toContain(': connected');

    // A login waiting for the push answer: a long-poll that would hold for 25 s.
    const browser = new Agent(overHttp(server.url));
    const login = await browser.post('/api/v1/login', { email: push.email, password: PASSWORD, firm: push.slug });
    expect(login.json().next, login.body).toBe('second_factor');
    const started = await browser.post('/api/v1/mfa/push');
    expect(started.statusCode, started.body).toBe(201);
    const { transactionId } = started.json();
    let received = '';
    while (!received.includes(transactionId)) received += (await reader.read()).value ?? '';
    let waitSettled = false;
    const waiting = browser.get(`/api/v1/mfa/push/${transactionId}/wait`).finally(() => (waitSettled = true));
    await new Promise((r) => setTimeout(r, 300)); // the long-poll is now held by the server

    const t0 = Date.now();
    server.proc.kill('SIGTERM');
    while (!(await refused(server.port))) await new Promise((r) => setTimeout(r, 10));
    const refusedAfterMs = Date.now() - t0;

    const answer = await waiting;
    expect(answer.statusCode, answer.body).toBe(200);
    expect(answer.json()).toEqual({ status: 'pending' });
    let rest = await reader.read();
    while (!rest.done) rest = await reader.read(); // the stream was ended by the server, not left hanging

    const exit = await server.waitExit();
    const tookMs = Date.now() - t0;
    expect(exit, server.output).toEqual({ code: 0, signal: null });
    expect(tookMs).toBeLessThan(10_000);
    expect(refusedAfterMs).toBeLessThan(tookMs + 1);
    expect(server.output).toContain('SIGTERM received');
    expect(server.output).toContain('Stopped.');
    expect(waitSettled).toBe(true);
    expect(await refused(server.port)).toBe(true);
  }, 60_000);

  it('right after the start, while the first start still writes the operator setup link, is a clean stop too (exit 0)', async () => {
    // A fresh database: the first start writes the setup link after listening. The signal arrives
    // as soon as the process says it is running; the stop lets that write finish before closing the database.
    const fresh = await createTestDatabase();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-early-stop-'));
    try {
      const env = {
        TESSERA_DATABASE_URL: fresh.config.kind === 'postgres' ? fresh.config.url : `sqlite:${fresh.config.file}`,
        TESSERA_DATA_DIR: dataDir,
        TESSERA_MASTER_KEY: randomBytes(32).toString('base64'),
        TESSERA_LOG_LEVEL: 'warn',
      };
      const early = await startServerProcess({ env, readyLine: 'Tessera is running at', readyTimeoutMs: 60_000 });
      const exit = await early.stop();
      expect(exit, early.output).toEqual({ code: 0, signal: null });
      expect(early.output).toContain('Stopped.');
      expect(early.output).not.toContain('failed to start');
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
      await fresh.drop();
    }
  }, 90_000);
});
