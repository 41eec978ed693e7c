import { sql } from 'kysely';
import { containsText, nameInFirmTaken } from '../db/constraints.js';
import type { DbOrTx } from '../db/database.js';
import type { UserKind } from '../directory/user.table.js';
import type { Application, ApplicationRow, ApplicationRowUpdate, ApplicationStatus, ApplicationType, NewApplicationRow } from './application.table.js';

/**
 * The applications table. Every function that serves the firm administration takes the firm id
 * and filters on it first: an application of another firm is not found. Only the doors'
 * lookup (`findByClientId`) searches across firms, by the client id / integration key that
 * identifies the caller.
 */

const parseList = (text: string): string[] => JSON.parse(text) as string[];

export function toApplication(row: ApplicationRow): Application {
  return {
    ...row,
    redirect_uris: parseList(row.redirect_uris),
    post_logout_redirect_uris: parseList(row.post_logout_redirect_uris),
    allowed_kinds: row.allowed_kinds === null ? null : (parseList(row.allowed_kinds) as UserKind[]),
  };
}

/** The JSON columns of a change, written as text. */
export function listColumns(values: { redirect_uris?: string[]; post_logout_redirect_uris?: string[]; allowed_kinds?: UserKind[] | null }) {
  const out: Pick<ApplicationRowUpdate, 'redirect_uris' | 'post_logout_redirect_uris' | 'allowed_kinds'> = {};
  if (values.redirect_uris !== undefined) out.redirect_uris = JSON.stringify(values.redirect_uris);
  if (values.post_logout_redirect_uris !== undefined) out.post_logout_redirect_uris = JSON.stringify(values.post_logout_redirect_uris);
  if (values.allowed_kinds !== undefined) out.allowed_kinds = values.allowed_kinds === null ? null : JSON.stringify(values.allowed_kinds);
  return out;
}

export async function findApplication(db: DbOrTx, firmId: string, id: string): Promise<Application | undefined> {
  const row = await db.selectFrom('applications').selectAll().where('firm_id', '=', firmId).where('id', '=', id).executeTakeFirst();
  return row ? toApplication(row) : undefined;
}

/** The doors' lookup: by OIDC client id or Duo integration key, in any firm. */
export async function findByClientId(db: DbOrTx, clientId: string): Promise<Application | undefined> {
  const row = await db.selectFrom('applications').selectAll().where('client_id', '=', clientId).executeTakeFirst();
  return row ? toApplication(row) : undefined;
}

/** Names are unique per firm regardless of case; the unique index (firm_id, lower(name)) enforces it too. */
export const nameInUse = (db: DbOrTx, firmId: string, name: string, exceptId?: string) => nameInFirmTaken(db, 'applications', firmId, name, exceptId);

export async function insertApplication(db: DbOrTx, row: NewApplicationRow): Promise<void> {
  await db.insertInto('applications').values(row).execute();
}

export async function updateApplication(db: DbOrTx, firmId: string, id: string, set: ApplicationRowUpdate): Promise<void> {
  await db.updateTable('applications').set(set).where('firm_id', '=', firmId).where('id', '=', id).execute();
}

/**
 * Moves the status from `from` to `to` in one conditional UPDATE: true when this call made the
 * change, false when the application was already there (or is gone).
 */
export async function changeStatus(db: DbOrTx, firmId: string, id: string, from: ApplicationStatus, to: ApplicationStatus, now: number): Promise<boolean> {
  const changed = await db
    .updateTable('applications')
    .set({ status: to, updated_at: now })
    .where('firm_id', '=', firmId)
    .where('id', '=', id)
    .where('status', '=', from)
    .returning('id')
    .executeTakeFirst();
  return changed !== undefined;
}

/**
 * Puts a new sealed secret in place of `expected`, the one the caller read: one conditional
 * UPDATE, so of two rotations at once only one wins, and the loser cannot make the winner's
 * brand-new secret "previous" (or drop it) without having seen it.
 */
export async function replaceSecret(
  db: DbOrTx,
  firmId: string,
  id: string,
  expected: string,
  set: { secret: string; previous_secret: string | null; previous_expires_at: number | null; secret_rotated_at: number; updated_at: number },
): Promise<boolean> {
  const changed = await db
    .updateTable('applications')
    .set(set)
    .where('firm_id', '=', firmId)
    .where('id', '=', id)
    .where('secret', '=', expected)
    .returning('id')
    .executeTakeFirst();
  return changed !== undefined;
}

export async function deleteApplication(db: DbOrTx, firmId: string, id: string): Promise<boolean> {
  const deleted = await db.deleteFrom('applications').where('firm_id', '=', firmId).where('id', '=', id).executeTakeFirst();
  return Number(deleted.numDeletedRows) > 0;
}

/** Forgets previous secrets whose grace period is over (housekeeping): sealed or not, a secret nobody may use is better gone. */
export async function dropExpiredPreviousSecrets(db: DbOrTx, now: number): Promise<number> {
  const done = await db
    .updateTable('applications')
    .set({ previous_secret: null, previous_expires_at: null })
    .where('previous_expires_at', '<=', now)
    .executeTakeFirst();
  return Number(done.numUpdatedRows);
}

export interface ApplicationListQuery {
  q?: string;
  type?: ApplicationType;
  status?: ApplicationStatus;
  page?: number;
  pageSize?: number;
}

/** Name contains q (case-insensitive), or the client id / integration key is q. */
export async function listApplicationRows(db: DbOrTx, firmId: string, query: ApplicationListQuery): Promise<{ rows: Application[]; total: number }> {
  const page = query.page ?? 1;
  const pageSize = query.pageSize ?? 20;
  let base = db.selectFrom('applications').where('firm_id', '=', firmId);
  const q = query.q?.trim();
  if (q) base = base.where((eb) => eb.or([containsText('name', q), eb('client_id', '=', q)]));
  if (query.type) base = base.where('type', '=', query.type);
  if (query.status) base = base.where('status', '=', query.status);
  const { total } = await base.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow();
  const rows = await base
    .selectAll()
    .orderBy(sql`lower(name)`)
    .orderBy('id')
    .limit(pageSize)
    .offset((page - 1) * pageSize)
    .execute();
  return { rows: rows.map(toApplication), total: Number(total) };
}

/** The names of the firm's users who created these applications (the user may be gone: then null). */
export async function creatorNames(db: DbOrTx, firmId: string, apps: Application[]): Promise<Map<string, string>> {
  const ids = [...new Set(apps.map((a) => a.created_by).filter((x): x is string => x !== null))];
  if (ids.length === 0) return new Map();
  const users = await db.selectFrom('users').select(['id', 'name']).where('firm_id', '=', firmId).where('id', 'in', ids).execute();
  return new Map(users.map((u) => [u.id, u.name]));
}
