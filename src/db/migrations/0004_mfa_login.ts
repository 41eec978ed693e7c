import type { Kysely } from 'kysely';

// MFA at login (issue 4): TOTP secrets, backup codes, remembered browsers, lockout, login policy.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('totp_authenticators')
    .addColumn('authenticator_id', 'text', (c) => c.primaryKey().references('authenticators.id').onDelete('cascade'))
    .addColumn('secret_enc', 'text', (c) => c.notNull())
    // The last accepted time step: a code of this step or an older one is a replay (RFC 6238 5.2).
    .addColumn('last_step', 'bigint')
    .execute();

  await db.schema.alterTable('authenticators').addColumn('phone_e164', 'text').execute();

  await db.schema
    .createTable('backup_codes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('firm_id', 'text', (c) => c.notNull().references('firms.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('code_hash', 'text', (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .execute();
  await db.schema.createIndex('backup_codes_user_idx').on('backup_codes').column('user_id').execute();

  await db.schema
    .createTable('remembered_browsers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('firm_id', 'text', (c) => c.notNull().references('firms.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('user_agent', 'text')
    .execute();
  await db.schema.createIndex('remembered_browsers_user_idx').on('remembered_browsers').column('user_id').execute();

  await db.schema.alterTable('users').addColumn('mfa_failed_count', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('users').addColumn('mfa_locked_until', 'bigint').execute();

  await db.schema.alterTable('sessions').addColumn('second_factor_at', 'bigint').execute();

  await db.schema.alterTable('mfa_settings').addColumn('lockout_threshold', 'integer', (c) => c.notNull().defaultTo(10)).execute();
  await db.schema.alterTable('mfa_settings').addColumn('lockout_minutes', 'integer', (c) => c.notNull().defaultTo(15)).execute();
  await db.schema.alterTable('mfa_settings').addColumn('remember_days', 'integer', (c) => c.notNull().defaultTo(0)).execute();
}

export async function down(): Promise<void> {
  throw new Error('Tessera migrations only go forward.');
}
