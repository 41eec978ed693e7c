import type { Kysely } from 'kysely';

// Issue 15: /auth/v2/enroll_status answers only the application whose /auth/v2/enroll issued the
// activation (Duo scopes an enrollment to its integration). The application was known only
// through the activation's login attempt, which ends when the enrollment succeeds (and is pruned
// when it expires), so the activation keeps it itself. NULL: an activation begun in Tessera's own
// screens (or older than this migration), which no Duo application may read.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('device_activations')
    .addColumn('application_id', 'text', (c) => c.references('applications.id').onDelete('set null'))
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('Tessera migrations only go forward.');
}
