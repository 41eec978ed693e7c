import { randomUUID, webcrypto } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { DEVICE_CLOCK_SKEW_MS } from '../../src/factors/push/device-signature.js';
import { DeviceSimulator, type SignOverrides } from '../support/device-simulator.js';
import { Agent, dbState, startHarness, type Harness, type TestFirm } from '../support/harness.js';
import { apiRoutes, fillPath, isDeviceRoute, isUnsafe, type ApiRoute } from '../support/security.js';
import { api, loginAs, mfaFirm } from '../support/fixtures.js';
import { pushUser, type PushUser } from '../support/factors.js';

/**
 * CSRF, route by route. Every state-changing route of the API (read from the app's OpenAPI
 * document) that a browser reaches with its cookies refuses, with 403 CSRF_INVALID and
 * nothing changed: no token, a made-up token, the token of another browser's session, a
 * request from another site (Origin, Sec-Fetch-Site). The device API carries no cookies and
 * is exempt by design; instead every device route but two refuses a request that is not
 * signed by an active device key, with or without a session cookie.
 */

let h: Harness;
let A: TestFirm;
let victim: Agent; // a superuser's browser: a full session and its CSRF cookie
let attackerToken: string; // a valid token, of the attacker's own browser session
let routes: ApiRoute[];
let phone: PushUser;

beforeAll(async () => {
  h = await startHarness({ clock: new ManualClock(Date.UTC(2026, 7, 2, 9, 0, 0)) });
  A = await mfaFirm(h, { licences: 20, enabled: 'staff' });
  victim = A.admin;
  expect((await victim.get(api('/me'))).statusCode).toBe(200);
  const attacker = new Agent(h.app);
  attackerToken = (await attacker.get(api('/csrf'))).json().token;
  expect(victim.csrf).toBeTruthy();
  expect(attackerToken).not.toBe(victim.csrf);
  routes = await apiRoutes(h.app);
  phone = await pushUser(h, A);
});
afterAll(() => h?.close());

const browserRoutes = () => routes.filter((r) => isUnsafe(r) && !isDeviceRoute(r));

const FORGERIES: { title: string; opts: () => { csrf?: boolean; headers?: Record<string, string> } }[] = [
  { title: 'no token', opts: () => ({ csrf: false }) },
  { title: 'a made-up token', opts: () => ({ csrf: false, headers: { 'x-csrf-token': 'c2VjcmV0LXRva2Vu-0123456789' } }) },
  { title: "another session's token", opts: () => ({ csrf: false, headers: { 'x-csrf-token': attackerToken } }) },
  { title: 'a foreign Origin (with the right token)', opts: () => ({ headers: { origin: 'https://evil.example' } }) },
  { title: 'Sec-Fetch-Site: cross-site (with the right token)', opts: () => ({ headers: { 'sec-fetch-site': 'cross-site' } }) },
];

const send = (agent: Agent, r: ApiRoute, opts: { csrf?: boolean; headers?: Record<string, string> }) =>
  agent.raw(r.method, fillPath(r.path, randomUUID()), { body: r.method === 'DELETE' ? undefined : {}, ...opts });

describe('every state-changing browser route refuses forged requests', () => {
  it('the app has them (enumerated, not listed by hand)', () => {
    expect(browserRoutes().length).toBeGreaterThan(30);
  });

  it.each(FORGERIES.map((f) => [f.title, f] as const))('%s -> 403 CSRF_INVALID on every route, nothing changed', async (_t, forgery) => {
    const before = await dbState(h);
    const wrong: string[] = [];
    for (const r of browserRoutes()) {
      const res = await send(victim, r, forgery.opts());
      if (res.statusCode !== 403 || res.json().error !== 'CSRF_INVALID') wrong.push(`${r.key}: ${res.statusCode} ${res.body}`);
      else expect(Object.keys(res.json()).sort()).toEqual(['error', 'message']);
    }
    expect(wrong).toEqual([]);
    expect(await dbState(h)).toEqual(before);
    // The victim's session is still there: the refusals were not a logout.
    expect((await victim.get(api('/me'))).statusCode).toBe(200);
  });

  it('the same requests with the right token get past the CSRF check (a fresh browser: answered by the route itself)', async () => {
    for (const r of browserRoutes()) {
      const res = await send(new Agent(h.app), r, {});
      expect(res.statusCode, r.key).toBeLessThan(500);
      if (res.statusCode >= 400) expect(res.json().error, r.key).not.toBe('CSRF_INVALID');
    }
  });
});

describe('the device API: no cookies, no CSRF token, but a device signature', () => {
  /** Device routes that are not signed, and why. */
  const unsigned: Record<string, string> = {
    'POST /api/v1/device/activate': 'authenticated by the single-use activation code (refused below when wrong; replays in replay.test.ts)',
    'GET /api/v1/device/vapid-public-key': 'returns the server\'s public VAPID key, public by nature',
  };
  const signedRoutes = () => routes.filter((r) => isDeviceRoute(r) && !(r.key in unsigned));

  it('every device route is either signed or listed as unsigned by design', () => {
    const device = routes.filter(isDeviceRoute).map((r) => r.key);
    for (const k of Object.keys(unsigned)) expect(device).toContain(k);
    expect(signedRoutes().map((r) => r.key).sort()).toEqual(
      ['GET /api/v1/device/stream', 'GET /api/v1/device/transactions', 'POST /api/v1/device/transactions/:id/answer', 'PUT /api/v1/device/web-push'].sort(),
    );
  });

  const body = (r: ApiRoute) =>
    r.method === 'PUT' ? { subscription: null } : r.method === 'POST' ? { answer: 'deny', timestamp: h.clock.now(), signature: 'x'.repeat(86) } : undefined;

  /** A device request to `r`, signed (or not) as `o` says; the stream carries its signature in the query. */
  async function deviceRequest(r: ApiRoute, o: SignOverrides, extraHeaders: Record<string, string> = {}): Promise<LightMyRequestResponse> {
    const path = fillPath(r.path, randomUUID());
    if (r.path.endsWith('/stream')) return h.app.inject({ method: 'GET', url: await phone.device.streamUrl(o), headers: extraHeaders });
    const payload = body(r) === undefined ? undefined : JSON.stringify(body(r));
    const headers: Record<string, string> = { ...extraHeaders, ...(await phone.device.signatureHeaders(r.method, path, payload, o)) };
    if (payload) headers['content-type'] = 'application/json';
    return h.app.inject({ method: r.method, url: path, headers, payload });
  }

  let forger: webcrypto.CryptoKey;
  beforeAll(async () => {
    forger = ((await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])) as webcrypto.CryptoKeyPair).privateKey;
  });

  const BAD: { title: string; o: () => SignOverrides }[] = [
    { title: 'unsigned', o: () => ({ unsigned: true }) },
    { title: "signed by another key in the device's name", o: () => ({ key: forger }) },
    { title: 'a signature that is not one', o: () => ({ signature: 'A'.repeat(86) }) },
    { title: 'signed too long ago', o: () => ({ timestamp: h.clock.now() - DEVICE_CLOCK_SKEW_MS - 1 }) },
    { title: 'signed by an unknown device', o: () => ({ deviceId: randomUUID() }) },
  ];

  it.each(BAD.map((b) => [b.title, b] as const))('%s -> 401 DEVICE_UNAUTHENTICATED on every signed route, nothing but the audit log changed', async (_t, bad) => {
    const { audit_events: _a, ...before } = await dbState(h);
    for (const r of signedRoutes()) {
      const res = await deviceRequest(r, bad.o());
      expect({ route: r.key, status: res.statusCode, error: res.json().error }).toEqual({ route: r.key, status: 401, error: 'DEVICE_UNAUTHENTICATED' });
    }
    const { audit_events: _b, ...after } = await dbState(h);
    expect(after).toEqual(before);
  });

  it("a browser session's cookie and CSRF token are worth nothing on the device API", async () => {
    const browser = await loginAs(h, A, phone.user, 'second_factor');
    const token = (await browser.get(api('/csrf'))).json().token;
    const cookie = [...browser.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    for (const r of signedRoutes()) {
      const res = await deviceRequest(r, { unsigned: true }, { cookie, 'x-csrf-token': token });
      expect({ route: r.key, status: res.statusCode }).toEqual({ route: r.key, status: 401 });
    }
  });

  it('a correctly signed request needs no CSRF token (the control)', async () => {
    expect((await phone.device.transactions()).statusCode).toBe(200);
    expect((await phone.device.request('PUT', '/device/web-push', { subscription: null })).statusCode).toBe(204);
  });

  it('activation: a wrong code is refused with 410 and activates nothing', async () => {
    const device = await DeviceSimulator.create(h.app, h.clock);
    const { audit_events: _a, ...before } = await dbState(h);
    const res = await device.activate('not-a-real-code');
    expect(res.statusCode, res.body).toBe(410);
    expect(res.json().error).toBe('ACTIVATION_INVALID');
    const { audit_events: _b, ...after } = await dbState(h);
    expect(after).toEqual(before);
  });
});
