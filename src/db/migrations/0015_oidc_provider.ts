import { sql, type Kysely } from 'kysely';

// Groundwork of the OpenID Connect provider (issue 14): what oidc-provider persists through
// its adapter, and the provider's signing keys. Neither belongs to one firm: the payloads are
// the provider's own records (an account or client inside them names its firm), and the keys
// sign for the whole issuer.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('oidc_payloads')
    // The oidc-provider model: Session, Interaction, AuthorizationCode, AccessToken, RefreshToken, Grant, ...
    .addColumn('model', 'text', (c) => c.notNull())
    // The model's id (a token's jti, a session's id, ...).
    .addColumn('id', 'text', (c) => c.notNull())
    // The payload as oidc-provider handed it over, JSON text.
    .addColumn('payload', 'text', (c) => c.notNull())
    // Copied out of the payload for the lookups the adapter is asked for: revokeByGrantId,
    // findByUserCode (device flow), findByUid (sessions).
    .addColumn('grant_id', 'text')
    .addColumn('user_code', 'text')
    .addColumn('uid', 'text')
    // Epoch ms; null for a model without a lifetime. Expired rows are never found and are deleted by housekeeping.
    .addColumn('expires_at', 'bigint')
    // Epoch ms when a single-use artefact (authorization code, rotated refresh token) was used: set once, by one conditional UPDATE.
    .addColumn('consumed_at', 'bigint')
    .addPrimaryKeyConstraint('oidc_payloads_pk', ['model', 'id'])
    .execute();
  await db.schema.createIndex('oidc_payloads_grant_idx').on('oidc_payloads').columns(['grant_id']).execute();
  await db.schema.createIndex('oidc_payloads_user_code_idx').on('oidc_payloads').columns(['model', 'user_code']).execute();
  await db.schema.createIndex('oidc_payloads_uid_idx').on('oidc_payloads').columns(['model', 'uid']).execute();
  await db.schema.createIndex('oidc_payloads_expires_idx').on('oidc_payloads').columns(['expires_at']).execute();

  await db.schema
    .createTable('oidc_signing_keys')
    // RFC 7638 thumbprint of the public key: what the `kid` header of every signed token names.
    .addColumn('kid', 'text', (c) => c.primaryKey())
    .addColumn('alg', 'text', (c) => c.notNull().check(sql`alg in ('ES256', 'RS256')`))
    // The private JWK (JSON), sealed with the master key (AES-256-GCM, bound to the kid).
    .addColumn('private_jwk', 'text', (c) => c.notNull())
    // The public JWK (JSON), as the JWKS endpoint publishes it.
    .addColumn('public_jwk', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    // When the key starts signing. A rotated-in key is published first and signs only once every
    // node has had time to load it, so that no relying party meets a kid it cannot find yet.
    .addColumn('active_from', 'bigint', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('current', 'retired')`))
    .addColumn('retired_at', 'bigint')
    // A retired key stays in the JWKS until the last token it may have signed has expired.
    .addColumn('publish_until', 'bigint')
    .execute();
  // One current key per algorithm, whatever number of processes start (or rotate) together:
  // the loser of the race gets a unique violation (or its insert ignored) and reads the winner's key.
  await db.schema.createIndex('oidc_signing_keys_one_current').on('oidc_signing_keys').column('alg').unique().where(sql.ref('state'), '=', 'current').execute();
}

export async function down(): Promise<void> {
  throw new Error('Tessera migrations only go forward.');
}
