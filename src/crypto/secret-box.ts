import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { AppError } from '../core/errors.js';

/**
 * Encryption at rest for secrets (TOTP seeds, device secrets, the Web Push key, backup-code
 * MACs): AES-256-GCM under a master key. Every sealed value names the key that sealed it, so
 * keys can be rotated: new values use the current key, old values open with a retired key
 * and are re-sealed under the current one, on use and by the re-seal job (crypto/reseal.ts),
 * until the retired key can be removed.
 *
 * Sealed format: `v1.<key id>.<iv, base64url>.<ciphertext + tag, base64url>`.
 */
export interface MasterKey {
  id: string;
  key: Buffer;
}

export const keyIdOf = (key: Buffer) => createHash('sha256').update(key).digest('hex').slice(0, 8);

const VERSION = 'v1';
const KEY_BYTES = 32;
/** The 96-bit IV GCM is defined for (NIST SP 800-38D 8.2). */
const IV_BYTES = 12;
/**
 * The full 128-bit tag, pinned: without `authTagLength` Node accepts a tag as short as 4 bytes
 * at decryption, and a forger who may present a truncated tag needs far fewer tries.
 */
const TAG_BYTES = 16;
/** Key ids sit between dots and inside SQL LIKE patterns (crypto/reseal.ts): no dot, no wildcard. */
const KEY_ID = /^[0-9A-Za-z-]{1,64}$/;
const B64URL = /^[A-Za-z0-9_-]+$/;

/** Why a sealed value did not open. */
export type UnsealFailure = 'unknown_key' | 'malformed' | 'forged';

/**
 * A stored secret that none of the configured master keys opens: sealed under a key no longer
 * configured (removed before its values were re-sealed), or altered. Answered 503
 * SECRET_UNAVAILABLE, never a 500, and fail closed: the step stops before anything is compared
 * or counted. The key id and reason go to the log (the error handler logs server errors), not
 * to the client.
 */
export class SecretUnavailable extends AppError {
  constructor(
    readonly keyId: string | null,
    readonly reason: UnsealFailure,
  ) {
    super('SECRET_UNAVAILABLE');
  }
}

/** base64url exactly as we write it (Buffer.from would skip stray characters and accept a truncated value). */
function strictBase64url(text: string): Buffer | null {
  if (!B64URL.test(text)) return null;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : null;
}

export class SecretBox {
  private readonly byId: Map<string, Buffer>;
  readonly retiredIds: readonly string[];

  constructor(
    readonly current: MasterKey,
    retired: MasterKey[] = [],
  ) {
    for (const k of [...retired, current]) {
      if (!KEY_ID.test(k.id) || k.key.length !== KEY_BYTES) throw new Error(`master key ${k.id}: a ${KEY_BYTES}-byte key with an id of letters and digits is needed`);
    }
    this.byId = new Map([...retired, current].map((k) => [k.id, k.key]));
    this.retiredIds = Object.freeze([...this.byId.keys()].filter((id) => id !== current.id));
  }

  /** `aad` binds the ciphertext to its owner (e.g. the authenticator id): a sealed value copied to another row does not open. */
  seal(plaintext: Buffer | string, aad: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(aad));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return [VERSION, this.current.id, iv.toString('base64url'), body.toString('base64url')].join('.');
  }

  /** The plaintext of a sealed value; throws SecretUnavailable when no configured key opens it. */
  open(sealed: string, aad: string): Buffer {
    const parts = sealed.split('.');
    if (parts.length !== 4 || parts[0] !== VERSION) throw new SecretUnavailable(null, 'malformed');
    const [, keyId = '', ivText = '', bodyText = ''] = parts;
    const key = this.byId.get(keyId);
    if (!key) throw new SecretUnavailable(keyId, 'unknown_key');
    const iv = strictBase64url(ivText);
    const body = strictBase64url(bodyText);
    if (!iv || iv.length !== IV_BYTES || !body || body.length < TAG_BYTES) throw new SecretUnavailable(keyId, 'malformed');
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]);
    } catch {
      // Wrong owner (aad), altered ciphertext or tag: the same refusal, whichever.
      throw new SecretUnavailable(keyId, 'forged');
    }
  }

  /** Whether a stored value is anything but a value sealed under the current key (worth re-sealing). */
  isStale(sealed: string): boolean {
    return !sealed.startsWith(`${VERSION}.${this.current.id}.`);
  }

  /** The SQL LIKE pattern of values sealed under the current key (the re-seal job looks for the others). */
  currentPattern(): string {
    return `${VERSION}.${this.current.id}.%`;
  }

  /** Whether a master key with this id is configured (current or retired). */
  knows(keyId: string): boolean {
    return this.byId.has(keyId);
  }

  /**
   * A key derived from a configured master key for one purpose (HKDF-SHA256), for keyed hashes
   * of values that are compared, never read back (backup codes); null for an unknown id.
   */
  derivedKey(purpose: string, keyId = this.current.id): Buffer | null {
    const master = this.byId.get(keyId);
    return master ? derive(master, purpose) : null;
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
}

const derive = (master: Buffer, purpose: string) => Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), `tessera ${purpose}`, 32));
