import { randomUUID } from 'node:crypto';
import { audit, type Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import { containsText, isUniqueViolation, nameInFirmTaken } from '../db/constraints.js';
import type { DbOrTx } from '../db/database.js';
import { AppError, corporationNotEmpty, notFound } from '../core/errors.js';
import type { PageOf } from '../http/schemas.js';

export interface CorporationView {
  id: string;
  name: string;
  createdAt: number;
  userCount: number;
}

const nameTaken = () => new AppError('CORPORATION_NAME_TAKEN');

/** Names are unique per firm regardless of case ("Acme" and "ACME" are one client). */
const nameInUse = (db: DbOrTx, firmId: string, name: string, exceptId?: string) => nameInFirmTaken(db, 'corporations', firmId, name, exceptId);

function corporationsWithCounts(db: DbOrTx, firmId: string) {
  return db
    .selectFrom('corporations')
    .where('corporations.firm_id', '=', firmId)
    .select((eb) => [
      'corporations.id',
      'corporations.name',
      'corporations.created_at',
      eb.selectFrom('users').whereRef('users.corporation_id', '=', 'corporations.id').select(eb.fn.countAll<number>().as('n')).as('user_count'),
    ]);
}

const view = (r: { id: string; name: string; created_at: number; user_count: number | null }): CorporationView => ({
  id: r.id,
  name: r.name,
  createdAt: r.created_at,
  userCount: Number(r.user_count ?? 0),
});

export async function getCorporation(db: DbOrTx, firmId: string, id: string): Promise<CorporationView> {
  const row = await corporationsWithCounts(db, firmId).where('corporations.id', '=', id).executeTakeFirst();
  if (!row) throw notFound('Corporation');
  return view(row);
}

export async function listCorporations(db: DbOrTx, firmId: string, query: { q?: string; page?: number; pageSize?: number }): Promise<PageOf<CorporationView>> {
  const page = query.page ?? 1;
  const pageSize = query.pageSize ?? 20;
  let base = db.selectFrom('corporations').where('corporations.firm_id', '=', firmId);
  const q = query.q?.trim();
  if (q) base = base.where(containsText('corporations.name', q));
  const { total } = await base.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow();
  let rows = corporationsWithCounts(db, firmId);
  if (q) rows = rows.where(containsText('corporations.name', q));
  const items = await rows.orderBy('corporations.name').orderBy('corporations.id').limit(pageSize).offset((page - 1) * pageSize).execute();
  return { items: items.map(view), total: Number(total), page, pageSize };
}

export async function createCorporation(ctx: AppContext, db: DbOrTx, actor: Actor, firmId: string, name: string): Promise<CorporationView> {
  const id = randomUUID();
  const clean = name.trim();
  if (await nameInUse(db, firmId, clean)) throw nameTaken();
  try {
    await db.insertInto('corporations').values({ id, firm_id: firmId, name: clean, created_at: ctx.clock.now() }).execute();
  } catch (err) {
    if (isUniqueViolation(err)) throw nameTaken();
    throw err;
  }
  await audit(db, ctx.clock.now(), actor, { event: 'corporation.created', firmId, subjectType: 'corporation', subjectId: id, details: { name: clean } });
  return getCorporation(db, firmId, id);
}

export async function renameCorporation(ctx: AppContext, db: DbOrTx, actor: Actor, firmId: string, id: string, name: string): Promise<CorporationView> {
  const before = await getCorporation(db, firmId, id);
  const clean = name.trim();
  if (clean === before.name) return before;
  if (await nameInUse(db, firmId, clean, id)) throw nameTaken();
  try {
    await db.updateTable('corporations').set({ name: clean }).where('firm_id', '=', firmId).where('id', '=', id).execute();
  } catch (err) {
    if (isUniqueViolation(err)) throw nameTaken();
    throw err;
  }
  await audit(db, ctx.clock.now(), actor, { event: 'corporation.renamed', firmId, subjectType: 'corporation', subjectId: id, details: { from: before.name, to: clean } });
  return getCorporation(db, firmId, id);
}

/** Only an empty corporation can go: its users would otherwise be left without one. */
export async function deleteCorporation(ctx: AppContext, db: DbOrTx, actor: Actor, firmId: string, id: string): Promise<void> {
  const corp = await getCorporation(db, firmId, id);
  if (corp.userCount > 0) {
    throw corporationNotEmpty(corp.name, corp.userCount);
  }
  // Conditional: a user added since the count above keeps the corporation alive.
  const deleted = await db
    .deleteFrom('corporations')
    .where('firm_id', '=', firmId)
    .where('id', '=', id)
    .where((eb) => eb.not(eb.exists(eb.selectFrom('users').select('users.id').whereRef('users.corporation_id', '=', 'corporations.id'))))
    .executeTakeFirst();
  if (Number(deleted.numDeletedRows) === 0) throw corporationNotEmpty(corp.name);
  await audit(db, ctx.clock.now(), actor, { event: 'corporation.deleted', firmId, subjectType: 'corporation', subjectId: id, details: { name: corp.name } });
}
