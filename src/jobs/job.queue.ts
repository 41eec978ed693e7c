import { randomUUID } from 'node:crypto';
import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';

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
