import { sql, type Kysely } from 'kysely';

// Issue 15 items 1-3 (Duo Auth API v2 on the authentication core):
//
// - users.username_alias: the optional username a Duo-integrated application knows the user by
//   (Duo's "username alias"). A Duo call's username matches a user of the application's firm by
//   address or by this alias, both regardless of case, so an alias is unique in its firm (lower
//   case) and is never the address of another user (checked by the service).
// - duo_transactions: what a Duo txid stands for. A verified push reserved at preauth (the
//   number the application shows), and an /auth call's progress and result for /auth_status,
//   which outlive the login attempt (the attempt ends at completion; the answer must still be
//   read). Consumed and finished by conditional UPDATEs.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').addColumn('username_alias', 'text').execute();
  await db.schema.createIndex('users_firm_alias_unique').on('users').unique().expression(sql`firm_id, lower(username_alias)`).execute();

  await db.schema
    .createTable('duo_transactions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('firm_id', 'text', (c) => c.notNull().references('firms.id').onDelete('cascade'))
    .addColumn('application_id', 'text', (c) => c.notNull().references('applications.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    // 'verified_push': a number reserved at preauth for the next push; 'auth': an /auth call;
    // 'enroll_portal': the one-time enroll_portal_url of a preauth (id = SHA-256 of its token).
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('verified_push', 'auth', 'enroll_portal')`))
    // The login attempt of an /auth call (no foreign key: the row outlives its attempt).
    .addColumn('attempt_id', 'text')
    .addColumn('push_id', 'text')
    // verified_push: the number to type on the device.
    .addColumn('number', 'text')
    // 'waiting' | 'allow' | 'deny' (Duo's result), with Duo's status and status_msg.
    .addColumn('result', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('status_msg', 'text', (c) => c.notNull())
    // verified_push: when /auth took the reservation.
    .addColumn('used_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('duo_transactions_expiry_idx').on('duo_transactions').column('expires_at').execute();
}

export async function down(): Promise<void> {
  throw new Error('Tessera migrations only go forward.');
}
