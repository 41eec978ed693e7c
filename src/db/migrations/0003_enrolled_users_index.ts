import type { Kysely } from 'kysely';

// Enrolled Users (A.2.5) lists a firm's users ordered by name and id, and must stay fast at
// 100,000 enrolled users. Without this index SQLite sorted every enrolled user of the firm
// for each page (EXPLAIN QUERY PLAN: "USE TEMP B-TREE FOR ORDER BY", ~0.5 s a page at 100k);
// with it the page's ids come straight off the index in order. The users list of the
// directory (same order) uses it too.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('users_firm_name_idx').on('users').columns(['firm_id', 'name', 'id']).execute();
}

export async function down(): Promise<void> {
  throw new Error('Tessera migrations only go forward.');
}
