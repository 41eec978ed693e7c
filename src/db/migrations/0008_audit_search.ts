import type { Kysely } from 'kysely';
import { classify, parseDetails } from '../../audit/audit.catalogue.js';

// The audit log screens (issue 8.1): a firm's events filtered by time, user, event type,
// result, factor and "needs attention", newest first, on both databases.
//
// result, factor and attention are derived from the event and its details by the catalogue
// (src/audit/audit.catalogue.ts). audit() stores them with every new row; the rows written
// before this migration get them here, in batches, from the same catalogue. They are stored,
// not computed in SQL, because the factor of many events lives in their JSON details, which
// SQLite and PostgreSQL read differently and no index could serve.
//
// Indexes, each led by firm_id (every firm query filters on it first) and ending in `at`, so
// a page comes off the index newest first and stops after the page's rows:
//   attention  - the one-click "Needs attention" filter;
//   event      - one event type;
//   subject_id, actor_id - one user's events (what was done to them, what they did);
//   actor_type - the operator's platform log: firm_id IS NULL (audit_events_firm_at_idx of
//                0001) OR actor_type = 'operator'.
// Result and factor filters ride on the (firm_id, at) index of 0001: each narrows one of the
// indexed lists, and on its own walks the firm's events in time order.

const BATCH = 1000;

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('audit_events').addColumn('result', 'text', (c) => c.notNull().defaultTo('success')).execute();
  await db.schema.alterTable('audit_events').addColumn('factor', 'text').execute();
  await db.schema.alterTable('audit_events').addColumn('attention', 'integer', (c) => c.notNull().defaultTo(0)).execute();

  await backfill(db);

  const index = (name: string, columns: string[]) => db.schema.createIndex(name).on('audit_events').columns(columns).execute();
  await index('audit_events_firm_attention_idx', ['firm_id', 'attention', 'at']);
  await index('audit_events_firm_event_idx', ['firm_id', 'event', 'at']);
  await index('audit_events_firm_subject_idx', ['firm_id', 'subject_id', 'at']);
  await index('audit_events_firm_actor_idx', ['firm_id', 'actor_id', 'at']);
  await index('audit_events_actor_type_idx', ['actor_type', 'at']);
}

/** Classifies every row with the catalogue, in batches of 1,000 by id; rows that keep the defaults are not written. Exported for its test. */
export async function backfill(db: Kysely<any>): Promise<void> {
  let after = 0;
  for (;;) {
    const rows: { id: number | string; event: string; details: string }[] = await db
      .selectFrom('audit_events')
      .select(['id', 'event', 'details'])
      .where('id', '>', after)
      .orderBy('id')
      .limit(BATCH)
      .execute();
    if (rows.length === 0) break;
    // Rows that differ from the column defaults, grouped by what they get: one UPDATE per group.
    const groups = new Map<string, { set: { result: string; factor: string | null; attention: number }; ids: number[] }>();
    for (const row of rows) {
      const c = classify(row.event, parseDetails(row.details));
      const set = { result: c.result, factor: c.factor, attention: c.attention ? 1 : 0 };
      if (set.result === 'success' && set.factor === null && set.attention === 0) continue;
      const key = JSON.stringify(set);
      const group = groups.get(key) ?? { set, ids: [] };
      group.ids.push(Number(row.id));
      groups.set(key, group);
    }
    for (const { set, ids } of groups.values()) await db.updateTable('audit_events').set(set).where('id', 'in', ids).execute();
    after = Number(rows[rows.length - 1]!.id);
  }
}

export async function down(): Promise<void> {
  throw new Error('Tessera migrations only go forward.');
}
