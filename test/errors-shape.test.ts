import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from '../src/core/errors.js';
import { PASSWORD, dbState, firmWithAdmin, startHarness, type Harness, type TestFirm } from './support/harness.js';

/**
 * Issue 16 item 11: every 4xx answers `{ error, message }` with a stable code, including what
 * Fastify and Node's HTTP parser refuse before any route runs. The requests are written byte
 * for byte on a TCP socket (node:net), since fetch and app.inject would refuse or normalise
 * them; on SQLite and on PostgreSQL (TESSERA_TEST_DATABASE_URL).
 */

let h: Harness;
let port: number;
let A: TestFirm;
/** A browser's CSRF cookie and token, so that body errors are reached past the CSRF check. */
let csrf: { cookie: string; token: string };

beforeAll(async () => {
  h = await startHarness();
  A = await firmWithAdmin(h);
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  port = (h.app.server.address() as AddressInfo).port;
  const res = await h.app.inject({ method: 'GET', url: '/api/v1/csrf' });
  const cookie = res.cookies.find((c) => c.name === 'tessera_csrf')!;
  csrf = { cookie: `tessera_csrf=${cookie.value}`, token: res.json().token };
});
afterAll(() => h?.close());

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Writes the bytes as they are, reads the whole answer (the server closes the connection).
 * `end`: also close our side after writing (a body that ends before its Content-Length).
 */
function send(bytes: Buffer | string, end = false): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const at = text.indexOf('\r\n\r\n');
      const [statusLine, ...lines] = text.slice(0, at).split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, body: text.slice(at + 4) });
    });
    if (end) socket.end(bytes);
    else socket.write(bytes);
  });
}

const bytes = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

/** A request with the given request line, headers and body, as one string of bytes. */
const request = (line: string, headers: string[] = [], body = '') =>
  `${line} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers.map((x) => `${x}\r\n`).join('')}Connection: close\r\n\r\n${body}`;

/** A JSON POST from our own page (CSRF cookie and token), so that only the body is wrong. */
const post = (path: string, body: string, headers: string[] = ['Content-Type: application/json']) =>
  request(`POST ${path}`, [...headers, `Content-Length: ${Buffer.byteLength(body)}`, `Cookie: ${csrf.cookie}`, `X-CSRF-Token: ${csrf.token}`], body);

function expectShape(res: RawAnswer, status: number, code: keyof typeof ERROR_CATALOGUE): void {
  expect(res.status, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  const body = JSON.parse(res.body);
  expect(body).toEqual({ error: code, message: expect.stringMatching(/^[A-Z].{10,}/) });
}

describe('what the HTTP parser refuses, before Fastify', () => {
  it('headers too large (a swollen cookie, or any header): 431 HEADERS_TOO_LARGE', async () => {
    expectShape(await send(request('GET /api/v1/me', [`Cookie: tessera_session=${'a'.repeat(20_000)}`])), 431, 'HEADERS_TOO_LARGE');
    expectShape(await send(request('GET /login', [`X-Padding: ${'a'.repeat(20_000)}`])), 431, 'HEADERS_TOO_LARGE');
  });

  it('control bytes in a cookie: 400 MALFORMED_REQUEST', async () => {
    expectShape(await send(request('GET /api/v1/me', ['Cookie: tessera_session=\u0001\u0002; tessera_csrf=x'])), 400, 'MALFORMED_REQUEST');
    expectShape(await send(request('POST /api/v1/logout', ['Cookie: tessera_session=a\u007fb', 'Content-Length: 0'])), 400, 'MALFORMED_REQUEST');
  });

  it('raw bytes that are not ASCII in the URL (invalid UTF-8 too): 400 MALFORMED_URL', async () => {
    expectShape(await send(bytes('GET /api/v1/admin/users/', [0xff, 0xfe], ' HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')), 400, 'MALFORMED_URL');
    expectShape(await send(bytes('GET /login?next=', [0xc3, 0x28], ' HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')), 400, 'MALFORMED_URL');
  });

  it('a broken request line or framing (an unknown method, two Content-Lengths): 400 MALFORMED_REQUEST', async () => {
    expectShape(await send(request('FROB /api/v1/me')), 400, 'MALFORMED_REQUEST');
    expectShape(await send(request('POST /api/v1/login', ['Content-Type: application/json', 'Content-Length: 2', 'Content-Length: 3'], '{}')), 400, 'MALFORMED_REQUEST');
    expectShape(await send('this is not HTTP\r\n\r\n'), 400, 'MALFORMED_REQUEST');
  });
});

describe('what Fastify refuses, before the route', () => {
  it('%-escapes that do not decode, or decode to invalid UTF-8, in the path: 400 MALFORMED_URL (API and pages)', async () => {
    expectShape(await send(request('GET /api/v1/admin/users/%ZZ')), 400, 'MALFORMED_URL');
    expectShape(await send(request('GET /api/v1/admin/users/%FF%FE')), 400, 'MALFORMED_URL');
    expectShape(await send(request('GET /enroll/%C3%28')), 400, 'MALFORMED_URL');
  });

  it('a path parameter over the router\'s limit: 414 URL_TOO_LONG', async () => {
    expectShape(await send(request(`GET /api/v1/admin/users/${'a'.repeat(300)}`)), 414, 'URL_TOO_LONG');
  });

  it('bodies: too large 413, not JSON 415, malformed or empty JSON 400, shorter than its Content-Length 400', async () => {
    const before = await dbState(h);
    expectShape(await send(post('/api/v1/login', JSON.stringify({ email: 'a@b.example', password: 'x'.repeat(70 * 1024) }))), 413, 'BODY_TOO_LARGE');
    expectShape(await send(post('/api/v1/login', 'email=a%40b.example', ['Content-Type: application/x-www-form-urlencoded'])), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectShape(await send(post('/api/v1/login', '{"email":"a@b.example"', ['Content-Type: text/plain'])), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectShape(await send(post('/api/v1/login', '{"email": "a@b.example",')), 400, 'MALFORMED_JSON');
    expectShape(await send(post('/api/v1/login', '')), 400, 'MALFORMED_JSON');
    const short = request('POST /api/v1/login', ['Content-Type: application/json', 'Content-Length: 40', `Cookie: ${csrf.cookie}`, `X-CSRF-Token: ${csrf.token}`], '{}');
    expectShape(await send(short, true), 400, 'MALFORMED_REQUEST');
    expect(await dbState(h)).toEqual(before);
  });

  it('no route: 404 NOT_FOUND (an API path, a method a route does not take, a missing file)', async () => {
    expectShape(await send(request('GET /api/v1/nowhere')), 404, 'NOT_FOUND');
    expectShape(await send(request('OPTIONS /api/v1/login')), 404, 'NOT_FOUND');
    expectShape(await send(request('GET /assets/missing.js')), 404, 'NOT_FOUND');
  });
});

describe('each door answers its own 404s with its own hooks (issue 13 item 6)', () => {
  it('the web door: an unknown API path still passes the CSRF check first; the device door: no CSRF, a plain 404; both no-store', async () => {
    const web = await send(request('POST /api/v1/nowhere', ['Content-Type: application/json', 'Content-Length: 2'], '{}'));
    expectShape(web, 403, 'CSRF_INVALID');
    const device = await send(request('POST /api/v1/device/nowhere', ['Content-Type: application/json', 'Content-Length: 2'], '{}'));
    expectShape(device, 404, 'NOT_FOUND');
    expect([web.headers['cache-control'], device.headers['cache-control']]).toEqual(['no-store', 'no-store']);
  });
});

describe('a state-changing request with Origin: null', () => {
  const login = (origin: string | null) =>
    post(
      '/api/v1/login',
      JSON.stringify({ email: A.superuser.email, password: PASSWORD }),
      ['Content-Type: application/json', ...(origin === null ? [] : [`Origin: ${origin}`])],
    );

  it('is refused like any foreign Origin (403 CSRF_INVALID), with a valid CSRF token and the right password; nothing is written', async () => {
    const before = await dbState(h);
    expectShape(await send(login('null')), 403, 'CSRF_INVALID');
    expectShape(await send(login('https://evil.example')), 403, 'CSRF_INVALID');
    expect(await dbState(h)).toEqual(before);
  });

  it('(control) the same login from our own origin, or from a client that names none, signs in', async () => {
    for (const origin of [h.ctx.config.publicUrl.origin, null]) {
      const res = await send(login(origin));
      expect(res.status, res.body).toBe(200);
    }
  });
});
