import type { Kysely } from 'kysely';

// Issue 14 item 4: a Tessera session remembers how its user signed in, so that the OpenID
// Provider, reusing the session for another of the firm's applications (single sign-on), gives
// true claims: `amr` (RFC 8176 values, JSON text, e.g. ["pwd","otp","mfa"]) and `auth_time` (epoch
// ms of the login). Both NULL for sessions made before this migration and for pending ones; the
// OIDC door reads a full session without them as a password login at its creation time.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('sessions').addColumn('amr', 'text').execute();
  await db.schema.alterTable('sessions').addColumn('auth_time', 'bigint').execute();
}

export async function down(): Promise<void> {
  throw new Error('Tessera migrations only go forward.');
}
