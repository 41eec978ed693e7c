import { EventEmitter } from 'node:events';
import pg from 'pg';
import { sql } from 'kysely';
import type { AppContext } from '../context.js';
import { isPostgres } from '../db/database.js';

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
 * LISTEN was ready is not lost.
 */
export class PushHub {
  private readonly events = new EventEmitter();
  private listener: pg.Client | null = null;
  private listening: Promise<void> | null = null;
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
    this.events.on(`tx:${transactionId}`, onChange);
    await this.listen();
    return () => this.events.off(`tx:${transactionId}`, onChange);
  }

  /** Calls `onTransaction` with the id of every transaction of this user that was created or answered; returns the unsubscribe. */
  async onUser(userId: string, onTransaction: (transactionId: string) => void): Promise<() => void> {
    this.events.on(`user:${userId}`, onTransaction);
    await this.listen();
    return () => this.events.off(`user:${userId}`, onTransaction);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.events.removeAllListeners();
    const l = this.listener;
    this.listener = null;
    if (l) await l.end().catch(() => undefined);
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
      // The database went away (shutting down): the listeners will time out and look again.
    }
  }

  private listen(): Promise<void> {
    const database = this.ctx.config.database;
    if (this.closed || database.kind !== 'postgres') return Promise.resolve();
    this.listening ??= (async () => {
      const client = new pg.Client({ connectionString: database.url });
      client.on('notification', (n) => {
        if (n.channel === PUSH_CHANNEL && n.payload) void this.dispatch(n.payload);
      });
      client.on('error', () => {
        // A lost LISTEN connection: open a new one on the next use; until then the waits time out and re-read.
        if (this.listener === client) this.listener = null;
        this.listening = null;
      });
      await client.connect();
      await client.query(`LISTEN ${PUSH_CHANNEL}`);
      if (this.closed) {
        await client.end();
        return;
      }
      this.listener = client;
    })().catch((err) => {
      this.listening = null;
      throw err;
    });
    return this.listening;
  }
}

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
