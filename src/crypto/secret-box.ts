import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Encryption at rest for factor secrets (TOTP seeds, device secrets): AES-256-GCM under a
 * master key. Every sealed value names the key that sealed it, so keys can be rotated:
 * new values use the current key, old values open with a retired key until re-sealed.
 *
 * Sealed format: `v1.<key id>.<iv, base64url>.<ciphertext + tag, base64url>`.
 */
export interface MasterKey {
  id: string;
  key: Buffer;
}

export const keyIdOf = (key: Buffer) => createHash('sha256').update(key).digest('hex').slice(0, 8);

export class SecretBox {
  private readonly byId: Map<string, Buffer>;
  constructor(
    readonly current: MasterKey,
    retired: MasterKey[] = [],
  ) {
    this.byId = new Map([...retired, current].map((k) => [k.id, k.key]));
  }

  /** `aad` binds the ciphertext to its owner (e.g. the authenticator id): a sealed value copied to another row does not open. */
  seal(plaintext: Buffer | string, aad: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
    cipher.setAAD(Buffer.from(aad));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return ['v1', this.current.id, iv.toString('base64url'), body.toString('base64url')].join('.');
  }

  open(sealed: string, aad: string): Buffer {
    const [version, keyId, ivText, bodyText] = sealed.split('.');
    const key = keyId ? this.byId.get(keyId) : undefined;
    if (version !== 'v1' || !key || !ivText || !bodyText) throw new Error(`cannot open sealed value (key ${keyId ?? '?'} unknown or format wrong)`);
    const body = Buffer.from(bodyText, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(ivText, 'base64url'));
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(body.subarray(body.length - 16));
    return Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]);
  }

  /** Whether a sealed value was made with a retired key (worth re-sealing). */
  isStale(sealed: string): boolean {
    return sealed.split('.')[1] !== this.current.id;
  }

  /**
   * A keyed hash for values that are compared, never read back (backup codes): HMAC-SHA256
   * under a key derived from the master key, so a copy of the database alone cannot be
   * brute-forced. Returns the key id used, to find the key again after a rotation.
   */
  mac(purpose: string, value: string, keyId = this.current.id): { keyId: string; mac: string } {
    const master = this.byId.get(keyId);
    if (!master) throw new Error(`unknown key ${keyId}`);
    return { keyId, mac: createHmac('sha256', derive(master, purpose)).update(value).digest('base64url') };
  }

  /**
   * 32-byte keys for one purpose (HKDF-SHA256 of each master key), the current key's first and
   * then the retired ones': every node with the same master key derives the same keys, and
   * values made before a master-key rotation still check (e.g. signed cookies: sign with the
   * first, accept any).
   */
  derivedKeys(purpose: string): Buffer[] {
    return [this.current.key, ...[...this.byId.values()].filter((k) => k !== this.current.key)].map((master) => derive(master, purpose));
  }

  macMatches(purpose: string, value: string, keyId: string, expected: string): boolean {
    if (!this.byId.has(keyId)) return false;
    const a = Buffer.from(this.mac(purpose, value, keyId).mac);
    const b = Buffer.from(expected);
    return a.length === b.length && timingSafeEqual(a, b);
  }
}

const derive = (master: Buffer, purpose: string) => Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), `tessera ${purpose}`, 32));
