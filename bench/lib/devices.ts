import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { answerSigningString, newNonce, requestSigningString } from '../../src/factors/push/device-signature.js';
import type { Db } from '../../src/db/database.js';
import { PUSH_LABEL } from '../../src/factors/push/push.factor.js';
import type { SeededFirm, SeededUser } from './seed.js';

/**
 * A Tessera Authenticator for load runs: its own P-256 key, and the device protocol's signed
 * strings taken from src/factors/push/device-signature.ts (so they cannot drift from what the
 * server verifies). node:crypto signs synchronously with the IEEE P1363 encoding WebCrypto
 * uses, which is what a load generator needs; test/support/device-simulator.ts is the
 * WebCrypto twin that talks to an in-process app.
 */
export class BenchDevice {
  constructor(
    readonly deviceId: string,
    readonly user: SeededUser,
    private readonly key: KeyObject,
  ) {}

  private sign(data: string): string {
    return sign('sha256', Buffer.from(data, 'utf8'), { key: this.key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  }

  /** The four signature headers of a device request (`pathWithQuery` from /api/v1 on), with a fresh nonce: each request is sent once. */
  headers(method: string, pathWithQuery: string, body?: string): Record<string, string> {
    const timestamp = String(Date.now());
    const nonce = newNonce();
    return {
      'x-tessera-device': this.deviceId,
      'x-tessera-timestamp': timestamp,
      'x-tessera-nonce': nonce,
      'x-tessera-signature': this.sign(requestSigningString(method, pathWithQuery, timestamp, nonce, body)),
    };
  }

  /** The body of an answer: approve with the number shown on the login screen, or deny. */
  answerBody(id: string, answer: 'approve' | 'deny', o: { number?: string; reason?: 'fraud' | 'mistake' } = {}): string {
    const timestamp = Date.now();
    const signature = this.sign(answerSigningString({ id, answer, reason: o.reason, number: o.number, timestamp }));
    return JSON.stringify({ answer, ...(o.reason ? { reason: o.reason } : {}), ...(o.number !== undefined ? { number: o.number } : {}), timestamp, signature });
  }

  /** The URL path of the device's event stream (EventSource carries the signature in the query). */
  streamPath(): string {
    const path = '/api/v1/device/stream';
    const ts = String(Date.now());
    const nonce = newNonce();
    return `${path}?${new URLSearchParams({ device: this.deviceId, ts, sig: this.sign(requestSigningString('GET', path, ts, nonce, undefined)), nonce })}`;
  }
}

/**
 * Turns the TOTP authenticators seedFirm made for `users` into activated Tessera
 * Authenticators, as an activation leaves them: kind 'push', a push_devices row with the
 * device's public key, the existing totp_authenticators row as the device's passcode secret.
 */
export async function seedPushDevices(db: Db, firm: SeededFirm, users: SeededUser[]): Promise<BenchDevice[]> {
  const now = Date.now();
  const devices: BenchDevice[] = [];
  for (let i = 0; i < users.length; i += 500) {
    const chunk = users.slice(i, i + 500);
    const rows = await db
      .selectFrom('authenticators')
      .select(['id', 'user_id'])
      .where('firm_id', '=', firm.firmId)
      .where(
        'user_id',
        'in',
        chunk.map((u) => u.id),
      )
      .execute();
    const byUser = new Map(rows.map((r) => [r.user_id, r.id]));
    const made = chunk.map((u) => {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
      const id = byUser.get(u.id);
      if (!id) throw new Error(`user ${u.email} has no authenticator to turn into a device`);
      return { device: new BenchDevice(id, u, privateKey), jwk: JSON.stringify({ kty, crv, x, y }) };
    });
    await db
      .updateTable('authenticators')
      .set({ kind: 'push', label: PUSH_LABEL })
      .where(
        'id',
        'in',
        made.map((m) => m.device.deviceId),
      )
      .execute();
    await db
      .insertInto('push_devices')
      .values(made.map((m) => ({ authenticator_id: m.device.deviceId, public_key: m.jwk, platform: 'bench', web_push: null, created_at: now, last_seen_at: now })))
      .execute();
    devices.push(...made.map((m) => m.device));
  }
  return devices;
}
