import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { hashToken } from '../../src/sessions/session.service.js';
import { Agent, addCorporation, addUser, enrollForTest, startHarness, type Harness, type TestFirm, totpCode } from '../support/harness.js';
import { api, loginAs, mfaFirm, person, sessionCookie, sessionRow, withSessionCookie } from '../support/fixtures.js';
import { assertionOptions, freshCode, keyUser, pushUser, sendPush, softKey, totpUser } from '../support/factors.js';

/**
 * Session fixation (firm users; operators: operator-mfa.test.ts). A session token is never
 * one the browser brought: the password step makes a new one (and deletes the one it
 * replaced), every way of finishing the second factor or the first enrollment makes another
 * (the pending token is dead after it), and logout deletes the session on the server, so a
 * copied cookie is worth nothing afterwards.
 */

let h: Harness;
let F: TestFirm;

beforeAll(async () => {
  h = await startHarness({ clock: new ManualClock(Date.UTC(2026, 7, 3, 9, 0, 0)) });
  F = await mfaFirm(h, { licences: 20, enabled: 'staff' });
});
afterAll(() => h?.close());

/** The token is dead: the server has no session for it and every route treats it as no session. */
async function expectDead(token: string) {
  expect(await sessionRow(h, token)).toBeUndefined();
  const a = withSessionCookie(h, token);
  expect((await a.get(api('/me'))).statusCode).toBe(401);
  expect((await a.get(api('/mfa/challenge'))).statusCode).toBe(401);
}
/** The agent's token now, asserting that it is live and differs from every earlier one. */
async function rotated(agent: Agent, ...earlier: (string | undefined)[]): Promise<string> {
  const token = sessionCookie(agent)!;
  expect(token).toMatch(/^[A-Za-z0-9_-]{22}$/);
  for (const e of earlier) expect(token).not.toBe(e);
  expect(await sessionRow(h, token)).toBeDefined();
  return token;
}

describe('the password step', () => {
  it('a cookie set before login (a made-up token) is never adopted', async () => {
    const planted = randomBytes(16).toString('base64url');
    const agent = withSessionCookie(h, planted);
    const user = await person(h, F);
    await loginAs(h, F, user, 'enroll', agent);
    await rotated(agent, planted);
    expect(await sessionRow(h, planted)).toBeUndefined();
    expect(await h.ctx.db.selectFrom('sessions').select('id').where('id', '=', hashToken(planted)).executeTakeFirst()).toBeUndefined();
  });

  it("an attacker's own live session planted in the victim's browser is replaced, and deleted", async () => {
    const attacker = await totpUser(h, F);
    const planter = await loginAs(h, F, attacker.user, 'second_factor');
    const planted = sessionCookie(planter)!;
    const victimUser = await totpUser(h, F);
    const browser = withSessionCookie(h, planted);
    await loginAs(h, F, victimUser.user, 'second_factor', browser);
    const token = await rotated(browser, planted);
    await expectDead(planted);
    expect((await sessionRow(h, token))!.user_id).toBe(victimUser.user.id);
  });

  it('a user without MFA: a new full session at login', async () => {
    const corp = await addCorporation(h, F.firm.id, 'Fixation Ltd');
    const user = await addUser(h, F.firm.id, { name: 'Cory Corp', email: 'cory@fixation.example', kind: 'corp_user', corporationId: corp.id });
    const planted = randomBytes(16).toString('base64url');
    const agent = withSessionCookie(h, planted);
    await loginAs(h, F, user, 'home', agent);
    await rotated(agent, planted);
  });
});

describe('the second factor makes a new session; the pending token dies', () => {
  it('passcode', async () => {
    const u = await totpUser(h, F);
    const agent = await loginAs(h, F, u.user, 'second_factor');
    const pending = sessionCookie(agent)!;
    expect((await agent.post(api('/mfa/verify'), { method: 'totp', code: freshCode(h, u.secret) })).statusCode).toBe(200);
    const full = await rotated(agent, pending);
    await expectDead(pending);
    expect((await sessionRow(h, full))!.stage).toBe('full');
    expect((await agent.get(api('/me'))).statusCode).toBe(200);
  });

  it('backup code', async () => {
    const u = await totpUser(h, F);
    const agent = await loginAs(h, F, u.user, 'second_factor');
    const pending = sessionCookie(agent)!;
    expect((await agent.post(api('/mfa/verify'), { method: 'backup_code', code: u.backupCodes[0] })).statusCode).toBe(200);
    await rotated(agent, pending);
    await expectDead(pending);
  });

  it('security key', async () => {
    const u = await keyUser(h, F);
    const agent = await loginAs(h, F, u.user, 'second_factor');
    const pending = sessionCookie(agent)!;
    const response = u.key.assert(await assertionOptions(agent), u.credential);
    expect((await agent.post(api('/mfa/webauthn/verify'), { response })).statusCode).toBe(200);
    await rotated(agent, pending);
    await expectDead(pending);
  });

  it('push', async () => {
    const u = await pushUser(h, F);
    const agent = await loginAs(h, F, u.user, 'second_factor');
    const pending = sessionCookie(agent)!;
    const tx = await sendPush(agent);
    expect((await u.device.approve(tx.transactionId, tx.number)).statusCode).toBe(200);
    const res = await agent.get(api(`/mfa/push/${tx.transactionId}/wait`));
    expect(res.json()).toEqual({ status: 'approved' });
    await rotated(agent, pending);
    await expectDead(pending);
  });
});

describe('finishing the first enrollment makes a new session; the pending token dies', () => {
  it('authenticator app', async () => {
    const agent = await loginAs(h, F, await person(h, F), 'enroll');
    const pending = sessionCookie(agent)!;
    const begun = (await agent.post(api('/mfa/enrollment/totp'), {})).json();
    expect((await agent.post(api(`/mfa/enrollment/totp/${begun.authenticatorId}/confirm`), { code: totpCode(h, begun.secret) })).statusCode).toBe(200);
    await rotated(agent, pending);
    await expectDead(pending);
  });

  it('security key', async () => {
    const agent = await loginAs(h, F, await person(h, F), 'enroll');
    const pending = sessionCookie(agent)!;
    const opts = (await agent.post(api('/mfa/enrollment/webauthn/options'), { label: 'Key' })).json();
    const { response } = softKey(h).register(opts.options);
    expect((await agent.post(api(`/mfa/enrollment/webauthn/${opts.authenticatorId}/verify`), { response })).statusCode).toBe(200);
    await rotated(agent, pending);
    await expectDead(pending);
  });

  it('skipping because the last licence went meanwhile', async () => {
    const one = await mfaFirm(h, { licences: 1, enabled: 'staff' });
    const agent = await loginAs(h, one, await person(h, one), 'enroll');
    const pending = sessionCookie(agent)!;
    expect(await enrollForTest(h, one.firm.id, (await person(h, one)).id)).toBe('taken');
    const res = await agent.post(api('/mfa/enrollment/skip'));
    expect(res.json()).toEqual({ next: 'home', notice: 'mfa_bypassed_no_seat' });
    await rotated(agent, pending);
    await expectDead(pending);
  });
});

describe('logout ends the session on the server', () => {
  it('a full session: the copied cookie is dead after logout', async () => {
    const u = await totpUser(h, F);
    const agent = await loginAs(h, F, u.user, 'second_factor');
    expect((await agent.post(api('/mfa/verify'), { method: 'totp', code: freshCode(h, u.secret) })).statusCode).toBe(200);
    const token = sessionCookie(agent)!;
    const copy = withSessionCookie(h, token);
    expect((await copy.get(api('/me'))).statusCode).toBe(200);
    const out = await agent.post(api('/logout'));
    expect(out.statusCode).toBe(204);
    expect(sessionCookie(agent)).toBeUndefined();
    await expectDead(token);
  });

  it('a pending session: dead after logout, the second factor cannot be finished with it', async () => {
    const u = await totpUser(h, F);
    const agent = await loginAs(h, F, u.user, 'second_factor');
    const token = sessionCookie(agent)!;
    expect((await agent.post(api('/logout'))).statusCode).toBe(204);
    await expectDead(token);
    const res = await withSessionCookie(h, token).post(api('/mfa/verify'), { method: 'totp', code: freshCode(h, u.secret) });
    expect(res.statusCode).toBe(401);
  });
});
