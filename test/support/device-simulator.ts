import { createHash, webcrypto } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { Secret, TOTP } from 'otpauth';
import type { App } from '../../src/app.js';
import type { Clock } from '../../src/clock.js';
import { newNonce } from '../../src/factors/push/device-signature.js';

/**
 * The Tessera Authenticator as a test sees it: its own P-256 key pair made with WebCrypto
 * (private key non-extractable, as the app keeps it in IndexedDB), its own signing, and the
 * device protocol exactly as the app speaks it:
 *   activation   POST /device/activate { code, publicKey: JWK, platform }
 *   a request    x-tessera-device / x-tessera-timestamp / x-tessera-nonce / x-tessera-signature,
 *                the signature (ECDSA P-256 SHA-256, IEEE P1363 as WebCrypto makes it, base64url) over
 *                `${METHOD}\n${path with query}\n${timestamp}\n${nonce}\n${sha256 base64url of the body, or ""}`,
 *                the nonce 16 random bytes (base64url), new for every request
 *   an answer    signed again over `${id}|${answer}|${reason ?? ""}|${number ?? ""}|${timestamp}`
 *   a stream     GET /device/stream?device=&ts=&sig=&nonce= (the signed path without those four)
 *   passcodes    TOTP (SHA-1, 6 digits, 30 s) of the secret the activation returned, offline.
 * Every part can be overridden, so a test can make exactly one thing wrong.
 */

const subtle = webcrypto.subtle;
const API = '/api/v1';

export const b64url = (bytes: ArrayBuffer | Uint8Array) => Buffer.from(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)).toString('base64url');
const digest = (body: string | undefined) => (body ? createHash('sha256').update(body, 'utf8').digest('base64url') : '');

export interface SignOverrides {
  deviceId?: string;
  timestamp?: number | string;
  /** A nonce of one's choosing (e.g. one used before); '' leaves it out. Default: a fresh one. */
  nonce?: string;
  signature?: string;
  /** Sign with another key (a forger's). */
  key?: webcrypto.CryptoKey;
  /** Leave out the signature headers altogether. */
  unsigned?: boolean;
}

export interface AnswerOptions {
  reason?: 'fraud' | 'mistake';
  number?: string;
  timestamp?: number;
  /** Sign this string instead of the right one (e.g. another transaction's). */
  signedString?: string;
  signature?: string;
  /** Extra or replaced body fields (garbage). */
  body?: Record<string, unknown>;
  request?: SignOverrides;
}

export interface Activation {
  deviceId: string;
  secret: string;
  period: number;
  digits: number;
  account: { firmName: string; userName: string; email: string };
}

export class DeviceSimulator {
  deviceId: string | null = null;
  secret: string | null = null;
  account: Activation['account'] | null = null;

  private constructor(
    public app: App,
    readonly clock: Clock,
    readonly keys: webcrypto.CryptoKeyPair,
    readonly publicJwk: webcrypto.JsonWebKey,
  ) {}

  static async create(app: App, clock: Clock): Promise<DeviceSimulator> {
    const keys = (await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const publicJwk = await subtle.exportKey('jwk', keys.publicKey);
    return new DeviceSimulator(app, clock, keys, publicJwk);
  }

  /** The code of an activation link (`.../authenticator#activate=<code>`), as the app reads it. */
  static codeOf(activationUrl: string): string {
    return new URLSearchParams(new URL(activationUrl).hash.slice(1)).get('activate')!;
  }

  async sign(data: string, key: webcrypto.CryptoKey = this.keys.privateKey): Promise<string> {
    return b64url(await subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key, Buffer.from(data, 'utf8')));
  }

  /** Activates with a code (or a link); remembers the device id and secret on success. */
  async activate(codeOrUrl: string, o: { publicKey?: unknown; platform?: string } = {}): Promise<LightMyRequestResponse> {
    const code = codeOrUrl.includes('#') ? DeviceSimulator.codeOf(codeOrUrl) : codeOrUrl;
    const res = await this.app.inject({
      method: 'POST',
      url: `${API}/device/activate`,
      headers: { 'content-type': 'application/json', 'user-agent': 'TesseraAuthenticator/1 (simulator)' },
      payload: JSON.stringify({ code, publicKey: o.publicKey ?? this.publicJwk, platform: o.platform ?? 'simulator' }),
    });
    if (res.statusCode === 200) {
      const a = res.json() as Activation;
      this.deviceId = a.deviceId;
      this.secret = a.secret;
      this.account = a.account;
    }
    return res;
  }

  /** The four signature headers of a request. */
  async signatureHeaders(method: string, pathWithQuery: string, body: string | undefined, o: SignOverrides = {}): Promise<Record<string, string>> {
    if (o.unsigned) return {};
    const timestamp = String(o.timestamp ?? this.clock.now());
    const nonce = o.nonce ?? newNonce();
    const signature = o.signature ?? (await this.sign(`${method}\n${pathWithQuery}\n${timestamp}\n${nonce}\n${digest(body)}`, o.key));
    return {
      'x-tessera-device': o.deviceId ?? this.deviceId ?? '',
      'x-tessera-timestamp': timestamp,
      ...(nonce === '' ? {} : { 'x-tessera-nonce': nonce }),
      'x-tessera-signature': signature,
    };
  }

  /** A signed request to the device API (`path` after /api/v1). */
  async request(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, o: SignOverrides = {}): Promise<LightMyRequestResponse> {
    const url = `${API}${path}`;
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const headers: Record<string, string> = { 'user-agent': 'TesseraAuthenticator/1 (simulator)', ...(await this.signatureHeaders(method, url, payload, o)) };
    if (payload !== undefined) headers['content-type'] = 'application/json';
    return this.app.inject({ method, url, headers, payload });
  }

  transactions(o: SignOverrides = {}) {
    return this.request('GET', '/device/transactions', undefined, o);
  }

  /** The string an answer signs. */
  static answerString(id: string, answer: string, reason: string | undefined, number: string | undefined, timestamp: number) {
    return `${id}|${answer}|${reason ?? ''}|${number ?? ''}|${timestamp}`;
  }

  async answer(id: string, answer: 'approve' | 'deny', o: AnswerOptions = {}): Promise<LightMyRequestResponse> {
    const timestamp = o.timestamp ?? this.clock.now();
    const signature = o.signature ?? (await this.sign(o.signedString ?? DeviceSimulator.answerString(id, answer, o.reason, o.number, timestamp)));
    const body = {
      answer,
      ...(o.reason ? { reason: o.reason } : {}),
      ...(o.number !== undefined ? { number: o.number } : {}),
      timestamp,
      signature,
      ...o.body,
    };
    return this.request('POST', `/device/transactions/${encodeURIComponent(id)}/answer`, body, o.request);
  }

  approve(id: string, number: string, o: AnswerOptions = {}) {
    return this.answer(id, 'approve', { ...o, number });
  }

  /** An EventSource URL for /device/stream (the signed path is the path without its four parameters). */
  async streamUrl(o: SignOverrides = {}): Promise<string> {
    const url = `${API}/device/stream`;
    if (o.unsigned) return url;
    const ts = String(o.timestamp ?? this.clock.now());
    const nonce = o.nonce ?? newNonce();
    const sig = o.signature ?? (await this.sign(`GET\n${url}\n${ts}\n${nonce}\n`, o.key));
    return `${url}?${new URLSearchParams({ device: o.deviceId ?? this.deviceId!, ts, sig, ...(nonce === '' ? {} : { nonce }) })}`;
  }

  /** The passcode the app shows now (computed on the device, no network). */
  passcode(at = this.clock.now()): string {
    return TOTP.generate({ algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(this.secret!), timestamp: at });
  }
}
