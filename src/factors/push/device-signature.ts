import { createHash, createPublicKey, randomBytes, verify, type JsonWebKey, type KeyObject } from 'node:crypto';

/**
 * The device protocol's signatures. The app holds a non-extractable P-256 key made with
 * WebCrypto; WebCrypto's ECDSA signatures are IEEE P1363 (r || s, 64 bytes), not DER, so
 * that is what is verified here.
 *
 * A request:  `${METHOD}\n${path with query}\n${timestamp}\n${nonce}\n${sha256 base64url of the body, or "" without one}`
 * An answer:  `${transactionId}|${answer}|${reason ?? ""}|${number ?? ""}|${timestamp}`
 *
 * The nonce (16 or more random bytes, base64url) is used up by the request (device.service.ts):
 * the timestamp alone would let a captured request be sent again for as long as it stays
 * fresh (up to 4 minutes: +-120 s), e.g. a stream reopened or a transactions list re-read by
 * someone who saw one request go by.
 */

/** How far a device's clock (the signed timestamp) may be from ours: a captured request is worth nothing after this. */
export const DEVICE_CLOCK_SKEW_MS = 120_000;

/** A request nonce: 16 to 48 random bytes in base64url (the app sends 16). */
export const NONCE_PATTERN = /^[A-Za-z0-9_-]{22,64}$/;

/** A nonce as the app makes one (16 random bytes, base64url), for the Node clients: the simulator, the benchmarks. */
export const newNonce = () => randomBytes(16).toString('base64url');

const B64URL_32 = /^[A-Za-z0-9_-]{43}$/;

export interface DevicePublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
}

/** The public key of an activation, kept to exactly the four members (no private `d`, nothing else); null when it is not a P-256 point. */
export function parseDeviceKey(input: unknown): { jwk: DevicePublicJwk; key: KeyObject } | null {
  if (typeof input !== 'object' || input === null) return null;
  const { kty, crv, x, y, d } = input as Record<string, unknown>;
  if (kty !== 'EC' || crv !== 'P-256' || typeof x !== 'string' || typeof y !== 'string' || d !== undefined) return null;
  if (!B64URL_32.test(x) || !B64URL_32.test(y)) return null;
  const jwk: DevicePublicJwk = { kty, crv, x, y };
  try {
    // createPublicKey refuses a point that is not on the curve.
    return { jwk, key: createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }) };
  } catch {
    return null;
  }
}

export function keyOfStoredJwk(json: string): KeyObject | null {
  try {
    return parseDeviceKey(JSON.parse(json))?.key ?? null;
  } catch {
    return null;
  }
}

export const bodyDigest = (body: string | undefined): string => (body ? createHash('sha256').update(body, 'utf8').digest('base64url') : '');

export const requestSigningString = (method: string, pathWithQuery: string, timestamp: string, nonce: string, body: string | undefined) =>
  `${method.toUpperCase()}\n${pathWithQuery}\n${timestamp}\n${nonce}\n${bodyDigest(body)}`;

export const answerSigningString = (a: { id: string; answer: string; reason?: string; number?: string; timestamp: number }) =>
  `${a.id}|${a.answer}|${a.reason ?? ''}|${a.number ?? ''}|${a.timestamp}`;

/** ECDSA P-256 / SHA-256 over `data`, signature as base64url of r || s. False for anything malformed. */
export function verifyDeviceSignature(key: KeyObject, data: string, signature: unknown): boolean {
  if (typeof signature !== 'string' || !/^[A-Za-z0-9_-]{86}$/.test(signature)) return false;
  try {
    return verify('sha256', Buffer.from(data, 'utf8'), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url'));
  } catch {
    return false;
  }
}

export const timestampFresh = (timestamp: number, now: number) => Number.isSafeInteger(timestamp) && Math.abs(now - timestamp) <= DEVICE_CLOCK_SKEW_MS;
