import { sql, type Kysely } from 'kysely';

// Issue 15 item 6: the Usage section counts logins per application.
//
// - login_counts: one row per firm, application and UTC day, incremented in the transaction of
//   the login it counts (src/core/login-counts.ts), so the counts never disagree with what
//   happened and reading a period is a scan of at most (applications + 1) x days rows of the
//   primary key (firm, day, application), whatever the number of logins. The audit log keeps
//   every login too, but counting it for a period would read every row of the period.
//   application_key: the application's id, or '' for Tessera's own sign-in (a key column, so
//   the upsert's conflict target has no NULL in it). No foreign key: a deleted application's
//   rows stay as history and are not shown.
// - sessions.mfa_bypassed: 1 when the session's login went through on the password alone
//   because no licence was free (the no-seat bypass), so an OpenID Connect application that
//   signs the user in with the session counts that login as a bypass too.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('login_counts')
    .addColumn('firm_id', 'text', (c) => c.notNull().references('firms.id').onDelete('cascade'))
    .addColumn('day', 'integer', (c) => c.notNull())
    .addColumn('application_key', 'text', (c) => c.notNull())
    .addColumn('logins', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('second_factor', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('bypass', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('login_counts_pk', ['firm_id', 'day', 'application_key'])
    .addCheckConstraint('login_counts_parts', sql`second_factor + bypass <= logins`)
    .execute();
  await db.schema.alterTable('sessions').addColumn('mfa_bypassed', 'integer', (c) => c.notNull().defaultTo(0)).execute();
}

export async function down(): Promise<void> {
  throw new Error('Tessera migrations only go forward.');
}
