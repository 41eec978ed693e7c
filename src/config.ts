import { X509Certificate, createPrivateKey } from 'node:crypto';
import fs from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';

/**
 * The whole configuration of a Tessera process, read once from TESSERA_* environment
 * variables, validated, and frozen. Every option is listed in the README table; keep
 * the two in step (test/config.test.ts checks that each option appears there).
 */
export interface Config {
  host: string;
  port: number;
  /** Origin users reach Tessera at: links in mails, cookie Secure flag, WebAuthn origin and RP ID. */
  publicUrl: URL;
  dataDir: string;
  database: { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string; poolSize: number };
  smtpUrl: string | null;
  mailFrom: string;
  sessionIdleMs: number;
  sessionAbsoluteMs: number;
  oneTimeLinkMs: number;
  /**
   * Which hops in front of Tessera are trusted proxies: false (none: the client is the TCP
   * peer), a hop count, or the proxies' addresses/CIDRs. The client address is the rightmost
   * X-Forwarded-For entry that is not a trusted hop (see app.ts).
   */
  trustProxy: TrustProxy;
  /** 32-byte key for secrets at rest; null = use (or create) the key file in the data directory. */
  masterKey: Buffer | null;
  /** Older master keys, still accepted for opening values sealed before a rotation. */
  retiredMasterKeys: Buffer[];
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Bearer token that opens GET /metrics; null = only loopback clients not relayed by a proxy. */
  metricsToken: string | null;
  /** Certificate (chain) and private key, PEM, read at start; null = plain HTTP (TLS ends at a proxy, or nowhere). */
  tls: { certFile: string; keyFile: string; cert: Buffer; key: Buffer } | null;
}

export type TrustProxy = false | number | readonly string[];

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** One row per option, as the README table shows it (test/config.test.ts keeps the two in step). */
export const CONFIG_OPTIONS = [
  ['TESSERA_HOST', '127.0.0.1', 'Address to listen on (`0.0.0.0` for all interfaces).'],
  ['TESSERA_PORT', '3000', 'TCP port to listen on. Checked first: if it is taken, the start ends with one line naming this variable (exit code 3) before anything is written to the data folder or the database.'],
  ['TESSERA_PUBLIC_URL', 'http://localhost:<port>', 'URL users open; used for links in mails, the Secure cookie flag (https), and the WebAuthn origin and RP ID. The default is https://localhost:<port> when Tessera serves TLS itself.'],
  ['TESSERA_DATA_DIR', './data', 'Folder for the embedded SQLite database and generated key files.'],
  ['TESSERA_DATABASE_URL', 'sqlite:<data dir>/tessera.db', '`sqlite:<file>` or `postgres://user@host:port/db` (add `?options=-c%20search_path%3D<schema>` for a schema).'],
  ['TESSERA_DB_POOL_SIZE', '10', 'PostgreSQL connections per process.'],
  ['TESSERA_SMTP_URL', '(none)', '`smtp://user:pass@host:port` or `smtps://...`. Without it, mails stay in the outbox table and a summary is printed to the console.'],
  ['TESSERA_MAIL_FROM', 'Tessera <tessera@<public host>>', 'Sender of every mail.'],
  ['TESSERA_SESSION_IDLE_MINUTES', '30', 'A session ends after this long without a request.'],
  ['TESSERA_SESSION_ABSOLUTE_HOURS', '12', 'A session ends this long after login, whatever happens.'],
  ['TESSERA_ONE_TIME_LINK_HOURS', '24', 'Lifetime of setup and set-your-password links.'],
  ['TESSERA_MASTER_KEY', '(key file)', '32 random bytes as base64 or hex (`openssl rand -base64 32`): seals TOTP and device secrets, the Web Push key and the backup-code hashes (AES-256-GCM). Without it, `<data dir>/master.key` is created on first start (mode 0600). Set the same key on every node.'],
  ['TESSERA_RETIRED_MASTER_KEYS', '(none)', 'Comma-separated older master keys, during a key rotation: values sealed under them still open, and are re-sealed under the current key (on use, and by a job) until `--reseal` says the old keys can be removed (see Operations).'],
  ['TESSERA_TRUST_PROXY', 'false', 'Behind a reverse proxy or load balancer: the proxies\' addresses or CIDRs, comma-separated (`10.0.0.0/8,127.0.0.1`), or their number (`1`: one proxy that appends to X-Forwarded-For). The client address is then the rightmost X-Forwarded-For entry that is not a trusted proxy. `true` is refused: it would let every client choose its address.'],
  ['TESSERA_LOG_LEVEL', 'info', 'fatal, error, warn, info, debug, trace or silent.'],
  ['TESSERA_METRICS_TOKEN', '(none)', 'Bearer token for `GET /metrics` (Prometheus `authorization: { credentials: ... }`), at least 16 characters. Without it, metrics are served only to loopback clients (127.0.0.1, ::1) that no proxy relayed.'],
  ['TESSERA_TLS_CERT', '(none)', 'PEM file with the server certificate (then any intermediates): Tessera serves HTTPS itself. Set together with `TESSERA_TLS_KEY`; read at start (restart to load a renewed certificate). Without both, plain HTTP (TLS at a reverse proxy).'],
  ['TESSERA_TLS_KEY', '(none)', 'PEM file with the private key of `TESSERA_TLS_CERT` (unencrypted; keep it mode 0600).'],
] as const;

type Env = Record<string, string | undefined>;

function intOption(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(name, `expected a whole number, got "${raw}"`);
  const n = Number(raw.trim());
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** Most proxies a request plausibly passes through: a bigger count is a typo, not a topology. */
const MAX_PROXY_HOPS = 10;
/** The names proxy-addr (Fastify's trustProxy) knows for whole address ranges. */
const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/**
 * TESSERA_TRUST_PROXY. `true` used to trust every hop, so the client's address was the
 * leftmost X-Forwarded-For entry, which the client writes itself: a fresh header per request
 * escaped the per-address throttle and put a forged address on the phone's approval screen,
 * in fraud mails and in the audit log. Only a hop count or the proxies' own addresses say
 * where the client's own entry is (the rightmost one no trusted proxy wrote), so `true` is
 * refused, and `1` is one hop, never "true".
 */
function trustProxyOption(env: Env, name: string): TrustProxy {
  const raw = env[name]?.trim() ?? '';
  if (raw === '' || ['false', 'no', '0'].includes(raw.toLowerCase())) return false;
  if (['true', 'yes', 'on'].includes(raw.toLowerCase())) {
    throw new ConfigError(
      name,
      `"${raw}" would trust every X-Forwarded-For entry, which any client can write. Set the addresses or CIDRs of your proxies (e.g. 10.0.0.0/8,127.0.0.1) or how many proxies stand in front of Tessera (e.g. 1).`,
    );
  }
  if (/^\d+$/.test(raw)) {
    const hops = Number(raw);
    if (hops > MAX_PROXY_HOPS) throw new ConfigError(name, `a hop count must be between 0 and ${MAX_PROXY_HOPS}, got ${hops}`);
    return hops;
  }
  const entries = raw.split(',').map((e) => e.trim()).filter(Boolean);
  for (const entry of entries) {
    if (!isProxyAddress(entry)) {
      throw new ConfigError(name, `"${entry}" is not an IP address, a CIDR range (10.0.0.0/8, fd00::/8) or one of ${PROXY_RANGE_NAMES.join(', ')}; expected a comma-separated list of them, or a hop count`);
    }
  }
  return Object.freeze(entries);
}

function isProxyAddress(entry: string): boolean {
  if (PROXY_RANGE_NAMES.includes(entry)) return true;
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

function urlOption(name: string, raw: string, protocols: string[]): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, `not a valid URL: "${raw}"`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new ConfigError(name, `must start with ${protocols.map((p) => p + '//').join(' or ')}, got "${raw}"`);
  }
  return url;
}

/** A 256-bit key written as base64, base64url or hex. */
export function parseKey(name: string, raw: string): Buffer {
  const text = raw.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64');
  if (key.length !== 32) throw new ConfigError(name, 'must be 32 bytes written as base64 or 64 hex digits (e.g. `openssl rand -base64 32`)');
  return key;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const host = env.TESSERA_HOST?.trim() || '127.0.0.1';
  const port = intOption(env, 'TESSERA_PORT', 3000, 0, 65535);

  const tls = tlsOption(env, cwd);
  const publicUrl = urlOption('TESSERA_PUBLIC_URL', env.TESSERA_PUBLIC_URL?.trim() || `${tls ? 'https' : 'http'}://localhost:${port}`, ['http:', 'https:']);
  if (publicUrl.pathname !== '/' || publicUrl.search || publicUrl.hash || publicUrl.username) {
    throw new ConfigError('TESSERA_PUBLIC_URL', 'must be an origin only (scheme, host, optional port), without path, query or credentials');
  }

  const dataDir = path.resolve(cwd, env.TESSERA_DATA_DIR?.trim() || './data');

  const dbRaw = env.TESSERA_DATABASE_URL?.trim() || `sqlite:${path.join(dataDir, 'tessera.db')}`;
  let database: Config['database'];
  if (dbRaw.startsWith('sqlite:')) {
    const file = dbRaw.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (!file) throw new ConfigError('TESSERA_DATABASE_URL', 'sqlite: needs a file name, e.g. sqlite:./data/tessera.db');
    database = { kind: 'sqlite', file: file === ':memory:' ? file : path.resolve(cwd, file) };
  } else if (/^postgres(ql)?:\/\//.test(dbRaw)) {
    urlOption('TESSERA_DATABASE_URL', dbRaw, ['postgres:', 'postgresql:']);
    database = { kind: 'postgres', url: dbRaw, poolSize: intOption(env, 'TESSERA_DB_POOL_SIZE', 10, 1, 1000) };
  } else {
    throw new ConfigError('TESSERA_DATABASE_URL', `must start with sqlite: or postgres://, got "${dbRaw.replace(/\/\/[^@]*@/, '//***@')}"`);
  }

  const smtpRaw = env.TESSERA_SMTP_URL?.trim() || null;
  if (smtpRaw) urlOption('TESSERA_SMTP_URL', smtpRaw, ['smtp:', 'smtps:']);

  const mailFrom = env.TESSERA_MAIL_FROM?.trim() || `Tessera <tessera@${publicUrl.hostname}>`;
  const address = /<([^<>]*)>\s*$/.exec(mailFrom)?.[1] ?? mailFrom;
  if (!/^[^@\s<>]+@[^@\s<>]+$/.test(address)) {
    throw new ConfigError('TESSERA_MAIL_FROM', `not a mail address: "${mailFrom}"`);
  }

  const logLevel = (env.TESSERA_LOG_LEVEL?.trim() || 'info') as Config['logLevel'];
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError('TESSERA_LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }

  const metricsToken = env.TESSERA_METRICS_TOKEN?.trim() || null;
  if (metricsToken !== null && !/^[\x21-\x7e]{16,256}$/.test(metricsToken)) {
    throw new ConfigError('TESSERA_METRICS_TOKEN', 'must be 16 to 256 printable characters without spaces (e.g. `openssl rand -hex 32`)');
  }

  return Object.freeze({
    host,
    port,
    publicUrl,
    dataDir,
    database,
    smtpUrl: smtpRaw,
    mailFrom,
    sessionIdleMs: intOption(env, 'TESSERA_SESSION_IDLE_MINUTES', 30, 1, 24 * 60) * 60_000,
    sessionAbsoluteMs: intOption(env, 'TESSERA_SESSION_ABSOLUTE_HOURS', 12, 1, 24 * 30) * 3_600_000,
    oneTimeLinkMs: intOption(env, 'TESSERA_ONE_TIME_LINK_HOURS', 24, 1, 24 * 14) * 3_600_000,
    trustProxy: trustProxyOption(env, 'TESSERA_TRUST_PROXY'),
    masterKey: env.TESSERA_MASTER_KEY?.trim() ? parseKey('TESSERA_MASTER_KEY', env.TESSERA_MASTER_KEY) : null,
    retiredMasterKeys: (env.TESSERA_RETIRED_MASTER_KEYS ?? '')
      .split(',')
      .filter((k) => k.trim())
      .map((k) => parseKey('TESSERA_RETIRED_MASTER_KEYS', k)),
    logLevel,
    metricsToken,
    tls,
  });
}

/**
 * TESSERA_TLS_CERT and TESSERA_TLS_KEY: both or neither. The files are read and checked here,
 * so that a wrong path, a file that is not PEM, an encrypted key or a key of another certificate
 * stops the start with the variable's name, not with an OpenSSL error from deep in listen().
 */
function tlsOption(env: Env, cwd: string): Config['tls'] {
  const certFile = env.TESSERA_TLS_CERT?.trim() || null;
  const keyFile = env.TESSERA_TLS_KEY?.trim() || null;
  if (!certFile && !keyFile) return null;
  if (!certFile) throw new ConfigError('TESSERA_TLS_CERT', 'must be set together with TESSERA_TLS_KEY (the certificate of that key)');
  if (!keyFile) throw new ConfigError('TESSERA_TLS_KEY', 'must be set together with TESSERA_TLS_CERT (the private key of that certificate)');
  const read = (name: string, file: string): Buffer => {
    const full = path.resolve(cwd, file);
    try {
      return fs.readFileSync(full);
    } catch (err) {
      throw new ConfigError(name, `cannot read "${full}" (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  };
  const cert = read('TESSERA_TLS_CERT', certFile);
  const key = read('TESSERA_TLS_KEY', keyFile);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch {
    throw new ConfigError('TESSERA_TLS_CERT', `"${certFile}" is not a PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    const encrypted = /passphrase/i.test((err as Error).message) || key.includes('ENCRYPTED');
    throw new ConfigError('TESSERA_TLS_KEY', encrypted ? `"${keyFile}" is encrypted; give the key without a passphrase (file mode 0600)` : `"${keyFile}" is not a PEM private key`);
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new ConfigError('TESSERA_TLS_KEY', `"${keyFile}" is not the private key of the certificate in TESSERA_TLS_CERT`);
  }
  return { certFile: path.resolve(cwd, certFile), keyFile: path.resolve(cwd, keyFile), cert, key };
}
