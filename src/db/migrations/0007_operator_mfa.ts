import { sql, type Kysely } from 'kysely';
import { isPostgres } from '../database.js';

// The operator's own second factor (issue 8.6). Authenticators and backup codes belong to a
// firm user OR to a platform operator: one set of factor tables and one code path for both
// (the TOTP secrets, WebAuthn credentials and their unique credential id are shared), rather
// than a parallel set of operator tables. Exactly one owner per row (CHECK). Operators get
// the users' lockout counter. No seat (operators belong to no firm) and no push device.
//
// SQLite cannot drop a NOT NULL constraint, so the two tables are rebuilt by its documented
// procedure (new table, copy, drop, rename); migrate.ts runs SQLite migrations with foreign
// keys off and checks them before committing, so dropping `authenticators` does not cascade
// into its factor tables, which then refer to the rebuilt table by name.

const OWNER_CHECK = sql`(operator_id is null and user_id is not null and firm_id is not null) or (operator_id is not null and user_id is null and firm_id is null)`;

export async function up(db: Kysely<any>): Promise<void> {
  if (isPostgres(db)) {
    for (const table of ['authenticators', 'backup_codes']) {
      await db.schema
        .alterTable(table)
        .addColumn('operator_id', 'text', (c) => c.references('operators.id').onDelete('cascade'))
        .execute();
      await db.schema.alterTable(table).alterColumn('firm_id', (c) => c.dropNotNull()).execute();
      await db.schema.alterTable(table).alterColumn('user_id', (c) => c.dropNotNull()).execute();
      await db.schema.alterTable(table).addCheckConstraint(`${table}_one_owner`, OWNER_CHECK).execute();
    }
  } else {
    await db.schema
      .createTable('authenticators_new')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('firm_id', 'text', (c) => c.references('firms.id').onDelete('cascade'))
      .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
      .addColumn('operator_id', 'text', (c) => c.references('operators.id').onDelete('cascade'))
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('label', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('confirmed_at', 'bigint')
      .addColumn('last_used_at', 'bigint')
      .addColumn('phone_e164', 'text')
      .addCheckConstraint('authenticators_one_owner', OWNER_CHECK)
      .execute();
    await sql`insert into authenticators_new (id, firm_id, user_id, kind, label, status, created_at, confirmed_at, last_used_at, phone_e164)
      select id, firm_id, user_id, kind, label, status, created_at, confirmed_at, last_used_at, phone_e164 from authenticators`.execute(db);
    await db.schema.dropTable('authenticators').execute();
    await db.schema.alterTable('authenticators_new').renameTo('authenticators').execute();
    await db.schema.createIndex('authenticators_user_idx').on('authenticators').columns(['user_id', 'status']).execute();

    await db.schema
      .createTable('backup_codes_new')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('firm_id', 'text', (c) => c.references('firms.id').onDelete('cascade'))
      .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
      .addColumn('operator_id', 'text', (c) => c.references('operators.id').onDelete('cascade'))
      .addColumn('code_hash', 'text', (c) => c.notNull())
      .addColumn('key_id', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('used_at', 'bigint')
      .addCheckConstraint('backup_codes_one_owner', OWNER_CHECK)
      .execute();
    await sql`insert into backup_codes_new (id, firm_id, user_id, code_hash, key_id, created_at, used_at)
      select id, firm_id, user_id, code_hash, key_id, created_at, used_at from backup_codes`.execute(db);
    await db.schema.dropTable('backup_codes').execute();
    await db.schema.alterTable('backup_codes_new').renameTo('backup_codes').execute();
    await db.schema.createIndex('backup_codes_user_idx').on('backup_codes').column('user_id').execute();
  }
  await db.schema.createIndex('authenticators_operator_idx').on('authenticators').columns(['operator_id', 'status']).execute();
  await db.schema.createIndex('backup_codes_operator_idx').on('backup_codes').column('operator_id').execute();

  // The lockout counter of issue 4.5, for operators (users have it since 0004).
  await db.schema.alterTable('operators').addColumn('mfa_failed_count', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('operators').addColumn('mfa_locked_until', 'bigint').execute();

  // Operator sessions opened with a password alone end here: the next login asks for the second factor.
  await db.deleteFrom('sessions').where('principal', '=', 'operator').execute();
}

export async function down(): Promise<void> {
  throw new Error('Tessera migrations only go forward.');
}
