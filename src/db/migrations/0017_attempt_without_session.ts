import { sql, type Kysely } from 'kysely';
import { isPostgres } from '../database.js';

// Issue 13 item 2: a login attempt need not have a web session (the Duo door opens attempts with
// no browser, a txid; the OIDC door inside an interaction), so a push transaction and a device
// activation no longer require one: `session_id` becomes NULL-able (kept as a record of the web
// door's session where there is one; the binding is `attempt_id`, 0016). Nothing is deleted.
//
// SQLite cannot drop a NOT NULL constraint, so both tables are rebuilt by its documented procedure
// (new table, copy, drop, rename, indexes again), as 0007 did; migrate.ts runs SQLite migrations
// with foreign keys off and checks them all before committing.

export async function up(db: Kysely<any>): Promise<void> {
  if (isPostgres(db)) {
    await db.schema.alterTable('push_transactions').alterColumn('session_id', (c) => c.dropNotNull()).execute();
    await db.schema.alterTable('device_activations').alterColumn('session_id', (c) => c.dropNotNull()).execute();
    return;
  }

  await db.schema
    .createTable('device_activations_new')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('firm_id', 'text', (c) => c.notNull().references('firms.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('authenticator_id', 'text', (c) => c.notNull().references('authenticators.id').onDelete('cascade'))
    .addColumn('session_id', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .addColumn('first_enrollment', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('completed_at', 'bigint')
    .addColumn('attempt_id', 'text')
    .execute();
  await sql`insert into device_activations_new (id, firm_id, user_id, authenticator_id, session_id, created_at, expires_at, used_at, first_enrollment, completed_at, attempt_id)
    select id, firm_id, user_id, authenticator_id, session_id, created_at, expires_at, used_at, first_enrollment, completed_at, attempt_id from device_activations`.execute(db);
  await db.schema.dropTable('device_activations').execute();
  await db.schema.alterTable('device_activations_new').renameTo('device_activations').execute();
  await db.schema.createIndex('device_activations_authenticator_idx').on('device_activations').column('authenticator_id').execute();

  await db.schema
    .createTable('push_transactions_new')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('firm_id', 'text', (c) => c.notNull().references('firms.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('session_id', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('number', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('answered_at', 'bigint')
    .addColumn('answered_by', 'text')
    .addColumn('completed_at', 'bigint')
    .addColumn('ip', 'text')
    .addColumn('user_agent', 'text')
    .addColumn('context', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('attempt_id', 'text')
    .execute();
  await sql`insert into push_transactions_new (id, firm_id, user_id, session_id, status, number, created_at, expires_at, answered_at, answered_by, completed_at, ip, user_agent, context, attempt_id)
    select id, firm_id, user_id, session_id, status, number, created_at, expires_at, answered_at, answered_by, completed_at, ip, user_agent, context, attempt_id from push_transactions`.execute(db);
  await db.schema.dropTable('push_transactions').execute();
  await db.schema.alterTable('push_transactions_new').renameTo('push_transactions').execute();
  await db.schema.createIndex('push_transactions_user_idx').on('push_transactions').columns(['user_id', 'created_at']).execute();
}

export async function down(): Promise<void> {
  throw new Error('Tessera migrations only go forward.');
}
