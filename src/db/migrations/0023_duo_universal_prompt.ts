import { sql, type Kysely } from 'kysely';

// Issue 15 item 4 (Duo Web SDK v4, the Universal Prompt):
//
// - duo_prompts: one Universal Prompt login, from /oauth/v1/authorize to /oauth/v1/token. Bound
//   to the browser that opened it (browser_hash: SHA-256 of an HttpOnly cookie's token), to the
//   application, and to the request's redirect_uri, state and nonce. Its result (Duo's
//   auth_result and what auth_context reports) is written once, by a conditional UPDATE, and its
//   single-use authorization code (code_hash: SHA-256 of the duo_code; 60 s) taken once. Rows
//   live in the database so any node answers any step; housekeeping prunes them after expiry.
// - duo_client_assertions: the `jti` of every client_assertion JWT accepted (health_check,
//   token), per application, until the assertion expires: a replayed assertion is refused.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('duo_prompts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('browser_hash', 'text', (c) => c.notNull())
    .addColumn('firm_id', 'text', (c) => c.notNull().references('firms.id').onDelete('cascade'))
    .addColumn('application_id', 'text', (c) => c.notNull().references('applications.id').onDelete('cascade'))
    // Null for a username Tessera does not know (the new user policy decided).
    .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
    // The username as the application sent it (duo_uname): the ID token's preferred_username.
    .addColumn('username', 'text', (c) => c.notNull())
    // The prompt's login attempt (no foreign key: the row outlives its attempt).
    .addColumn('attempt_id', 'text')
    .addColumn('push_id', 'text')
    .addColumn('redirect_uri', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('nonce', 'text')
    .addColumn('use_duo_code_attribute', 'integer', (c) => c.notNull())
    // 'second_factor' | 'enroll' | 'done'
    .addColumn('stage', 'text', (c) => c.notNull().check(sql`stage in ('second_factor', 'enroll', 'done')`))
    // 'waiting' | 'allow' | 'deny', with Duo's status and status_msg, and what auth_context reports.
    .addColumn('result', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('status_msg', 'text', (c) => c.notNull())
    .addColumn('factor', 'text')
    .addColumn('reason', 'text')
    .addColumn('auth_device', 'text')
    .addColumn('ip', 'text')
    .addColumn('auth_time', 'bigint')
    .addColumn('code_hash', 'text', (c) => c.unique())
    .addColumn('code_expires_at', 'bigint')
    .addColumn('code_used_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('duo_prompts_expiry_idx').on('duo_prompts').column('expires_at').execute();

  await db.schema
    .createTable('duo_client_assertions')
    .addColumn('application_id', 'text', (c) => c.notNull().references('applications.id').onDelete('cascade'))
    .addColumn('jti', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('duo_client_assertions_pk', ['application_id', 'jti'])
    .execute();
  await db.schema.createIndex('duo_client_assertions_expiry_idx').on('duo_client_assertions').column('expires_at').execute();
}

export async function down(): Promise<void> {
  throw new Error('Tessera migrations only go forward.');
}
