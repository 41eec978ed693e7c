import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createProxyServer, type ProxyServer } from 'http-proxy-3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HOUR, ManualClock } from '../../src/clock.js';
import { IP_POLICY } from '../../src/login/throttle.js';
import { Agent, PASSWORD, auditEvents, startHarness, type Harness, type TestFirm } from '../support/harness.js';
import { api, apiRoutes, mfaFirm, pushUser, sampleOf, sendPush } from '../support/security.js';
import { overHttp, startServerProcess } from '../support/server-process.js';

/**
 * Security review (issue 12), trusted proxies: the client's address behind a reverse proxy.
 *
 * With TESSERA_TRUST_PROXY=true Fastify trusted every hop, so the client's address was the
 * leftmost X-Forwarded-For entry, which the client writes itself. These tests put a real
 * reverse proxy (http-proxy-3, the proxy Vite uses, appending to X-Forwarded-For as nginx's
 * $proxy_add_x_forwarded_for does) in front of a listening Tessera, and send every request
 * through it over real HTTP with a forged X-Forwarded-For of its own.
 *
 * The proxy connects from 127.0.0.3 and the client from 127.0.0.1, so "the rightmost entry no
 * trusted proxy wrote" (127.0.0.1), the proxy's own address and the forged ones all differ.
 */

/** Where the proxy connects from (Linux answers on all of 127.0.0.0/8). */
const PROXY_ADDRESS = '127.0.0.3';
/** Where the client connects from: what the proxy appends to X-Forwarded-For. */
const CLIENT_ADDRESS = '127.0.0.1';
/** A forged address from TEST-NET-2, fresh per request. */
const forged = (i: number) => `198.51.100.${(i % 250) + 1}`;

describe.each([
  ['the proxy’s address', PROXY_ADDRESS],
  ['a hop count', '1'],
])('behind a reverse proxy, with TESSERA_TRUST_PROXY set to %s', (_how, trust) => {
  let h: Harness;
  let proxyServer: http.Server;
  let proxy: ProxyServer;
  /** The app as the proxy's clients reach it: real HTTP through the proxy. */
  let viaProxy: ReturnType<typeof overHttp>;
  let F: TestFirm;

  beforeAll(async () => {
    h = await startHarness({ env: { TESSERA_TRUST_PROXY: trust }, clock: new ManualClock(Date.UTC(2026, 8, 1, 9, 0, 0)) });
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    const target = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
    proxy = createProxyServer({ target, xfwd: true, localAddress: PROXY_ADDRESS });
    proxyServer = http.createServer((req, res) => proxy.web(req, res));
    await new Promise<void>((resolve) => proxyServer.listen(0, '127.0.0.1', resolve));
    viaProxy = overHttp(`http://127.0.0.1:${(proxyServer.address() as AddressInfo).port}`);
    F = await mfaFirm(h);
  });
  afterAll(async () => {
    await new Promise((resolve) => proxyServer?.close(resolve));
    proxy?.close();
    await h?.close();
  });
  // Each test starts with a clean per-address record: the throttle looks back one hour.
  afterEach(() => h.clock.advance(2 * HOUR));

  /** A browser at CLIENT_ADDRESS whose requests carry a forged X-Forwarded-For (the Agent sends its `ip` as that header over HTTP). */
  const forger = (i: number) => new Agent(viaProxy, { ip: forged(i) });

  it('a fresh X-Forwarded-For per request does not escape the address throttle (password spraying)', async () => {
    const startedAt = h.clock.now();
    for (let i = 0; i < IP_POLICY.freeFailures; i++) {
      // A different account each time: the per-account limit never trips, only the per-address one can.
      const res = await forger(i).post(api('/login'), { email: `spray-${i}@example.com`, password: 'Winter2026!', firm: F.firm.slug });
      expect(res.statusCode, res.body).toBe(401);
    }
    const held = await forger(IP_POLICY.freeFailures).post(api('/login'), { email: 'spray-last@example.com', password: 'Winter2026!', firm: F.firm.slug });
    expect(held.statusCode, held.body).toBe(429);
    expect(held.json().error).toBe('TOO_MANY_ATTEMPTS');
    expect(Number(held.headers['retry-after'])).toBeGreaterThanOrEqual(1);

    // Every attempt was counted against, and logged with, the address the proxy saw.
    const attempts = await h.ctx.db.selectFrom('auth_attempts').select('key').where('scope', '=', 'ip').where('at', '>=', startedAt).execute();
    expect(new Set(attempts.map((a) => a.key))).toEqual(new Set([CLIENT_ADDRESS]));
    const failed = (await auditEvents(h, { event: 'login.failed' })).filter((e) => Number(e.at) >= startedAt);
    expect(failed).toHaveLength(IP_POLICY.freeFailures);
    for (const e of failed) expect(e.ip).toBe(CLIENT_ADDRESS);
  });

  it('a fresh X-Forwarded-For per request does not escape the address throttle of passkey sign-in (its only limit)', async () => {
    const verify = (await apiRoutes(h.app)).find((r) => r.key === 'POST /api/v1/passkey/verify')!;
    for (let i = 0; i < IP_POLICY.freeFailures; i++) {
      const res = await forger(i).post(api('/passkey/verify'), sampleOf(verify.body!) as Record<string, unknown>);
      expect(res.statusCode, res.body).toBe(401);
      expect(res.json().error).toBe('INVALID_CREDENTIALS');
    }
    const held = await forger(IP_POLICY.freeFailures).post(api('/passkey/verify'), sampleOf(verify.body!) as Record<string, unknown>);
    expect(held.statusCode, held.body).toBe(429);
    expect(held.json().error).toBe('TOO_MANY_ATTEMPTS');
  });

  it('a forged X-Forwarded-For is not what the phone’s approval screen, the fraud mail or the audit log show', async () => {
    const p = await pushUser(h, F);
    const attacker = forger(7);
    const startedAt = h.clock.now();
    const res = await attacker.post(api('/login'), { email: p.user.email, password: PASSWORD, firm: F.firm.slug });
    expect(res.json().next, res.body).toBe('second_factor');
    const { transactionId } = await sendPush(attacker);

    const shown = await p.device.transactions();
    expect(shown.json().items).toEqual([expect.objectContaining({ id: transactionId, ip: CLIENT_ADDRESS })]);

    expect((await p.device.answer(transactionId, 'deny', { reason: 'fraud' })).json()).toEqual({ status: 'fraud' });
    const mail = await h.ctx.db.selectFrom('mail_outbox').selectAll().where('to_address', '=', F.superuser.email).orderBy('created_at', 'desc').executeTakeFirstOrThrow();
    expect(mail.text_body).toContain(`From: ${CLIENT_ADDRESS}`);
    expect(mail.text_body).not.toContain(forged(7));

    // The whole trail of the attack (password step, push sent, fraud report) names the client's address.
    const trail = (await auditEvents(h, { subjectId: p.user.id })).filter((e) => Number(e.at) >= startedAt);
    expect(trail.map((e) => e.event)).toEqual(expect.arrayContaining(['mfa.push_fraud']));
    expect(JSON.stringify(trail)).not.toContain(forged(7));
    for (const e of trail) if (e.ip !== null) expect(e.ip).toBe(CLIENT_ADDRESS);
  });

  // Straight to Tessera's port with a forged header: with an address list the peer is no trusted
  // proxy, so the header is not read at all. (A hop count cannot tell who the peer is: the README
  // says to use one only where nothing but the proxies reach the port.)
  if (trust === PROXY_ADDRESS) {
    it('a client that goes around the proxy cannot forge its address either', async () => {
      const direct = overHttp(`http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`);
      const res = await new Agent(direct, { ip: forged(9) }).post(api('/login'), { email: 'direct@example.com', password: 'Winter2026!', firm: F.firm.slug });
      expect(res.statusCode, res.body).toBe(401);
      const last = (await auditEvents(h, { event: 'login.failed' })).at(-1)!;
      expect(last.details).toMatchObject({ reason: expect.any(String) });
      expect(last.ip).toBe(CLIENT_ADDRESS);
    });
  }
});

describe('TESSERA_TRUST_PROXY at start', () => {
  it('TESSERA_TRUST_PROXY=true is refused at start with what to set instead', async () => {
    const start = startServerProcess({ env: { TESSERA_TRUST_PROXY: 'true', TESSERA_DATABASE_URL: 'sqlite::memory:' } });
    await expect(start).rejects.toThrow(/exited during start \(2\)[\s\S]*TESSERA_TRUST_PROXY[\s\S]*addresses or CIDRs of your proxies[\s\S]*how many proxies/);
  });
});
