import { EventEmitter } from 'node:events';
import pg from 'pg';
import { sql } from 'kysely';
import type { AppContext } from '../../context.js';
import { isPostgres } from '../../db/database.js';

/** The PostgreSQL channel a push transaction's id is announced on, when it is created or answered. */
export const PUSH_CHANNEL = 'tessera_push';

/**
 * Wakes whoever waits on a push transaction: the login long-polling for its answer, and the
 * device streams of its user. The rows are the truth; the hub only says "look again".
 *
 * One process: an in-process emitter. PostgreSQL (several processes): every change is also
 * a NOTIFY on `tessera_push` (payload: the transaction id), and each process holds ONE
 * LISTEN connection, opened on first use, that re-emits what other processes announce.
 * A listener always re-reads the row after subscribing, so an announcement sent before the
 * LISTEN was ready is not lost. A broken LISTEN connection is re-opened by itself (see `lost`).
 */
export class PushHub {
  private readonly events = new EventEmitter();
  private listener: pg.Client | null = null;
  private listening: Promise<void> | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconnectDelayMs = RECONNECT_MIN_MS;
  private closed = false;

  constructor(private readonly ctx: AppContext) {
    this.events.setMaxListeners(0);
  }

  /** Announces a created or answered transaction to this process and, with PostgreSQL, to all the others. */
  async publish(transactionId: string): Promise<void> {
    if (isPostgres(this.ctx.db)) {
      await sql`select pg_notify(${PUSH_CHANNEL}, ${transactionId})`.execute(this.ctx.db);
      if (this.listener) return; // our own LISTEN hears it too
    }
    void this.dispatch(transactionId);
  }

  /** Calls `onChange` whenever the transaction may have changed; returns the unsubscribe. Resolves once cross-process announcements are heard. */
  async onTransaction(transactionId: string, onChange: () => void): Promise<() => void> {
    return this.subscribe(`tx:${transactionId}`, onChange);
  }

  /**
   * Calls `onTransaction` with the id of every transaction of this user that was created or
   * answered, or with no id after a lost LISTEN connection came back (announcements may have
   * been missed meanwhile: look at all of them again); returns the unsubscribe.
   */
  async onUser(userId: string, onTransaction: (transactionId?: string) => void): Promise<() => void> {
    return this.subscribe(`user:${userId}`, onTransaction);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.events.removeAllListeners();
    const l = this.listener;
    this.listener = null;
    if (l) await l.end().catch(() => undefined);
  }

  private async subscribe(event: string, listener: (...args: any[]) => void): Promise<() => void> {
    this.events.on(event, listener);
    try {
      await this.listen();
    } catch (err) {
      this.events.off(event, listener); // the caller gets the error (503) and keeps no subscription
      throw err;
    }
    return () => this.events.off(event, listener);
  }

  /** One read per announcement (not per subscriber) to learn whose transaction it is. */
  private async dispatch(transactionId: string): Promise<void> {
    if (this.closed) return;
    this.events.emit(`tx:${transactionId}`);
    if (this.events.eventNames().every((n) => typeof n !== 'string' || !n.startsWith('user:'))) return;
    try {
      const row = await this.ctx.db.selectFrom('push_transactions').select('user_id').where('id', '=', transactionId).executeTakeFirst();
      if (row) this.events.emit(`user:${row.user_id}`, transactionId);
    } catch {
      // The database went away: the listeners time out and look again, and a resync follows the reconnect.
    }
  }

  private listen(): Promise<void> {
    const database = this.ctx.config.database;
    if (this.closed || database.kind !== 'postgres') return Promise.resolve();
    this.listening ??= this.connect(database.url).catch((err) => {
      this.listening = null; // never keep a failed attempt: the next use (or the reconnect timer) tries again
      throw err;
    });
    return this.listening;
  }

  private async connect(url: string): Promise<void> {
    // keepAlive: a silently dropped connection (no FIN, e.g. a failover) is noticed, not waited on forever.
    const client = new pg.Client({ connectionString: url, keepAlive: true, connectionTimeoutMillis: 5_000 });
    client.on('notification', (n) => {
      if (n.channel === PUSH_CHANNEL && n.payload) void this.dispatch(n.payload);
    });
    const lost = () => this.lost(client);
    client.on('error', lost);
    client.on('end', lost);
    try {
      await client.connect();
      await client.query(`LISTEN ${PUSH_CHANNEL}`);
    } catch (err) {
      client.removeListener('end', lost);
      await client.end().catch(() => undefined);
      throw err;
    }
    if (this.closed) {
      await client.end();
      return;
    }
    this.listener = client;
    this.reconnectDelayMs = RECONNECT_MIN_MS;
  }

  /**
   * The LISTEN connection broke (PostgreSQL restarted, failover, pg_terminate_backend).
   * While anyone waits, open a new one in the background (backing off up to 5 s), then wake
   * every waiter once to re-read: what was announced in the gap is found in the rows.
   */
  private lost(client: pg.Client): void {
    if (this.listener !== client) return;
    this.listener = null;
    this.listening = null;
    void client.end().catch(() => undefined);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer || this.events.eventNames().length === 0) return;
    const delay = this.reconnectDelayMs;
    this.reconnectDelayMs = Math.min(RECONNECT_MAX_MS, delay * 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.listen().then(
        () => this.wakeAll(),
        () => this.scheduleReconnect(),
      );
    }, delay);
    this.reconnectTimer.unref();
  }

  /** Wakes every waiter to re-read its rows: after a reconnect, and while shutting down (long-polls then answer at once). */
  wakeAll(): void {
    for (const name of this.events.eventNames()) {
      if (typeof name === 'string') this.events.emit(name);
    }
  }
}

const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 5_000;

const hubs = new WeakMap<AppContext, PushHub>();

/** The hub of this process (one per context); closed with the app (device.routes.ts registers that). */
export function pushHub(ctx: AppContext): PushHub {
  let hub = hubs.get(ctx);
  if (!hub) {
    hub = new PushHub(ctx);
    hubs.set(ctx, hub);
  }
  return hub;
}

export async function closePushHub(ctx: AppContext): Promise<void> {
  const hub = hubs.get(ctx);
  hubs.delete(ctx);
  if (hub) await hub.close();
}

/** Shutting down: wakes the long-polls of this process so they answer now instead of after their 25 s. */
export function wakePushWaiters(ctx: AppContext): void {
  hubs.get(ctx)?.wakeAll();
}
