import { sql, type Kysely } from 'kysely';

// MFA subscription, configuration, authenticators, seats and background jobs (issue 3).

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('subscriptions')
    .addColumn('firm_id', 'text', (c) => c.primaryKey().references('firms.id').onDelete('cascade'))
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('plan_name', 'text')
    .addColumn('licence_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('seats_used', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('starts_at', 'bigint')
    .addColumn('ends_at', 'bigint')
    .addColumn('requested_at', 'bigint', (c) => c.notNull())
    .addColumn('activated_at', 'bigint')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('requested_licences', 'integer')
    .addColumn('licences_requested_at', 'bigint')
    .addColumn('alert_80_sent', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('alert_100_sent', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('bypass_logins', 'integer', (c) => c.notNull().defaultTo(0))
    .addCheckConstraint('subscriptions_seats_within_licences', sql`seats_used >= 0 and seats_used <= licence_count`)
    .execute();

  await db.schema
    .createTable('mfa_settings')
    .addColumn('firm_id', 'text', (c) => c.primaryKey().references('firms.id').onDelete('cascade'))
    .addColumn('case_managers', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('vendor_case_managers', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('corporation_scope', 'text', (c) => c.notNull().defaultTo('all'))
    .addColumn('all_corp_users', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('all_foreign_nationals', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('mfa_corporations')
    .addColumn('corporation_id', 'text', (c) => c.primaryKey().references('corporations.id').onDelete('cascade'))
    .addColumn('firm_id', 'text', (c) => c.notNull().references('firms.id').onDelete('cascade'))
    .addColumn('corp_users', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('foreign_nationals', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('added_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('mfa_corporations_firm_idx').on('mfa_corporations').column('firm_id').execute();

  await db.schema
    .createTable('authenticators')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('firm_id', 'text', (c) => c.notNull().references('firms.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('label', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('confirmed_at', 'bigint')
    .addColumn('last_used_at', 'bigint')
    .execute();
  await db.schema.createIndex('authenticators_user_idx').on('authenticators').columns(['user_id', 'status']).execute();

  // No cascade from users: a seat must be released through the seat service, which keeps
  // subscriptions.seats_used in step; deleting a user who still holds one fails loudly.
  await db.schema
    .createTable('seats')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id'))
    .addColumn('firm_id', 'text', (c) => c.notNull().references('firms.id').onDelete('cascade'))
    .addColumn('taken_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('seats_firm_idx').on('seats').columns(['firm_id', 'taken_at']).execute();

  await db.schema.alterTable('users').addColumn('mfa_notified_at', 'bigint').execute();

  await db.schema
    .createTable('jobs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('firm_id', 'text', (c) => c.references('firms.id').onDelete('cascade'))
    .addColumn('payload', 'text', (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('run_at', 'bigint', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('finished_at', 'bigint')
    .execute();
  await db.schema.createIndex('jobs_due_idx').on('jobs').columns(['status', 'run_at']).execute();
}

export async function down(): Promise<void> {
  throw new Error('Tessera migrations only go forward.');
}
