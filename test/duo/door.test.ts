import https from 'node:https';
import type { FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client as UniversalClient } from '@duosecurity/duo_universal';
import { duoIntegration, duoRouteModules, type DuoRouteModule } from '../../src/duo/door.js';
import { duoOk } from '../../src/duo/envelope.js';
import { duoApiSig, nodeDuoCall, runPythonDuo, runPythonJob, universalClient, type PythonClientOptions, type PythonResult } from '../support/duo-clients.js';
import { newKeys, startDuoServer, type DuoServer, type TestIntegration } from '../support/duo-server.js';
import { createTestPki, type TestPki } from '../support/tls.js';

/**
 * The Duo door over real HTTPS (a private CA made at test time), called by Duo's OFFICIAL
 * clients, unmodified: python duo_client 4.5 and @duosecurity/duo_api 1.5. Besides ping and
 * check, a test-only echo endpoint (signed like every door route) shows that parameters in the
 * query string, a form body and a JSON body reach a route exactly as they were signed.
 */

/** The test endpoint: answers the method, the parameters the route sees and whose key signed. */
const echo: DuoRouteModule = {
  prefix: '/auth/v2',
  routes: () => async (app) => {
    const handler = async (request: FastifyRequest) =>
      duoOk({ method: request.method, params: request.method === 'GET' || request.method === 'DELETE' ? request.query : request.body, integration: duoIntegration<TestIntegration>(request).name });
    app.get('/test/echo', handler);
    app.post('/test/echo', handler);
    app.delete('/test/echo', handler);
  },
};

let pki: TestPki;
let server: DuoServer;
let current: TestIntegration & { skey: string };

beforeAll(async () => {
  pki = await createTestPki();
  server = await startDuoServer(pki, { routes: [...duoRouteModules, echo] });
  const keys = newKeys();
  current = { ...keys, name: 'Case portal', secretKeys: [keys.skey] };
  server.integrations.set(keys.ikey, current);
});
afterAll(async () => {
  await server?.close();
  pki?.remove();
});

const py = (over: Partial<PythonClientOptions> = {}): PythonClientOptions => ({
  ikey: current.ikey,
  skey: current.skey,
  host: 'localhost',
  port: server.target.port,
  ca_certs: pki.caFile,
  ...over,
});
const node = (over: { ikey?: string; skey?: string; sigVersion?: 2 | 5 } = {}) => ({ ikey: current.ikey, skey: current.skey, ...over });

/** A request by hand (what no official client sends: no credentials, no date, broken encodings). */
function raw(method: string, path: string, headers: Record<string, string> = {}, body?: string) {
  return new Promise<{ status: number; headers: Record<string, unknown>; json: any }>((resolve, reject) => {
    const req = https.request({ host: 'localhost', port: server.target.port, method, path, ca: pki.caPem, headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const nowSeconds = () => Math.floor(Date.now() / 1000);
const ok = (r: PythonResult) => {
  if (!r.ok || !('response' in r)) throw new Error(`the python client failed: ${JSON.stringify(r)}`);
  return r.response as any;
};

describe('ping and check with python duo_client 4.5', () => {
  it('ping answers the time, unsigned; check answers it for v2 HMAC-SHA1 (the default), v2 HMAC-SHA512 and v4', async () => {
    const [ping, check, sha512, v4] = await runPythonDuo([
      { kind: 'ping', client: py({ skey: 'not even the right key' }) },
      { kind: 'check', client: py() },
      { kind: 'check', client: py({ digest: 'sha512' }) },
      { kind: 'check', client: py({ digest: 'sha512', sig_version: 4 }) },
    ]);
    for (const r of [ping!, check!, sha512!, v4!]) expect(Math.abs(ok(r).time - nowSeconds())).toBeLessThanOrEqual(2);
  });
});

describe('ping and check with @duosecurity/duo_api 1.5', () => {
  it('answers {"stat":"OK","response":{"time":...}} to ping, and to check signed v2 (its default, HMAC-SHA512) and v5', async () => {
    for (const [path, keys] of [
      ['/auth/v2/ping', node({ skey: 'wrong, and ping does not care' })],
      ['/auth/v2/check', node()],
      ['/auth/v2/check', node({ sigVersion: 5 })],
    ] as const) {
      const answer = await nodeDuoCall(server.target, keys, 'GET', path);
      expect(answer).toEqual({ stat: 'OK', response: { time: expect.any(Number) } });
      expect(Math.abs((answer.response as { time: number }).time - nowSeconds())).toBeLessThanOrEqual(2);
    }
  });
});

describe('parameters reach the route exactly as signed', () => {
  const params = { username: 'ana maria', note: "é ~!*'()/?#&=+", tag: ['z', 'a'] };

  it('python: a GET with query parameters, a form POST (v2, SHA-1 and SHA-512), a JSON POST (v4), a DELETE', async () => {
    const results = await runPythonDuo([
      { kind: 'call', client: py(), method: 'GET', path: '/auth/v2/test/echo', params },
      { kind: 'call', client: py(), method: 'POST', path: '/auth/v2/test/echo', params },
      { kind: 'call', client: py({ digest: 'sha512' }), method: 'POST', path: '/auth/v2/test/echo', params },
      { kind: 'call', client: py({ digest: 'sha512', sig_version: 4 }), method: 'POST', path: '/auth/v2/test/echo', params },
      { kind: 'call', client: py(), method: 'DELETE', path: '/auth/v2/test/echo', params: { txid: 'abc' } },
    ]);
    const [get, form, form512, json, del] = results.map(ok);
    for (const r of [get, form, form512]) expect(r).toEqual({ method: r.method, params: { username: 'ana maria', note: params.note, tag: ['z', 'a'] }, integration: 'Case portal' });
    expect([get.method, form.method, json.method, del.method]).toEqual(['GET', 'POST', 'POST', 'DELETE']);
    // v4 sends the parameters as JSON (sorted keys), the array as a JSON array.
    expect(json.params).toEqual(params);
    expect(del.params).toEqual({ txid: 'abc' });
  });

  it('node: a GET whose repeated values are in the order given (not sorted), a form POST (v2) and a JSON POST (v5)', async () => {
    const get = await nodeDuoCall(server.target, node(), 'GET', '/auth/v2/test/echo', params);
    const form = await nodeDuoCall(server.target, node(), 'POST', '/auth/v2/test/echo', params);
    const json = await nodeDuoCall(server.target, node({ sigVersion: 5 }), 'POST', '/auth/v2/test/echo', params);
    expect(get).toEqual({ stat: 'OK', response: { method: 'GET', params, integration: 'Case portal' } });
    expect(form).toEqual({ stat: 'OK', response: { method: 'POST', params, integration: 'Case portal' } });
    expect(json).toEqual({ stat: 'OK', response: { method: 'POST', params, integration: 'Case portal' } });
  });

  it('takes no CSRF token, sets no cookie and answers no-store (none of the /api/v1 machinery)', async () => {
    const date = new Date().toUTCString();
    const body = 'username=ana';
    const authorization = duoApiSig.sign(current.ikey, current.skey, 'POST', 'localhost', '/auth/v2/test/echo', { username: 'ana' }, date);
    const r = await raw('POST', '/auth/v2/test/echo', { date, authorization, 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' }, body);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ stat: 'OK', response: { method: 'POST', params: { username: 'ana' }, integration: 'Case portal' } });
    expect(r.headers['set-cookie']).toBeUndefined();
    expect(r.headers['cache-control']).toBe('no-store');
  });
});

describe('refusals, in Duo codes, as the official clients report them', () => {
  it('a wrong secret key: 401 40103 "Invalid signature in request credentials"', async () => {
    const r = await runPythonJob({ kind: 'check', client: py({ skey: newKeys().skey }) });
    expect(r).toMatchObject({ ok: false, status: 401, message: 'Received 401 Invalid signature in request credentials' });
    expect(await nodeDuoCall(server.target, node({ skey: newKeys().skey }), 'GET', '/auth/v2/check')).toEqual({ stat: 'FAIL', code: 40103, message: 'Invalid signature in request credentials' });
  });

  it('an unknown integration key: 401 40102 "Invalid integration key in request credentials"', async () => {
    const stranger = newKeys();
    const r = await runPythonJob({ kind: 'check', client: py(stranger) });
    expect(r).toMatchObject({ ok: false, status: 401, message: 'Received 401 Invalid integration key in request credentials' });
    expect(await nodeDuoCall(server.target, node(stranger), 'GET', '/auth/v2/check')).toEqual({ stat: 'FAIL', code: 40102, message: 'Invalid integration key in request credentials' });
    expect(server.lookups).toContain(stranger.ikey);
  });

  it('a date more than five minutes from the server clock: 401 40105 "Bad request timestamp"; one look-up a minute at most (to audit it)', async () => {
    server.clock.offsetMs = 10 * 60_000;
    const lookupsBefore = server.lookups.length;
    try {
      const r = await runPythonJob({ kind: 'check', client: py() });
      expect(r).toMatchObject({ ok: false, status: 401, message: expect.stringMatching(/^Received 401 Bad request timestamp \(.*300 seconds/) });
      expect(await nodeDuoCall(server.target, node(), 'GET', '/auth/v2/check')).toMatchObject({ stat: 'FAIL', code: 40105, message: 'Bad request timestamp' });
      // Refused before the look-up; the key is looked up once, to audit the refusal, then not again within the minute.
      expect(server.lookups.length).toBe(lookupsBefore + 1);
    } finally {
      server.clock.offsetMs = 0;
    }
  });

  it('no Authorization header: 401 40101 "Missing request credentials"; no date: 40104', async () => {
    const none = await raw('GET', '/auth/v2/check', { date: new Date().toUTCString() });
    expect([none.status, none.json]).toEqual([401, { stat: 'FAIL', code: 40101, message: 'Missing request credentials' }]);
    const notBasic = await raw('GET', '/auth/v2/check', { date: new Date().toUTCString(), authorization: 'Bearer abc' });
    expect(notBasic.json).toMatchObject({ stat: 'FAIL', code: 40101, message_detail: expect.any(String) });
    const authorization = duoApiSig.sign(current.ikey, current.skey, 'GET', 'localhost', '/auth/v2/check', {}, '');
    const noDate = await raw('GET', '/auth/v2/check', { authorization });
    expect([noDate.status, noDate.json]).toEqual([401, { stat: 'FAIL', code: 40104, message: 'Missing request timestamp' }]);
  });

  it('X-Duo-Date takes the place of Date', async () => {
    const date = new Date().toUTCString();
    const authorization = duoApiSig.sign(current.ikey, current.skey, 'GET', 'localhost', '/auth/v2/check', {}, date);
    const r = await raw('GET', '/auth/v2/check', { authorization, 'x-duo-date': date, date: 'Thu, 01 Jan 1970 00:00:00 GMT' });
    expect([r.status, r.json.stat]).toEqual([200, 'OK']);
  });

  it('bad parameters: 400 40002 "Invalid request parameters", the parameter in message_detail', async () => {
    const r = await runPythonJob({ kind: 'call', client: py(), method: 'GET', path: '/auth/v2/check', params: { surprise: '1' } });
    expect(r).toMatchObject({ ok: false, status: 400, message: 'Received 400 Invalid request parameters (surprise)' });
    // Parameters in both the query string and the body would be half signed.
    const date = new Date().toUTCString();
    const authorization = duoApiSig.sign(current.ikey, current.skey, 'POST', 'localhost', '/auth/v2/test/echo', { a: '1' }, date);
    const both = await raw('POST', '/auth/v2/test/echo?b=2', { date, authorization, 'content-type': 'application/x-www-form-urlencoded' }, 'a=1');
    expect([both.status, both.json.code]).toEqual([400, 40002]);
    const broken = await raw('GET', '/auth/v2/test/echo?a=%E0%A4', { date, authorization });
    expect([broken.status, broken.json.code]).toEqual([400, 40002]);
    const text = await raw('POST', '/auth/v2/test/echo', { date, authorization, 'content-type': 'text/plain' }, 'a=1');
    expect([text.status, text.json.code]).toEqual([400, 40002]);
  });

  it('an unknown endpoint: 404 40401 "Resource not found"; a broken URL: 400 40002, in the envelope', async () => {
    expect(await nodeDuoCall(server.target, node(), 'GET', '/auth/v2/nothing-here')).toEqual({ stat: 'FAIL', code: 40401, message: 'Resource not found' });
    // Not the root's answers: no CSRF refusal for a POST, no web page for a GET.
    const post = await raw('POST', '/oauth/v1/nothing-here', { 'content-type': 'application/x-www-form-urlencoded' }, 'a=1');
    expect([post.status, post.json]).toEqual([404, { stat: 'FAIL', code: 40401, message: 'Resource not found' }]);
    const badUrl = await raw('GET', '/auth/v2/%ZZ');
    expect(badUrl.status).toBe(400);
    expect(badUrl.json).toMatchObject({ stat: 'FAIL', code: 40002 });
  });
});

describe('failures on our side', () => {
  it('a database that cannot be reached: 503 50301 with Retry-After; any other fault: 500 50001, nothing of it told', async () => {
    server.failNextLookup = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const date = new Date().toUTCString();
    const authorization = duoApiSig.sign(current.ikey, current.skey, 'GET', 'localhost', '/auth/v2/check', {}, date);
    const down = await raw('GET', '/auth/v2/check', { date, authorization });
    expect([down.status, down.headers['retry-after'], down.json]).toEqual([503, '5', { stat: 'FAIL', code: 50301, message: 'Service temporarily unavailable' }]);
    server.failNextLookup = new Error('secret internals');
    const bug = await raw('GET', '/auth/v2/check', { date, authorization });
    expect([bug.status, bug.json]).toEqual([500, { stat: 'FAIL', code: 50001, message: 'Internal server error' }]);
    // The python client reports Duo's message for these too.
    server.failNextLookup = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    expect(await runPythonJob({ kind: 'check', client: py() })).toMatchObject({ ok: false, status: 503, message: 'Received 503 Service temporarily unavailable' });
  });
});

describe('secret key rotation', () => {
  it('accepts the previous secret key while the integration lists it, and not after', async () => {
    const keys = newKeys();
    const next = newKeys().skey;
    const rotating: TestIntegration = { ikey: keys.ikey, name: 'Rotating', secretKeys: [next, keys.skey] };
    server.integrations.set(keys.ikey, rotating);
    const [old, fresh] = await runPythonDuo([
      { kind: 'check', client: py(keys) },
      { kind: 'check', client: py({ ikey: keys.ikey, skey: next }) },
    ]);
    expect(ok(old!).time).toBeGreaterThan(0);
    expect(ok(fresh!).time).toBeGreaterThan(0);
    server.integrations.set(keys.ikey, { ...rotating, secretKeys: [next] });
    expect(await runPythonJob({ kind: 'check', client: py(keys) })).toMatchObject({ ok: false, status: 401 });
  });
});

describe('@duosecurity/duo_universal 3.x reaches Tessera over TLS', () => {
  const options = { clientId: 'DIAAAAAAAAAAAAAAAAAA', clientSecret: 'a'.repeat(40), redirectUrl: 'https://portal.example/duo-callback' };

  it("with our CA in place of its pinned ones (its endpoints are still to come: a 404 in Duo's envelope)", async () => {
    const err = await universalClient(server.target, options)
      .healthCheck()
      .then(() => null, (e: unknown) => e as { inner?: { response?: { status?: number; data?: unknown } } });
    expect(err?.inner?.response?.status).toBe(404);
    expect(err?.inner?.response?.data).toEqual({ stat: 'FAIL', code: 40401, message: 'Resource not found' });
  });

  it('and, unmodified, refuses our private CA: its Duo pins are intact', async () => {
    const pinned = new UniversalClient({ ...options, apiHost: `localhost:${server.target.port}` });
    const err = await pinned.healthCheck().then(() => null, (e: unknown) => e as Error & { inner?: { code?: string } });
    expect(err?.inner?.code).toMatch(/CERT|SIGNATURE|VERIFY/);
  });
});
