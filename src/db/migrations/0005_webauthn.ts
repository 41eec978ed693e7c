import type { Kysely } from 'kysely';

// Security keys and passkeys (issue 6, reference section 2): WebAuthn credentials, their
// server-side challenges, and the firm's passkey switch.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('webauthn_credentials')
    .addColumn('authenticator_id', 'text', (c) => c.primaryKey().references('authenticators.id').onDelete('cascade'))
    // base64url of the raw id; unique across every user and firm (an id is the key's, not the account's)
    .addColumn('credential_id', 'text', (c) => c.notNull())
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('counter', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('transports', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('aaguid', 'text', (c) => c.notNull())
    .addColumn('backed_up', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('discoverable', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('webauthn_credentials_credential_id_key').on('webauthn_credentials').column('credential_id').unique().execute();

  await db.schema
    .createTable('webauthn_challenges')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('purpose', 'text', (c) => c.notNull())
    // The session the ceremony belongs to (sessions.id, the token hash); null for a passkey login.
    // No foreign key: a challenge may outlive the pending session it was answered in.
    .addColumn('session_id', 'text')
    .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
    .addColumn('firm_id', 'text', (c) => c.references('firms.id').onDelete('cascade'))
    .addColumn('challenge', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .execute();
  await db.schema.createIndex('webauthn_challenges_session_idx').on('webauthn_challenges').columns(['session_id', 'challenge']).execute();
  await db.schema.createIndex('webauthn_challenges_expiry_idx').on('webauthn_challenges').column('expires_at').execute();

  await db.schema.alterTable('mfa_settings').addColumn('passkeys_enabled', 'integer', (c) => c.notNull().defaultTo(0)).execute();
}

export async function down(): Promise<void> {
  throw new Error('Tessera migrations only go forward.');
}
