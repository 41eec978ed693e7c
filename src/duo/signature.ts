import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Duo's request signatures (Auth API "Request Authentication"), verified as the official
 * clients make them. No HTTP framework here: door.ts turns a Fastify request into a
 * `SignedRequest`, and the tests feed this module directly.
 *
 * A request carries `Authorization: Basic base64(ikey ":" hex(HMAC(skey, canonical)))` and a
 * `Date` (or `X-Duo-Date`) header. The canonical text is the lines
 *
 *   v2: date, METHOD, host (lower case), path, parameters
 *   v4: the v2 lines, then hex SHA-512 of the body
 *   v5: the v4 lines, then hex SHA-512 of the X-Duo-* headers
 *
 * joined by "\n", where the parameters are `key=value` pairs, RFC 3986 percent-encoded, sorted,
 * joined by "&". What each official client sends (read from their sources):
 *
 *   duo_client (python) 4.5 (Debian's python3-duo-client): v2 with HMAC-SHA1 by default
 *     (`digestmod=hashlib.sha512` for SHA-512); `sig_version=4` signs JSON bodies. 5.x defaults to
 *     v5 with SHA-512 and may add X-Duo-* headers. Date from `email.utils.formatdate()`
 *     ("Mon, 01 Jan 2026 00:00:00 -0000"). Signs the host name WITHOUT the port, though its
 *     Host header carries one.
 *   @duosecurity/duo_api (node) 1.5: v2 with HMAC-SHA512 by default, v5 on request (its header
 *     hash is always that of no headers). Date from `toUTCString()` ("... GMT"). Sorts the
 *     parameter names before encoding them and keeps repeated values in the order given, where
 *     python sorts the encoded names and the encoded values: both orders are tried.
 *
 * Version 1 (no date, so a captured request would verify forever) is not accepted.
 */

/**
 * How far a request's date may be from our clock, either way. Duo publishes no figure; its
 * clients send the current time and never retry with another. Five minutes (Kerberos' default)
 * absorbs an unsynchronised server clock while bounding how long a captured request replays.
 */
export const DUO_CLOCK_SKEW_MS = 5 * 60_000;

export type SignatureVersion = 2 | 4 | 5;
export type SignatureDigest = 'sha1' | 'sha512';

/** Where a request's parameters are: what decides which signature versions can cover it. */
export type SignedBody =
  /** No body (GET, DELETE): parameters in the query string. */
  | { kind: 'none' }
  /** An application/x-www-form-urlencoded body holds the parameters (v2 POST). */
  | { kind: 'form' }
  /** A JSON body, signed by its SHA-512 (v4, v5); `raw` is the bytes as received. */
  | { kind: 'json'; raw: Buffer };

export interface SignedRequest {
  method: string;
  /** The host names the client may have signed (the Host header with and without its port). */
  hosts: readonly string[];
  /** The path as sent, without the query string. */
  path: string;
  /** The decoded parameters in the order sent: query string or form body; none with a JSON body. */
  params: readonly (readonly [string, string])[];
  body: SignedBody;
  /** The X-Duo-Date header, or else Date; null when neither is there. */
  date: string | null;
  /** Every X-Duo-* header, names in lower case (v5 signs them). */
  duoHeaders: readonly (readonly [string, string])[];
  authorization: string | undefined;
}

export interface Credentials {
  ikey: string;
  /** The HMAC sent, by its length; null when it is not 40 (SHA-1) or 128 (SHA-512) hex digits. */
  signature: { digest: SignatureDigest; bytes: Buffer } | null;
}

/** RFC 3986 percent-encoding of UTF-8 (unreserved: A-Z a-z 0-9 - . _ ~), as python's `quote(s, '~')`. */
export const rfc3986 = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * The canonical parameter strings a client may have signed: python's (encoded names sorted,
 * each name's encoded values sorted) and the node client's (raw names sorted, values in the
 * order sent). One string when the two agree, as they do for every Auth API call.
 */
export function canonicalParams(params: SignedRequest['params']): string[] {
  const byName = new Map<string, string[]>();
  for (const [name, value] of params) {
    const values = byName.get(name);
    if (values) values.push(value);
    else byName.set(name, [value]);
  }
  const python = [...byName]
    .map(([name, values]) => [rfc3986(name), values.map(rfc3986).sort()] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .flatMap(([name, values]) => values.map((v) => `${name}=${v}`))
    .join('&');
  const node = [...byName.keys()]
    .sort()
    .flatMap((name) => byName.get(name)!.map((v) => `${rfc3986(name)}=${rfc3986(v)}`))
    .join('&');
  return python === node ? [python] : [python, node];
}

const sha512Hex = (data: string | Buffer) => createHash('sha512').update(data).digest('hex');

/** v5's hash of the X-Duo-* headers: lower-cased names sorted, then name NUL value NUL ... (python's `canon_x_duo_headers`). */
export function duoHeadersHash(headers: SignedRequest['duoHeaders']): string {
  const sorted = [...headers].map(([n, v]) => [n.toLowerCase(), v] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return sha512Hex(sorted.flatMap(([n, v]) => [n, v]).join('\u0000'));
}

/** The canonical text of one signature version, for one host and one parameter string. */
export function canonicalText(version: SignatureVersion, r: { date: string; method: string; host: string; path: string; params: string; body?: Buffer; duoHeaders?: SignedRequest['duoHeaders'] }): string {
  const lines = [r.date, r.method.toUpperCase(), r.host.toLowerCase(), r.path, r.params];
  if (version >= 4) lines.push(sha512Hex(r.body ?? Buffer.alloc(0)));
  if (version === 5) lines.push(duoHeadersHash(r.duoHeaders ?? []));
  return lines.join('\n');
}

/**
 * The versions that can cover this request. A JSON body is signed only by v4/v5 (a v2
 * signature does not cover a body it does not know, so accepting it would leave the body
 * forgeable); a form body only by v2 (no client signs one otherwise); SHA-1 only in v2 (the
 * clients force SHA-512 for v4/v5).
 */
export function candidateVersions(body: SignedBody, digest: SignatureDigest): SignatureVersion[] {
  if (body.kind === 'json') return digest === 'sha512' ? [4, 5] : [];
  if (body.kind === 'form') return [2];
  return digest === 'sha512' ? [2, 4, 5] : [2];
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const IKEY = /^[\x21-\x7e]{1,100}$/;

/**
 * `Authorization: Basic base64(ikey:hexsig)`. 'missing' when there is no such header and
 * 'malformed' when it is not HTTP Basic with a user and a password (both 40101); 'bad-ikey' for
 * an integration key no registry could hold (40102, without a look-up).
 */
export function parseAuthorization(header: string | undefined): Credentials | 'missing' | 'malformed' | 'bad-ikey' {
  if (header === undefined || header.trim() === '') return 'missing';
  const m = /^Basic +(\S+)\s*$/i.exec(header);
  if (!m || !BASE64.test(m[1]!)) return 'malformed';
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0 || colon === decoded.length - 1) return 'malformed';
  const ikey = decoded.slice(0, colon);
  const hex = decoded.slice(colon + 1);
  if (!IKEY.test(ikey)) return 'bad-ikey';
  const digest = /^[0-9a-fA-F]{40}$/.test(hex) ? 'sha1' : /^[0-9a-fA-F]{128}$/.test(hex) ? 'sha512' : null;
  return { ikey, signature: digest ? { digest, bytes: Buffer.from(hex, 'hex') } : null };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** RFC 2822 obsolete zone names (section 4.3); military letters are ambiguous and refused. */
const ZONES: Record<string, number> = { UT: 0, GMT: 0, EST: -5, EDT: -4, CST: -6, CDT: -5, MST: -7, MDT: -6, PST: -8, PDT: -7 };
const RFC2822 = /^(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), *)?(\d{1,2}) +([A-Z][a-z]{2}) +(\d{4}) +(\d{2}):(\d{2})(?::(\d{2}))? +([+-]\d{4}|[A-Z]{2,3})$/;

/**
 * An RFC 2822 date-time (python's `formatdate()`, JavaScript's `toUTCString()`, or any zone
 * offset) as epoch milliseconds; null when it is not one. Strict on purpose: `Date.parse`
 * accepts ISO forms and guesses at nonsense. The weekday is not checked against the date: it is
 * inside the signature, so it cannot be altered, and a wrong one gains nothing.
 */
export function parseRfc2822(text: string): number | null {
  const m = RFC2822.exec(text.trim());
  if (!m) return null;
  const [, d, mon, y, hh, mm, ss, zone] = m;
  const month = MONTHS.indexOf(mon!);
  const day = Number(d);
  const hour = Number(hh);
  const minute = Number(mm);
  const second = ss === undefined ? 0 : Number(ss);
  if (month < 0 || hour > 23 || minute > 59 || second > 60) return null;
  let offsetMinutes: number;
  if (zone!.startsWith('+') || zone!.startsWith('-')) {
    const h = Number(zone!.slice(1, 3));
    const min = Number(zone!.slice(3, 5));
    if (h > 23 || min > 59) return null;
    offsetMinutes = (zone!.startsWith('-') ? -1 : 1) * (h * 60 + min);
  } else if (zone! in ZONES) {
    offsetMinutes = ZONES[zone!]! * 60;
  } else {
    return null;
  }
  const utc = Date.UTC(Number(y), month, day, hour, minute, Math.min(second, 59));
  // Day 31 of a 30-day month would roll over into the next month.
  if (new Date(utc).getUTCDate() !== day) return null;
  return utc - offsetMinutes * 60_000;
}

/**
 * Whether the signature is an HMAC, under one of the integration's secret keys (the current
 * one and, during a rotation, the previous one), of a canonical text the request allows.
 * Compared in constant time. Returns the version and key that matched, or null.
 */
export function matchSignature(
  request: SignedRequest & { date: string },
  signature: NonNullable<Credentials['signature']>,
  secretKeys: readonly string[],
): { version: SignatureVersion; keyIndex: number } | null {
  const versions = candidateVersions(request.body, signature.digest);
  const paramStrings = canonicalParams(request.params);
  const body = request.body.kind === 'json' ? request.body.raw : undefined;
  for (const version of versions) {
    for (const host of new Set(request.hosts.map((h) => h.toLowerCase()))) {
      for (const params of paramStrings) {
        const text = canonicalText(version, { date: request.date, method: request.method, host, path: request.path, params, body, duoHeaders: request.duoHeaders });
        for (const [keyIndex, key] of secretKeys.entries()) {
          const expected = createHmac(signature.digest, key).update(text, 'utf8').digest();
          if (expected.length === signature.bytes.length && timingSafeEqual(expected, signature.bytes)) return { version, keyIndex };
        }
      }
    }
  }
  return null;
}

/** What a refused request is answered with; door.ts maps each to Duo's code. */
export type AuthFailure = 'MISSING_CREDENTIALS' | 'INVALID_INTEGRATION_KEY' | 'INVALID_SIGNATURE' | 'MISSING_TIMESTAMP' | 'BAD_TIMESTAMP';

export type AuthResult<I> =
  | { ok: true; integration: I; ikey: string; version: SignatureVersion; keyIndex: number }
  | {
      ok: false;
      failure: AuthFailure;
      detail?: string;
      /**
       * The integration key the request named, once its credentials could be read; with the
       * integration when it was looked up (a wrong signature). For the door's audit of refused
       * signatures of a known key.
       */
      claimed?: { ikey: string; integration?: I; signatureMissing: boolean };
    };

/**
 * Authenticates a signed request, as a declared list of checks (each refusal names its own):
 *   1. credentials  an Authorization header of the Basic form            (40101)
 *   2. date         a Date / X-Duo-Date header in RFC 2822 form           (40104, as Duo
 *                   answers a date it cannot read)
 *   3. fresh        within DUO_CLOCK_SKEW_MS of our clock                 (40105)
 *   4. integration  the integration key is known                           (40102)
 *   5. signature    an HMAC under one of its secret keys                   (40103)
 * The date is checked before the look-up: a stale or dateless request costs no database read.
 */
export async function authenticateSignedRequest<I extends { secretKeys: readonly string[] }>(
  request: SignedRequest,
  lookup: (ikey: string) => Promise<I | null>,
  now: number,
): Promise<AuthResult<I>> {
  const credentials = parseAuthorization(request.authorization);
  if (credentials === 'missing') return { ok: false, failure: 'MISSING_CREDENTIALS' };
  if (credentials === 'malformed') return { ok: false, failure: 'MISSING_CREDENTIALS', detail: 'The Authorization header must be HTTP Basic with the integration key and the hex signature.' };
  if (credentials === 'bad-ikey') return { ok: false, failure: 'INVALID_INTEGRATION_KEY' };

  const claimed = { ikey: credentials.ikey, signatureMissing: credentials.signature === null };
  if (request.date === null) return { ok: false, failure: 'MISSING_TIMESTAMP', claimed };
  const at = parseRfc2822(request.date);
  if (at === null) return { ok: false, failure: 'MISSING_TIMESTAMP', detail: 'The Date header must be an RFC 2822 date, e.g. "Tue, 21 Aug 2012 17:29:18 -0000".', claimed };
  if (Math.abs(now - at) > DUO_CLOCK_SKEW_MS) {
    return { ok: false, failure: 'BAD_TIMESTAMP', detail: `The request date must be within ${DUO_CLOCK_SKEW_MS / 1000} seconds of the server's time.`, claimed };
  }

  const integration = await lookup(credentials.ikey);
  if (!integration) return { ok: false, failure: 'INVALID_INTEGRATION_KEY' };

  const match = credentials.signature && matchSignature({ ...request, date: request.date }, credentials.signature, integration.secretKeys);
  if (!match) return { ok: false, failure: 'INVALID_SIGNATURE', claimed: { ...claimed, integration } };
  return { ok: true, integration, ikey: credentials.ikey, ...match };
}
