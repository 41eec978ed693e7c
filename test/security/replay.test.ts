import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { DeviceSimulator } from '../support/device-simulator.js';
import { Agent, auditEvents, lastLinkTo, startHarness, tokenOf, type Harness, type TestFirm, totpCode } from '../support/harness.js';
import { api, loginAs, mfaFirm, person } from '../support/fixtures.js';
import { assertionOptions, freshCode, keyUser, pushUser, sendPush, totpUser, type PushUser } from '../support/factors.js';

/**
 * Replays, factor by factor: whatever was accepted once is refused the second time, in
 * another login, by another browser, or pointed at another request. Each refusal is the
 * factor's ordinary "not right" answer (no oracle), and the refusal of a replay is audited.
 */

let h: Harness;
let F: TestFirm;
const STEP = 30_000;

beforeAll(async () => {
  h = await startHarness({ clock: new ManualClock(Date.UTC(2026, 7, 4, 9, 0, 15)) });
  F = await mfaFirm(h, { licences: 20, enabled: 'staff', adminEnrolled: true });
});
afterAll(() => h?.close());

const verify = (agent: Agent, method: 'totp' | 'backup_code', code: string) => agent.post(api('/mfa/verify'), { method, code });
function expectInvalidCode(res: { statusCode: number; json(): unknown; body: string }) {
  expect(res.statusCode, res.body).toBe(401);
  expect(res.json()).toMatchObject({ error: 'INVALID_CODE', message: 'That code is not right.' });
}

describe('passcodes', () => {
  it('a code accepted once is refused in the same time step, from another login and browser; audited as a replay', async () => {
    const u = await totpUser(h, F);
    const code = freshCode(h, u.secret);
    expect((await verify(await loginAs(h, F, u.user, 'second_factor'), 'totp', code)).statusCode).toBe(200);
    const again = await loginAs(h, F, u.user, 'second_factor', new Agent(h.app, { ip: '198.51.100.9' }));
    expectInvalidCode(await verify(again, 'totp', code));
    expect(await auditEvents(h, { event: 'mfa.replay_refused', subjectId: u.user.id })).toHaveLength(1);
    // The same login goes on with the next step's code: the refusal was the replay, not the login.
    expect((await verify(again, 'totp', freshCode(h, u.secret))).statusCode).toBe(200);
  });

  it("a code of an earlier step (still inside the drift window) is refused once a later step's code was used", async () => {
    const u = await totpUser(h, F);
    const later = freshCode(h, u.secret);
    const earlier = totpCode(h, u.secret, -1);
    expect((await verify(await loginAs(h, F, u.user, 'second_factor'), 'totp', later)).statusCode).toBe(200);
    expectInvalidCode(await verify(await loginAs(h, F, u.user, 'second_factor'), 'totp', earlier));
  });

  it("the Tessera Authenticator's offline passcodes: once per step too", async () => {
    const u: PushUser = await pushUser(h, F);
    h.clock.advance(STEP);
    const code = u.device.passcode();
    expect((await verify(await loginAs(h, F, u.user, 'second_factor'), 'totp', code)).statusCode).toBe(200);
    expectInvalidCode(await verify(await loginAs(h, F, u.user, 'second_factor'), 'totp', code));
  });
});

describe('backup codes', () => {
  it('each works once, whatever login presents it again', async () => {
    const u = await totpUser(h, F);
    const [code] = u.backupCodes;
    expect((await verify(await loginAs(h, F, u.user, 'second_factor'), 'backup_code', code!)).statusCode).toBe(200);
    expectInvalidCode(await verify(await loginAs(h, F, u.user, 'second_factor'), 'backup_code', code!));
    // Typed differently (lower case, spaces) it is still the same, used, code.
    expectInvalidCode(await verify(await loginAs(h, F, u.user, 'second_factor'), 'backup_code', ` ${code!.toLowerCase()} `));
    // Another code of the set still works.
    expect((await verify(await loginAs(h, F, u.user, 'second_factor'), 'backup_code', u.backupCodes[1]!)).statusCode).toBe(200);
  });
});

describe('push answers', () => {
  let u: PushUser;
  beforeAll(async () => {
    u = await pushUser(h, F);
  });

  it('the same signed answer (byte for byte) sent twice: the second changes nothing (401, its nonce is used; 409 under fresh request headers)', async () => {
    const agent = await loginAs(h, F, u.user, 'second_factor');
    const tx = await sendPush(agent);
    const timestamp = h.clock.now();
    const signature = await u.device.sign(DeviceSimulator.answerString(tx.transactionId, 'approve', undefined, tx.number, timestamp));
    const url = api(`/device/transactions/${tx.transactionId}/answer`);
    const payload = JSON.stringify({ answer: 'approve', number: tx.number, timestamp, signature });
    const headers = { 'content-type': 'application/json', ...(await u.device.signatureHeaders('POST', url, payload)) };
    const first = await h.app.inject({ method: 'POST', url, headers, payload });
    expect(first.statusCode, first.body).toBe(200);
    const answered = await h.ctx.db.selectFrom('push_transactions').selectAll().where('id', '=', tx.transactionId).executeTakeFirstOrThrow();
    // Byte for byte: the request's nonce was used up by the first (issue 12), so it is refused as a replay.
    const replay = await h.app.inject({ method: 'POST', url, headers, payload });
    expect(replay.statusCode, replay.body).toBe(401);
    expect(replay.json().error).toBe('DEVICE_UNAUTHENTICATED');
    expect((await auditEvents(h, { event: 'device.auth_failed' })).at(-1)?.details).toMatchObject({ reason: 'nonce_replayed' });
    // The same signed answer under freshly signed request headers: the answer itself is used up.
    const resent = await h.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', ...(await u.device.signatureHeaders('POST', url, payload)) }, payload });
    expect(resent.statusCode, resent.body).toBe(409);
    expect(resent.json().error).toBe('TRANSACTION_NOT_PENDING');
    expect(await h.ctx.db.selectFrom('push_transactions').selectAll().where('id', '=', tx.transactionId).executeTakeFirstOrThrow()).toEqual(answered);
    expect((await agent.get(api(`/mfa/push/${tx.transactionId}/wait`))).json()).toEqual({ status: 'approved' });
  });

  it("an answer signed for one request, sent for another: refused (401), the other request stays pending", async () => {
    const first = await sendPush(await loginAs(h, F, u.user, 'second_factor'));
    expect((await u.device.answer(first.transactionId, 'deny', { reason: 'mistake' })).statusCode).toBe(200);
    const agent = await loginAs(h, F, u.user, 'second_factor');
    const second = await sendPush(agent);
    const timestamp = h.clock.now();
    const res = await u.device.approve(second.transactionId, second.number, {
      timestamp,
      signedString: DeviceSimulator.answerString(first.transactionId, 'approve', undefined, second.number, timestamp),
    });
    expect(res.statusCode, res.body).toBe(401);
    expect(res.json().error).toBe('DEVICE_UNAUTHENTICATED');
    expect((await h.ctx.db.selectFrom('push_transactions').select('status').where('id', '=', second.transactionId).executeTakeFirstOrThrow()).status).toBe('pending');
    expect(await auditEvents(h, { event: 'mfa.push_answer_refused', subjectId: u.user.id })).not.toHaveLength(0);
  });

  it('a device activation code works once', async () => {
    const agent = await loginAs(h, F, await person(h, F), 'enroll');
    const begun = (await agent.post(api('/mfa/enrollment/push'), { phone: { number: '07911 123456', country: 'GB' } })).json();
    expect((await (await DeviceSimulator.create(h.app, h.clock)).activate(begun.activationUrl)).statusCode).toBe(200);
    const thief = await DeviceSimulator.create(h.app, h.clock);
    const res = await thief.activate(begun.activationUrl);
    expect(res.statusCode, res.body).toBe(410);
    expect(res.json().error).toBe('ACTIVATION_INVALID');
  });
});

describe('security-key assertions', () => {
  it('the same assertion twice: the second is refused (its challenge was used)', async () => {
    const u = await keyUser(h, F);
    const agent = await loginAs(h, F, u.user, 'second_factor');
    const response = u.key.assert(await assertionOptions(agent), u.credential);
    expect((await agent.post(api('/mfa/webauthn/verify'), { response })).statusCode).toBe(200);
    // In a new login, with a new challenge issued, and in a login that asked for none.
    const again = await loginAs(h, F, u.user, 'second_factor');
    await assertionOptions(again);
    const res = await again.post(api('/mfa/webauthn/verify'), { response });
    expect(res.statusCode, res.body).toBe(401);
    expect(res.json().error).toBe('WEBAUTHN_FAILED');
    const bare = await loginAs(h, F, u.user, 'second_factor');
    expect((await bare.post(api('/mfa/webauthn/verify'), { response })).statusCode).toBe(401);
  });

  it('a signature counter that goes backwards is refused and audited (a cloned key)', async () => {
    const u = await keyUser(h, F);
    const agent = await loginAs(h, F, u.user, 'second_factor');
    const ok = u.key.assert(await assertionOptions(agent), u.credential, { counter: 10 });
    expect((await agent.post(api('/mfa/webauthn/verify'), { response: ok })).statusCode).toBe(200);
    const clone = await loginAs(h, F, u.user, 'second_factor');
    const res = await clone.post(api('/mfa/webauthn/verify'), { response: u.key.assert(await assertionOptions(clone), u.credential, { counter: 9 }) });
    expect(res.statusCode, res.body).toBe(401);
    expect(res.json().error).toBe('WEBAUTHN_FAILED');
    expect(await auditEvents(h, { event: 'mfa.webauthn_counter_regression' })).toHaveLength(1);
    // The same counter as the last accepted one is a regression too (it must grow).
    const same = await loginAs(h, F, u.user, 'second_factor');
    expect((await same.post(api('/mfa/webauthn/verify'), { response: u.key.assert(await assertionOptions(same), u.credential, { counter: 10 }) })).statusCode).toBe(401);
  });
});

describe('one-time links', () => {
  it('a set-password link works once; a newer link voids the older one', async () => {
    const user = await person(h, F, { password: null });
    expect((await F.admin.post(api(`/admin/users/${user.id}/password-link`))).statusCode).toBe(204);
    const older = tokenOf(await lastLinkTo(h, user.email));
    expect((await F.admin.post(api(`/admin/users/${user.id}/password-link`))).statusCode).toBe(204);
    const token = tokenOf(await lastLinkTo(h, user.email));
    const set = (t: string, password: string) => new Agent(h.app).post(api('/password/set'), { token: t, password });
    const voided = await set(older, 'a brand new passphrase 1');
    expect(voided.statusCode).toBe(410);
    expect(voided.json().error).toBe('LINK_INVALID');
    expect((await set(token, 'a brand new passphrase 2')).statusCode).toBe(204);
    const replay = await set(token, 'a brand new passphrase 3');
    expect(replay.statusCode).toBe(410);
    expect(replay.json().error).toBe('LINK_INVALID');
    expect((await new Agent(h.app).post(api('/password/inspect'), { token })).statusCode).toBe(410);
    // The password is the one the first use set.
    const login = await new Agent(h.app).post(api('/login'), { email: user.email, password: 'a brand new passphrase 2', firm: F.firm.slug });
    expect(login.statusCode, login.body).toBe(200);
  });
});
