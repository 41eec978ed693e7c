import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../src/clock.js';
import { isDatabaseUnavailable } from '../src/db/database.js';
import { LATEST_MIGRATION } from '../src/db/migrate.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { Agent, PASSWORD, startHarness, type Harness, totpCode } from './support/harness.js';
import { seedForProcess, type ProcessSeed } from './support/process-seed.js';
import { freePort } from '../bench/lib/server.js';
import pg from 'pg';

/**
 * Operations endpoints (issue 8.2): /healthz, /readyz and /metrics (prom-client, one registry
 * per app), outside /api/v1, without session or CSRF; the metrics access rule; and the 503 +
 * Retry-After of a database that cannot answer (SQLite still locked after busy_timeout; a
 * PostgreSQL that refuses connections).
 */

const TOKEN = 'a-metrics-token-0123456789abcdef';

/** The value of one sample line of the Prometheus text, or 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    const inside = line.slice(name.length + 1, line.indexOf('}'));
    if (wanted.every((w) => inside.split(',').includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

describe('health, readiness and metrics', () => {
  let database: TestDatabase;
  let seed: ProcessSeed;
  let h: Harness;
  const scrape = async (app = h.app) => {
    const res = await app.inject({ method: 'GET', url: '/metrics', remoteAddress: '127.0.0.1' });
    expect(res.statusCode, res.body).toBe(200);
    return res.body;
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    seed = await seedForProcess(database);
    h = seed.h;
    h.clock.set(systemClock.now());
  });
  afterAll(async () => {
    await seed.close();
    await database.drop();
  });

  it('GET /healthz: 200 with no session, no cookie, no CSRF', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('GET /readyz: ready at the latest migration; 503 + Retry-After while a migration is missing', async () => {
    const ready = await h.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode, ready.body).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', migration: LATEST_MIGRATION });

    const row = await sql<{ name: string; timestamp: string }>`select name, timestamp from kysely_migration where name = ${LATEST_MIGRATION}`.execute(h.ctx.db);
    await sql`delete from kysely_migration where name = ${LATEST_MIGRATION}`.execute(h.ctx.db);
    try {
      const pending = await h.app.inject({ method: 'GET', url: '/readyz' });
      expect(pending.statusCode).toBe(503);
      expect(pending.json().error).toBe('MIGRATIONS_PENDING');
      expect(pending.headers['retry-after']).toBe('5');
    } finally {
      const { name, timestamp } = row.rows[0]!;
      await sql`insert into kysely_migration (name, timestamp) values (${name}, ${timestamp})`.execute(h.ctx.db);
    }
    expect((await h.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });

  it('GET /metrics without a token: loopback clients only, not through a proxy; others get 404', async () => {
    expect((await h.app.inject({ method: 'GET', url: '/metrics', remoteAddress: '127.0.0.1' })).statusCode).toBe(200);
    expect((await h.app.inject({ method: 'GET', url: '/metrics', remoteAddress: '::1' })).statusCode).toBe(200);
    const remote = await h.app.inject({ method: 'GET', url: '/metrics', remoteAddress: '203.0.113.9' });
    expect(remote.statusCode).toBe(404);
    expect(remote.json().error).toBe('NOT_FOUND');
    const proxied = await h.app.inject({ method: 'GET', url: '/metrics', remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': '203.0.113.9' } });
    expect(proxied.statusCode).toBe(404);
  });

  it('GET /metrics with TESSERA_METRICS_TOKEN: the bearer token from anywhere, 401 otherwise (even from loopback)', async () => {
    const other = await startHarness({ shared: database, env: { TESSERA_METRICS_TOKEN: TOKEN } });
    try {
      const get = (headers: Record<string, string>, remoteAddress = '203.0.113.9') => other.app.inject({ method: 'GET', url: '/metrics', headers, remoteAddress });
      expect((await get({ authorization: `Bearer ${TOKEN}` })).statusCode).toBe(200);
      for (const res of [await get({}), await get({ authorization: `Bearer ${TOKEN}x` }), await get({ authorization: TOKEN }), await get({}, '127.0.0.1')]) {
        expect(res.statusCode).toBe(401);
        expect(res.json().error).toBe('UNAUTHENTICATED');
      }
      // Each app has its own registry: the other app's counters are not this one's.
      expect(sample(await scrape(), 'tessera_http_requests_total', { route: '/metrics', status_code: '401' })).toBe(0);
    } finally {
      await other.close();
    }
  });

  it('counts requests by route pattern and status, logins by factor and result, pushes by outcome, seats per firm, and the event-loop lag', async () => {
    const before = await scrape();
    const plain = await seed.plainUser();
    const agent = new Agent(h.app);
    await agent.post('/api/v1/login', { email: plain.email, password: 'not the password at all', firm: plain.slug });
    await agent.post('/api/v1/login', { email: plain.email, password: PASSWORD, firm: plain.slug });
    const admin = seed.plainFirm.admin;
    const userId = seed.plainFirm.superuser.id;
    expect((await admin.get(`/api/v1/admin/users/${userId}`)).statusCode).toBe(200);

    const totp = await seed.totpUser();
    const mfa = new Agent(h.app);
    await mfa.post('/api/v1/login', { email: totp.email, password: PASSWORD, firm: totp.slug });
    const code = totpCode(h, totp.secret);
    await mfa.post('/api/v1/mfa/verify', { method: 'totp', code: code === '000000' ? '000001' : '000000' });
    expect((await mfa.post('/api/v1/mfa/verify', { method: 'totp', code })).statusCode).toBe(200);

    const push = await seed.pushUser();
    const browser = new Agent(h.app);
    await browser.post('/api/v1/login', { email: push.email, password: PASSWORD, firm: push.slug });
    const started = (await browser.post('/api/v1/mfa/push')).json();
    expect((await push.device.approve(started.transactionId, started.number)).statusCode).toBe(200);
    expect((await browser.get(`/api/v1/mfa/push/${started.transactionId}/wait`)).json().status).toBe('approved');

    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels);
    expect(delta('tessera_logins_total', { factor: 'password', result: 'failure' })).toBe(1);
    expect(delta('tessera_logins_total', { factor: 'password', result: 'success' })).toBe(4); // plain, pushUser's enrolment, totp, push
    expect(delta('tessera_logins_total', { factor: 'totp', result: 'failure' })).toBe(1);
    expect(delta('tessera_logins_total', { factor: 'totp', result: 'success' })).toBe(1);
    expect(delta('tessera_logins_total', { factor: 'push', result: 'success' })).toBe(1);
    expect(delta('tessera_pushes_total', { outcome: 'sent' })).toBe(1);
    expect(delta('tessera_pushes_total', { outcome: 'approved' })).toBe(1);
    // Route patterns, never raw URLs with ids in them.
    expect(delta('tessera_http_requests_total', { method: 'GET', route: '/api/v1/admin/users/:id', status_code: '200' })).toBe(1);
    expect(delta('tessera_http_requests_total', { method: 'POST', route: '/api/v1/login', status_code: '401' })).toBe(1);
    expect(after).not.toContain(userId);
    expect(after).not.toContain(started.transactionId);
    expect(sample(after, 'tessera_http_request_duration_seconds_count', { route: '/api/v1/login', status_code: '200' })).toBeGreaterThan(0);
    // Seats, read from the database at scrape time: totp + push users of the MFA firm.
    expect(sample(after, 'tessera_seats_used', { firm: seed.mfaFirm.firm.slug })).toBe(2);
    expect(after).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
    expect(after).toMatch(/^nodejs_eventloop_lag_p99_seconds \d/m);
  });
});

describe('a database that cannot answer is a 503 with Retry-After, never a 500', () => {
  it('SQLite still locked by another writer after busy_timeout', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-busy-'));
    const file = path.join(dir, 'tessera.db');
    const h = await startHarness({ shared: { config: { kind: 'sqlite', file }, drop: async () => undefined } });
    const other = new SQLite(file);
    try {
      other.prepare('begin immediate').run(); // another process holds the write lock
      const started = Date.now();
      const res = await new Agent(h.app).post('/api/v1/login', { email: 'someone@example.com', password: 'whatever it is here' });
      expect(res.statusCode, res.body).toBe(503);
      expect(res.json().error).toBe('DATABASE_UNAVAILABLE');
      expect(res.headers['retry-after']).toBe('5');
      expect(Date.now() - started).toBeGreaterThanOrEqual(4_000); // it waited busy_timeout first
      other.prepare('rollback').run();
      const after = await new Agent(h.app).post('/api/v1/login', { email: 'someone@example.com', password: 'whatever it is here' });
      expect(after.statusCode).toBe(401);
    } finally {
      other.close();
      await h.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 20_000);

  it('recognises the errors of a PostgreSQL that is not there, and not a bug for one', async () => {
    const port = await freePort();
    const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/x` });
    const refused = await client.connect().then(
      () => null,
      (err: unknown) => err,
    );
    expect(isDatabaseUnavailable(refused)).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }))).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('the database system is starting up'), { code: '57P03' }))).toBe(true);
    expect(isDatabaseUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('duplicate key'), { code: '23505' }))).toBe(false);
    expect(isDatabaseUnavailable(new TypeError('x is undefined'))).toBe(false);
  });
});
