import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MINUTE, ManualClock } from '../src/clock.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { auditEvents, expectError, startHarness, type Agent, type Harness } from './support/harness.js';
import { api, browserOf, loginAs, mfaFirm, person } from './support/fixtures.js';
import { beginMobile, pushUser, sendPush, type PushUser } from './support/factors.js';
import { DeviceSimulator } from './support/device-simulator.js';
import { openEventStream, type StreamEvent } from './support/event-stream.js';

/**
 * What the push screens are told (issue 16 item 8), through HTTP on both databases: PUSH_PAUSED
 * with Retry-After and the end of the pause, the challenge's `pushPausedUntil` (why push is
 * missing at a fresh login), a wrong number named in the wait's answer, and the device stream's
 * `withdrawn` event for a request that is superseded, cancelled (its login ended another way)
 * or answered, so the phone drops it at once.
 */

let database: TestDatabase;
let h: Harness;
let origin: string;
const clock = new ManualClock(Date.UTC(2026, 6, 1, 8, 0, 0));

beforeAll(async () => {
  database = await createTestDatabase();
  h = await startHarness({ shared: database, clock });
  // The event stream over a real socket (inject would wait for its end, which never comes).
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  origin = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await h.close();
  await database.drop();
});

const wait = (agent: Agent, id: string) => agent.get(api(`/mfa/push/${id}/wait`));
const wrongNumberFor = (n: string) => String((Number(n) + 1) % 10 ** n.length).padStart(n.length, '0');

/** The device's event stream, open while `run` runs; `next(event, id)` waits for that event of that request. */
async function withStream(u: PushUser, run: (next: (event: string, id: string) => Promise<StreamEvent>) => Promise<void>) {
  const stream = await openEventStream(origin + (await u.device.streamUrl()));
  try {
    await run((event, id) => stream.next((e) => e.event === event && e.data.id === id));
  } finally {
    stream.close();
  }
}

describe('pushes paused after a fraud report (issue 16 item 8)', () => {
  it('PUSH_PAUSED answers 409 with Retry-After (as PUSH_LIMIT) and the end of the pause; a fresh login\'s challenge says until when', async () => {
    const u = await pushUser(h, await mfaFirm(h));
    const agent = await loginAs(h, u.f, u.user, 'second_factor', browserOf(h));
    expect((await agent.get(api('/mfa/challenge'))).json().pushPausedUntil).toBeNull();
    const push = await sendPush(agent);
    expect((await u.device.answer(push.transactionId, 'deny', { reason: 'fraud' })).json()).toEqual({ status: 'fraud' });
    const pausedUntil = clock.now() + 20 * MINUTE;

    clock.advance(90_000);
    const fresh = await loginAs(h, u.f, u.user, 'second_factor', browserOf(h));
    const challenge = (await fresh.get(api('/mfa/challenge'))).json();
    expect(challenge).toMatchObject({ methods: ['totp', 'backup_code'], defaultMethod: 'totp', pushPausedUntil: pausedUntil });

    const refused = await fresh.post(api('/mfa/push'));
    expectError(refused, 409, 'PUSH_PAUSED');
    expect(refused.headers['retry-after']).toBe(String((pausedUntil - clock.now()) / 1000));
    expect(refused.json()).toMatchObject({ pausedUntil, retryAfterSeconds: (pausedUntil - clock.now()) / 1000 });
    expect(refused.json().message).toContain('paused for 19 more minutes');

    // PUSH_LIMIT has carried Retry-After all along; PUSH_PAUSED now does too, and both say when.
    clock.advance(20 * MINUTE);
    const later = await loginAs(h, u.f, u.user, 'second_factor', browserOf(h));
    expect((await later.get(api('/mfa/challenge'))).json()).toMatchObject({ pushPausedUntil: null, defaultMethod: 'push' });
  });
});

describe('a wrong number (issue 16 item 8)', () => {
  it('the wait answers denied with reason wrong_number; "It was a mistake" and a plain deny carry no reason', async () => {
    const u = await pushUser(h, await mfaFirm(h));
    const agent = await loginAs(h, u.f, u.user, 'second_factor', browserOf(h));
    const push = await sendPush(agent);
    expect((await u.device.approve(push.transactionId, wrongNumberFor(push.number))).json()).toEqual({ status: 'denied' });
    expect((await wait(agent, push.transactionId)).json()).toEqual({ status: 'denied', reason: 'wrong_number' });
    expect((await wait(agent, push.transactionId)).json()).toEqual({ status: 'denied', reason: 'wrong_number' });
    expect(await h.ctx.db.selectFrom('push_transactions').select('end_reason').where('id', '=', push.transactionId).executeTakeFirst()).toEqual({ end_reason: 'wrong_number' });

    const mistake = await sendPush(agent);
    await u.device.answer(mistake.transactionId, 'deny', { reason: 'mistake' });
    expect((await wait(agent, mistake.transactionId)).json()).toEqual({ status: 'denied' });
    expect(await h.ctx.db.selectFrom('push_transactions').select('end_reason').where('id', '=', mistake.transactionId).executeTakeFirst()).toEqual({ end_reason: 'mistake' });
  });
});

describe('the device stream says when a request is withdrawn (issue 16 item 8)', () => {
  it('superseded by a newer push: `withdrawn` {reason: superseded}, then the new request', async () => {
    const u = await pushUser(h, await mfaFirm(h));
    await withStream(u, async (next) => {
      const agent = await loginAs(h, u.f, u.user, 'second_factor', browserOf(h));
      const first = await sendPush(agent);
      await next('push', first.transactionId);
      const second = await sendPush(agent);
      expect((await next('withdrawn', first.transactionId)).data).toEqual({ id: first.transactionId, reason: 'superseded' });
      await next('push', second.transactionId);
      expect((await u.device.transactions()).json().items.map((t: { id: string }) => t.id)).toEqual([second.transactionId]);
    });
  });

  it('cancelled when the login ends another way (a passcode, or "Cancel and sign out"): `withdrawn` {reason: cancelled}, and an answer is refused', async () => {
    const u = await pushUser(h, await mfaFirm(h));
    await withStream(u, async (next) => {
      // Answered with the app's passcode while the push waits.
      const agent = await loginAs(h, u.f, u.user, 'second_factor', browserOf(h));
      const push = await sendPush(agent);
      await next('push', push.transactionId);
      const verified = await agent.post(api('/mfa/verify'), { method: 'totp', code: u.device.passcode() });
      expect(verified.statusCode, verified.body).toBe(200);
      expect((await next('withdrawn', push.transactionId)).data).toEqual({ id: push.transactionId, reason: 'cancelled' });
      expect((await u.device.transactions()).json().items).toEqual([]);
      expectError(await u.device.approve(push.transactionId, push.number), 409, 'TRANSACTION_NOT_PENDING');
      expect(await h.ctx.db.selectFrom('push_transactions').select(['status', 'end_reason']).where('id', '=', push.transactionId).executeTakeFirst()).toEqual({
        status: 'expired',
        end_reason: 'cancelled',
      });

      // "Cancel and sign out" while the push waits.
      clock.advance(30_000);
      const second = await loginAs(h, u.f, u.user, 'second_factor', browserOf(h));
      const other = await sendPush(second);
      await next('push', other.transactionId);
      expect((await second.post(api('/logout'))).statusCode).toBe(204);
      expect((await next('withdrawn', other.transactionId)).data).toEqual({ id: other.transactionId, reason: 'cancelled' });
      expect((await u.device.transactions()).json().items).toEqual([]);
    });
  });

  it('a login that ended without its door withdrawing the push: not listed, and an approval is refused (audited login_ended)', async () => {
    const u = await pushUser(h, await mfaFirm(h));
    const agent = await loginAs(h, u.f, u.user, 'second_factor', browserOf(h));
    const push = await sendPush(agent);
    // As when a session is deleted by a path that does not announce (a password change, an expiry sweep).
    const row = await h.ctx.db.selectFrom('push_transactions').select('attempt_id').where('id', '=', push.transactionId).executeTakeFirstOrThrow();
    await h.ctx.db.deleteFrom('login_attempts').where('id', '=', row.attempt_id!).execute();
    expect((await u.device.transactions()).json().items).toEqual([]);
    expectError(await u.device.approve(push.transactionId, push.number), 409, 'TRANSACTION_NOT_PENDING');
    expect((await auditEvents(h, { event: 'mfa.push_answer_refused', subjectId: u.user.id })).at(-1)?.details).toMatchObject({ reason: 'login_ended' });
    expect(await h.ctx.db.selectFrom('push_transactions').select('status').where('id', '=', push.transactionId).executeTakeFirst()).toEqual({ status: 'pending' });
  });

  it('answered (on this or another of the user\'s devices): `withdrawn` {reason: answered}', async () => {
    const u = await pushUser(h, await mfaFirm(h));
    await withStream(u, async (next) => {
      const agent = await loginAs(h, u.f, u.user, 'second_factor', browserOf(h));
      const push = await sendPush(agent);
      await next('push', push.transactionId);
      expect((await u.device.approve(push.transactionId, push.number)).json()).toEqual({ status: 'approved' });
      expect((await next('withdrawn', push.transactionId)).data).toEqual({ id: push.transactionId, reason: 'answered' });
    });
  });
});

describe('the activation link by mail (issue 16 item 7)', () => {
  it('mails the link of this login\'s QR code to the user\'s own address, which activates the phone; a used code is 410', async () => {
    const f = await mfaFirm(h);
    const user = await person(h, f);
    const agent = await loginAs(h, f, user, 'enroll', browserOf(h));
    const begun = await beginMobile(agent);
    const mailPath = api(`/mfa/enrollment/push/${begun.authenticatorId}/mail`);
    const sent = await agent.post(mailPath);
    expect(sent.statusCode, sent.body).toBe(200);
    expect(sent.json()).toEqual({ sentTo: user.email, expiresAt: begun.expiresAt });
    const mail = await h.ctx.db.selectFrom('mail_outbox').select(['to_address', 'subject', 'text_body']).where('to_address', '=', user.email).where('subject', '=', 'Set up the Tessera Authenticator on your phone').executeTakeFirstOrThrow();
    expect(mail.text_body).toContain(begun.activationUrl);
    expect(mail.text_body).toContain('The link works once, until');

    // Another login's enrollment is not this one's to mail.
    const other = await loginAs(h, f, await person(h, f), 'enroll', browserOf(h));
    expectError(await other.post(mailPath), 404, 'NOT_FOUND');

    // The mailed link is the QR code's: it activates, once.
    const link = /(https?:\/\/\S+#activate=[A-Za-z0-9_-]+)/.exec(mail.text_body)![1]!;
    expect((await (await DeviceSimulator.create(h.app, clock)).activate(link)).statusCode).toBe(200);
    expectError(await agent.post(mailPath), 410, 'ACTIVATION_INVALID');
  });

  it('mails one activation\'s link three times at once, then asks to wait (429 with Retry-After); nothing more is queued', async () => {
    const f = await mfaFirm(h);
    const user = await person(h, f);
    const agent = await loginAs(h, f, user, 'enroll', browserOf(h));
    const begun = await beginMobile(agent);
    const mailPath = api(`/mfa/enrollment/push/${begun.authenticatorId}/mail`);
    for (let i = 0; i < 3; i++) expect((await agent.post(mailPath)).statusCode).toBe(200);
    const refused = await agent.post(mailPath);
    expectError(refused, 429, 'TOO_MANY_ATTEMPTS');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    const queued = await h.ctx.db.selectFrom('mail_outbox').select('id').where('to_address', '=', user.email).where('subject', '=', 'Set up the Tessera Authenticator on your phone').execute();
    expect(queued).toHaveLength(3);
  });
});
