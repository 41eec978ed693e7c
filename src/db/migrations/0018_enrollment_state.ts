import type { Kysely } from 'kysely';

// Issue 16 item 1: an enrollment survives a reload. The pending state lives on the server:
// - login_attempts.enrolling_authenticator_id: the pending authenticator this login's enrollment
//   began (an authenticator app, a security key, the Tessera Authenticator), so /enroll, reloaded
//   or opened in a second tab, continues there and never offers the method picker again;
// - device_activations.code_sealed: the activation code sealed with the master key (bound to its
//   row id), so the same QR code can be shown again while it lives (10 minutes). The row's id stays
//   the code's hash: the database alone still activates nothing.
// Both are plain NULL-able columns (ALTER TABLE ADD COLUMN on both databases); nothing is rebuilt.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('login_attempts').addColumn('enrolling_authenticator_id', 'text').execute();
  await db.schema.alterTable('device_activations').addColumn('code_sealed', 'text').execute();
}

export async function down(): Promise<void> {
  throw new Error('Tessera migrations only go forward.');
}
