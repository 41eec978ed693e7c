import { randomUUID } from 'node:crypto';
import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import { JOB_HANDLERS } from './handlers.js';
import type { Job } from './job.table.js';

const LEASE_MS = 5 * 60_000;
const MAX_ATTEMPTS = 8;

/** Queues a job in the caller's transaction: it exists exactly when the change that needs it does. */
export async function enqueueJob(ctx: AppContext, db: DbOrTx, kind: string, firmId: string | null, payload: Record<string, unknown> = {}): Promise<string> {
  const id = randomUUID();
  const now = ctx.clock.now();
  await db
    .insertInto('jobs')
    .values({ id, kind, firm_id: firmId, payload: JSON.stringify(payload), status: 'pending', run_at: now, attempts: 0, last_error: null, created_at: now, finished_at: null })
    .execute();
  return id;
}

/**
 * Queues a job of this kind unless one is already pending or running. A look, then an insert:
 * two processes may both queue one, which is harmless, since handlers are idempotent; this only
 * keeps a periodic caller (housekeeping) from piling up copies.
 */
export async function enqueueJobOnce(ctx: AppContext, kind: string, firmId: string | null = null): Promise<void> {
  const waiting = await ctx.db.selectFrom('jobs').select('id').where('kind', '=', kind).where('status', 'in', ['pending', 'running']).executeTakeFirst();
  if (!waiting) await enqueueJob(ctx, ctx.db, kind, firmId);
}

/** Claims one due job with a lease (one conditional UPDATE: of two processes, one wins). */
async function claim(ctx: AppContext): Promise<Job | undefined> {
  const now = ctx.clock.now();
  const due = ctx.db
    .selectFrom('jobs')
    .select('id')
    .where('status', 'in', ['pending', 'running'])
    .where('run_at', '<=', now)
    .orderBy('run_at')
    .limit(1);
  return ctx.db
    .updateTable('jobs')
    .set((eb) => ({ status: 'running', run_at: now + LEASE_MS, attempts: eb('attempts', '+', 1) }))
    .where('id', 'in', due)
    .where('status', 'in', ['pending', 'running'])
    .where('run_at', '<=', now)
    .returningAll()
    .executeTakeFirst();
}

/** Runs every due job; returns how many ran. The worker loop calls it, and so do tests. */
export async function runDueJobs(ctx: AppContext): Promise<number> {
  let ran = 0;
  for (let job = await claim(ctx); job; job = await claim(ctx)) {
    ran++;
    const handler = JOB_HANDLERS[job.kind];
    try {
      if (!handler) throw new Error(`no handler for job kind ${job.kind}`);
      await handler(ctx, job, JSON.parse(job.payload) as Record<string, unknown>);
      await ctx.db.updateTable('jobs').set({ status: 'done', finished_at: ctx.clock.now(), last_error: null }).where('id', '=', job.id).execute();
    } catch (err) {
      const failed = job.attempts >= MAX_ATTEMPTS;
      await ctx.db
        .updateTable('jobs')
        .set({
          status: failed ? 'failed' : 'pending',
          run_at: ctx.clock.now() + Math.min(2 ** job.attempts * 10_000, 3_600_000),
          last_error: String((err as Error).message ?? err).slice(0, 500),
        })
        .where('id', '=', job.id)
        .execute();
    }
  }
  return ran;
}

/** Polls for due jobs until stopped. */
export function startJobWorker(ctx: AppContext, pollMs = 1000): { stop(): Promise<void> } {
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let current: Promise<unknown> = Promise.resolve();
  const loop = () => {
    current = runDueJobs(ctx)
      .catch((err) => ctx.announce(`[jobs] worker error: ${(err as Error).message}`))
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, pollMs);
      });
  };
  timer = setTimeout(loop, 0);
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current;
    },
  };
}
