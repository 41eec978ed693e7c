import { audit, type Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import { isForeignKeyViolation, isUniqueViolation } from '../db/constraints.js';
import type { DbOrTx } from '../db/database.js';
import { AppError, notFound } from '../core/errors.js';
import { scheduleEnablementMails } from './enablement.js';
import type { AddCorporationInput, ConfigurationInput, CorporationSwitchesInput } from './mfa.schemas.js';

/**
 * Changes to the MFA configuration (reference A.2.1 to A.2.3). Callers pass the transaction
 * of the request; each change is audited with what changed (field: { from, to }).
 */

const notActive = () =>
  new AppError('SUBSCRIPTION_NOT_ACTIVE');
const corporationNotFound = () => new AppError('CORPORATION_NOT_FOUND');

/** The configuration only changes under an active subscription (requested, suspended or cancelled ones are read-only). */
async function requireActiveSubscription(db: DbOrTx, firmId: string): Promise<void> {
  const sub = await db.selectFrom('subscriptions').select('state').where('firm_id', '=', firmId).executeTakeFirst();
  if (sub?.state !== 'active') throw notActive();
}

type Changes = Record<string, { from: unknown; to: unknown }>;

function diff<T extends Record<string, unknown>>(before: T, after: Partial<T>): Changes {
  const changes: Changes = {};
  for (const [key, to] of Object.entries(after)) {
    if (to !== undefined && before[key] !== to) changes[key] = { from: before[key], to };
  }
  return changes;
}

/** PUT /admin/mfa/configuration: the four switches and the corporation scope, in one upsert. */
export async function updateConfiguration(ctx: AppContext, db: DbOrTx, actor: Actor, firmId: string, input: ConfigurationInput): Promise<void> {
  await requireActiveSubscription(db, firmId);
  const row = await db.selectFrom('mfa_settings').selectAll().where('firm_id', '=', firmId).executeTakeFirst();
  const before: ConfigurationInput = {
    caseManagers: row?.case_managers === 1,
    vendorCaseManagers: row?.vendor_case_managers === 1,
    corporationScope: row?.corporation_scope ?? 'all',
    allCorpUsers: row?.all_corp_users === 1,
    allForeignNationals: row?.all_foreign_nationals === 1,
  };
  const changes = diff(before, input);
  if (Object.keys(changes).length === 0) return;

  const now = ctx.clock.now();
  const values = {
    case_managers: input.caseManagers ? 1 : 0,
    vendor_case_managers: input.vendorCaseManagers ? 1 : 0,
    corporation_scope: input.corporationScope,
    all_corp_users: input.allCorpUsers ? 1 : 0,
    all_foreign_nationals: input.allForeignNationals ? 1 : 0,
    updated_at: now,
  };
  await db
    .insertInto('mfa_settings')
    .values({ firm_id: firmId, ...values })
    .onConflict((oc) => oc.column('firm_id').doUpdateSet(values))
    .execute();
  await audit(db, now, actor, { event: 'mfa.configuration_changed', firmId, subjectType: 'firm', subjectId: firmId, details: { changed: changes } });
  // Mails go out from a job: this request does not wait for a thousand of them (A.2.5).
  await scheduleEnablementMails(ctx, db, firmId);
}

/** POST /admin/mfa/corporations: adds a corporation of this firm to the "specific corporations" list (A.2.3.2). */
export async function addMfaCorporation(ctx: AppContext, db: DbOrTx, actor: Actor, firmId: string, input: AddCorporationInput): Promise<void> {
  await requireActiveSubscription(db, firmId);
  const corp = await db.selectFrom('corporations').select(['id', 'name']).where('firm_id', '=', firmId).where('id', '=', input.corporationId).executeTakeFirst();
  if (!corp) throw corporationNotFound();
  const already = () => new AppError('CORPORATION_ALREADY_ADDED', `${corp.name} is already in the list.`);
  const listed = await db.selectFrom('mfa_corporations').select('corporation_id').where('firm_id', '=', firmId).where('corporation_id', '=', corp.id).executeTakeFirst();
  if (listed) throw already();
  const now = ctx.clock.now();
  const corpUsers = input.corpUsers ?? true;
  const foreignNationals = input.foreignNationals ?? true;
  try {
    await db
      .insertInto('mfa_corporations')
      .values({ corporation_id: corp.id, firm_id: firmId, corp_users: corpUsers ? 1 : 0, foreign_nationals: foreignNationals ? 1 : 0, added_at: now })
      .execute();
  } catch (err) {
    // Another request added it, or deleted the corporation, since the reads above.
    if (isUniqueViolation(err)) throw already();
    if (isForeignKeyViolation(err)) throw corporationNotFound();
    throw err;
  }
  await audit(db, now, actor, {
    event: 'mfa.corporation_added',
    firmId,
    subjectType: 'corporation',
    subjectId: corp.id,
    details: { name: corp.name, corpUsers, foreignNationals },
  });
}

async function listedCorporation(db: DbOrTx, firmId: string, corporationId: string) {
  const row = await db
    .selectFrom('mfa_corporations')
    .innerJoin('corporations', 'corporations.id', 'mfa_corporations.corporation_id')
    .select(['mfa_corporations.corporation_id', 'mfa_corporations.corp_users', 'mfa_corporations.foreign_nationals', 'corporations.name'])
    .where('mfa_corporations.firm_id', '=', firmId)
    .where('corporations.firm_id', '=', firmId)
    .where('mfa_corporations.corporation_id', '=', corporationId)
    .executeTakeFirst();
  if (!row) throw notFound('Corporation in the MFA list');
  return row;
}

/** PATCH /admin/mfa/corporations/:id: the corp users / foreign nationals switches of one listed corporation. */
export async function changeMfaCorporation(
  ctx: AppContext,
  db: DbOrTx,
  actor: Actor,
  firmId: string,
  corporationId: string,
  input: CorporationSwitchesInput,
): Promise<void> {
  await requireActiveSubscription(db, firmId);
  const row = await listedCorporation(db, firmId, corporationId);
  const changes = diff({ corpUsers: row.corp_users === 1, foreignNationals: row.foreign_nationals === 1 }, input);
  if (Object.keys(changes).length === 0) return;
  const set: { corp_users?: number; foreign_nationals?: number } = {};
  if (input.corpUsers !== undefined) set.corp_users = input.corpUsers ? 1 : 0;
  if (input.foreignNationals !== undefined) set.foreign_nationals = input.foreignNationals ? 1 : 0;
  const updated = await db.updateTable('mfa_corporations').set(set).where('firm_id', '=', firmId).where('corporation_id', '=', corporationId).executeTakeFirst();
  if (Number(updated.numUpdatedRows) === 0) throw notFound('Corporation in the MFA list');
  await audit(db, ctx.clock.now(), actor, {
    event: 'mfa.corporation_changed',
    firmId,
    subjectType: 'corporation',
    subjectId: corporationId,
    details: { name: row.name, changed: changes },
  });
}

/** DELETE /admin/mfa/corporations/:id: removes a corporation from the list (its users are no longer covered). */
export async function removeMfaCorporation(ctx: AppContext, db: DbOrTx, actor: Actor, firmId: string, corporationId: string): Promise<void> {
  await requireActiveSubscription(db, firmId);
  const row = await listedCorporation(db, firmId, corporationId);
  const deleted = await db.deleteFrom('mfa_corporations').where('firm_id', '=', firmId).where('corporation_id', '=', corporationId).executeTakeFirst();
  if (Number(deleted.numDeletedRows) === 0) throw notFound('Corporation in the MFA list');
  await audit(db, ctx.clock.now(), actor, {
    event: 'mfa.corporation_removed',
    firmId,
    subjectType: 'corporation',
    subjectId: corporationId,
    details: { name: row.name, corpUsers: row.corp_users === 1, foreignNationals: row.foreign_nationals === 1 },
  });
}
