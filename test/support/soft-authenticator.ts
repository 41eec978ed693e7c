import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';

/**
 * A software authenticator for HTTP tests: real key pairs (node:crypto), real CBOR (the
 * encoder @simplewebauthn/server itself decodes with), real signatures. It builds the
 * ceremonies a browser and a FIDO2 key would:
 *   registration:   clientDataJSON {type: webauthn.create, challenge, origin}, and an
 *                   attestationObject {fmt: "none", attStmt: {}, authData} where authData =
 *                   rpIdHash | flags (UP, UV?, AT) | signCount | AAGUID | credIdLen | credId | COSE key;
 *   authentication: clientDataJSON {type: webauthn.get, ...}, authenticatorData = rpIdHash |
 *                   flags | signCount, and a signature over authData || SHA-256(clientDataJSON)
 *                   (DER for ECDSA, as authenticators send it).
 * Every part can be overridden, so a test can produce exactly one wrong thing at a time.
 */

export type KeyAlg = 'ES256' | 'EdDSA' | 'RS256' | 'ES384';

const FLAG = { UP: 0x01, UV: 0x04, BE: 0x08, BS: 0x10, AT: 0x40, ED: 0x80 } as const;
const COSE_ALG: Record<KeyAlg, number> = { ES256: -7, EdDSA: -8, RS256: -257, ES384: -35 };

export interface SoftCredential {
  id: Buffer;
  alg: KeyAlg;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** The signature counter: moved on before each assertion (unless `counter` is given). */
  counter: number;
  /** The user handle the RP gave at registration (a discoverable credential returns it). */
  userHandle: Buffer;
  discoverable: boolean;
}

export interface RegisterOverrides {
  alg?: KeyAlg;
  /** User verification performed (default: the authenticator's `uv`). */
  uv?: boolean;
  up?: boolean;
  /** Resident key made, reported through credProps (default: what the options asked for). */
  discoverable?: boolean;
  origin?: string;
  rpId?: string;
  type?: string;
  challenge?: string;
  credentialId?: Buffer;
  counter?: number;
  /** Omit credProps from clientExtensionResults (some browsers do). */
  noCredProps?: boolean;
}

export interface AssertOverrides {
  uv?: boolean;
  up?: boolean;
  origin?: string;
  rpId?: string;
  type?: string;
  challenge?: string;
  /** The counter to report (default: the credential's counter + 1). */
  counter?: number;
  /** Sign with another credential's key while naming this one. */
  signWith?: SoftCredential;
  userHandle?: string | null;
}

const b64u = (b: Uint8Array | Buffer) => Buffer.from(b).toString('base64url');
const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest();

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

function keyPair(alg: KeyAlg): { privateKey: KeyObject; publicKey: KeyObject } {
  switch (alg) {
    case 'ES256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' });
    case 'ES384':
      return generateKeyPairSync('ec', { namedCurve: 'P-384' });
    case 'EdDSA':
      return generateKeyPairSync('ed25519');
    case 'RS256':
      return generateKeyPairSync('rsa', { modulusLength: 2048 });
  }
}

/** The credential public key in COSE (RFC 9053): EC2, OKP or RSA, with its alg. */
export function coseKey(alg: KeyAlg, publicKey: KeyObject): Uint8Array {
  const jwk = publicKey.export({ format: 'jwk' });
  const bytes = (s: string | undefined) => new Uint8Array(Buffer.from(s!, 'base64url'));
  const m = new Map<number, number | Uint8Array>();
  if (alg === 'ES256' || alg === 'ES384') {
    m.set(1, 2).set(3, COSE_ALG[alg]).set(-1, alg === 'ES256' ? 1 : 2).set(-2, bytes(jwk.x)).set(-3, bytes(jwk.y));
  } else if (alg === 'EdDSA') {
    m.set(1, 1).set(3, -8).set(-1, 6).set(-2, bytes(jwk.x));
  } else {
    m.set(1, 3).set(3, -257).set(-1, bytes(jwk.n)).set(-2, bytes(jwk.e));
  }
  return isoCBOR.encode(m);
}

function signWith(cred: SoftCredential, data: Buffer): Buffer {
  switch (cred.alg) {
    case 'ES256':
    case 'RS256':
      return sign('sha256', data, cred.privateKey);
    case 'ES384':
      return sign('sha384', data, cred.privateKey);
    case 'EdDSA':
      return sign(null, data, cred.privateKey);
  }
}

interface CreationOptions {
  challenge: string;
  rp: { id?: string };
  user: { id: string };
  authenticatorSelection?: { residentKey?: string; userVerification?: string };
}
interface RequestOptions {
  challenge: string;
}

export interface RegistrationJSON {
  id: string;
  rawId: string;
  type: 'public-key';
  authenticatorAttachment?: 'cross-platform' | 'platform';
  clientExtensionResults: Record<string, unknown>;
  response: { clientDataJSON: string; attestationObject: string; transports?: string[]; publicKeyAlgorithm?: number; authenticatorData?: string };
}

export interface AuthenticationJSON {
  id: string;
  rawId: string;
  type: 'public-key';
  authenticatorAttachment?: 'cross-platform' | 'platform';
  clientExtensionResults: Record<string, unknown>;
  response: { clientDataJSON: string; authenticatorData: string; signature: string; userHandle?: string };
}

export class SoftAuthenticator {
  readonly credentials: SoftCredential[] = [];
  readonly aaguid: Buffer;

  constructor(
    readonly opts: {
      /** The origin the "browser" is on; the RP ID is its host unless given. */
      origin: string;
      rpId?: string;
      /** Does this key verify its user (PIN, biometrics)? */
      uv?: boolean;
      transports?: string[];
    },
  ) {
    this.aaguid = randomBytes(16);
  }

  get rpId(): string {
    return this.opts.rpId ?? new URL(this.opts.origin).hostname;
  }

  private clientData(type: string, challenge: string, origin: string): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  }

  /** navigator.credentials.create() with these options, as @simplewebauthn/browser's startRegistration would send it. */
  register(options: CreationOptions, o: RegisterOverrides = {}): { response: RegistrationJSON; credential: SoftCredential } {
    const alg = o.alg ?? 'ES256';
    const { privateKey, publicKey } = keyPair(alg);
    const wantsResident = options.authenticatorSelection?.residentKey === 'required' || options.authenticatorSelection?.residentKey === 'preferred';
    const credential: SoftCredential = {
      id: o.credentialId ?? randomBytes(32),
      alg,
      privateKey,
      publicKey,
      counter: o.counter ?? 0,
      userHandle: Buffer.from(options.user.id, 'base64url'),
      discoverable: o.discoverable ?? wantsResident,
    };
    const uv = o.uv ?? this.opts.uv ?? true;
    const flags = ((o.up ?? true) ? FLAG.UP : 0) | (uv ? FLAG.UV : 0) | FLAG.AT;
    const idLen = Buffer.alloc(2);
    idLen.writeUInt16BE(credential.id.length);
    const authData = Buffer.concat([
      sha256(o.rpId ?? options.rp.id ?? this.rpId),
      Buffer.from([flags]),
      u32(credential.counter),
      this.aaguid,
      idLen,
      credential.id,
      Buffer.from(coseKey(alg, publicKey)),
    ]);
    const attestation = new Map<string, string | Uint8Array | Map<string, string>>();
    attestation.set('fmt', 'none').set('attStmt', new Map<string, string>()).set('authData', new Uint8Array(authData));
    const attestationObject = isoCBOR.encode(attestation);
    const clientDataJSON = this.clientData(o.type ?? 'webauthn.create', o.challenge ?? options.challenge, o.origin ?? this.opts.origin);
    this.credentials.push(credential);
    return {
      credential,
      response: {
        id: b64u(credential.id),
        rawId: b64u(credential.id),
        type: 'public-key',
        authenticatorAttachment: 'cross-platform',
        clientExtensionResults: o.noCredProps ? {} : { credProps: { rk: credential.discoverable } },
        response: {
          clientDataJSON: b64u(clientDataJSON),
          attestationObject: b64u(attestationObject),
          transports: this.opts.transports ?? ['usb'],
          publicKeyAlgorithm: COSE_ALG[alg],
          authenticatorData: b64u(authData),
        },
      },
    };
  }

  /** navigator.credentials.get() answered by `credential`, as startAuthentication would send it. */
  assert(options: RequestOptions, credential: SoftCredential, o: AssertOverrides = {}): AuthenticationJSON {
    credential.counter = o.counter ?? credential.counter + 1;
    const uv = o.uv ?? this.opts.uv ?? true;
    const flags = ((o.up ?? true) ? FLAG.UP : 0) | (uv ? FLAG.UV : 0);
    const authData = Buffer.concat([sha256(o.rpId ?? this.rpId), Buffer.from([flags]), u32(credential.counter)]);
    const clientDataJSON = this.clientData(o.type ?? 'webauthn.get', o.challenge ?? options.challenge, o.origin ?? this.opts.origin);
    const signature = signWith(o.signWith ?? credential, Buffer.concat([authData, sha256(clientDataJSON)]));
    const userHandle = o.userHandle === undefined ? (credential.discoverable ? b64u(credential.userHandle) : undefined) : (o.userHandle ?? undefined);
    return {
      id: b64u(credential.id),
      rawId: b64u(credential.id),
      type: 'public-key',
      authenticatorAttachment: 'cross-platform',
      clientExtensionResults: {},
      response: {
        clientDataJSON: b64u(clientDataJSON),
        authenticatorData: b64u(authData),
        signature: b64u(signature),
        ...(userHandle !== undefined ? { userHandle } : {}),
      },
    };
  }
}

/** Helpers to damage one field of a response. */
export const mangle = {
  /** The first `keep` bytes of a base64url value. */
  truncate: (value: string, keep: number) => Buffer.from(value, 'base64url').subarray(0, keep).toString('base64url'),
  /** The value with `n` more bytes of padding data appended. */
  grow: (value: string, n: number) => Buffer.concat([Buffer.from(value, 'base64url'), Buffer.alloc(n, 0x41)]).toString('base64url'),
  json: (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url'),
};
