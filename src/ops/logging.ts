import type { FastifyServerOptions } from 'fastify';
import type { Config } from '../config.js';

/** Where log lines go; tests pass a stream to read them (default: stdout). */
export interface LogDestination {
  write(line: string): void;
}

const CENSOR = '[redacted]';

/** Headers that carry a credential: session and CSRF cookies, bearer tokens, the device API's signature headers. */
const SECRET_HEADERS = ['cookie', 'authorization', 'x-csrf-token', 'x-tessera-signature', 'x-tessera-device', 'x-tessera-timestamp', 'x-tessera-nonce', 'proxy-authorization'];
/** Body fields that hold a password, a code, a token or a signed answer, in any request of the API. */
const SECRET_FIELDS = ['password', 'currentPassword', 'newPassword', 'code', 'passcode', 'token', 'secret', 'signature', 'answer', 'response', 'rememberToken', 'publicKey'];
/** Keys that are secret wherever they appear in a logged object (one or two levels down). */
const SECRET_ANYWHERE = ['password', 'passcode', 'secret', 'token', 'cookie', 'authorization', 'signature'];

const ident = (key: string) => (/^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `["${key}"]`);

/** The pino redact paths (fast-redact syntax); exported for the test that checks them against real log output. */
export const REDACT_PATHS = [
  ...SECRET_HEADERS.flatMap((h) => [`req.headers${ident(h)}`, `request.headers${ident(h)}`, `headers${ident(h)}`]),
  'res.headers["set-cookie"]',
  ...SECRET_FIELDS.flatMap((f) => [`body${ident(f)}`, `req.body${ident(f)}`, `request.body${ident(f)}`]),
  ...SECRET_ANYWHERE.flatMap((k) => [k, `*${ident(k)}`, `*.*${ident(k)}`]),
  // web-push errors carry the subscription endpoint (a capability URL) and the request headers.
  'err.endpoint',
  'err.headers',
];

/**
 * A URL as it may be logged: the values of query parameters are replaced (the device stream
 * signs in the query: device, ts, sig, nonce, since EventSource cannot send headers), the names kept.
 * One-time links carry their token in the fragment, which never reaches the server.
 */
export function loggableUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const names = url
    .slice(q + 1)
    .split('&')
    .filter(Boolean)
    .map((pair) => `${pair.split('=')[0]}=${CENSOR}`);
  return `${url.slice(0, q)}?${names.join('&')}`;
}

interface LoggedRequest {
  method: string;
  url: string;
  ip?: string;
  routeOptions?: { url?: string };
}

/**
 * Fastify's logger: structured JSON (pino) with the secrets taken out before a line is
 * written: credential headers and body fields redacted, query values censored, and requests
 * serialised as method, URL, route and client IP only (never headers or bodies).
 */
export function loggerOptions(config: Config, destination?: LogDestination): FastifyServerOptions['logger'] {
  if (config.logLevel === 'silent') return false;
  return {
    level: config.logLevel,
    redact: { paths: REDACT_PATHS, censor: CENSOR },
    serializers: {
      req: (req: LoggedRequest) => ({ method: req.method, url: typeof req.url === 'string' ? loggableUrl(req.url) : undefined, route: req.routeOptions?.url, ip: req.ip }),
    },
    ...(destination ? { stream: destination } : {}),
  };
}
