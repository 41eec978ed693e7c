import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MINUTE, ManualClock } from '../../src/clock.js';
import { LOGIN_POLICY_DEFAULTS } from '../../src/mfa-policy/mfa-login-policy.service.js';
import { ACCOUNT_POLICY, IP_POLICY } from '../../src/core/throttle.js';
import { Agent, PASSWORD, firmWithAdmin, startHarness, type Harness, type TestFirm, totpCode } from '../support/harness.js';
import { api, loginAs, mfaFirm, person } from '../support/fixtures.js';
import { freshCode, pushUser, sendPush, totpUser } from '../support/factors.js';

/**
 * Throttling limits are reached, held, and lifted: each limit answers with its status and a
 * Retry-After, goes on refusing (even the right password or code) until the time it named
 * has passed on the clock, and then lets the right answer in. Time is a ManualClock.
 */

let h: Harness;
let plain: TestFirm; // no MFA: the password step alone
let F: TestFirm; // MFA on for staff

beforeAll(async () => {
  h = await startHarness({ clock: new ManualClock(Date.UTC(2026, 7, 5, 9, 0, 0)) });
  plain = await firmWithAdmin(h);
  F = await mfaFirm(h, { licences: 20, enabled: 'staff' });
});
afterAll(() => h?.close());

const login = (email: string, password: string, ip = '192.0.2.10', firm = plain.firm.slug) =>
  new Agent(h.app, { ip }).post(api('/login'), { email, password, firm });

/** The refusal of a limit: this status and code, and a Retry-After (whole seconds, at least 1) that the body repeats. */
function retryAfter(res: LightMyRequestResponse, status: number, code: string): number {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.json().error).toBe(code);
  const seconds = Number(res.headers['retry-after']);
  expect(Number.isInteger(seconds) && seconds >= 1, `Retry-After ${res.headers['retry-after']}`).toBe(true);
  expect(res.json().retryAfterSeconds).toBe(seconds);
  return seconds;
}

/**
 * Holds: `attempt` is refused with Retry-After r, still refused 1 ms before r seconds have
 * passed (with a Retry-After that counts down), and let through at r seconds.
 */
async function heldThenLifted(attempt: () => Promise<LightMyRequestResponse>, status: number, code: string, allowed: (res: LightMyRequestResponse) => void) {
  const start = h.clock.now();
  const r = retryAfter(await attempt(), status, code);
  if (r > 2) {
    h.clock.advance(Math.floor(r / 2) * 1000);
    expect(retryAfter(await attempt(), status, code)).toBeLessThanOrEqual(r - Math.floor(r / 2));
  }
  h.clock.set(start + r * 1000 - 1);
  retryAfter(await attempt(), status, code);
  h.clock.set(start + r * 1000);
  allowed(await attempt());
}

describe('the password step, per account', () => {
  it(`${ACCOUNT_POLICY.freeFailures} free failures, then a delay that doubles; each held until it passes, even for the right password`, async () => {
    const u = await person(h, plain);
    for (let i = 0; i < ACCOUNT_POLICY.freeFailures; i++) expect((await login(u.email, 'wrong password')).statusCode).toBe(401);
    const ok = (res: LightMyRequestResponse) => expect(res.statusCode, res.body).toBe(200);
    // Held whatever the address of the client: the limit is the account's.
    let i = 0;
    await heldThenLifted(() => login(u.email, PASSWORD, `198.51.100.${++i}`), 429, 'TOO_MANY_ATTEMPTS', ok);
    // The success starts the count again; further failures make the delay grow: 1 s, 2 s, 4 s, 8 s.
    for (let k = 0; k < ACCOUNT_POLICY.freeFailures; k++) expect((await login(u.email, 'wrong password')).statusCode).toBe(401);
    const delays: number[] = [];
    for (let k = 0; k < 4; k++) {
      const refused = await login(u.email, 'wrong password');
      const r = retryAfter(refused, 429, 'TOO_MANY_ATTEMPTS');
      delays.push(r);
      h.clock.advance(r * 1000);
      expect((await login(u.email, 'wrong password')).statusCode).toBe(401);
    }
    expect(delays).toEqual([1, 2, 4, 8]);
    await heldThenLifted(() => login(u.email, PASSWORD), 429, 'TOO_MANY_ATTEMPTS', ok);
  });
});

describe('the password step, per client address', () => {
  it(`${IP_POLICY.freeFailures} free failures across any accounts, then the address waits; other addresses do not`, async () => {
    const u = await person(h, plain);
    const ip = '203.0.113.50';
    for (let i = 0; i < IP_POLICY.freeFailures; i++) {
      expect((await login(`spray-${i}-${randomUUID().slice(0, 6)}@example.com`, 'Winter2026!', ip)).statusCode).toBe(401);
    }
    // A real account with its right password, from the spraying address: held.
    retryAfter(await login(u.email, PASSWORD, ip), 429, 'TOO_MANY_ATTEMPTS');
    // The same account from another address is not punished for the spray.
    expect((await login(u.email, PASSWORD, '203.0.113.51')).statusCode).toBe(200);
    await heldThenLifted(() => login(u.email, PASSWORD, ip), 429, 'TOO_MANY_ATTEMPTS', (res) => expect(res.statusCode, res.body).toBe(200));
  });
});

describe('the second factor: lockout', () => {
  it(`${LOGIN_POLICY_DEFAULTS.lockoutThreshold} wrong codes lock it (423, Retry-After) for ${LOGIN_POLICY_DEFAULTS.lockoutMinutes} minutes, for every factor and every new login; then the right code works`, async () => {
    const u = await totpUser(h, F);
    const agent = await loginAs(h, F, u.user, 'second_factor');
    const right = freshCode(h, u.secret);
    const wrong = right === '000000' ? '000001' : '000000';
    for (let i = 1; i < LOGIN_POLICY_DEFAULTS.lockoutThreshold; i++) {
      const res = await agent.post(api('/mfa/verify'), { method: 'totp', code: wrong });
      expect(res.json()).toMatchObject({ error: 'INVALID_CODE', attemptsLeft: LOGIN_POLICY_DEFAULTS.lockoutThreshold - i });
    }
    const start = h.clock.now();
    const locked = await agent.post(api('/mfa/verify'), { method: 'totp', code: wrong });
    expect(retryAfter(locked, 423, 'MFA_LOCKED')).toBe(LOGIN_POLICY_DEFAULTS.lockoutMinutes * 60);
    // Held: the right code, a backup code, a security-key challenge, from this login and a new one.
    retryAfter(await agent.post(api('/mfa/verify'), { method: 'totp', code: right }), 423, 'MFA_LOCKED');
    retryAfter(await agent.post(api('/mfa/verify'), { method: 'backup_code', code: u.backupCodes[0] }), 423, 'MFA_LOCKED');
    retryAfter(await agent.post(api('/mfa/webauthn/options')), 423, 'MFA_LOCKED');
    h.clock.set(start + LOGIN_POLICY_DEFAULTS.lockoutMinutes * MINUTE - 1000);
    const later = await loginAs(h, F, u.user, 'second_factor');
    expect(retryAfter(await later.post(api('/mfa/verify'), { method: 'totp', code: totpCode(h, u.secret) }), 423, 'MFA_LOCKED')).toBe(1);
    // Lifted: the right code of the current step lets the user in.
    h.clock.set(start + LOGIN_POLICY_DEFAULTS.lockoutMinutes * MINUTE);
    const res = await later.post(api('/mfa/verify'), { method: 'totp', code: totpCode(h, u.secret) });
    expect(res.statusCode, res.body).toBe(200);
  });
});

describe('push requests: the push-bombing limit', () => {
  it(`${LOGIN_POLICY_DEFAULTS.pushMaxPerWindow} pushes without an approval in ${LOGIN_POLICY_DEFAULTS.pushWindowMinutes} minutes, then 429 with Retry-After until the oldest leaves the window`, async () => {
    const u = await pushUser(h, F);
    let agent = await loginAs(h, F, u.user, 'second_factor');
    for (let i = 0; i < LOGIN_POLICY_DEFAULTS.pushMaxPerWindow; i++) {
      await sendPush(agent);
      h.clock.advance(MINUTE);
    }
    const first = h.clock.now() - LOGIN_POLICY_DEFAULTS.pushMaxPerWindow * MINUTE;
    const liftsAt = first + LOGIN_POLICY_DEFAULTS.pushWindowMinutes * MINUTE;
    const r = retryAfter(await agent.post(api('/mfa/push')), 429, 'PUSH_LIMIT');
    expect(r).toBe((liftsAt - h.clock.now()) / 1000);
    // Held, from a new login too (the pending login lasts 10 minutes: log in again near the end).
    h.clock.set(liftsAt - 1000);
    agent = await loginAs(h, F, u.user, 'second_factor');
    expect(retryAfter(await agent.post(api('/mfa/push')), 429, 'PUSH_LIMIT')).toBe(1);
    h.clock.set(liftsAt);
    const tx = await sendPush(agent);
    expect((await u.device.approve(tx.transactionId, tx.number)).statusCode).toBe(200);
    expect((await agent.get(api(`/mfa/push/${tx.transactionId}/wait`))).json()).toEqual({ status: 'approved' });
  });
});
