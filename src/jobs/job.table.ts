import type { Insertable, Selectable } from 'kysely';

/**
 * Durable background work (e.g. mailing a thousand users after a configuration change).
 * Claimed by one conditional UPDATE with a lease, like the mail outbox: a process that
 * dies midway leaves a job whose lease runs out, and any process picks it up again.
 * Handlers are idempotent, so a job that ran partly can simply run again.
 */
export interface JobTable {
  id: string;
  kind: string;
  firm_id: string | null;
  /** JSON object. */
  payload: string;
  status: 'pending' | 'running' | 'done' | 'failed';
  run_at: number;
  attempts: number;
  last_error: string | null;
  created_at: number;
  finished_at: number | null;
}
export type Job = Selectable<JobTable>;
export type NewJob = Insertable<JobTable>;
