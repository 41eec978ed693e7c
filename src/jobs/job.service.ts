import type { AppContext } from '../context.js';
import { JOB_HANDLERS } from './handlers.js';
import type { Job } from './job.table.js';

// Queueing lives apart (job.queue.ts): the modules that queue jobs are imported by the
// handlers this runner imports, and must not import the runner back.
export { enqueueJob, enqueueJobOnce } from './job.queue.js';

const LEASE_MS = 5 * 60_000;
const MAX_ATTEMPTS = 8;

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
