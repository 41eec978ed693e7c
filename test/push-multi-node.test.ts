import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { DeviceSimulator } from './support/device-simulator.js';
import { Agent, PASSWORD, activateSubscription, addUser, firmWithAdmin, startHarness, type Harness } from './support/harness.js';
import { api, MFA_OFF } from './support/fixtures.js';
import { openEventStream } from './support/event-stream.js';

/**
 * Push approvals across processes (issue 5.9): with PostgreSQL, two Tessera processes on one
 * database (shared master key); the login waits on process A, the device answers through
 * process B, and A's wait returns at once (LISTEN/NOTIFY on `tessera_push`); the device's
 * event stream on A hears a push created on B. With SQLite one process is the supported
 * setup, so the same flow runs with A and B the same process.
 */

let database: TestDatabase;
let a: Harness;
let b: Harness;
const clock = new ManualClock(Date.now());

beforeAll(async () => {
  database = await createTestDatabase();
  a = await startHarness({ shared: database, clock });
  b = database.config.kind === 'postgres' ? await startHarness({ shared: database, clock, secrets: a.ctx.secrets }) : a;
});
afterAll(async () => {
  if (b !== a) await b.close();
  await a.close();
  await database.drop();
});

/** A user enrolled with a device (through A), and a login of theirs pending the second factor on A. */
async function enrolledUser(slug: string) {
  const f = await firmWithAdmin(a, slug);
  await activateSubscription(a, f.firm.id, 5);
  expect((await f.admin.raw('PUT', api('/admin/mfa/configuration'), { body: { ...MFA_OFF, caseManagers: true } })).statusCode).toBe(200);
  const user = await addUser(a, f.firm.id, { name: 'Nora Node', email: `nora@${slug}.example`, kind: 'case_manager' });
  const enroll = new Agent(a.app);
  expect((await enroll.post(api('/login'), { email: user.email, password: PASSWORD, firm: slug })).json().next).toBe('enroll');
  const begun = (await enroll.post(api('/mfa/enrollment/push'), { phone: { number: '+1 415 555 2671' } })).json();
  const device = await DeviceSimulator.create(b.app, clock);
  expect((await device.activate(begun.activationUrl)).statusCode).toBe(200); // activated through B
  expect((await enroll.post(api(`/mfa/enrollment/push/${begun.authenticatorId}/complete`))).statusCode).toBe(200);
  const agent = new Agent(a.app);
  expect((await agent.post(api('/login'), { email: user.email, password: PASSWORD, firm: slug })).json().next).toBe('second_factor');
  return { f, user, device, agent };
}

describe('push approvals across processes', () => {
  it('a login waiting on process A completes when the device approves through process B', async () => {
    const { device, agent } = await enrolledUser('node-firm-1');
    const push = (await agent.post(api('/mfa/push'))).json();
    const started = Date.now();
    const waiting = agent.get(api(`/mfa/push/${push.transactionId}/wait`));
    await new Promise((r) => setTimeout(r, 100));
    const answered = await device.approve(push.transactionId, push.number); // device.app is B
    expect(answered.json()).toEqual({ status: 'approved' });
    const res = await waiting;
    expect(res.json()).toEqual({ status: 'approved' });
    expect(Date.now() - started).toBeLessThan(5_000); // at once, not at the 25 s long-poll timeout
    expect((await agent.get(api('/me'))).statusCode).toBe(200);
  });

  it('the device stream on process A receives a push created on process B, without the number', async () => {
    const { device, agent, user } = await enrolledUser('node-firm-2');
    await a.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (a.app.server.address() as AddressInfo).port;
    const stream = await openEventStream(`http://127.0.0.1:${port}${await device.streamUrl()}`);
    // The login's request goes to B.
    const onB = new Agent(b.app);
    onB.cookies = agent.cookies;
    onB.csrf = agent.csrf;
    const push = (await onB.post(api('/mfa/push'))).json();
    const view = (await stream.next((e) => e.event === 'push')).data;
    stream.close();
    expect(view).toMatchObject({ id: push.transactionId, userName: user.name, numberDigits: 6, app: 'Tessera' });
    expect(JSON.stringify(view)).not.toContain(push.number);

    // A stream with a bad signature is refused.
    const bad = await a.app.inject({ method: 'GET', url: (await device.streamUrl()).replace(/sig=[^&]+/, 'sig=' + 'A'.repeat(86)) });
    expect(bad.statusCode).toBe(401);
  });
});
