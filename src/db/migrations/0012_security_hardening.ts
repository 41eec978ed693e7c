import { sql, type Kysely } from 'kysely';

// Security review, issue 12 (items 7 and 9).
//
// 1. webauthn_credentials.purpose: what the registration was FOR, decided by the server from the
//    challenge it issued ('register' -> 'second_factor', 'register_passkey' -> 'passkey'), never
//    from the browser's unsigned credProps.rk. Only a 'passkey' may sign in without a password.
//    Rows before this migration recorded only `discoverable`, which a security-key registration
//    set from credProps.rk: a client could turn a second-factor key into a passwordless
//    credential by saying rk=true. Existing rows become 'second_factor', except those that the
//    user registered through the passkey path: that registration wrote `passkey: true` in its
//    `mfa.enrolled` audit event (server-side, from the challenge's purpose; the audit log is
//    append-only and never pruned), and it also required a discoverable credential. A passkey
//    whose audit event is missing becomes a security key, which the user re-registers as a
//    passkey (the safe side: nothing gains passwordless sign-in that was not made for it).
//
// 2. device_nonces: every signed device request carries a random nonce, consumed by a unique
//    insert, so a captured request cannot be replayed inside the +-120 s timestamp window.

const BATCH = 500;

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('webauthn_credentials')
    .addColumn('purpose', 'text', (c) => c.notNull().defaultTo('second_factor').check(sql`purpose in ('second_factor', 'passkey')`))
    .execute();
  await keepPasskeysOfThePasskeyPath(db);

  await db.schema
    .createTable('device_nonces')
    // The device (its authenticator); removing the device removes its nonces.
    .addColumn('device_id', 'text', (c) => c.notNull().references('push_devices.authenticator_id').onDelete('cascade'))
    .addColumn('nonce', 'text', (c) => c.notNull())
    // When the signed timestamp stops being accepted; housekeeping deletes the row a window later.
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('device_nonces_pkey', ['device_id', 'nonce'])
    .execute();
  await db.schema.createIndex('device_nonces_expires_idx').on('device_nonces').column('expires_at').execute();
}

/** Marks as passkeys the credentials whose enrollment was audited as a passkey registration. Exported for its test. */
export async function keepPasskeysOfThePasskeyPath(db: Kysely<any>): Promise<void> {
  // The LIKE only narrows the read; the JSON is parsed and checked below.
  const events: { details: string }[] = await db
    .selectFrom('audit_events')
    .select('details')
    .where('event', '=', 'mfa.enrolled')
    .where('details', 'like', '%"passkey":true%')
    .execute();
  const ids = new Set<string>();
  for (const e of events) {
    let d: unknown;
    try {
      d = JSON.parse(e.details);
    } catch {
      continue;
    }
    const { kind, passkey, authenticatorId } = (d ?? {}) as Record<string, unknown>;
    if (kind === 'webauthn' && passkey === true && typeof authenticatorId === 'string') ids.add(authenticatorId);
  }
  const list = [...ids];
  for (let i = 0; i < list.length; i += BATCH) {
    await db
      .updateTable('webauthn_credentials')
      .set({ purpose: 'passkey' })
      .where('authenticator_id', 'in', list.slice(i, i + BATCH))
      .where('discoverable', '=', 1)
      // A firm user's key: an operator's key is never a passkey.
      .where('authenticator_id', 'in', db.selectFrom('authenticators').select('id').where('user_id', 'is not', null))
      .execute();
  }
}

export async function down(): Promise<void> {
  throw new Error('Tessera migrations only go forward.');
}
