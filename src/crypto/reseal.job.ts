import { APPLICATION_PREVIOUS_SECRETS, APPLICATION_SECRETS } from '../applications/application.lookup.js';
import type { AppContext } from '../context.js';
import { VAPID_PRIVATE_KEY } from '../factors/push/web-push.js';
import { BACKUP_CODES, BACKUP_CODE_MAC_KEYS, dropUnusedMacKeys, keepRetiredMacKeys, unopenableMacKeyIds } from '../factors/backup-codes/backup-codes.factor.js';
import { TOTP_SECRETS } from '../factors/totp/totp.factor.js';
import type { JobHandler } from '../jobs/handlers.js';
import { OIDC_SIGNING_KEYS } from '../oidc/keys.js';
import { resealColumn, type ColumnReport } from './reseal.js';

// This module must not import the job queue (src/jobs/job.service.ts): the queue imports the
// handler registry, which imports this file.

/** The job that re-seals every value sealed under a retired master key (queued at start and by housekeeping while retired keys are configured). */
export const RESEAL_SECRETS_JOB = 'secrets.reseal';

/** Every column of sealed values. A new one is its SealedColumn and one line here. */
export const SEALED_COLUMNS = [BACKUP_CODE_MAC_KEYS, VAPID_PRIVATE_KEY, TOTP_SECRETS, BACKUP_CODES, APPLICATION_SECRETS, APPLICATION_PREVIOUS_SECRETS, OIDC_SIGNING_KEYS];

export interface ResealReport {
  currentKeyId: string;
  columns: ColumnReport[];
  /** Backup codes whose MAC key neither a configured master key nor a kept copy provides, by key id. */
  unopenableMacKeys: Record<string, number>;
  /** Values still not sealed under the current key, or not verifiable, after the pass: 0 means the retired keys may be removed. */
  left: number;
}

/**
 * Re-seals every sealed value under the current master key, one conditional UPDATE per row
 * (see reseal.ts): safe with any number of processes at once, and idempotent, so a run that
 * stopped midway simply runs again. The MAC keys of backup codes issued under a retired key are
 * kept first (sealed under the current key, so the retired key can go), and the kept MAC keys
 * no code uses any more are dropped last.
 */
export async function resealSecrets(ctx: AppContext): Promise<ResealReport> {
  await keepRetiredMacKeys(ctx, ctx.db);
  const columns: ColumnReport[] = [];
  for (const column of SEALED_COLUMNS) columns.push(await resealColumn(ctx, column));
  await dropUnusedMacKeys(ctx.db);
  const unopenableMacKeys = await unopenableMacKeyIds(ctx, ctx.db);
  const left = columns.reduce((n, c) => n + c.left, 0) + Object.values(unopenableMacKeys).reduce((n, c) => n + c, 0);
  return { currentKeyId: ctx.secrets.current.id, columns, unopenableMacKeys, left };
}

const byKey = (counts: Record<string, number>) =>
  Object.entries(counts)
    .map(([key, n]) => `${n} under key ${key}`)
    .join(', ');

/** The report as lines for an operator (printed by `--reseal`, announced by the job when something is left). */
export function describeReseal(report: ResealReport): string[] {
  const lines = [`Re-sealed under the current master key (${report.currentKeyId}): ${report.columns.map((c) => `${c.resealed} ${c.label}`).join(', ')}.`];
  for (const c of report.columns) {
    if (Object.keys(c.unopenable).length > 0) lines.push(`Cannot open ${c.label}: ${byKey(c.unopenable)} (no such key is configured, or the value was altered).`);
    else if (c.left > 0) lines.push(`${c.left} ${c.label} were sealed under another key meanwhile (a node still on the old key?): run again once every node has the new key.`);
  }
  if (Object.keys(report.unopenableMacKeys).length > 0) lines.push(`Cannot check backup codes: ${byKey(report.unopenableMacKeys)} (that master key is gone and its MAC key was not kept).`);
  lines.push(
    report.left === 0
      ? 'Every sealed value is under the current master key: the retired keys can be removed from TESSERA_RETIRED_MASTER_KEYS.'
      : `${report.left} values are not under the current master key yet: keep the retired keys configured. A key named above that is not configured any more must be put back in TESSERA_RETIRED_MASTER_KEYS (or the affected users' enrollment reset).`,
  );
  return lines;
}

/** The job: one pass; what is left is announced (a value no key opens needs the operator, not a retry). */
export const resealSecretsJob: JobHandler = async (ctx) => {
  const report = await resealSecrets(ctx);
  if (report.left > 0) for (const line of describeReseal(report)) ctx.announce(`[re-seal] ${line}`);
};
