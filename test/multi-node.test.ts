import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.js';
import { ACCOUNT_POLICY } from '../src/core/throttle.js';
import { ensureOperatorSetup } from '../src/operators/bootstrap.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { Agent, expectError, firmWithAdmin, startHarness, type Harness } from './support/harness.js';

/** Three Tessera processes on one database: nothing that matters may live in one process's memory. */
describe('several processes on one database', () => {
  let database: TestDatabase;
  let nodes: Harness[];
  const clock = new ManualClock(Date.now());
  beforeAll(async () => {
    database = await createTestDatabase();
    if (database.config.kind === 'postgres') {
      // Started together: the migrations must run once, under the migration lock.
      nodes = await Promise.all([0, 1, 2].map(() => startHarness({ shared: database, clock })));
    } else {
      // better-sqlite3 is synchronous: connections in one process wait on each other's locks
      // by blocking the one thread, so SQLite "nodes" in a test process start one by one.
      // (Separate processes serialise on BEGIN IMMEDIATE; see src/db/migrate.ts.)
      nodes = [];
      for (let i = 0; i < 3; i++) nodes.push(await startHarness({ shared: database, clock }));
    }
  });
  afterAll(async () => {
    for (const n of nodes) await n.close();
    await database.drop();
  });

  it('create one first operator when they all start on an empty database at once', async () => {
    const links =
      database.config.kind === 'postgres'
        ? await Promise.all(nodes.map((n) => ensureOperatorSetup(n.ctx)))
        : [await ensureOperatorSetup(nodes[0]!.ctx), await ensureOperatorSetup(nodes[1]!.ctx), await ensureOperatorSetup(nodes[2]!.ctx)];
    expect(links.every((l) => l !== null)).toBe(true);
    expect(await nodes[0]!.ctx.db.selectFrom('operators').select('id').execute()).toHaveLength(1);
  });

  it('share sessions: logged in on one node, known on the others, logged out everywhere at once', async () => {
    const [a, b, c] = nodes as [Harness, Harness, Harness];
    const f = await firmWithAdmin(a, 'shared-firm');
    const onB = new Agent(b.app);
    onB.cookies = f.admin.cookies;
    expect((await onB.get('/api/v1/me')).json().user.email).toBe(f.superuser.email);
    // CSRF token from node A is good on node C.
    const onC = new Agent(c.app);
    onC.cookies = f.admin.cookies;
    onC.csrf = f.admin.csrf;
    expect((await onC.post('/api/v1/admin/corporations', { name: 'Made on C' })).statusCode).toBe(201);
    expect((await onB.get('/api/v1/admin/corporations')).json().items.map((x: { name: string }) => x.name)).toContain('Made on C');
    expect((await onC.post('/api/v1/logout')).statusCode).toBe(204);
    expectError(await new Agent(a.app, {}).raw('GET', '/api/v1/me', { headers: { cookie: `tessera_session=${f.admin.cookies.get('tessera_session') ?? ''}` } }), 401, 'UNAUTHENTICATED');
  });

  it('share the throttle: spreading guesses over nodes gains nothing', async () => {
    const statuses: number[] = [];
    for (let i = 0; i <= ACCOUNT_POLICY.freeFailures; i++) {
      const node = nodes[i % nodes.length]!;
      statuses.push((await new Agent(node.app, { ip: `10.9.0.${i}` }).post('/api/v1/login', { email: 'target@x.example', password: `guess ${i}` })).statusCode);
    }
    expect(statuses).toEqual([...Array(ACCOUNT_POLICY.freeFailures).fill(401), 429]);
  });
});
