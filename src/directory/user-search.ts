import { sql, type SelectQueryBuilder } from 'kysely';
import { containsText } from '../db/constraints.js';
import { isPostgres, type Database, type DbOrTx } from '../db/database.js';

/** Trigram indexes answer needles of at least this many characters; shorter ones scan. */
export const TRIGRAM_MIN_CHARS = 3;
/** SQLite: above this many candidates a search is "broad" and the ordered scan is the faster plan. */
export const SELECTIVE_MAX = 2000;

type UsersQuery = SelectQueryBuilder<Database, 'users', object>;

/**
 * The users a search for `q` finds, as a query on `users` to which the caller adds its firm
 * filter, joins and order: name or email contains q, or their corporation's name does, or (with
 * `firmNameForStaff`) they are staff (no corporation) and the firm's own name does; always
 * case-insensitive, with % and _ taken literally (containsText). Without q: every user.
 *
 * The results are exactly the scan's; only the plan differs, to stay fast at 100,000 users of
 * one firm (migration 0009, issue 7 scenario 6):
 *  - the (few) matching corporations, and whether the firm's name matches, are read first,
 *    so that the query holds only the arms that can find anyone (and the planner does not
 *    expect "every staff member" from an arm that finds nobody);
 *  - PostgreSQL: the ids are a UNION of index-served sets: the same LIKE on lower(name) and
 *    lower(email), which the pg_trgm GIN indexes serve (PostgreSQL rechecks), the users of the
 *    matching corporations (users_corporation_idx), the staff when the firm's name matches;
 *  - SQLite, needle of 3+ characters: the FTS5 trigram table gives the candidates of name and
 *    email, and the LIKE of the scan is then tested on them (the FTS also folds non-ASCII case,
 *    which SQLite's lower() does not: the LIKE throws those extras out). SQLite has no
 *    statistics here and would walk the firm's users anyway, so the candidate set is put first
 *    with CROSS JOIN (SQLite keeps that join order). That wins while the matches are few; a
 *    broad search (more than SELECTIVE_MAX candidates, e.g. the firm's mail domain) is
 *    cheaper as the ordered scan below, so a bounded first look (LIMIT, streamed) decides;
 *  - SQLite, shorter needles (no trigram) and broad searches: one walk of the firm's users in
 *    (firm, name, id) index order testing each, as before.
 */
export async function searchedUsers(db: DbOrTx, q: string | undefined, o: { firmId: string; firmNameForStaff: boolean }): Promise<UsersQuery> {
  const text = q?.trim();
  const users: UsersQuery = db.selectFrom('users');
  if (!text) return users;
  const corporations = (
    await db.selectFrom('corporations').select('corporations.id').where('corporations.firm_id', '=', o.firmId).where(containsText('corporations.name', text)).execute()
  ).map((c) => c.id);
  // Staff belong to the firm itself: its name is their organisation.
  const staff =
    o.firmNameForStaff &&
    (await db.selectFrom('firms').select('firms.id').where('firms.id', '=', o.firmId).where(containsText('firms.name', text)).executeTakeFirst()) !== undefined;

  const fts = !isPostgres(db) && [...text.toLowerCase()].length >= TRIGRAM_MIN_CHARS;
  if (isPostgres(db) || fts) {
    let byText = db.selectFrom('users').select('users.id').where((eb) => eb.or([containsText('users.name', text), containsText('users.email', text)]));
    if (fts) {
      byText = byText.where(
        'users.id',
        'in',
        sql<string>`(select s.user_id from users_fts join user_search_rowids s on s.rid = users_fts.rowid where users_fts match ${ftsPhrase(text)})`,
      );
    }
    const arms = [
      byText,
      ...(corporations.length ? [db.selectFrom('users').select('users.id').where('users.corporation_id', 'in', corporations)] : []),
      ...(staff ? [db.selectFrom('users').select('users.id').where('users.corporation_id', 'is', null)] : []),
    ];
    if (isPostgres(db)) return users.where('users.id', 'in', arms.reduce((a, b) => a.union(b)));

    const first = arms.reduce((a, b) => a.unionAll(b));
    const { n } = await db.selectFrom(first.limit(SELECTIVE_MAX + 1).as('c')).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    if (Number(n) <= SELECTIVE_MAX) {
      // The extra table `m` is only joined on the id: the caller's query stays one on users.
      return db
        .selectFrom(arms.reduce((a, b) => a.union(b)).as('m'))
        .crossJoin('users')
        .whereRef('users.id', '=', 'm.id') as unknown as UsersQuery;
    }
  }
  return users.where((eb) =>
    eb.or([
      containsText('users.name', text),
      containsText('users.email', text),
      ...(corporations.length ? [eb('users.corporation_id', 'in', corporations)] : []),
      ...(staff ? [eb('users.corporation_id', 'is', null)] : []),
    ]),
  );
}

/**
 * An FTS5 query that matches the text as one substring: a quoted string (inside it only `"`
 * is special, written twice), which the trigram tokenizer turns into its trigrams in order.
 * Lowercased like the LIKE's needle.
 */
export const ftsPhrase = (text: string) => `"${text.toLowerCase().replace(/"/g, '""')}"`;
