import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import { enqueueJob } from '../jobs/job.service.js';

export const ENABLEMENT_MAILS_JOB = 'mfa.enablement_mails';

/**
 * Asks for the "MFA is now on" mails of a firm (A.2.5) to be sent in the background:
 * after a configuration change, an activation, or a staff user created or re-enabled.
 * Call it in the transaction of that change. The job works out who needs a mail.
 */
export async function scheduleEnablementMails(ctx: AppContext, db: DbOrTx, firmId: string): Promise<void> {
  await enqueueJob(ctx, db, ENABLEMENT_MAILS_JOB, firmId);
}
