import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemActor, type Actor } from '../../src/audit/audit.service.js';
import { MINUTE } from '../../src/clock.js';
import { openAttempt } from '../../src/core/login-attempt.js';
import { startPush, waitForPush, type PushSubject } from '../../src/factors/push/push.service.js';
import { auditEvents, startHarness, type Harness } from '../support/harness.js';
import { mfaAttempts, mfaFirm, userRow } from '../support/fixtures.js';
import { pushUser } from '../support/factors.js';

/**
 * A push on a login attempt with no session (issue 13: the Duo door's txid, the OIDC door's
 * interaction): the core's startPush and waitForPush take the attempt and its subject, never a
 * web session, and the approval completes the attempt into an Authentication that the door's
 * `hold` turns into its answer. Through the services, with the device simulator answering over
 * the device API. Runs on SQLite, or on PostgreSQL with TESSERA_TEST_DATABASE_URL.
 */

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

const actor: Actor = { ...systemActor, ip: '203.0.113.20', userAgent: 'duo-door-test' };
const log = { error: () => undefined, warn: () => undefined } as never;

async function sessionlessLogin() {
  const f = await mfaFirm(h);
  const u = await pushUser(h, f);
  const subject = (await userRow(h, u.user.id)) as PushSubject;
  const attempt = await openAttempt(h.ctx, h.ctx.db, { owner: subject, stage: 'second_factor', door: 'duo', expiresAt: h.clock.now() + 5 * MINUTE });
  return { u, login: { attempt, subject } };
}

describe('a push on an attempt with no session', () => {
  it('is sent, approved on the phone and completes the attempt into an Authentication the door holds', async () => {
    const { u, login } = await sessionlessLogin();
    expect(login.attempt.sessionId).toBeNull();
    const push = await startPush(h.ctx, login, actor, log);
    const row = await h.ctx.db.selectFrom('push_transactions').selectAll().where('id', '=', push.transactionId).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ attempt_id: login.attempt.id, session_id: null, status: 'pending' });

    // Nothing answered yet: a short poll says pending and completes nothing.
    const held: string[] = [];
    const hold = async (_tx: unknown, a: { subject: { id: string } }) => {
      held.push(a.subject.id);
      return `allow:${a.subject.id}`;
    };
    expect(await waitForPush(h.ctx, login, actor, push.transactionId, hold, 10)).toEqual({ status: 'pending' });

    expect((await u.device.approve(push.transactionId, push.number)).statusCode).toBe(200);
    const done = await waitForPush(h.ctx, login, actor, push.transactionId, hold);
    expect(done).toMatchObject({
      status: 'approved',
      held: `allow:${u.user.id}`,
      authentication: { subject: { type: 'user', id: u.user.id }, firmId: u.f.firm.id, amr: ['pwd', 'swk', 'mfa'], secondFactor: { satisfied: 'verified', method: 'push' }, stepUp: false },
    });
    expect(held).toEqual([u.user.id]);
    // The attempt is over; a second poll finishes nothing again.
    expect(await h.ctx.db.selectFrom('login_attempts').select('id').where('id', '=', login.attempt.id).executeTakeFirst()).toBeUndefined();
    expect(await waitForPush(h.ctx, login, actor, push.transactionId, hold)).toEqual({ status: 'approved' });
    expect(held).toHaveLength(1);
    expect((await auditEvents(h, { event: 'login.succeeded', subjectId: u.user.id })).at(-1)?.details).toMatchObject({ factors: ['password', 'push'] });
  });

  it('a denial counts one failed second factor, once, and holds nothing', async () => {
    const { u, login } = await sessionlessLogin();
    const push = await startPush(h.ctx, login, actor, log);
    expect((await u.device.answer(push.transactionId, 'deny', { reason: 'mistake' })).statusCode).toBe(200);
    const hold = async () => 'allow';
    expect(await waitForPush(h.ctx, login, actor, push.transactionId, hold)).toEqual({ status: 'denied' });
    expect(await waitForPush(h.ctx, login, actor, push.transactionId, hold)).toEqual({ status: 'denied' });
    expect((await mfaAttempts(h, u.user.id)).mfa_failed_count).toBe(1);
    expect(await h.ctx.db.selectFrom('login_attempts').select('id').where('id', '=', login.attempt.id).executeTakeFirst()).toBeDefined();
  });

  it("another attempt of the same user cannot poll or finish this attempt's push", async () => {
    const { u, login } = await sessionlessLogin();
    const push = await startPush(h.ctx, login, actor, log);
    const other = { attempt: await openAttempt(h.ctx, h.ctx.db, { owner: login.subject, stage: 'second_factor', door: 'duo', expiresAt: h.clock.now() + 5 * MINUTE }), subject: login.subject };
    await u.device.approve(push.transactionId, push.number);
    await expect(waitForPush(h.ctx, other, actor, push.transactionId, async () => 'allow')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await waitForPush(h.ctx, login, actor, push.transactionId, async () => 'allow')).toMatchObject({ status: 'approved', held: 'allow' });
  });
});
