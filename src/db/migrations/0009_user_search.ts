import { sql, type Kysely } from 'kysely';
import { isPostgres } from '../database.js';

// Searching users by name or email ("contains", case-insensitive) at 100,000 users of one firm
// (issue 7, scenario 6). A LIKE '%q%' cannot use a B-tree index, so each search read every user
// of the firm. Substrings need a trigram index; src/directory/user-search.ts uses it, and
// always keeps the LIKE as the final test, so the results are exactly those of the scan.
//
// SQLite: an FTS5 table with the `trigram` tokenizer (SQLite >= 3.34; better-sqlite3 bundles its
// own SQLite, so it is always there) over name and email, kept in sync by triggers on users.
// Its rowid is not the users table's rowid (VACUUM may renumber implicit rowids): the small
// table user_search_rowids gives every user a stable INTEGER PRIMARY KEY for its FTS row.
//
// PostgreSQL: pg_trgm GIN indexes on lower(name) and lower(email), which the very same LIKE uses.
// pg_trgm ships with PostgreSQL (contrib) and is a trusted extension (a database owner may
// create it). It goes into the schema `public` when it can, so that dropping one schema of a
// shared database (tests give each file one) does not drop it for the others. When the
// extension cannot be created (not installed, no privilege) the migration still succeeds
// without the indexes: search then scans, with the same results, and a warning says why.

export async function up(db: Kysely<any>): Promise<void> {
  if (isPostgres(db)) return upPostgres(db);

  try {
    await sql`create virtual table users_fts using fts5(name, email, tokenize = 'trigram')`.execute(db);
  } catch (err) {
    throw new Error(`This SQLite has no FTS5 trigram tokenizer (SQLite 3.34 or later is needed): ${String(err)}`);
  }
  await sql`create table user_search_rowids (rid integer primary key, user_id text not null unique)`.execute(db);
  await sql`insert into user_search_rowids (user_id) select id from users order by rowid`.execute(db);
  await sql`insert into users_fts (rowid, name, email) select s.rid, u.name, u.email from user_search_rowids s join users u on u.id = s.user_id`.execute(db);
  await sql`
    create trigger users_search_insert after insert on users begin
      insert into user_search_rowids (user_id) values (new.id);
      insert into users_fts (rowid, name, email) values ((select rid from user_search_rowids where user_id = new.id), new.name, new.email);
    end`.execute(db);
  await sql`
    create trigger users_search_update after update of id, name, email on users begin
      update user_search_rowids set user_id = new.id where user_id = old.id;
      update users_fts set name = new.name, email = new.email where rowid = (select rid from user_search_rowids where user_id = new.id);
    end`.execute(db);
  // Also fires for users deleted by ON DELETE CASCADE (a firm removed).
  await sql`
    create trigger users_search_delete after delete on users begin
      delete from users_fts where rowid = (select rid from user_search_rowids where user_id = old.id);
      delete from user_search_rowids where user_id = old.id;
    end`.execute(db);
}

async function upPostgres(db: Kysely<any>): Promise<void> {
  const schema = await trigramSchema(db);
  if (!schema) {
    console.warn('Tessera: the PostgreSQL extension pg_trgm could not be created; user search works without its index (slower on large firms).');
    return;
  }
  const ops = sql.raw(`${quoteIdent(schema)}.gin_trgm_ops`);
  // fastupdate off: a new user goes straight into the index. With the default, inserts wait in
  // the index's pending list, which every search reads linearly until (auto)vacuum merges it:
  // after a bulk import of 100,000 users a search took 60 ms instead of 1.4 ms. Users are
  // added far less often than they are searched.
  await sql`create index users_name_trgm_idx on users using gin (lower(name) ${ops}) with (fastupdate = off)`.execute(db);
  await sql`create index users_email_trgm_idx on users using gin (lower(email) ${ops}) with (fastupdate = off)`.execute(db);
}

/** The schema pg_trgm is installed in, installing it if needed (in `public` if possible); null when it cannot be. */
async function trigramSchema(db: Kysely<any>): Promise<string | null> {
  const installed = async () =>
    (await sql<{ schema: string }>`select n.nspname as schema from pg_extension e join pg_namespace n on n.oid = e.extnamespace where e.extname = 'pg_trgm'`.execute(db)).rows[0]
      ?.schema ?? null;
  const found = await installed();
  if (found) return found;
  for (const create of [sql`create extension if not exists pg_trgm schema public`, sql`create extension if not exists pg_trgm`]) {
    // The migration runs in a transaction: a failed statement must not abort it.
    await sql`savepoint pg_trgm`.execute(db);
    try {
      await create.execute(db);
      await sql`release savepoint pg_trgm`.execute(db);
      return installed();
    } catch {
      await sql`rollback to savepoint pg_trgm`.execute(db);
      // Another process may have created it at the same moment.
      const now = await installed();
      if (now) return now;
    }
  }
  return null;
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

export async function down(): Promise<void> {
  throw new Error('Tessera migrations only go forward.');
}
