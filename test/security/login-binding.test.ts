import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MINUTE, ManualClock } from '../../src/clock.js';
import { STEP_UP_MAX_AGE_MS } from '../../src/mfa/pending-login.js';
import { Agent, PASSWORD, auditEvents, dbState, enrolledOperator, expectError, expectRefused, startHarness, totpCode, type Harness, type TestFirm } from '../support/harness.js';
import { DeviceSimulator } from '../support/device-simulator.js';
import { SoftAuthenticator, type SoftCredential } from '../support/soft-authenticator.js';
import { api, loginAs, mfaFirm, person, sessionCookie, sessionRow, withSessionCookie, mfaAttempts } from '../support/fixtures.js';
import { assertionOptions, freshCode, keyUser, pushUser, sendPush, totpUser, type TotpUser } from '../support/factors.js';

/**
 * Security review (issue 12), items 4 to 6: what binds a login to the way it was made.
 *  - An activation QR code works only while the enrollment that showed it is open: finishing it
 *    with another factor, a step-up, logout or the pending login's expiry voids it.
 *  - A step-up (a second factor answered on a full session) replaces the session token, and
 *    counts for security changes for STEP_UP_MAX_AGE_MS only.
 *  - The second-factor lockout holds on every way in: a remembered browser and a passkey too.
 * Each test is named after the attack it stops.
 */

let h: Harness;
let F: TestFirm;

beforeAll(async () => {
  h = await startHarness({ clock: new ManualClock(Date.UTC(2026, 8, 14, 9, 0, 0)) });
  F = await mfaFirm(h, { licences: 20, enabled: 'staff', adminEnrolled: true });
});
afterAll(() => h?.close());

const PHONE = { phone: { number: '07911 123456', country: 'GB' } };

async function beginMobile(agent: Agent): Promise<{ authenticatorId: string; activationUrl: string }> {
  const res = await agent.post(api('/mfa/enrollment/push'), PHONE);
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

/** A device that photographed the QR code tries it: refused 410, audited as a closed enrollment of this user, and nothing of the device stored. */
async function expectPhotographedCodeRefused(begun: { authenticatorId: string; activationUrl: string }, userId: string) {
  const thief = await DeviceSimulator.create(h.app, h.clock);
  expectError(await thief.activate(begun.activationUrl), 410, 'ACTIVATION_INVALID');
  expect(await h.ctx.db.selectFrom('push_devices').select('authenticator_id').where('authenticator_id', '=', begun.authenticatorId).execute()).toEqual([]);
  const pushAuthenticators = await h.ctx.db.selectFrom('authenticators').select('status').where('user_id', '=', userId).where('kind', '=', 'push').execute();
  expect(pushAuthenticators.every((a) => a.status === 'pending')).toBe(true);
  expect((await auditEvents(h, { event: 'device.activation_refused', subjectId: userId })).at(-1)).toMatchObject({
    firm_id: F.firm.id,
    details: { reason: 'enrollment_closed' },
    attention: 1,
  });
}

async function confirmTotp(agent: Agent): Promise<void> {
  const begun = (await agent.post(api('/mfa/enrollment/totp'), {})).json() as { authenticatorId: string; secret: string };
  const res = await agent.post(api(`/mfa/enrollment/totp/${begun.authenticatorId}/confirm`), { code: totpCode(h, begun.secret) });
  expect(res.statusCode, res.body).toBe(200);
}

// --- item 4 ------------------------------------------------------------------------------

describe('an activation QR code is bound to the enrollment that showed it', () => {
  it('the QR code activates while its enrollment is open (the control of the tests below)', async () => {
    const user = await person(h, F);
    const agent = await loginAs(h, F, user, 'enroll');
    h.clock.advance(2 * MINUTE);
    const begun = await beginMobile(agent);
    h.clock.advance(7 * MINUTE);
    const device = await DeviceSimulator.create(h.app, h.clock);
    expect((await device.activate(begun.activationUrl)).statusCode).toBe(200);
    expect((await agent.post(api(`/mfa/enrollment/push/${begun.authenticatorId}/complete`))).statusCode).toBe(200);
  });

  it('a photographed QR code is void once the user finished enrolling with an authenticator app instead', async () => {
    const user = await person(h, F);
    const agent = await loginAs(h, F, user, 'enroll');
    const begun = await beginMobile(agent);
    await confirmTotp(agent);
    await expectPhotographedCodeRefused(begun, user.id);
  });

  it('a photographed QR code is void once the user signed out of the enrollment', async () => {
    const user = await person(h, F);
    const agent = await loginAs(h, F, user, 'enroll');
    const begun = await beginMobile(agent);
    expect((await agent.post(api('/logout'))).statusCode).toBe(204);
    await expectPhotographedCodeRefused(begun, user.id);
    // Signing in again opens a new enrollment; the old code stays dead.
    await loginAs(h, F, user, 'enroll', agent);
    expectError(await (await DeviceSimulator.create(h.app, h.clock)).activate(begun.activationUrl), 410, 'ACTIVATION_INVALID');
  });

  it("a photographed QR code is void once the pending login expired, though the code's own 10 minutes are not over", async () => {
    const user = await person(h, F);
    const agent = await loginAs(h, F, user, 'enroll');
    h.clock.advance(5 * MINUTE);
    const begun = await beginMobile(agent); // the code would last until +15 min, the pending login until +10
    h.clock.advance(5 * MINUTE);
    await expectPhotographedCodeRefused(begun, user.id);
  });

  it('a QR code shown in My security is void once the user added a security key there instead', async () => {
    const u = await totpUser(h, F);
    const agent = await loginAs(h, F, u.user, 'second_factor');
    expect((await agent.post(api('/mfa/verify'), { method: 'totp', code: freshCode(h, u.secret) })).statusCode).toBe(200);
    const begun = await beginMobile(agent);
    const key = new SoftAuthenticator({ origin: h.ctx.config.publicUrl.origin });
    const opts = (await agent.post(api('/mfa/enrollment/webauthn/options'), { label: 'Desk key' })).json();
    const added = await agent.post(api(`/mfa/enrollment/webauthn/${opts.authenticatorId}/verify`), { response: key.register(opts.options).response });
    expect(added.statusCode, added.body).toBe(200);
    await expectPhotographedCodeRefused(begun, u.user.id);
  });
});

// --- item 5 ------------------------------------------------------------------------------

/** A firm that remembers browsers, and a user of it whose browser it remembers (after one login with the second factor), signed out. */
async function rememberedUser(days: number): Promise<{ f: TestFirm; u: TotpUser; browser: Agent }> {
  const f = await mfaFirm(h, { licences: 20, enabled: 'staff', adminEnrolled: true });
  await h.ctx.db.updateTable('mfa_settings').set({ remember_days: days }).where('firm_id', '=', f.firm.id).execute();
  const u = await totpUser(h, f);
  const browser = await loginAs(h, f, u.user, 'second_factor');
  expect((await browser.post(api('/mfa/verify'), { method: 'totp', code: freshCode(h, u.secret), remember: true })).statusCode).toBe(200);
  await browser.post(api('/logout'));
  return { f, u, browser };
}

describe('a step-up replaces the session token and ages', () => {
  it('a session token copied before a step-up on a remembered browser does not inherit the step-up', async () => {
    const { f, u, browser } = await rememberedUser(7);
    await loginAs(h, f, u.user, 'home', browser); // remembered: no second factor asked
    const copied = sessionCookie(browser)!;
    const loggedIn = (await sessionRow(h, copied))!;
    const thief = withSessionCookie(h, copied);
    expect((await browser.get(api('/me/security'))).json()).toMatchObject({ secondFactorThisSession: false, stepUpRequired: true });

    h.clock.advance(20 * MINUTE);
    const stepUp = await browser.post(api('/mfa/verify'), { method: 'totp', code: freshCode(h, u.secret) });
    expect(stepUp.statusCode, stepUp.body).toBe(200);
    const fresh = sessionCookie(browser)!;
    expect(fresh).not.toBe(copied);
    expect(await sessionRow(h, copied)).toBeUndefined();
    // The new session carries the step-up, not a longer life: the absolute timeout still counts from the login.
    expect(await sessionRow(h, fresh)).toMatchObject({ stage: 'full', user_id: u.user.id, second_factor_at: h.clock.now(), expires_at: loggedIn.expires_at });
    expect((await auditEvents(h, { event: 'login.step_up', subjectId: u.user.id })).at(-1)?.details).toEqual({ realm: 'firm', method: 'totp' });

    // The copied token is worth nothing: no session, and certainly no security change.
    expectError(await thief.get(api('/me')), 401, 'UNAUTHENTICATED');
    const before = await dbState(h);
    expectError(await thief.post(api('/me/backup-codes')), 401, 'UNAUTHENTICATED');
    expect((await dbState(h)).backup_codes).toEqual(before.backup_codes);
    // The user's own browser, with the new token, may.
    expect((await browser.patch(api(`/me/authenticators/${u.authenticatorId}`), { label: 'Stepped up' })).statusCode).toBe(200);
  });

  it('a session token copied before a step-up does not inherit it, whichever factor answers (backup code, security key, push)', async () => {
    const stale = async (user: { email: string }, pass: (agent: Agent) => Promise<void>) => {
      const agent = await loginAs(h, F, user, 'second_factor');
      await pass(agent);
      h.clock.advance(STEP_UP_MAX_AGE_MS); // the login's second factor is too old for changes now
      return { agent, copied: sessionCookie(agent)! };
    };
    const expectRotated = async (agent: Agent, copied: string, method: string, userId: string) => {
      expect(sessionCookie(agent)).not.toBe(copied);
      expect(await sessionRow(h, copied)).toBeUndefined();
      expectError(await withSessionCookie(h, copied).get(api('/me')), 401, 'UNAUTHENTICATED');
      expect(await sessionRow(h, sessionCookie(agent)!)).toMatchObject({ stage: 'full', second_factor_at: h.clock.now() });
      expect((await agent.get(api('/me/security'))).json()).toMatchObject({ stepUpRequired: false });
      expect((await auditEvents(h, { event: 'login.step_up', subjectId: userId })).at(-1)?.details).toEqual({ realm: 'firm', method });
    };

    const t: TotpUser = await totpUser(h, F);
    const a = await stale(t.user, async (agent) => {
      expect((await agent.post(api('/mfa/verify'), { method: 'totp', code: freshCode(h, t.secret) })).statusCode).toBe(200);
    });
    expect((await a.agent.post(api('/mfa/verify'), { method: 'backup_code', code: t.backupCodes[0] })).statusCode).toBe(200);
    await expectRotated(a.agent, a.copied, 'backup_code', t.user.id);

    const k = await keyUser(h, F);
    const b = await stale(k.user, async (agent) => {
      const res = await agent.post(api('/mfa/webauthn/verify'), { response: k.key.assert(await assertionOptions(agent), k.credential) });
      expect(res.statusCode, res.body).toBe(200);
    });
    const res = await b.agent.post(api('/mfa/webauthn/verify'), { response: k.key.assert(await assertionOptions(b.agent), k.credential) });
    expect(res.statusCode, res.body).toBe(200);
    await expectRotated(b.agent, b.copied, 'webauthn', k.user.id);

    const p = await pushUser(h, F);
    const approve = async (agent: Agent) => {
      const tx = await sendPush(agent);
      expect((await p.device.approve(tx.transactionId, tx.number)).statusCode).toBe(200);
      expect((await agent.get(api(`/mfa/push/${tx.transactionId}/wait`))).json()).toEqual({ status: 'approved' });
    };
    const c = await stale(p.user, approve);
    await approve(c.agent);
    await expectRotated(c.agent, c.copied, 'push', p.user.id);
  });

  it('a step-up older than 15 minutes no longer unlocks security changes (a session left open is not a standing licence); a new one does', async () => {
    const u = await totpUser(h, F);
    const agent = await loginAs(h, F, u.user, 'second_factor');
    expect((await agent.post(api('/mfa/verify'), { method: 'totp', code: freshCode(h, u.secret) })).statusCode).toBe(200);
    expect(STEP_UP_MAX_AGE_MS).toBe(15 * MINUTE);

    h.clock.advance(STEP_UP_MAX_AGE_MS - 1000);
    expect((await agent.patch(api(`/me/authenticators/${u.authenticatorId}`), { label: 'Still fresh' })).statusCode).toBe(200);
    // A fresh step-up has nothing to answer.
    expectError(await agent.get(api('/mfa/challenge')), 401, 'UNAUTHENTICATED');

    h.clock.advance(1000);
    expect((await agent.get(api('/me/security'))).json()).toMatchObject({ secondFactorThisSession: true, stepUpRequired: true });
    const before = await dbState(h);
    const refused = await agent.patch(api(`/me/authenticators/${u.authenticatorId}`), { label: 'Too late' });
    await expectRefused(h, refused, 403, 'SECOND_FACTOR_REQUIRED', before);
    expect(refused.json().message).toMatch(/last 15 minutes/);
    await expectRefused(h, await agent.post(api('/me/backup-codes')), 403, 'SECOND_FACTOR_REQUIRED', before);
    await expectRefused(h, await agent.delete(api(`/me/authenticators/${u.authenticatorId}?confirm=true`)), 403, 'SECOND_FACTOR_REQUIRED', before);
    await expectRefused(h, await agent.post(api('/mfa/enrollment/totp'), {}), 403, 'SECOND_FACTOR_REQUIRED', before);
    await expectRefused(h, await agent.post(api('/mfa/enrollment/push'), PHONE), 403, 'SECOND_FACTOR_REQUIRED', before);
    // The session itself still works: only security changes need a recent second factor.
    expect((await agent.get(api('/me'))).statusCode).toBe(200);

    // The screen sends the user to /mfa, which now asks again.
    expect((await agent.get(api('/mfa/challenge'))).statusCode).toBe(200);
    const old = sessionCookie(agent)!;
    expect((await agent.post(api('/mfa/verify'), { method: 'totp', code: freshCode(h, u.secret) })).statusCode).toBe(200);
    expect(sessionCookie(agent)).not.toBe(old);
    const renamed = await agent.patch(api(`/me/authenticators/${u.authenticatorId}`), { label: 'Fresh again' });
    expect(renamed.statusCode, renamed.body).toBe(200);
  });

  it("an operator's step-up ages the same way: the console stays open, security changes ask again", async () => {
    const op = await enrolledOperator(h);
    h.clock.advance(STEP_UP_MAX_AGE_MS);
    expect((await op.agent.get(api('/operator/firms'))).statusCode).toBe(200);
    expect((await op.agent.get(api('/operator/security'))).json()).toMatchObject({ secondFactorThisSession: true, stepUpRequired: true });
    const before = await dbState(h);
    await expectRefused(h, await op.agent.post(api('/operator/backup-codes')), 403, 'SECOND_FACTOR_REQUIRED', before);

    const old = sessionCookie(op.agent)!;
    const stepUp = await op.agent.post(api('/mfa/verify'), { method: 'totp', code: totpCode(h, op.secret) });
    expect(stepUp.statusCode, stepUp.body).toBe(200);
    expect(sessionCookie(op.agent)).not.toBe(old);
    expectError(await withSessionCookie(h, old).get(api('/operator/firms')), 401, 'UNAUTHENTICATED');
    expect(await sessionRow(h, sessionCookie(op.agent)!)).toMatchObject({ principal: 'operator', operator_id: op.id, stage: 'full', second_factor_at: h.clock.now() });
    expect((await auditEvents(h, { event: 'login.step_up', subjectId: op.id })).at(-1)?.details).toEqual({ realm: 'operator', method: 'totp' });
    expect((await op.agent.post(api('/operator/backup-codes'))).statusCode).toBe(200);
  });
});

// --- item 6 ------------------------------------------------------------------------------

/** Ten wrong backup codes from the attacker's own pending login (the attacker knows the password): the second factor locks. */
async function lockByGuessing(f: TestFirm, user: { email: string }): Promise<void> {
  const attacker = await loginAs(h, f, user, 'second_factor', new Agent(h.app, { ip: '198.51.100.7' }));
  for (let i = 0; i < 9; i++) expectError(await attacker.post(api('/mfa/verify'), { method: 'backup_code', code: `GUESS-${i}0000` }), 401, 'INVALID_CODE');
  expectError(await attacker.post(api('/mfa/verify'), { method: 'backup_code', code: 'GUESS-90000' }), 423, 'MFA_LOCKED');
}

const sessionsOf = (userId: string) => h.ctx.db.selectFrom('sessions').select('id').where('user_id', '=', userId).orderBy('id').execute();

async function expectLockoutAudited(f: TestFirm, userId: string, details: Record<string, unknown>) {
  const list = await f.admin.get(api(`/admin/audit-events?event=login.refused_locked&attention=true&userId=${userId}`));
  expect(list.statusCode, list.body).toBe(200);
  expect(list.json().items).toHaveLength(1);
  expect(list.json().items[0]).toMatchObject({ result: 'failure', attention: true, flag: 'Lockout', subject: { id: userId }, details });
}

describe('the second-factor lockout covers every way in', () => {
  it('a remembered browser does not get a locked user past the lockout', async () => {
    const { f, u, browser: remembered } = await rememberedUser(30);

    await lockByGuessing(f, u.user);
    const lock = await mfaAttempts(h, u.user.id);
    expect(lock.mfa_locked_until).toBe(h.clock.now() + 15 * MINUTE);
    const sessionsBefore = await sessionsOf(u.user.id);

    h.clock.advance(MINUTE);
    const res = await remembered.post(api('/login'), { email: u.user.email, password: PASSWORD, firm: f.firm.slug });
    expect(res.statusCode, res.body).toBe(423);
    expect(res.json()).toEqual({ error: 'MFA_LOCKED', message: expect.stringMatching(/locked for 14 minutes/), retryAfterSeconds: 14 * 60 });
    expect(res.headers['retry-after']).toBe(String(14 * 60));
    expect(res.cookies.find((c) => c.name === 'tessera_session')).toBeUndefined();
    expect(sessionCookie(remembered)).toBeUndefined();
    expect(await sessionsOf(u.user.id)).toEqual(sessionsBefore);
    expect(await mfaAttempts(h, u.user.id)).toEqual(lock); // neither lifted nor extended
    await expectLockoutAudited(f, u.user.id, { realm: 'firm', rememberedBrowser: true });

    // The browser stays remembered: once the lock ends it skips the second factor again.
    h.clock.advance(14 * MINUTE);
    await loginAs(h, f, u.user, 'home', remembered);
  });

  it('a passkey does not sign a locked user in, and the refused assertion cannot be replayed once the lock ends', async () => {
    const f = await mfaFirm(h, { licences: 20, enabled: 'staff', adminEnrolled: true });
    const policy = { lockoutThreshold: 10, lockoutMinutes: 15, rememberDays: 0, passkeysEnabled: true };
    expect((await f.admin.raw('PUT', api('/admin/mfa/policy'), { body: policy })).statusCode).toBe(200);
    const user = await person(h, f);
    const enrolling = await loginAs(h, f, user, 'enroll');
    const key = new SoftAuthenticator({ origin: h.ctx.config.publicUrl.origin, uv: true, transports: ['internal'] });
    const start = (await enrolling.post(api('/mfa/enrollment/webauthn/options'), { label: 'Laptop', passkey: true })).json();
    const { response, credential } = key.register(start.options);
    expect((await enrolling.post(api(`/mfa/enrollment/webauthn/${start.authenticatorId}/verify`), { response })).statusCode).toBe(200);
    await enrolling.post(api('/logout'));
    const signIn = async (agent: Agent, cred: SoftCredential = credential) => {
      const opts = (await agent.post(api('/passkey/options'))).json() as { challengeId: string; options: { challenge: string } };
      const body = { challengeId: opts.challengeId, response: key.assert(opts.options, cred) };
      return { body, res: await agent.post(api('/passkey/verify'), body) };
    };

    await lockByGuessing(f, user);
    const lock = await mfaAttempts(h, user.id);
    const sessionsBefore = await sessionsOf(user.id);
    h.clock.advance(14 * MINUTE); // the last minute of the lock
    const holder = new Agent(h.app, { ip: '203.0.113.20' });
    const refused = await signIn(holder);
    expect(refused.res.statusCode, refused.res.body).toBe(423);
    expect(refused.res.json()).toEqual({ error: 'MFA_LOCKED', message: expect.stringMatching(/locked for 1 minute\b/), retryAfterSeconds: 60 });
    expect(refused.res.headers['retry-after']).toBe('60');
    expect(sessionCookie(holder)).toBeUndefined();
    expect(await sessionsOf(user.id)).toEqual(sessionsBefore);
    expect(await mfaAttempts(h, user.id)).toEqual(lock); // neither lifted nor extended
    await expectLockoutAudited(f, user.id, { realm: 'firm', method: 'passkey', authenticatorId: start.authenticatorId });

    // The refused assertion was used up: replayed once the lock has ended (its challenge's 5 minutes
    // are not over), it is refused as a used challenge, not accepted.
    h.clock.advance(MINUTE + 1);
    const replay = await holder.post(api('/passkey/verify'), refused.body);
    expect(replay.statusCode, replay.body).toBe(401);
    expect(replay.json().error).toBe('INVALID_CREDENTIALS');
    expect((await auditEvents(h, { event: 'login.failed' })).at(-1)?.details).toMatchObject({ method: 'passkey', reason: 'challenge_used' });
    expect(sessionCookie(holder)).toBeUndefined();

    // After the lock a passkey signs in, and like any second factor restarts the failure count.
    const attacker = await loginAs(h, f, user, 'second_factor', new Agent(h.app, { ip: '198.51.100.8' }));
    expectError(await attacker.post(api('/mfa/verify'), { method: 'backup_code', code: 'GUESS-AGAIN' }), 401, 'INVALID_CODE');
    expect((await mfaAttempts(h, user.id)).mfa_failed_count).toBe(1);
    const ok = await signIn(new Agent(h.app, { ip: '203.0.113.21' }));
    expect(ok.res.statusCode, ok.res.body).toBe(200);
    expect((await mfaAttempts(h, user.id)).mfa_failed_count).toBe(0);
  });
});
