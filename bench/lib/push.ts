import { generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import http from 'node:http';
import type { Db } from '../../src/db/database.js';
import { answerSigningString, newNonce, requestSigningString } from '../../src/factors/push/device-signature.js';
import type { SeededUser } from './seed.js';

/**
 * The Tessera Authenticator as the push benchmarks drive it: a real P-256 key per device
 * (node:crypto, IEEE P1363 signatures exactly as the app's WebCrypto makes them), and the
 * device protocol of src/factors/push/device-signature.ts; the same wire format as
 * test/support/device-simulator.ts, without the in-process app.
 */

export interface BenchDevice {
  userId: string;
  deviceId: string;
  privateKey: KeyObject;
}

/** An activated push authenticator (authenticators + push_devices rows, as activation leaves them) per user, bulk-inserted. */
export async function seedPushDevices(db: Db, firmId: string, users: SeededUser[]): Promise<BenchDevice[]> {
  const now = Date.now();
  const devices = users.map((u) => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    return { userId: u.id, deviceId: randomUUID(), privateKey, jwk: JSON.stringify({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }) };
  });
  for (let i = 0; i < devices.length; i += 500) {
    const chunk = devices.slice(i, i + 500);
    await db
      .insertInto('authenticators')
      .values(chunk.map((d) => ({ id: d.deviceId, firm_id: firmId, user_id: d.userId, kind: 'push' as const, label: 'Tessera Authenticator', status: 'active' as const, created_at: now, confirmed_at: now, last_used_at: null, phone_e164: null })))
      .execute();
    await db
      .insertInto('push_devices')
      .values(chunk.map((d) => ({ authenticator_id: d.deviceId, public_key: d.jwk, platform: 'bench', web_push: null, created_at: now, last_seen_at: now })))
      .execute();
  }
  return devices.map(({ userId, deviceId, privateKey }) => ({ userId, deviceId, privateKey }));
}

const signB64u = (key: KeyObject, data: string) => sign('sha256', Buffer.from(data, 'utf8'), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');

export interface PreparedRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

/** The device's signed approval (request signature + answer signature, the number typed in), ready to send. */
export function signedApproval(device: BenchDevice, transactionId: string, number: string, at = Date.now()): PreparedRequest {
  const path = `/api/v1/device/transactions/${transactionId}/answer`;
  const body = JSON.stringify({ answer: 'approve', number, timestamp: at, signature: signB64u(device.privateKey, answerSigningString({ id: transactionId, answer: 'approve', number, timestamp: at })) });
  const ts = String(at);
  const nonce = newNonce();
  return {
    method: 'POST',
    path,
    body,
    headers: {
      'content-type': 'application/json',
      'user-agent': 'TesseraAuthenticator/1 (bench)',
      'x-tessera-device': device.deviceId,
      'x-tessera-timestamp': ts,
      'x-tessera-nonce': nonce,
      'x-tessera-signature': signB64u(device.privateKey, requestSigningString('POST', path, ts, nonce, body)),
    },
  };
}

/** The signed EventSource path of the device's live request stream (one use: its nonce is spent by the first request). */
export function signedStreamPath(device: BenchDevice, at = Date.now()): string {
  const path = '/api/v1/device/stream';
  const ts = String(at);
  const nonce = newNonce();
  return `${path}?${new URLSearchParams({ device: device.deviceId, ts, sig: signB64u(device.privateKey, requestSigningString('GET', path, ts, nonce, undefined)), nonce })}`;
}

export interface Sent {
  status: number;
  body: string;
  setCookie: string[];
  /** process.hrtime.bigint() when the request was handed to the socket, and when the whole response had arrived. */
  sentAt: bigint;
  doneAt: bigint;
}

/** One HTTP request to 127.0.0.1 (only), timed with process.hrtime in this process. */
export function send(base: URL, agent: http.Agent, r: PreparedRequest, timeoutMs = 60_000): Promise<Sent> {
  if (base.hostname !== '127.0.0.1') throw new Error('load is generated against 127.0.0.1 only');
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: base.port, method: r.method, path: r.path, headers: r.headers, agent, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const doneAt = process.hrtime.bigint();
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), setCookie: res.headers['set-cookie'] ?? [], sentAt, doneAt });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${r.method} ${r.path}`)));
    req.on('error', reject);
    const sentAt = process.hrtime.bigint();
    req.end(r.body);
  });
}

/** Runs `tasks` with at most `concurrency` in flight. */
export async function pool<T>(tasks: (() => Promise<T>)[], concurrency: number): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++;
        out[i] = await tasks[i]!();
      }
    }),
  );
  return out;
}

/** "Send me a push" through the real route, for each pending login (token); returns transaction id and number. */
export async function startPushes(base: URL, tokens: string[], csrf: { cookie: string; token: string }, concurrency = 16): Promise<{ transactionId: string; number: string }[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  try {
    return await pool(
      tokens.map((token) => async () => {
        const r = await send(base, agent, {
          method: 'POST',
          path: '/api/v1/mfa/push',
          headers: { 'content-type': 'application/json', 'x-csrf-token': csrf.token, cookie: `tessera_session=${token}; ${csrf.cookie}`, 'user-agent': 'Mozilla/5.0 (bench) Firefox/130.0' },
          body: '{}',
        });
        if (r.status !== 201) throw new Error(`POST /mfa/push: ${r.status} ${r.body}`);
        return JSON.parse(r.body) as { transactionId: string; number: string };
      }),
      concurrency,
    );
  } finally {
    agent.destroy();
  }
}

/** The login screen's long-poll for the answer. */
export const waitRequest = (token: string, transactionId: string): PreparedRequest => ({
  method: 'GET',
  path: `/api/v1/mfa/push/${transactionId}/wait`,
  headers: { cookie: `tessera_session=${token}`, 'user-agent': 'Mozilla/5.0 (bench) Firefox/130.0' },
});

export function percentile(sortedMs: number[], p: number): number {
  if (sortedMs.length === 0) return NaN;
  return sortedMs[Math.min(sortedMs.length - 1, Math.ceil((p / 100) * sortedMs.length) - 1)]!;
}

export const ms = (ns: bigint) => Number(ns) / 1e6;
export const round2 = (x: number) => Math.round(x * 100) / 100;
