import { randomUUID } from 'node:crypto';
import { audit, type Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import { containsText, isUniqueViolation } from '../db/constraints.js';
import type { DbOrTx } from '../db/database.js';
import { createUser } from '../directory/user.service.js';
import type { UserView } from '../directory/user.view.js';
import { AppError } from '../core/errors.js';
import type { PageOf } from '../http/schemas.js';

export interface FirmView {
  id: string;
  slug: string;
  name: string;
  createdAt: number;
  userCount: number;
  /** The firm's registered applications (OIDC clients and Duo integrations), active or disabled. */
  applicationCount: number;
}

/** Lower-case letters, digits and inner dashes. */
export const SLUG_PATTERN = '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$';

const slugTaken = () => new AppError('SLUG_TAKEN');

export async function listFirms(db: DbOrTx, query: { q?: string; page?: number; pageSize?: number }): Promise<PageOf<FirmView>> {
  const page = query.page ?? 1;
  const pageSize = query.pageSize ?? 20;
  const q = query.q?.trim();
  let base = db.selectFrom('firms');
  if (q) base = base.where((eb) => eb.or([containsText('firms.name', q), containsText('firms.slug', q)]));
  const { total } = await base.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow();
  const rows = await base
    .select((eb) => [
      'firms.id',
      'firms.slug',
      'firms.name',
      'firms.created_at',
      eb.selectFrom('users').whereRef('users.firm_id', '=', 'firms.id').select(eb.fn.countAll<number>().as('n')).as('user_count'),
      eb.selectFrom('applications').whereRef('applications.firm_id', '=', 'firms.id').select(eb.fn.countAll<number>().as('n')).as('application_count'),
    ])
    .orderBy('firms.name')
    .orderBy('firms.id')
    .limit(pageSize)
    .offset((page - 1) * pageSize)
    .execute();
  return {
    items: rows.map((r) => ({
      id: r.id,
      slug: r.slug,
      name: r.name,
      createdAt: r.created_at,
      userCount: Number(r.user_count ?? 0),
      applicationCount: Number(r.application_count ?? 0),
    })),
    total: Number(total),
    page,
    pageSize,
  };
}

/** A firm and its first superuser (a case manager), who is mailed a set-password link. Call inside a transaction. */
export async function createFirm(
  ctx: AppContext,
  db: DbOrTx,
  actor: Actor,
  input: { name: string; slug: string; superuser: { name: string; email: string } },
): Promise<{ firm: FirmView; superuser: UserView }> {
  const id = randomUUID();
  const slug = input.slug.trim().toLowerCase();
  const now = ctx.clock.now();
  if (await db.selectFrom('firms').select('id').where('slug', '=', slug).executeTakeFirst()) throw slugTaken();
  try {
    await db.insertInto('firms').values({ id, slug, name: input.name.trim(), created_at: now }).execute();
  } catch (err) {
    if (isUniqueViolation(err)) throw slugTaken();
    throw err;
  }
  await audit(db, now, actor, { event: 'firm.created', firmId: id, subjectType: 'firm', subjectId: id, details: { slug } });
  const superuser = await createUser(ctx, db, { ...actor, firmId: id }, id, { ...input.superuser, kind: 'case_manager', isSuperuser: true });
  return { firm: { id, slug, name: input.name.trim(), createdAt: now, userCount: 1, applicationCount: 0 }, superuser };
}
