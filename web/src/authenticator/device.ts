/**
 * The device protocol, as src/factors/push/device-signature.ts verifies it and
 * test/support/device-simulator.ts speaks it:
 *   a request  headers x-tessera-device / x-tessera-timestamp / x-tessera-nonce / x-tessera-signature,
 *              the signature (ECDSA P-256 SHA-256, IEEE P1363 as WebCrypto makes it, base64url) over
 *              `${METHOD}\n${path with query}\n${timestamp}\n${nonce}\n${sha256 base64url of the body, or ""}`;
 *              the nonce is 16 random bytes (base64url), new for every request: the server uses
 *              it up, so a request someone captured cannot be sent again
 *   an answer  signed again over `${id}|${answer}|${reason ?? ""}|${number ?? ""}|${timestamp}`
 *   a stream   GET /api/v1/device/stream?device=&ts=&sig=&nonce= (the signed path without those four)
 *   passcodes  TOTP (HMAC-SHA1, 6 digits, 30 s) of the activation's secret, on the device.
 */
import type { AccountInfo, StoredAccount } from './store';

const API = '/api/v1';
const subtle = globalThis.crypto.subtle;

export function b64url(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let binary = '';
  for (const byte of view) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const utf8 = (text: string) => new TextEncoder().encode(text);

async function digest(body: string | undefined): Promise<string> {
  return body ? b64url(await subtle.digest('SHA-256', utf8(body))) : '';
}

/** A request nonce: 16 random bytes, base64url. */
function nonce(): string {
  return b64url(globalThis.crypto.getRandomValues(new Uint8Array(16)));
}

async function sign(key: CryptoKey, data: string): Promise<string> {
  return b64url(await subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key, utf8(data)));
}

export class DeviceError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'DeviceError';
  }
}

async function parse<T>(response: Response): Promise<T> {
  const text = response.status === 204 ? '' : await response.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const e = (body ?? {}) as { error?: unknown; message?: unknown };
    throw new DeviceError(
      response.status,
      typeof e.error === 'string' ? e.error : 'HTTP_ERROR',
      typeof e.message === 'string' ? e.message : `The server answered with an error (${response.status}).`,
    );
  }
  return body as T;
}

async function send<T>(method: 'GET' | 'POST' | 'PUT', path: string, body: string | undefined, headers: Record<string, string>): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers: { accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body,
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch {
    throw new DeviceError(0, 'NETWORK_ERROR', 'Could not reach the server. Check your connection.');
  }
  return parse<T>(response);
}

/** A signed request of the device API (`path` after /api/v1). */
export async function signedRequest<T>(account: StoredAccount, method: 'GET' | 'POST' | 'PUT', path: string, payload?: unknown): Promise<T> {
  const url = `${API}${path}`;
  const body = payload === undefined ? undefined : JSON.stringify(payload);
  const timestamp = String(Date.now());
  const once = nonce();
  const signature = await sign(account.privateKey, `${method}\n${url}\n${timestamp}\n${once}\n${await digest(body)}`);
  return send<T>(method, url, body, {
    'x-tessera-device': account.deviceId,
    'x-tessera-timestamp': timestamp,
    'x-tessera-nonce': once,
    'x-tessera-signature': signature,
  });
}

export interface Activation {
  deviceId: string;
  secret: string;
  period: number;
  digits: number;
  account: AccountInfo;
}

/** A new key pair (the private half non-extractable) and the activation with its public half. */
export async function activate(code: string): Promise<Omit<StoredAccount, 'addedAt'>> {
  const keys = await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const jwk = await subtle.exportKey('jwk', keys.publicKey);
  const publicKey = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
  const platform = navigator.userAgent.slice(0, 100);
  const a = await send<Activation>('POST', `${API}/device/activate`, JSON.stringify({ code, publicKey, platform }), {});
  return { deviceId: a.deviceId, privateKey: keys.privateKey, secret: a.secret, period: a.period, digits: a.digits, account: a.account };
}

export interface TransactionView {
  id: string;
  firmName: string;
  userName: string;
  email: string;
  app: string;
  ip: string | null;
  browser: string;
  os: string;
  createdAt: number;
  expiresAt: number;
  numberDigits: number;
  /** What the application calls the request (Duo's `type`): the card then asks "Verify request"; null for a sign-in. */
  requestType: string | null;
  /** The name the application knows the user by (Duo's `display_username`); null if it sent none. */
  displayUsername: string | null;
  /** The pairs the application asked to show (Duo's `pushinfo`), in order. */
  details: { label: string; value: string }[];
}

export async function pendingTransactions(account: StoredAccount): Promise<TransactionView[]> {
  return (await signedRequest<{ items: TransactionView[] }>(account, 'GET', '/device/transactions')).items;
}

export async function answerTransaction(
  account: StoredAccount,
  id: string,
  answer: 'approve' | 'deny',
  o: { reason?: 'fraud' | 'mistake'; number?: string } = {},
): Promise<{ status: string }> {
  const timestamp = Date.now();
  const signature = await sign(account.privateKey, `${id}|${answer}|${o.reason ?? ''}|${o.number ?? ''}|${timestamp}`);
  const body = {
    answer,
    ...(o.reason ? { reason: o.reason } : {}),
    ...(o.number !== undefined ? { number: o.number } : {}),
    timestamp,
    signature,
  };
  return signedRequest(account, 'POST', `/device/transactions/${encodeURIComponent(id)}/answer`, body);
}

/** The URL of an EventSource on /device/stream: the signature travels in the query. Good for one connection (its nonce). */
export async function streamUrl(account: StoredAccount): Promise<string> {
  const url = `${API}/device/stream`;
  const ts = String(Date.now());
  const once = nonce();
  const sig = await sign(account.privateKey, `GET\n${url}\n${ts}\n${once}\n`);
  return `${url}?${new URLSearchParams({ device: account.deviceId, ts, sig, nonce: once })}`;
}

// --- Passcodes (RFC 6238 over RFC 4226), offline ------------------------------------------

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32Decode(text: string): Uint8Array<ArrayBuffer> {
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const char of text.replace(/[=\s]/g, '').toUpperCase()) {
    const index = BASE32.indexOf(char);
    if (index === -1) throw new Error('The passcode secret is not base32.');
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return new Uint8Array(out);
}

export async function passcode(account: StoredAccount, at = Date.now()): Promise<string> {
  const period = account.period || 30;
  const digits = account.digits || 6;
  const key = await subtle.importKey('raw', base32Decode(account.secret), { name: 'HMAC', hash: 'SHA-1' }, false, ['sign']);
  const counter = Math.floor(at / 1000 / period);
  const message = new Uint8Array(8);
  new DataView(message.buffer).setBigUint64(0, BigInt(counter));
  const mac = new Uint8Array(await subtle.sign('HMAC', key, message));
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = ((mac[offset]! & 0x7f) << 24) | (mac[offset + 1]! << 16) | (mac[offset + 2]! << 8) | mac[offset + 3]!;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

// --- Web Push ------------------------------------------------------------------------------

/** The server's VAPID public key (base64url, unsigned route), for PushManager.subscribe. */
export async function vapidPublicKey(): Promise<string> {
  return (await send<{ key: string }>('GET', `${API}/device/vapid-public-key`, undefined, {})).key;
}

/** Stores (or, with null, clears) this browser's push subscription for one device (signed). */
export async function setWebPushSubscription(account: StoredAccount, subscription: PushSubscriptionJSON | null): Promise<void> {
  const body =
    subscription === null
      ? null
      : {
          endpoint: subscription.endpoint,
          ...(subscription.expirationTime !== undefined ? { expirationTime: subscription.expirationTime } : {}),
          keys: { p256dh: subscription.keys?.p256dh ?? '', auth: subscription.keys?.auth ?? '' },
        };
  await signedRequest<void>(account, 'PUT', '/device/web-push', { subscription: body });
}

/** A base64url string (no padding) as bytes: the applicationServerKey of PushManager.subscribe. */
export function fromB64url(text: string): Uint8Array<ArrayBuffer> {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  const out = new Uint8Array(new ArrayBuffer(binary.length));
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
