import type { AppContext } from '../context.js';
import type { Job } from './job.table.js';

/** A job handler: idempotent, so that a job which ran partly (process stopped) can run again. */
export type JobHandler = (ctx: AppContext, job: Job, payload: Record<string, unknown>) => Promise<void>;
