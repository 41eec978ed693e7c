import type { AppContext } from '../context.js';
import { RESEAL_SECRETS_JOB, resealSecretsJob } from '../crypto/reseal.job.js';
import { ENABLEMENT_MAILS_JOB, sendEnablementMails } from '../mfa-policy/enablement-mail.job.js';
import type { Job } from './job.table.js';

/** A job handler: idempotent, so that a job which ran partly (process stopped) can run again. */
export type JobHandler = (ctx: AppContext, job: Job, payload: Record<string, unknown>) => Promise<void>;

/** Every kind of background job, in one list. A new kind is a handler and one line here. */
export const JOB_HANDLERS: Record<string, JobHandler> = {
  [ENABLEMENT_MAILS_JOB]: sendEnablementMails,
  [RESEAL_SECRETS_JOB]: resealSecretsJob,
};
