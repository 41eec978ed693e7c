import type { Kysely } from 'kysely';

// The Tessera Authenticator and push approvals (issue 5, reference 1.2 to 1.4): enrolled
// devices and their keys, single-use activation codes, push transactions, the server's own
// keys (VAPID), the fraud pause, and the firm's push settings.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('push_devices')
    .addColumn('authenticator_id', 'text', (c) => c.primaryKey().references('authenticators.id').onDelete('cascade'))
    // The device's P-256 public key (JWK JSON); every device request and answer is signed with its private half.
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('platform', 'text')
    // The browser's PushSubscription (JSON) when the app subscribed to Web Push.
    .addColumn('web_push', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_seen_at', 'bigint')
    .execute();

  await db.schema
    .createTable('device_activations')
    // sha256 of the activation code (base64url): the code itself is only in the QR code and the link.
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('firm_id', 'text', (c) => c.notNull().references('firms.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('authenticator_id', 'text', (c) => c.notNull().references('authenticators.id').onDelete('cascade'))
    // The session that began the enrollment: only it may finish the login with this device.
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .addColumn('first_enrollment', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('completed_at', 'bigint')
    .execute();
  await db.schema.createIndex('device_activations_authenticator_idx').on('device_activations').column('authenticator_id').execute();

  await db.schema
    .createTable('push_transactions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('firm_id', 'text', (c) => c.notNull().references('firms.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    // The login waiting for the answer (sessions.id); no foreign key: the row outlives the pending session.
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('number', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('answered_at', 'bigint')
    .addColumn('answered_by', 'text')
    // When the waiting login took the outcome (success or counted failure): exactly once.
    .addColumn('completed_at', 'bigint')
    .addColumn('ip', 'text')
    .addColumn('user_agent', 'text')
    .addColumn('context', 'text', (c) => c.notNull().defaultTo('{}'))
    .execute();
  await db.schema.createIndex('push_transactions_user_idx').on('push_transactions').columns(['user_id', 'created_at']).execute();

  await db.schema
    .createTable('server_keys')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema.alterTable('users').addColumn('push_paused_until', 'bigint').execute();

  await db.schema.alterTable('mfa_settings').addColumn('push_number_digits', 'integer', (c) => c.notNull().defaultTo(6)).execute();
  await db.schema.alterTable('mfa_settings').addColumn('push_max_per_window', 'integer', (c) => c.notNull().defaultTo(5)).execute();
  await db.schema.alterTable('mfa_settings').addColumn('push_window_minutes', 'integer', (c) => c.notNull().defaultTo(15)).execute();
}

export async function down(): Promise<void> {
  throw new Error('Tessera migrations only go forward.');
}
