import type { DbOrTx } from '../db/database.js';
import { searchedUsers } from '../directory/user-search.js';
import type { UserKind } from '../directory/user.table.js';
import type { PageOf } from '../http/schemas.js';
import { AUTHENTICATOR_KINDS, type AuthenticatorKind } from '../factors/kinds.js';

/** One row of the Enrolled Users list (A.2.5). */
export interface EnrolledUserView {
  userId: string;
  name: string;
  email: string;
  kind: UserKind;
  /** The user's corporation, or the firm itself for staff. */
  organisation: string;
  /** Distinct kinds of the user's active authenticators, sorted. */
  methods: AuthenticatorKind[];
  /** E.164 phone numbers of the user's active authenticators that have one (issue 5.10), distinct, sorted. */
  phones: string[];
  /** When the seat was taken. */
  enrolledAt: number;
  /** The latest use of any of the user's authenticators; null when never used. */
  lastUsedAt: number | null;
}

/** Sorted, so the flags below come out as a sorted list. */
const METHODS: readonly AuthenticatorKind[] = [...AUTHENTICATOR_KINDS].sort();

/**
 * The enrolled users of one firm: everyone holding a seat (src/subscriptions/seat.service.ts),
 * ordered by name and id, searchable by name, email or organisation.
 *
 * Built to stay fast at 100,000 seats (measured on SQLite, see the 0003 migration):
 *  - the page is chosen first, as ids only ("deferred join"): the firm's users walked in
 *    (firm_id, name, id) index order, kept when they hold a seat, LIMIT/OFFSET; so page 1
 *    reads about 20 index entries and no row is sorted;
 *  - only those ids are joined to their seat, firm, corporation and authenticators, and the
 *    methods aggregated as one max(case ...) flag per kind, which reads the same on SQLite
 *    and PostgreSQL (no group_concat/string_agg to choose between);
 *  - the phone numbers of the page's users come from one more query keyed by those ids
 *    (a list per user has no portable aggregate either);
 *  - a search starts from the ids trigram indexes give (src/directory/user-search.ts), and
 *    tests the (few) corporations and the firm once each, not once per user;
 *  - without a search the total is the firm's seat count, read from the seats index.
 */
export async function listEnrolled(
  db: DbOrTx,
  firmId: string,
  query: { q?: string; page?: number; pageSize?: number },
): Promise<PageOf<EnrolledUserView>> {
  const page = query.page ?? 1;
  const pageSize = query.pageSize ?? 20;
  const q = query.q?.trim();

  const enrolled = (await searchedUsers(db, q, { firmId, firmNameForStaff: true }))
    .where('users.firm_id', '=', firmId)
    // The seat is looked up by its key only (the user is already this firm's), which the
    // primary-key index answers without reading the row; the join below checks its firm.
    .where((eb) => eb.exists(eb.selectFrom('seats').select('seats.user_id').whereRef('seats.user_id', '=', 'users.id')));
  const counted = q
    ? enrolled.select((eb) => eb.fn.countAll<number | string>().as('total'))
    : db.selectFrom('seats').where('seats.firm_id', '=', firmId).select((eb) => eb.fn.countAll<number | string>().as('total'));
  const total = Number((await counted.executeTakeFirstOrThrow()).total);
  // A page past the end (or a search without matches) needs no second scan.
  if ((page - 1) * pageSize >= total) return { items: [], total, page, pageSize };

  const pageIds = enrolled
    .select('users.id')
    .orderBy('users.name')
    .orderBy('users.id')
    .limit(pageSize)
    .offset((page - 1) * pageSize)
    .as('p');

  const rows = await db
    .selectFrom(pageIds)
    // CROSS JOIN + the id condition: the same inner join, but SQLite keeps the page's ids as
    // the outer loop (it may otherwise start from the firm's seats and probe the page).
    .crossJoin('users')
    .whereRef('users.id', '=', 'p.id')
    .innerJoin('seats', (j) => j.onRef('seats.user_id', '=', 'users.id').on('seats.firm_id', '=', firmId))
    .innerJoin('firms', 'firms.id', 'users.firm_id')
    .leftJoin('corporations', 'corporations.id', 'users.corporation_id')
    .leftJoin('authenticators as a', (j) => j.onRef('a.user_id', '=', 'users.id').on('a.firm_id', '=', firmId).on('a.status', '=', 'active'))
    .select(['users.id', 'users.name', 'users.email', 'users.kind', 'seats.taken_at', 'corporations.name as corporation_name', 'firms.name as firm_name'])
    .select((eb) => [
      ...METHODS.map((kind) => eb.fn.max(eb.case().when('a.kind', '=', kind).then(1).else(0).end()).as(`has_${kind}`)),
      eb.fn.max('a.last_used_at').as('last_used_at'),
    ])
    .groupBy(['users.id', 'users.name', 'users.email', 'users.kind', 'seats.taken_at', 'corporations.name', 'firms.name'])
    .orderBy('users.name')
    .orderBy('users.id')
    .execute();

  const phones = await phonesOf(db, firmId, rows.map((r) => r.id));
  const items = rows.map((r) => {
    const flags = r as unknown as Record<string, number | string | null>;
    return {
      userId: r.id,
      name: r.name,
      email: r.email,
      kind: r.kind,
      organisation: r.corporation_name ?? r.firm_name,
      methods: METHODS.filter((kind) => Number(flags[`has_${kind}`] ?? 0) === 1),
      phones: phones.get(r.id) ?? [],
      enrolledAt: Number(r.taken_at),
      lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at),
    };
  });
  return { items, total, page, pageSize };
}

/** The distinct phone numbers of the active authenticators of these users of this firm, sorted, by user. */
async function phonesOf(db: DbOrTx, firmId: string, userIds: string[]): Promise<Map<string, string[]>> {
  const byUser = new Map<string, string[]>();
  if (userIds.length === 0) return byUser;
  const rows = await db
    .selectFrom('authenticators')
    .select(['user_id', 'phone_e164'])
    .distinct()
    .where('firm_id', '=', firmId)
    .where('user_id', 'in', userIds)
    .where('status', '=', 'active')
    .where('phone_e164', 'is not', null)
    .$narrowType<{ user_id: string }>()
    .orderBy('user_id')
    .orderBy('phone_e164')
    .execute();
  for (const r of rows) {
    const list = byUser.get(r.user_id) ?? [];
    list.push(r.phone_e164!);
    byUser.set(r.user_id, list);
  }
  return byUser;
}
