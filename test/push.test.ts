import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MINUTE, ManualClock } from '../src/clock.js';
import { pushNotificationPayload, sendPushNotifications, vapidKeys } from '../src/factors/push/web-push.js';
import { describeUserAgent } from '../src/factors/push/user-agent.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { DeviceSimulator } from './support/device-simulator.js';
import {
  Agent,
  auditEvents,
  expectError,
  startHarness,
  type Harness,
} from './support/harness.js';
import { startSmtpServer } from './support/smtp.js';
import { CHROME_WINDOWS, api, loginAs, mfaFirm, person, sessionCookie, sessionRow, stateBesidesAudit, browserOf } from './support/fixtures.js';
import { beginMobile, pushUser, sendPush } from './support/factors.js';

/**
 * The Tessera Authenticator and push approvals (issue 5, reference 1.2 to 1.4), through HTTP,
 * with a device simulator that speaks the device protocol as the app does (its own P-256 key
 * pair, its own signatures): activation by QR code, Approve / Deny / "It seemed fraudulent" /
 * "It was a mistake", verified push, signed answers and every refusal, push-bombing limits,
 * the fraud pause, and offline passcodes. Time is a ManualClock.
 */

let database: TestDatabase;
let h: Harness;
let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
const clock = new ManualClock(Date.UTC(2026, 6, 1, 8, 0, 0));

beforeAll(async () => {
  smtp = await startSmtpServer();
  database = await createTestDatabase();
  h = await startHarness({ shared: database, clock, env: { TESSERA_SMTP_URL: smtp.url } });
});
afterAll(async () => {
  await h.close();
  await database.drop();
  await smtp.close();
});

// --- helpers ---

const wait = (agent: Agent, id: string) => agent.get(api(`/mfa/push/${id}/wait`));
const txRow = (id: string) => h.ctx.db.selectFrom('push_transactions').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
const failures = async (userId: string) =>
  Number((await h.ctx.db.selectFrom('users').select('mfa_failed_count').where('id', '=', userId).executeTakeFirstOrThrow()).mfa_failed_count);
const wrongNumberFor = (n: string) => String((Number(n) + 1) % 10 ** n.length).padStart(n.length, '0');

// --- enrollment by QR code ---

describe('the Tessera Authenticator enrolled by QR code (reference 1.2, 1.3)', () => {
  it('asks for the phone, shows a QR code and link, activates the device (key in, secret out), takes the seat then, and the screen finishes by itself', async () => {
    const f = await mfaFirm(h, { licences: 3, adminEnrolled: true });
    const user = await person(h, f);
    const agent = await loginAs(h, f, user, 'enroll', browserOf(h));
    const info = (await agent.get(api('/mfa/enrollment'))).json();
    expect(info.methods[0]).toEqual({ kind: 'push', label: 'Mobile (Tessera Authenticator)' });

    expectError(await agent.post(api('/mfa/enrollment/push'), { phone: { number: '12', country: 'GB' } }), 400, 'INVALID_PHONE');
    // Each refusal says what is wrong, for the phone field (issue 16.6).
    for (const [phone, reason] of [
      [{ number: '7911 12', country: 'GB' }, 'too_short'],
      [{ number: '07911 123456 789', country: 'GB' }, 'too_long'],
      [{ number: '07911 123456' }, 'no_country'],
      [{ number: 'not a phone', country: 'GB' }, 'not_a_number'],
      [{ number: '07911 12345', country: 'GB' }, 'invalid'], // a length some GB numbers have, not mobiles
      [{ number: '020 7946 0958', country: 'GB' }, 'not_mobile'],
      [{ number: '0800 123 4567', country: 'GB' }, 'not_mobile'],
    ] as const) {
      const res = await agent.post(api('/mfa/enrollment/push'), { phone });
      expect(res.statusCode, JSON.stringify(phone)).toBe(400);
      expect(res.json(), JSON.stringify(phone)).toMatchObject({ error: 'INVALID_PHONE', field: 'phone', reason });
    }
    const begun = await beginMobile(agent);
    expect(begun.activationUrl).toMatch(new RegExp(`^${h.ctx.config.publicUrl.origin}/authenticator#activate=[A-Za-z0-9_-]{43}$`));
    expect(begun.qrSvg).toContain('<svg');
    expect(begun.expiresAt).toBe(clock.now() + 10 * MINUTE);
    expect((await agent.get(api(`/mfa/enrollment/push/${begun.authenticatorId}`))).json()).toEqual({ status: 'pending' });
    expectError(await agent.post(api(`/mfa/enrollment/push/${begun.authenticatorId}/complete`)), 409, 'NOT_ACTIVATED');
    expect(await h.ctx.db.selectFrom('seats').select('user_id').where('user_id', '=', user.id).executeTakeFirst()).toBeUndefined();

    const device = await DeviceSimulator.create(h.app, clock);
    const res = await device.activate(begun.activationUrl);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({
      deviceId: begun.authenticatorId,
      secret: expect.stringMatching(/^[A-Z2-7]{32}$/),
      period: 30,
      digits: 6,
      account: { firmName: f.firm.name, userName: user.name, email: user.email },
    });
    // The seat is taken at activation; the private key never left the device.
    expect(await h.ctx.db.selectFrom('seats').select('user_id').where('user_id', '=', user.id).executeTakeFirst()).toBeDefined();
    const stored = await h.ctx.db.selectFrom('push_devices').selectAll().where('authenticator_id', '=', begun.authenticatorId).executeTakeFirstOrThrow();
    expect(JSON.parse(stored.public_key)).toEqual({ kty: 'EC', crv: 'P-256', x: device.publicJwk.x, y: device.publicJwk.y });
    const totpRow = await h.ctx.db.selectFrom('totp_authenticators').select('secret_enc').where('authenticator_id', '=', begun.authenticatorId).executeTakeFirstOrThrow();
    expect(totpRow.secret_enc).not.toContain(device.secret!);
    expect(await h.ctx.db.selectFrom('authenticators').select(['status', 'kind', 'phone_e164', 'label']).where('id', '=', begun.authenticatorId).executeTakeFirst()).toEqual({
      status: 'active',
      kind: 'push',
      phone_e164: '+447911123456',
      label: 'Tessera Authenticator',
    });
    expect((await auditEvents(h, { event: 'mfa.enrolled', subjectId: user.id }))[0]?.details).toMatchObject({ kind: 'push', authenticatorId: begun.authenticatorId, firstEnrollment: true });

    // The enrollment screen notices the activation and moves on.
    expect((await agent.get(api(`/mfa/enrollment/push/${begun.authenticatorId}`))).json()).toEqual({ status: 'active' });
    const pendingToken = sessionCookie(agent);
    const done = await agent.post(api(`/mfa/enrollment/push/${begun.authenticatorId}/complete`));
    expect(done.statusCode, done.body).toBe(200);
    expect(done.json().backupCodes).toHaveLength(10);
    expect(sessionCookie(agent)).not.toBe(pendingToken);
    expect((await agent.get(api('/me'))).statusCode).toBe(200);
    expect((await auditEvents(h, { event: 'login.succeeded', subjectId: user.id }))[0]?.details).toMatchObject({ factors: ['password', 'push'], enrolled: true });

    // My security lists the device with its phone; the admin's Enrolled Users shows "push".
    const mine = (await agent.get(api('/me/security'))).json();
    expect(mine.authenticators).toContainEqual(expect.objectContaining({ id: begun.authenticatorId, kind: 'push', phone: '+447911123456' }));
    const enrolled = (await f.admin.get(api('/admin/mfa/enrolled'))).json();
    expect(enrolled.items.find((i: { userId: string }) => i.userId === user.id)?.methods).toEqual(['push']);
  });

  it('refuses a used, an expired and an unknown code with 410 (audited), changing nothing', async () => {
    const f = await mfaFirm(h);
    const user = await person(h, f);
    const agent = await loginAs(h, f, user, 'enroll', browserOf(h));
    const begun = await beginMobile(agent);
    const device = await DeviceSimulator.create(h.app, clock);
    expect((await device.activate(begun.activationUrl)).statusCode).toBe(200);

    const other = await DeviceSimulator.create(h.app, clock);
    let before = await stateBesidesAudit(h);
    expectError(await other.activate(begun.activationUrl), 410, 'ACTIVATION_INVALID');
    expectError(await other.activate('A'.repeat(43)), 410, 'ACTIVATION_INVALID');
    expect(await stateBesidesAudit(h)).toEqual(before);

    const late = await person(h, f);
    const lateAgent = await loginAs(h, f, late, 'enroll', browserOf(h));
    const lateBegun = await beginMobile(lateAgent);
    clock.advance(10 * MINUTE + 1);
    before = await stateBesidesAudit(h);
    expectError(await other.activate(lateBegun.activationUrl), 410, 'ACTIVATION_INVALID');
    expect(await stateBesidesAudit(h)).toEqual(before);
    // (The pending login itself lasts as long as the code: its screen is gone by now too.)
    expect((await auditEvents(h, { event: 'device.activation_refused' })).length).toBeGreaterThanOrEqual(3);
  });

  it('rolls the activation back without a free licence (409 NO_SEAT): the code still works later', async () => {
    const f = await mfaFirm(h, { licences: 1 });
    const a = await person(h, f);
    const b = await person(h, f);
    const agentA = await loginAs(h, f, a, 'enroll', browserOf(h));
    const agentB = await loginAs(h, f, b, 'enroll', browserOf(h));
    const begunA = await beginMobile(agentA);
    const begunB = await beginMobile(agentB);
    expect((await (await DeviceSimulator.create(h.app, clock)).activate(begunA.activationUrl)).statusCode).toBe(200);
    const deviceB = await DeviceSimulator.create(h.app, clock);
    const before = await stateBesidesAudit(h);
    expectError(await deviceB.activate(begunB.activationUrl), 409, 'NO_SEAT');
    expect(await stateBesidesAudit(h)).toEqual(before);
  });

  it('refuses garbage in every activation field with 400', async () => {
    const f = await mfaFirm(h);
    const agent = await loginAs(h, f, await person(h, f), 'enroll', browserOf(h));
    const begun = await beginMobile(agent);
    const code = DeviceSimulator.codeOf(begun.activationUrl);
    const device = await DeviceSimulator.create(h.app, clock);
    const jwk = { kty: 'EC', crv: 'P-256', x: device.publicJwk.x, y: device.publicJwk.y };
    const post = (payload: string) => h.app.inject({ method: 'POST', url: api('/device/activate'), headers: { 'content-type': 'application/json' }, payload });
    const before = await stateBesidesAudit(h);
    for (const body of [
      {},
      { code },
      { code: 5, publicKey: jwk },
      { code, publicKey: 'key' },
      { code, publicKey: { ...jwk, crv: 'P-384' } },
      { code, publicKey: { ...jwk, kty: 'RSA' } },
      { code, publicKey: { ...jwk, x: 'not-base64!' } },
      { code, publicKey: { ...jwk, x: jwk.y } }, // not a point on the curve
      { code, publicKey: { ...jwk, d: jwk.x } },
      { code, publicKey: jwk, platform: 'x'.repeat(101) },
      { code, publicKey: jwk, extra: 1 },
    ]) {
      const res = await post(JSON.stringify(body));
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
    }
    expect((await post('{not json')).statusCode).toBe(400);
    expect(await stateBesidesAudit(h)).toEqual(before);
    expect((await device.activate(code)).statusCode).toBe(200);
  });
});

// --- push at login ---

describe('a push at login (reference 1.4.1)', () => {
  it('Approve with the number shown on the login screen: the waiting login lands on the homepage at once', async () => {
    const u = await pushUser(h, await mfaFirm(h));
    const agent = await loginAs(h, u.f, u.user, 'second_factor', browserOf(h));
    const challenge = (await agent.get(api('/mfa/challenge'))).json();
    expect(challenge.methods).toEqual(['push', 'totp', 'backup_code']);
    expect(challenge.defaultMethod).toBe('push');

    const pendingToken = sessionCookie(agent);
    const push = await sendPush(agent);
    expect(push.number).toMatch(/^\d{6}$/);
    expect(push.expiresAt).toBe(clock.now() + 60_000);
    expect(push.expiresInSeconds).toBe(60); // the login screen's countdown, whatever its clock says

    const listed = (await u.device.transactions()).json();
    expect(listed.items).toEqual([
      {
        id: push.transactionId,
        firmName: u.f.firm.name,
        userName: u.user.name,
        email: u.user.email,
        app: 'Tessera',
        ip: '203.0.113.7',
        browser: 'Chrome',
        os: 'Windows',
        createdAt: clock.now(),
        expiresAt: push.expiresAt,
        numberDigits: 6,
        // Tessera's own sign-in: no application lines.
        requestType: null,
        displayUsername: null,
        details: [],
      },
    ]);
    expect(JSON.stringify(listed)).not.toContain(push.number);

    const waiting = wait(agent, push.transactionId);
    await new Promise((r) => setTimeout(r, 50));
    const answered = await u.device.approve(push.transactionId, push.number);
    expect(answered.statusCode, answered.body).toBe(200);
    expect(answered.json()).toEqual({ status: 'approved' });
    const res = await waiting;
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ status: 'approved' });
    expect(sessionCookie(agent)).not.toBe(pendingToken);
    expect(await sessionRow(h, sessionCookie(agent))).toMatchObject({ stage: 'full', second_factor_at: clock.now() });
    expect((await agent.get(api('/me'))).statusCode).toBe(200);
    expect((await auditEvents(h, { event: 'login.succeeded', subjectId: u.user.id })).at(-1)?.details).toMatchObject({ factors: ['password', 'push'] });
    expect(await txRow(push.transactionId)).toMatchObject({ status: 'approved', answered_by: u.authenticatorId, completed_at: clock.now() });
    expect((await u.device.transactions()).json().items).toEqual([]);
  });

  it('an answer replayed, or sent again, is refused (409) and changes nothing', async () => {
    const u = await pushUser(h, await mfaFirm(h));
    const agent = await loginAs(h, u.f, u.user, 'second_factor', browserOf(h));
    const push = await sendPush(agent);
    const timestamp = clock.now();
    const first = await u.device.approve(push.transactionId, push.number, { timestamp });
    expect(first.statusCode).toBe(200);
    const before = await stateBesidesAudit(h);
    expectError(await u.device.approve(push.transactionId, push.number, { timestamp }), 409, 'TRANSACTION_NOT_PENDING');
    expectError(await u.device.answer(push.transactionId, 'deny', { reason: 'fraud' }), 409, 'TRANSACTION_NOT_PENDING');
    expect(await stateBesidesAudit(h)).toEqual(before);
    expect((await auditEvents(h, { event: 'mfa.push_answer_refused', subjectId: u.user.id })).map((e) => e.details.reason)).toEqual(['already_approved', 'already_approved']);
    expect((await wait(agent, push.transactionId)).json()).toEqual({ status: 'approved' });
  });

  it('a wrong number denies (verified push): the login fails once, audited', async () => {
    const u = await pushUser(h, await mfaFirm(h));
    const agent = await loginAs(h, u.f, u.user, 'second_factor', browserOf(h));
    const push = await sendPush(agent);
    const res = await u.device.approve(push.transactionId, wrongNumberFor(push.number));
    expect(res.json()).toEqual({ status: 'denied' });
    // The login screen is told why (issue 16 item 8): the number did not match.
    expect((await wait(agent, push.transactionId)).json()).toEqual({ status: 'denied', reason: 'wrong_number' });
    expect((await wait(agent, push.transactionId)).json()).toEqual({ status: 'denied', reason: 'wrong_number' });
    expect(await failures(u.user.id)).toBe(1);
    expect((await auditEvents(h, { event: 'mfa.push_denied', subjectId: u.user.id }))[0]?.details).toMatchObject({ reason: 'wrong_number' });
    expect((await agent.get(api('/me'))).statusCode).toBe(401);
    // Approve without a number is a wrong number too.
    const again = await sendPush(agent);
    expect((await u.device.answer(again.transactionId, 'approve')).json()).toEqual({ status: 'denied' });
  });

  it('"It was a mistake" denies without any report', async () => {
    const u = await pushUser(h, await mfaFirm(h));
    const agent = await loginAs(h, u.f, u.user, 'second_factor', browserOf(h));
    const push = await sendPush(agent);
    const mailsBefore = await h.ctx.db.selectFrom('mail_outbox').select('id').execute();
    expect((await u.device.answer(push.transactionId, 'deny', { reason: 'mistake' })).json()).toEqual({ status: 'denied' });
    expect((await wait(agent, push.transactionId)).json()).toEqual({ status: 'denied' });
    expect(await h.ctx.db.selectFrom('mail_outbox').select('id').execute()).toEqual(mailsBefore);
    expect(await auditEvents(h, { event: 'mfa.push_fraud', subjectId: u.user.id })).toEqual([]);
    // Pushes are not paused.
    expect((await agent.post(api('/mfa/push'))).statusCode).toBe(201);
  });

  it('"It seemed fraudulent" denies, mails the superusers (real SMTP), pauses pushes 20 minutes; passcodes still work', async () => {
    const u = await pushUser(h, await mfaFirm(h));
    const agent = await loginAs(h, u.f, u.user, 'second_factor', browserOf(h));
    const push = await sendPush(agent);
    const loginAt = new Date(clock.now()).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
    expect((await u.device.answer(push.transactionId, 'deny', { reason: 'fraud' })).json()).toEqual({ status: 'fraud' });
    // The report ends the login that asked (issue 12): its screen can no longer even ask how it went.
    expectError(await wait(agent, push.transactionId), 401, 'UNAUTHENTICATED');
    expect(await txRow(push.transactionId)).toMatchObject({ status: 'fraud' });
    expect((await auditEvents(h, { event: 'mfa.push_fraud', subjectId: u.user.id }))[0]?.details).toMatchObject({
      transactionId: push.transactionId,
      ip: '203.0.113.7',
      browser: 'Chrome',
      os: 'Windows',
      pausedUntil: clock.now() + 20 * MINUTE,
    });

    await h.ctx.mail.deliverDue();
    const mail = smtp.received.find((m) => m.to.includes(u.f.superuser.email) && m.raw.includes('fraudulent'));
    expect(mail).toBeDefined();
    const text = mail!.raw.replace(/=\r?\n/g, '');
    expect(text).toContain(u.user.email);
    expect(text).toContain('203.0.113.7');
    expect(text).toContain('Chrome on Windows');
    expect(text).toContain(`When: ${loginAt}.`);

    // Paused: no push (409), not offered; a passcode of the same device still works (in a new login).
    const again = await loginAs(h, u.f, u.user, 'second_factor', browserOf(h));
    const challenge = (await again.get(api('/mfa/challenge'))).json();
    expect(challenge.methods).toEqual(['totp', 'backup_code']);
    expect(challenge.defaultMethod).toBe('totp');
    expectError(await again.post(api('/mfa/push')), 409, 'PUSH_PAUSED');
    clock.advance(30_000);
    const ok = await again.post(api('/mfa/verify'), { method: 'totp', code: u.device.passcode() });
    expect(ok.statusCode, ok.body).toBe(200);

    // After 20 minutes pushes work again.
    clock.advance(20 * MINUTE);
    const later = await loginAs(h, u.f, u.user, 'second_factor', browserOf(h));
    expect((await later.post(api('/mfa/push'))).statusCode).toBe(201);
  });

  it('expires after 60 seconds: a late answer is refused, the wait says expired and counts one failure', async () => {
    const u = await pushUser(h, await mfaFirm(h));
    const agent = await loginAs(h, u.f, u.user, 'second_factor', browserOf(h));
    const push = await sendPush(agent);
    clock.advance(60_000);
    expect((await u.device.transactions()).json().items).toEqual([]);
    const before = await stateBesidesAudit(h);
    expectError(await u.device.approve(push.transactionId, push.number), 409, 'TRANSACTION_NOT_PENDING');
    expect(await stateBesidesAudit(h)).toEqual(before);
    expect((await wait(agent, push.transactionId)).json()).toEqual({ status: 'expired' });
    expect((await wait(agent, push.transactionId)).json()).toEqual({ status: 'expired' });
    expect(await failures(u.user.id)).toBe(1);
    expect(await txRow(push.transactionId)).toMatchObject({ status: 'expired' });
  });

  it('keeps one pending push per user: a new one expires the older (without counting a failure)', async () => {
    const u = await pushUser(h, await mfaFirm(h));
    const agent = await loginAs(h, u.f, u.user, 'second_factor', browserOf(h));
    const first = await sendPush(agent);
    const second = await sendPush(agent);
    expect(await txRow(first.transactionId)).toMatchObject({ status: 'expired' });
    expect((await u.device.transactions()).json().items.map((i: { id: string }) => i.id)).toEqual([second.transactionId]);
    expectError(await u.device.approve(first.transactionId, first.number), 409, 'TRANSACTION_NOT_PENDING');
    expect((await wait(agent, first.transactionId)).json()).toEqual({ status: 'expired' });
    expect(await failures(u.user.id)).toBe(0);
  });

  it('limits push bombing: the 6th push in 15 minutes without an approval is refused, also after a restart; an approval resets it', async () => {
    const u = await pushUser(h, await mfaFirm(h));
    const agent = await loginAs(h, u.f, u.user, 'second_factor', browserOf(h));
    for (let i = 0; i < 5; i++) {
      await sendPush(agent);
      clock.advance(MINUTE);
    }
    const limited = await agent.post(api('/mfa/push'));
    expectError(limited, 429, 'PUSH_LIMIT');
    expect(limited.json().message).toMatch(/passcode .* security key/);

    // Another process on the same database (a restart) counts the same rows.
    const restarted = await startHarness({ shared: database, clock, secrets: h.ctx.secrets });
    try {
      const there = new Agent(restarted.app);
      there.cookies = agent.cookies;
      there.csrf = agent.csrf;
      expectError(await there.post(api('/mfa/push')), 429, 'PUSH_LIMIT');
    } finally {
      await restarted.close();
    }
    // A passcode still works.
    const ok = await agent.post(api('/mfa/verify'), { method: 'totp', code: u.device.passcode() });
    expect(ok.statusCode, ok.body).toBe(200);

    // The window slides: 11 minutes later the first pushes are out of it.
    clock.advance(11 * MINUTE);
    const next = await loginAs(h, u.f, u.user, 'second_factor', browserOf(h));
    const push = await sendPush(next);
    expect((await u.device.approve(push.transactionId, push.number)).statusCode).toBe(200);
    expect((await wait(next, push.transactionId)).json()).toEqual({ status: 'approved' });
    // After the approval the count starts again.
    clock.advance(1000);
    const third = await loginAs(h, u.f, u.user, 'second_factor', browserOf(h));
    for (let i = 0; i < 5; i++) await sendPush(third);
    expectError(await third.post(api('/mfa/push')), 429, 'PUSH_LIMIT');
  });

  it('follows the firm settings: 3-digit numbers, and a lower limit', async () => {
    const u = await pushUser(h, await mfaFirm(h, { adminEnrolled: true }));
    const policy = (await u.f.admin.get(api('/admin/mfa/policy'))).json();
    expect(policy).toMatchObject({ pushNumberDigits: 6, pushMaxPerWindow: 5, pushWindowMinutes: 15 });
    const put = await u.f.admin.raw('PUT', api('/admin/mfa/policy'), { body: { ...policy, pushNumberDigits: 3, pushMaxPerWindow: 2 } });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json()).toMatchObject({ pushNumberDigits: 3, pushMaxPerWindow: 2, pushWindowMinutes: 15 });
    expect((await u.f.admin.raw('PUT', api('/admin/mfa/policy'), { body: { ...policy, pushNumberDigits: 4 } })).statusCode).toBe(400);
    const agent = await loginAs(h, u.f, u.user, 'second_factor', browserOf(h));
    const push = await sendPush(agent);
    expect(push.number).toMatch(/^\d{3}$/);
    expect((await u.device.transactions()).json().items[0].numberDigits).toBe(3);
    await sendPush(agent);
    expectError(await agent.post(api('/mfa/push')), 429, 'PUSH_LIMIT');
  });
});

// --- refusals ---

describe('device requests that are not what they claim', () => {
  it('refuses unsigned, badly signed, stale, and forged requests with 401 (audited), changing nothing', async () => {
    const u = await pushUser(h, await mfaFirm(h));
    const agent = await loginAs(h, u.f, u.user, 'second_factor', browserOf(h));
    const push = await sendPush(agent);
    const forger = await DeviceSimulator.create(h.app, clock);
    const before = await stateBesidesAudit(h);
    const cases = [
      { unsigned: true },
      { signature: 'x'.repeat(86) },
      { signature: 'short' },
      { key: forger.keys.privateKey },
      { timestamp: clock.now() - 121_000 },
      { timestamp: clock.now() + 121_000 },
      { timestamp: 'yesterday' },
      { deviceId: '00000000-0000-4000-8000-000000000000' },
      { deviceId: 'garbage' },
    ];
    for (const o of cases) {
      expectError(await u.device.transactions(o), 401, 'DEVICE_UNAUTHENTICATED');
      expectError(await u.device.approve(push.transactionId, push.number, { request: o }), 401, 'DEVICE_UNAUTHENTICATED');
    }
    // A valid request signature, but an answer signed over something else, by another key, or stale.
    const ts = clock.now();
    for (const o of [
      { signedString: DeviceSimulator.answerString(push.transactionId, 'approve', undefined, push.number, ts + 1), timestamp: ts },
      { signedString: DeviceSimulator.answerString('other', 'approve', undefined, push.number, ts), timestamp: ts },
      { signature: await forger.sign(DeviceSimulator.answerString(push.transactionId, 'approve', undefined, push.number, ts)), timestamp: ts },
      { timestamp: ts - 121_000 },
      { signature: '' },
    ]) {
      expectError(await u.device.approve(push.transactionId, push.number, o), 401, 'DEVICE_UNAUTHENTICATED');
    }
    // The body is part of the request signature: a body swapped under valid headers is refused.
    const body = JSON.stringify({ answer: 'approve', number: push.number, timestamp: ts, signature: await u.device.sign(DeviceSimulator.answerString(push.transactionId, 'approve', undefined, push.number, ts)) });
    const url = api(`/device/transactions/${push.transactionId}/answer`);
    const headers = await u.device.signatureHeaders('POST', url, '{"answer":"deny","timestamp":1,"signature":""}');
    const swapped = await h.app.inject({ method: 'POST', url, headers: { ...headers, 'content-type': 'application/json' }, payload: body });
    expectError(swapped, 401, 'DEVICE_UNAUTHENTICATED');
    expect(await stateBesidesAudit(h)).toEqual(before);
    expect((await auditEvents(h, { event: 'device.auth_failed' })).length).toBeGreaterThanOrEqual(cases.length);
    expect((await txRow(push.transactionId)).status).toBe('pending');
    // The real answer still works.
    expect((await u.device.approve(push.transactionId, push.number)).json()).toEqual({ status: 'approved' });
  });

  it('refuses an answer for another user\'s or another firm\'s transaction with 404, changing nothing', async () => {
    const u = await pushUser(h, await mfaFirm(h));
    const sameFirm = await pushUser(h, u.f);
    const otherFirm = await pushUser(h, await mfaFirm(h));
    const agent = await loginAs(h, u.f, u.user, 'second_factor', browserOf(h));
    const push = await sendPush(agent);
    const before = await stateBesidesAudit(h);
    expectError(await sameFirm.device.approve(push.transactionId, push.number), 404, 'NOT_FOUND');
    expectError(await otherFirm.device.approve(push.transactionId, push.number), 404, 'NOT_FOUND');
    expectError(await otherFirm.device.answer(push.transactionId, 'deny', { reason: 'fraud' }), 404, 'NOT_FOUND');
    expectError(await u.device.approve('no-such-transaction', push.number), 404, 'NOT_FOUND');
    expect(await stateBesidesAudit(h)).toEqual(before);
    expect((await sameFirm.device.transactions()).json().items).toEqual([]);
    expect((await otherFirm.device.transactions()).json().items).toEqual([]);
    expect((await auditEvents(h, { event: 'mfa.push_answer_refused', subjectId: otherFirm.user.id })).map((e) => e.details.reason)).toEqual(['other_user', 'other_user']);
    // Another user's login cannot wait on this transaction either.
    const theirs = await loginAs(h, sameFirm.f, sameFirm.user, 'second_factor', browserOf(h));
    expectError(await wait(theirs, push.transactionId), 404, 'NOT_FOUND');
  });

  it('refuses garbage in every answer field with 400, changing nothing', async () => {
    const u = await pushUser(h, await mfaFirm(h));
    const agent = await loginAs(h, u.f, u.user, 'second_factor', browserOf(h));
    const push = await sendPush(agent);
    const before = await stateBesidesAudit(h);
    for (const body of [
      { answer: 'maybe' },
      { reason: 'boredom' },
      { number: 'abc' },
      { number: 1234 },
      { number: '1234567' },
      { timestamp: 'now' },
      { timestamp: -1 },
      { signature: 5 },
      { signature: 'x'.repeat(201) },
      { extra: true },
    ]) {
      const res = await u.device.approve(push.transactionId, push.number, { body });
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
    }
    expectError(await u.device.answer(push.transactionId, 'approve', { reason: 'fraud', number: push.number }), 400, 'INVALID_ANSWER');
    expect((await u.device.request('POST', `/device/transactions/${push.transactionId}/answer`, '{oops')).statusCode).toBe(400);
    expect((await u.device.request('POST', `/device/transactions/${'x'.repeat(65)}/answer`, {})).statusCode).toBe(400);
    expect((await u.device.request('PUT', '/device/web-push', { subscription: { endpoint: 'http://insecure.example' } })).statusCode).toBe(400);
    expect(await stateBesidesAudit(h)).toEqual(before);
  });

  it('a removed device stops working at once; the device API needs no CSRF token but the login side does', async () => {
    const u = await pushUser(h, await mfaFirm(h));
    const agent = await loginAs(h, u.f, u.user, 'second_factor', browserOf(h));
    clock.advance(30_000);
    expect((await agent.post(api('/mfa/verify'), { method: 'totp', code: u.device.passcode() })).statusCode).toBe(200);
    const removed = await agent.delete(api(`/me/authenticators/${u.authenticatorId}?confirm=true`));
    expect(removed.statusCode, removed.body).toBe(204);
    expectError(await u.device.transactions(), 401, 'DEVICE_UNAUTHENTICATED');
    expect(await h.ctx.db.selectFrom('push_devices').select('authenticator_id').where('authenticator_id', '=', u.authenticatorId).executeTakeFirst()).toBeUndefined();
    // Cookies + no CSRF token on the login side: refused.
    const other = await pushUser(h, await mfaFirm(h));
    const login2 = await loginAs(h, other.f, other.user, 'second_factor', browserOf(h));
    expectError(await login2.raw('POST', api('/mfa/push'), { csrf: false }), 403, 'CSRF_INVALID');
  });
});

// --- offline passcodes, Web Push ---

describe('the app\'s offline passcodes (reference 1.4.2)', () => {
  it('are accepted through the passcode path, once per time step', async () => {
    const u = await pushUser(h, await mfaFirm(h));
    const agent = await loginAs(h, u.f, u.user, 'second_factor', browserOf(h));
    clock.advance(30_000);
    const code = u.device.passcode();
    expect((await agent.post(api('/mfa/verify'), { method: 'totp', code })).statusCode).toBe(200);
    const again = await loginAs(h, u.f, u.user, 'second_factor', browserOf(h));
    expectError(await again.post(api('/mfa/verify'), { method: 'totp', code }), 401, 'INVALID_CODE');
    expect((await auditEvents(h, { event: 'mfa.replay_refused', subjectId: u.user.id })).length).toBe(1);
  });
});

describe('Web Push', () => {
  it('stores the subscription, publishes the VAPID key, and sends only where subscribed; a 410 clears the subscription', async () => {
    const u = await pushUser(h, await mfaFirm(h));
    const key = (await h.app.inject({ method: 'GET', url: api('/device/vapid-public-key') })).json().key;
    expect(key).toMatch(/^[A-Za-z0-9_-]{87}$/);
    expect((await vapidKeys(h.ctx)).publicKey).toBe(key);
    const sealed = await h.ctx.db.selectFrom('server_keys').select(['name', 'value']).where('name', '=', 'vapid_private_key').executeTakeFirstOrThrow();
    expect(sealed.value).toMatch(/^v1\./);

    const device = { id: u.authenticatorId, web_push: null as string | null };
    const sent: { endpoint: string; payload: string; subject: string }[] = [];
    const sender = async (s: { endpoint: string }, payload: string, o: { vapidDetails?: { subject: string } }) => void sent.push({ endpoint: s.endpoint, payload, subject: o.vapidDetails!.subject });
    expect(await sendPushNotifications(h.ctx, [device], 'tx-1', () => undefined, sender)).toBe(0);
    expect(sent).toEqual([]);

    const subscription = { endpoint: 'https://push.example/abc', expirationTime: null, keys: { p256dh: 'BPublicKey', auth: 'authsecret' } };
    expect((await u.device.request('PUT', '/device/web-push', { subscription })).statusCode).toBe(204);
    const row = await h.ctx.db.selectFrom('push_devices').select('web_push').where('authenticator_id', '=', u.authenticatorId).executeTakeFirstOrThrow();
    expect(JSON.parse(row.web_push!)).toEqual(subscription);
    expect(await sendPushNotifications(h.ctx, [{ id: u.authenticatorId, web_push: row.web_push }], 'tx-1', () => undefined, sender)).toBe(1);
    expect(sent).toEqual([{ endpoint: subscription.endpoint, payload: pushNotificationPayload('tx-1'), subject: 'mailto:tessera@localhost' }]);
    expect(JSON.parse(pushNotificationPayload('tx-1'))).toEqual({ type: 'push', transactionId: 'tx-1' });

    const logged: string[] = [];
    const gone = async () => {
      throw Object.assign(new Error('gone'), { statusCode: 410 });
    };
    expect(await sendPushNotifications(h.ctx, [{ id: u.authenticatorId, web_push: row.web_push }], 'tx-2', (m) => logged.push(m), gone)).toBe(0);
    expect(logged).toEqual([`web push to device ${u.authenticatorId} failed (410)`]);
    expect((await h.ctx.db.selectFrom('push_devices').select('web_push').where('authenticator_id', '=', u.authenticatorId).executeTakeFirstOrThrow()).web_push).toBeNull();

    expect((await u.device.request('PUT', '/device/web-push', { subscription: null })).statusCode).toBe(204);
  });

  it('describes the login\'s browser and system', () => {
    expect(describeUserAgent(CHROME_WINDOWS)).toEqual({ browser: 'Chrome', os: 'Windows' });
    expect(describeUserAgent('Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1')).toEqual({ browser: 'Safari', os: 'iOS' });
    expect(describeUserAgent(null)).toEqual({ browser: 'Unknown browser', os: 'Unknown system' });
  });
});
