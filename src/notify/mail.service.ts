import { randomUUID } from 'node:crypto';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Clock } from '../clock.js';
import type { Db, DbOrTx } from '../db/database.js';
import type { MailContent } from './templates.js';
import type { OutboxMail } from './mail.table.js';

const LEASE_MS = 60_000;
const MAX_ATTEMPTS = 10;
const BATCH = 20;

export interface MailService {
  /** Queues a mail inside the caller's transaction: it exists exactly when the change that caused it does. */
  enqueue(db: DbOrTx, mail: { firmId: string | null; to: string } & MailContent): Promise<string>;
  /** Delivers what is due now; returns how many mails it handled. The worker calls it, tests too. */
  deliverDue(): Promise<number>;
  /** Starts polling (and wakes on enqueue). */
  start(): void;
  stop(): Promise<void>;
}

export interface MailOptions {
  db: Db;
  clock: Clock;
  smtpUrl: string | null;
  from: string;
  announce: (line: string) => void;
  pollMs?: number;
}

/**
 * One SMTP connection per mail costs a handshake each (~100 ms); a pool keeps a few open, so a
 * thousand enablement mails go out in seconds. An explicit `pool=` in the URL is respected.
 */
function pooled(smtpUrl: string): string {
  const url = new URL(smtpUrl);
  if (!url.searchParams.has('pool')) url.searchParams.set('pool', 'true');
  return url.toString();
}

/**
 * The outbox. Rows are claimed by one conditional UPDATE (status and due time in the
 * WHERE clause), so several Tessera processes can run the worker against one database
 * and each mail is handed to SMTP by one of them. A process that dies mid-send leaves a
 * 'sending' row whose lease runs out, and another worker picks it up.
 */
export function createMailService(opts: MailOptions): MailService {
  const transport: Transporter | null = opts.smtpUrl ? nodemailer.createTransport(pooled(opts.smtpUrl)) : null;
  let timer: NodeJS.Timeout | null = null;
  let chain: Promise<unknown> = Promise.resolve();
  let stopped = true;

  async function claim(): Promise<OutboxMail[]> {
    const now = opts.clock.now();
    const due = opts.db
      .selectFrom('mail_outbox')
      .select('id')
      .where('status', 'in', ['pending', 'sending'])
      .where('next_attempt_at', '<=', now)
      .orderBy('next_attempt_at')
      .limit(BATCH);
    return opts.db
      .updateTable('mail_outbox')
      .set({ status: 'sending', next_attempt_at: now + LEASE_MS })
      .where('id', 'in', due)
      .where('status', 'in', ['pending', 'sending'])
      .where('next_attempt_at', '<=', now)
      .returningAll()
      .execute();
  }

  async function deliver(mail: OutboxMail): Promise<void> {
    if (!transport) {
      opts.announce(`[mail] to ${mail.to_address}: ${mail.subject}${mail.link ? ` -> ${mail.link}` : ''}`);
      await opts.db.updateTable('mail_outbox').set({ status: 'kept' }).where('id', '=', mail.id).execute();
      return;
    }
    try {
      await transport.sendMail({ from: opts.from, to: mail.to_address, subject: mail.subject, text: mail.text_body, html: mail.html_body });
      await opts.db.updateTable('mail_outbox').set({ status: 'sent', sent_at: opts.clock.now(), last_error: null }).where('id', '=', mail.id).execute();
    } catch (err) {
      const attempts = mail.attempts + 1;
      const backoff = Math.min(2 ** attempts * 30_000, 3_600_000);
      await opts.db
        .updateTable('mail_outbox')
        .set({
          status: attempts >= MAX_ATTEMPTS ? 'failed' : 'pending',
          attempts,
          next_attempt_at: opts.clock.now() + backoff,
          last_error: String((err as Error).message ?? err).slice(0, 500),
        })
        .where('id', '=', mail.id)
        .execute();
    }
  }

  async function deliverDueOnce(): Promise<number> {
    let handled = 0;
    for (;;) {
      const batch = await claim();
      if (batch.length === 0) return handled;
      for (const mail of batch) await deliver(mail);
      handled += batch.length;
    }
  }

  const service: MailService = {
    async enqueue(db, mail) {
      const id = randomUUID();
      const now = opts.clock.now();
      await db
        .insertInto('mail_outbox')
        .values({
          id,
          firm_id: mail.firmId,
          to_address: mail.to,
          subject: mail.subject,
          text_body: mail.text,
          html_body: mail.html,
          link: mail.link ?? null,
          status: 'pending',
          attempts: 0,
          next_attempt_at: now,
          last_error: null,
          created_at: now,
          sent_at: null,
        })
        .execute();
      // The row may still be inside an open transaction; wake the worker a moment later.
      if (!stopped) setTimeout(() => void tick(), 20).unref();
      return id;
    },
    deliverDue() {
      // One delivery loop per process at a time; a second caller waits for the running one, then runs again.
      const next = chain.then(deliverDueOnce);
      chain = next.catch(() => undefined);
      return next;
    },
    start() {
      stopped = false;
      const poll = opts.pollMs ?? 2000;
      const loop = async () => {
        await tick();
        if (!stopped) timer = setTimeout(loop, poll);
      };
      timer = setTimeout(loop, 0);
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await chain;
      transport?.close();
    },
  };

  async function tick(): Promise<void> {
    try {
      await service.deliverDue();
    } catch (err) {
      if (!stopped) opts.announce(`[mail] delivery loop error: ${(err as Error).message}`);
    }
  }

  return service;
}
