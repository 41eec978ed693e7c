import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { Agent, dbState, startHarness, type Harness, type TestFirm } from '../support/harness.js';
import { apiRoutes, fillPath, sampleOf, type ApiRoute } from '../support/security.js';
import { api, loginAs, mfaFirm, person } from '../support/fixtures.js';
import { freshCode, totpUser, type TotpUser } from '../support/factors.js';

/**
 * The firm administration needs a superuser who has finished the login, second factor
 * included, when the firm's MFA covers them. Every /api/v1/admin route (read from the app)
 * refuses, with nothing changed: a superuser who has only typed the password (401: the login
 * is not finished), a superuser at the enrollment step (401), and a user who is not a
 * superuser, second factor or not (403). The same requests from the superuser after the
 * second factor are answered by the routes themselves (the control).
 */

let h: Harness;
let F: TestFirm;
let su: TotpUser; // a superuser enrolled with an authenticator app
let adminRoutes: ApiRoute[];

beforeAll(async () => {
  h = await startHarness({ clock: new ManualClock(Date.UTC(2026, 7, 7, 9, 0, 0)) });
  F = await mfaFirm(h, { licences: 20, enabled: 'staff' });
  su = await totpUser(h, F, { superuser: true });
  adminRoutes = (await apiRoutes(h.app)).filter((r) => r.path.startsWith('/api/v1/admin/'));
});
afterAll(() => h?.close());

/** The route with a made-up id in its path and the smallest body its schema accepts. */
const send = (agent: Agent, r: ApiRoute) => agent.raw(r.method, fillPath(r.path, randomUUID()), { body: r.body ? (sampleOf(r.body) as Record<string, unknown>) : undefined });

async function refusesEverywhere(agent: Agent, status: number, code: string) {
  const before = await dbState(h);
  for (const r of adminRoutes) {
    const res = await send(agent, r);
    expect({ route: r.key, status: res.statusCode, body: res.json() }).toEqual({ route: r.key, status, body: { error: code, message: expect.stringMatching(/\S/) } });
  }
  expect(await dbState(h)).toEqual(before);
}

describe('every admin route', () => {
  it('is enumerated from the app', () => {
    expect(adminRoutes.length).toBeGreaterThan(20);
  });

  it('refuses a superuser who has typed only the password (second-factor step): 401', async () => {
    const pending = await loginAs(h, F, su.user, 'second_factor');
    await refusesEverywhere(pending, 401, 'UNAUTHENTICATED');
  });

  it('refuses a superuser at the enrollment step: 401', async () => {
    const newcomer = await person(h, F, { superuser: true });
    await refusesEverywhere(await loginAs(h, F, newcomer, 'enroll'), 401, 'UNAUTHENTICATED');
  });

  it('refuses a user who is not a superuser, after the second factor: 403', async () => {
    const u = await totpUser(h, F);
    const agent = await loginAs(h, F, u.user, 'second_factor');
    expect((await agent.post(api('/mfa/verify'), { method: 'totp', code: freshCode(h, u.secret) })).statusCode).toBe(200);
    await refusesEverywhere(agent, 403, 'FORBIDDEN');
  });

  it('answers the superuser after the second factor (the same requests reach the routes)', async () => {
    const agent = await loginAs(h, F, su.user, 'second_factor');
    expect((await agent.post(api('/mfa/verify'), { method: 'totp', code: freshCode(h, su.secret) })).statusCode).toBe(200);
    for (const r of adminRoutes) {
      const res = await send(agent, r);
      expect(res.statusCode, `${r.key}: ${res.body}`).toBeLessThan(500);
      expect([401, 403], `${r.key}: ${res.body}`).not.toContain(res.statusCode);
      if (res.statusCode === 400) expect(res.json().error, `${r.key}: ${res.body}`).not.toBe('VALIDATION_FAILED');
      if (r.method === 'GET' && !r.path.includes(':')) expect(res.statusCode, r.key).toBe(200);
    }
  });
});
