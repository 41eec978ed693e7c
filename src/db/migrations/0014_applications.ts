import { sql, type Kysely } from 'kysely';

// Applications (issue 14 item 1, issue 15 item 1): a firm's own systems that sign their users
// in through Tessera, as OpenID Connect clients or as Duo-compatible integrations (Auth API,
// Web SDK). One row per application; its secret (OIDC client secret or Duo secret key) is
// sealed with the master key (AES-256-GCM, the application id as AAD), never stored in clear:
// HMAC client authentication (client_secret_jwt, Duo's request signatures) needs the secret
// itself, so it cannot be hashed. A rotation keeps the previous secret, sealed too, valid
// until previous_expires_at (the grace period the superuser chose).

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('applications')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('firm_id', 'text', (c) => c.notNull().references('firms.id').onDelete('cascade'))
    // 'oidc' | 'duo_auth_api' | 'duo_web_sdk'
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    // The OIDC client_id, or the Duo integration key (ikey). What the doors look up, before any firm is known.
    .addColumn('client_id', 'text', (c) => c.notNull())
    // OIDC only: 'confidential' (a client secret) or 'public' (no secret, PKCE required). Null for Duo types.
    .addColumn('client_type', 'text')
    // OIDC only: how the client authenticates at the token endpoint: client_secret_basic (the
    // default), client_secret_post or client_secret_jwt for a confidential client; none for a public one.
    .addColumn('token_endpoint_auth_method', 'text')
    // JSON arrays of exact URIs.
    .addColumn('redirect_uris', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('post_logout_redirect_uris', 'text', (c) => c.notNull().defaultTo('[]'))
    // JSON array of user kinds who may sign in; null = every user of the firm.
    .addColumn('allowed_kinds', 'text')
    // Duo types only: 'enroll' | 'allow' | 'deny' for usernames Tessera does not know. Null for OIDC.
    .addColumn('new_user_policy', 'text')
    // 'active' | 'disabled'
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('active'))
    // Sealed (SecretBox, AAD = id). Null for a public OIDC client.
    .addColumn('secret', 'text')
    .addColumn('previous_secret', 'text')
    .addColumn('previous_expires_at', 'bigint')
    .addColumn('secret_rotated_at', 'bigint')
    .addColumn('created_by', 'text', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  // Names are unique per firm regardless of case, as corporation names are.
  await db.schema.createIndex('applications_firm_name_unique').on('applications').unique().expression(sql`firm_id, lower(name)`).execute();
  // The one index not led by firm_id: a client id / integration key is unique across ALL firms,
  // because the OIDC and Duo doors find the application (and so the firm) from it alone.
  await db.schema.createIndex('applications_client_id_unique').on('applications').unique().column('client_id').execute();

  // The audit trail by application: the admin changes of an application, and later the logins
  // and API calls that came through it (the application page's "last calls", usage per
  // application). No foreign key: audit rows outlive the application they name.
  await db.schema.alterTable('audit_events').addColumn('application_id', 'text').execute();
  await db.schema.createIndex('audit_events_firm_application_idx').on('audit_events').columns(['firm_id', 'application_id', 'at']).execute();
}

export async function down(): Promise<void> {
  throw new Error('Tessera migrations only go forward.');
}
