import { RESEAL_SECRETS_JOB, resealSecretsJob } from '../crypto/reseal.job.js';
import { ENABLEMENT_MAILS_JOB } from '../mfa-policy/enablement.js';
import { sendEnablementMails } from '../mfa-policy/enablement-mail.job.js';
import type { JobHandler } from './job-handler.js';

export type { JobHandler };

/** Every kind of background job, in one list. A new kind is a handler and one line here. */
export const JOB_HANDLERS: Record<string, JobHandler> = {
  [ENABLEMENT_MAILS_JOB]: sendEnablementMails,
  [RESEAL_SECRETS_JOB]: resealSecretsJob,
};
