import { sql, type Kysely } from 'kysely';

// Issue 13 item 2: a login in progress is a `login_attempts` row of the core, not a cookie
// `sessions` row. What a login binds (a WebAuthn challenge, a push transaction, a device
// activation) now names its attempt (`attempt_id`) instead of the session. The web door keeps one
// attempt per session (`session_id`, deleted with it: logout, completion, a password change or a
// fraud report void what was bound); the Duo door will open attempts with no browser (a txid), the
// OIDC door inside an interaction.
//
// Upgrade: in-flight logins are dropped. A half-finished login lives 10 minutes; its challenges,
// pending pushes and unused activation codes were bound to the session and cannot be rebound
// after the fact, so the pending sessions end (those users type their password again), unused
// challenges and activation codes are deleted, and pending pushes expire (their rows stay: they
// count toward the push limit and name a fraud report's login). Full sessions stay signed in.
// (0011 and 0013 stay unused numbers.)

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('login_attempts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('subject_type', 'text', (c) => c.notNull().check(sql`subject_type in ('user', 'operator')`))
    .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
    .addColumn('operator_id', 'text', (c) => c.references('operators.id').onDelete('cascade'))
    .addColumn('firm_id', 'text', (c) => c.references('firms.id').onDelete('cascade'))
    // 'second_factor' | 'enroll': a half-finished login; 'step_up': a full session answering a
    // second factor again or adding an authenticator (My security).
    .addColumn('stage', 'text', (c) => c.notNull().check(sql`stage in ('second_factor', 'enroll', 'step_up')`))
    .addColumn('door', 'text', (c) => c.notNull().check(sql`door in ('web', 'device', 'oidc', 'duo')`))
    .addColumn('application_id', 'text', (c) => c.references('applications.id').onDelete('cascade'))
    // The web door's session (sessions.id, the token hash): one attempt per session, gone with it.
    .addColumn('session_id', 'text', (c) => c.unique().references('sessions.id').onDelete('cascade'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addCheckConstraint('login_attempts_subject', sql`(subject_type = 'user' and user_id is not null and firm_id is not null and operator_id is null) or (subject_type = 'operator' and operator_id is not null and user_id is null and firm_id is null)`)
    .execute();
  await db.schema.createIndex('login_attempts_expiry_idx').on('login_attempts').column('expires_at').execute();

  await db.deleteFrom('sessions').where('stage', 'in', ['second_factor', 'enroll']).execute();

  await db.deleteFrom('webauthn_challenges').where('session_id', 'is not', null).where('used_at', 'is', null).execute();
  // The attempt the ceremony belongs to; null for a passkey sign-in (no attempt yet) and for challenges older than 0016.
  await db.schema.alterTable('webauthn_challenges').addColumn('attempt_id', 'text').execute();
  await db.schema.createIndex('webauthn_challenges_attempt_idx').on('webauthn_challenges').columns(['attempt_id', 'challenge']).execute();

  await db.updateTable('push_transactions').set({ status: 'expired' }).where('status', '=', 'pending').execute();
  // An approved push no login took any more: taken, so it finishes nothing.
  await db.updateTable('push_transactions').set({ completed_at: sql`answered_at` }).where('completed_at', 'is', null).where('status', '!=', 'pending').execute();
  // The login waiting for the answer; no foreign key: the row outlives its attempt (push limit, fraud report). Null only for rows older than 0016.
  await db.schema.alterTable('push_transactions').addColumn('attempt_id', 'text').execute();

  await db.deleteFrom('device_activations').where('completed_at', 'is', null).execute();
  // The attempt that showed the QR code: only it may finish its login with this device. Null only for rows older than 0016.
  await db.schema.alterTable('device_activations').addColumn('attempt_id', 'text').execute();
}
