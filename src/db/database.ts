import type { DuoClientAssertionTable, DuoPromptTable } from '../duo/duo-prompt.table.js';
import type { DuoTransactionTable } from '../duo/duo-transaction.table.js';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresAdapter, PostgresDialect, SqliteDialect, type SqliteDatabase, type Transaction } from 'kysely';
import pg from 'pg';
import type { Config } from '../config.js';
import type { ApplicationTable } from '../applications/application.table.js';
import type { AuditEventTable } from '../audit/audit.table.js';
import type { CorporationTable } from '../directory/corporation.table.js';
import type { UserTable } from '../directory/user.table.js';
import type { FirmTable } from '../firms/firm.table.js';
import type { AuthAttemptTable } from '../core/auth-attempt.table.js';
import type { OneTimeTokenTable } from '../login/one-time-token.table.js';
import type { MailOutboxTable } from '../notify/mail.table.js';
import type { OperatorTable } from '../operators/operator.table.js';
import type { SessionTable } from '../sessions/session.table.js';
import type { AuthenticatorTable } from '../enrollment/authenticator.table.js';
import type { JobTable } from '../jobs/job.table.js';
import type { BackupCodeTable, RememberedBrowserTable, TotpAuthenticatorTable } from '../factors/factor.table.js';
import type { MfaCorporationTable, MfaSettingsTable } from '../mfa-policy/mfa-settings.table.js';
import type { SeatTable, SubscriptionTable } from '../subscriptions/subscription.table.js';
import type { WebAuthnChallengeTable, WebAuthnCredentialTable } from '../factors/webauthn/webauthn.table.js';
import type { DeviceActivationTable, DeviceNonceTable, PushDeviceTable, PushTransactionTable, ServerKeyTable } from '../factors/push/push.table.js';
import type { OidcPayloadTable, OidcSigningKeyTable } from '../oidc/oidc.table.js';
import type { LoginAttemptTable } from '../core/login-attempt.table.js';
import type { LoginCountTable } from '../core/login-count.table.js';

export interface Database {
  operators: OperatorTable;
  firms: FirmTable;
  corporations: CorporationTable;
  users: UserTable;
  sessions: SessionTable;
  one_time_tokens: OneTimeTokenTable;
  auth_attempts: AuthAttemptTable;
  mail_outbox: MailOutboxTable;
  audit_events: AuditEventTable;
  subscriptions: SubscriptionTable;
  seats: SeatTable;
  mfa_settings: MfaSettingsTable;
  mfa_corporations: MfaCorporationTable;
  authenticators: AuthenticatorTable;
  jobs: JobTable;
  totp_authenticators: TotpAuthenticatorTable;
  backup_codes: BackupCodeTable;
  remembered_browsers: RememberedBrowserTable;
  webauthn_credentials: WebAuthnCredentialTable;
  webauthn_challenges: WebAuthnChallengeTable;
  push_devices: PushDeviceTable;
  device_activations: DeviceActivationTable;
  device_nonces: DeviceNonceTable;
  push_transactions: PushTransactionTable;
  server_keys: ServerKeyTable;
  applications: ApplicationTable;
  oidc_payloads: OidcPayloadTable;
  oidc_signing_keys: OidcSigningKeyTable;
  login_attempts: LoginAttemptTable;
  duo_transactions: DuoTransactionTable;
  duo_prompts: DuoPromptTable;
  duo_client_assertions: DuoClientAssertionTable;
  login_counts: LoginCountTable;
}

export type Db = Kysely<Database>;
/** Repositories take either the database or a transaction as their first argument. */
export type DbOrTx = Kysely<Database> | Transaction<Database>;

// Timestamps are epoch milliseconds in BIGINT columns; pg returns int8 as a string by
// default, which would make the two dialects disagree. All our int8 values fit in a double.
pg.types.setTypeParser(20, (v) => Number(v));

/** How long a request waits for a PostgreSQL connection before it is answered 503. */
const CONNECT_TIMEOUT_MS = 5_000;

export function createDatabase(database: Config['database']): Db {
  if (database.kind === 'postgres') {
    // connectionTimeoutMillis: without it a request waits forever for a database host that
    // does not answer (network partition); with it, it fails and is answered 503.
    const pool = new pg.Pool({ connectionString: database.url, max: database.poolSize, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
    // An idle connection that the server drops (restart, failover, pg_terminate_backend) emits
    // 'error' on the pool; unhandled, that would stop the process. The pool replaces it.
    pool.on('error', (err) => console.error(`PostgreSQL connection lost (the pool will reconnect): ${err.message}`));
    // A client checked out of the pool (a transaction in progress) has no 'error' listener of
    // the pool's: if its connection dies then, pg emits 'error' on it and, unhandled, that
    // stops the process. Its queries fail on their own (answered 503) and the pool discards it
    // on release, so there is nothing more to do here than to hear it.
    pool.on('connect', (client) => client.on('error', () => undefined));
    return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  }
  if (database.file !== ':memory:') fs.mkdirSync(path.dirname(database.file), { recursive: true });
  const sqlite = new SQLite(database.file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const checkpointer = database.file === ':memory:' ? null : startCheckpointer(sqlite, database.file);
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite, () => checkpointer?.stop()) }) });
}

/** How often the background thread copies the write-ahead log into the database file. */
const CHECKPOINT_EVERY_MS = 500;

/**
 * WAL checkpoints off the event loop. By default SQLite checkpoints inside the commit that
 * pushes the log past 1,000 pages: that one request then copies ~4 MB into the database file
 * and waits for two fsyncs (~5 ms each on this kind of virtual disk), and every request queued
 * behind it waits too. Instead, the committing connection only appends to the log, and a worker
 * thread with its own connection runs a PASSIVE checkpoint (never blocks readers or writers)
 * every half second. Same durability (synchronous=NORMAL: a commit survives a process crash;
 * the last commits before a power cut may be lost, as before). If the thread dies, the
 * connection falls back to SQLite's own automatic checkpoints.
 */
function startCheckpointer(sqlite: SQLite.Database, file: string): { stop(): void } {
  const source = `
    const { workerData, parentPort } = require('node:worker_threads');
    const db = new (require(workerData.driver))(workerData.file);
    db.pragma('busy_timeout = 0');
    const timer = setInterval(() => {
      try { db.pragma('wal_checkpoint(PASSIVE)'); } catch { /* busy: another process checkpoints; next time */ }
    }, workerData.everyMs);
    parentPort.on('message', () => { clearInterval(timer); db.close(); parentPort.close(); });`;
  const worker = new Worker(source, { eval: true, workerData: { driver: createRequire(import.meta.url).resolve('better-sqlite3'), file, everyMs: CHECKPOINT_EVERY_MS } });
  worker.unref();
  let stopping = false;
  sqlite.pragma('wal_autocheckpoint = 0');
  const fallBack = () => {
    if (!stopping && sqlite.open) sqlite.pragma('wal_autocheckpoint = 1000');
  };
  worker.once('error', fallBack);
  worker.once('exit', fallBack);
  return {
    stop() {
      stopping = true;
      worker.postMessage('stop');
    },
  };
}

/**
 * Kysely prepares every statement anew; with better-sqlite3 preparing costs as much as
 * running a small query. The hot paths (login, second factor) run the same few dozen SQL
 * texts, so prepared statements are kept, least recently used out first. Safe because
 * better-sqlite3 runs a statement to completion synchronously (Kysely streams nothing here).
 */
function withStatementCache(sqlite: SQLite.Database, onClose: () => void, max = 500): SqliteDatabase {
  const cache = new Map<string, SQLite.Statement>();
  return {
    close: () => {
      onClose();
      sqlite.close();
    },
    prepare(sqlText: string) {
      let statement = cache.get(sqlText);
      if (statement) {
        cache.delete(sqlText); // re-insert: the Map's order is the recency order
      } else {
        statement = sqlite.prepare(sqlText);
        if (cache.size >= max) cache.delete(cache.keys().next().value!);
      }
      cache.set(sqlText, statement);
      return statement as unknown as ReturnType<SqliteDatabase['prepare']>;
    },
  };
}

export function isPostgres(db: Kysely<any>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/** Node socket errors that mean "the database server is not there (right now)". */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/** PostgreSQL SQLSTATEs of a server shutting down, starting up or gone (class 08 connection exceptions, 57P0x operator intervention). */
const PG_UNAVAILABLE = /^(08...|57P01|57P02|57P03|53300)$/;
/** What pg and pg-pool say, without a code, when a connection breaks or cannot be had. */
const DRIVER_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|not queryable|Cannot use a pool after calling end|Client has encountered a connection error/i;

/**
 * Whether an error means the database is unreachable or busy for now (answered 503 with
 * Retry-After) rather than a bug (500): a stopped or restarting PostgreSQL, a dropped
 * connection, a pool that cannot connect in time, or SQLite still locked after busy_timeout.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (SOCKET_CODES.has(code) || PG_UNAVAILABLE.test(code) || code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_'))) return true;
    if (e instanceof AggregateError && e.errors.some((inner) => isDatabaseUnavailable(inner))) return true;
    if (e instanceof Error && DRIVER_MESSAGES.test(e.message)) return true;
  }
  return false;
}
