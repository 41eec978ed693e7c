import { randomUUID } from 'node:crypto';
import { Secret } from 'otpauth';
import { loadConfig } from '../../src/config.js';
import { SecretBox, keyIdOf } from '../../src/crypto/secret-box.js';
import type { NewApplicationRow } from '../../src/applications/application.table.js';
import { newIntegrationKey, newSecretKey } from '../../src/applications/credentials.js';
import { createDatabase, type Db } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { hashPassword } from '../../src/core/passwords.js';
import { hashToken, newToken } from '../../src/sessions/session.service.js';

export const BENCH_PASSWORD = 'bench passphrase that is long';

export interface SeededUser {
  id: string;
  email: string;
  /** Base32 TOTP secret, for enrolled users. */
  secret?: string;
}

export interface SeededFirm {
  firmId: string;
  slug: string;
  superuserId: string;
  users: SeededUser[];
}

/** Opens the benchmark's database with Tessera's own code (the server has migrated it already). */
export async function openDb(databaseUrl: string): Promise<Db> {
  const config = loadConfig({ TESSERA_DATABASE_URL: databaseUrl, TESSERA_LOG_LEVEL: 'silent' });
  const db = createDatabase(config.database);
  await migrateToLatest(db);
  return db;
}

async function inChunks<T>(rows: T[], size: number, insert: (chunk: T[]) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < rows.length; i += size) await insert(rows.slice(i, i + size));
}

/**
 * A firm with `users` case managers, MFA on for case managers, a subscription with enough
 * licences, and the first `enrolled` of them enrolled with a TOTP authenticator (sealed
 * with the server's master key, as the server would) and holding a seat. Written with bulk
 * inserts: seeding is not what is measured.
 */
export async function seedFirm(db: Db, masterKey: string, o: { users: number; enrolled: number; corporations?: number }): Promise<SeededFirm> {
  const key = Buffer.from(masterKey, 'base64');
  const box = new SecretBox({ id: keyIdOf(key), key });
  const now = Date.now();
  const firmId = randomUUID();
  const slug = `bench-${firmId.slice(0, 8)}`;
  const passwordHash = await hashPassword(BENCH_PASSWORD);
  await db.insertInto('firms').values({ id: firmId, slug, name: `Bench Firm ${slug}`, created_at: now }).execute();
  const corporations = Array.from({ length: o.corporations ?? 0 }, (_, i) => ({ id: randomUUID(), firm_id: firmId, name: `Corporation ${i}`, created_at: now }));
  await inChunks(corporations, 500, (c) => db.insertInto('corporations').values(c).execute());

  const superuserId = randomUUID();
  const users: SeededUser[] = Array.from({ length: o.users }, (_, i) => ({ id: randomUUID(), email: `user${i}@${slug}.example` }));
  const userRows = [
    { id: superuserId, email: `admin@${slug}.example`, name: 'Bench Admin', is_superuser: 1 },
    ...users.map((u, i) => ({ id: u.id, email: u.email, name: `User ${String(i).padStart(6, '0')}`, is_superuser: 0 })),
  ].map((u) => ({
    ...u,
    firm_id: firmId,
    kind: 'case_manager' as const,
    corporation_id: null,
    status: 'active' as const,
    portal_access: null,
    record_state: null,
    password_hash: passwordHash,
    mfa_notified_at: now,
    mfa_failed_count: 0,
    mfa_locked_until: null,
    created_at: now,
    updated_at: now,
  }));
  await inChunks(userRows, 300, (c) => db.insertInto('users').values(c).execute());

  await db
    .insertInto('subscriptions')
    .values({
      firm_id: firmId,
      state: 'active',
      plan_name: 'Bench',
      licence_count: o.users + 1,
      seats_used: o.enrolled,
      starts_at: null,
      ends_at: null,
      requested_at: now,
      activated_at: now,
      updated_at: now,
      requested_licences: null,
      licences_requested_at: null,
      alert_80_sent: 1,
      alert_100_sent: 0,
      bypass_logins: 0,
    })
    .execute();
  await db
    .insertInto('mfa_settings')
    .values({ firm_id: firmId, case_managers: 1, vendor_case_managers: 0, corporation_scope: 'all', all_corp_users: 0, all_foreign_nationals: 0, updated_at: now })
    .execute();

  const enrolled = users.slice(0, o.enrolled);
  const authenticators = enrolled.map((u) => ({ user: u, id: randomUUID(), secret: new Secret({ size: 20 }).base32 }));
  for (const a of authenticators) a.user.secret = a.secret;
  await inChunks(authenticators, 500, (c) =>
    db
      .insertInto('authenticators')
      .values(c.map((a) => ({ id: a.id, firm_id: firmId, user_id: a.user.id, kind: 'totp' as const, label: 'Authenticator app', status: 'active' as const, created_at: now, confirmed_at: now, last_used_at: null, phone_e164: null })))
      .execute(),
  );
  await inChunks(authenticators, 500, (c) =>
    db.insertInto('totp_authenticators').values(c.map((a) => ({ authenticator_id: a.id, secret_enc: box.seal(a.secret, a.id), last_step: null }))).execute(),
  );
  await inChunks(enrolled, 500, (c) => db.insertInto('seats').values(c.map((u) => ({ user_id: u.id, firm_id: firmId, taken_at: now }))).execute());
  return { firmId, slug, superuserId, users };
}

/**
 * Sessions as POST /login leaves them: stage 'second_factor' (a pending login whose
 * password step is done, with the login attempt the password step opens beside it) or 'full'.
 * Returns the cookie tokens, in the order of `userIds`.
 */
export async function seedSessions(db: Db, firmId: string, userIds: string[], stage: 'second_factor' | 'full', lifetimeMs = 10 * 60_000): Promise<string[]> {
  const now = Date.now();
  const tokens = userIds.map(() => newToken());
  const rows = userIds.map((userId, i) => ({
    id: hashToken(tokens[i]!),
    principal: 'user' as const,
    operator_id: null,
    user_id: userId,
    firm_id: firmId,
    stage,
    created_at: now,
    last_seen_at: now,
    expires_at: now + lifetimeMs,
    second_factor_at: stage === 'full' ? now : null,
    ip: '127.0.0.1',
    user_agent: 'bench',
  }));
  await inChunks(rows, 500, (c) => db.insertInto('sessions').values(c).execute());
  if (stage === 'second_factor') {
    const attempts = rows.map((r) => ({
      id: randomUUID(),
      subject_type: 'user' as const,
      user_id: r.user_id,
      operator_id: null,
      firm_id: firmId,
      stage: 'second_factor' as const,
      door: 'web' as const,
      application_id: null,
      session_id: r.id,
      created_at: now,
      expires_at: r.expires_at,
      enrolling_authenticator_id: null,
    }));
    await inChunks(attempts, 500, (c) => db.insertInto('login_attempts').values(c).execute());
  }
  return tokens;
}

/** One CSRF cookie and token pair from the server, reusable for every request of a run. */
export async function csrfPair(url: string): Promise<{ cookie: string; token: string }> {
  const res = await fetch(`${url}/api/v1/csrf`);
  const setCookie = res.headers.getSetCookie().find((c) => c.startsWith('tessera_csrf='))!;
  const { token } = (await res.json()) as { token: string };
  return { cookie: setCookie.split(';')[0]!, token };
}

/**
 * An application of the firm, written as the registry writes one: its secret sealed with the
 * server's master key, bound to the row's id. `fields` are the type's own columns.
 */
export async function seedApplication(
  databaseUrl: string,
  masterKey: string,
  fields: Pick<NewApplicationRow, 'firm_id' | 'type' | 'name' | 'client_id'> & Partial<Pick<NewApplicationRow, 'client_type' | 'token_endpoint_auth_method' | 'redirect_uris' | 'new_user_policy'>>,
  secret: string,
): Promise<void> {
  const key = Buffer.from(masterKey, 'base64');
  const box = new SecretBox({ id: keyIdOf(key), key });
  const id = randomUUID();
  const now = Date.now();
  const db = await openDb(databaseUrl);
  await db
    .insertInto('applications')
    .values({
      client_type: null,
      token_endpoint_auth_method: null,
      redirect_uris: '[]',
      new_user_policy: null,
      ...fields,
      id,
      post_logout_redirect_uris: '[]',
      allowed_kinds: null,
      status: 'active',
      secret: box.seal(secret, id),
      previous_secret: null,
      previous_expires_at: null,
      secret_rotated_at: null,
      created_by: null,
      created_at: now,
      updated_at: now,
    })
    .execute();
  await db.destroy();
}

/** seedFirm on a connection of its own (opened, migrated, closed), for a scenario that needs the database for nothing else first. */
export async function seedFirmIn(databaseUrl: string, masterKey: string, o: Parameters<typeof seedFirm>[2]): Promise<SeededFirm> {
  const db = await openDb(databaseUrl);
  try {
    return await seedFirm(db, masterKey, o);
  } finally {
    await db.destroy();
  }
}

/** A Duo integration of the firm (Auth API or Web SDK), with keys as the registry makes them: `ikey` (client id) and `skey` (secret). */
export async function seedDuoIntegration(
  databaseUrl: string,
  masterKey: string,
  fields: Pick<NewApplicationRow, 'firm_id' | 'name'> & { type: 'duo_auth_api' | 'duo_web_sdk' } & Partial<Pick<NewApplicationRow, 'redirect_uris' | 'new_user_policy'>>,
): Promise<{ ikey: string; skey: string }> {
  const ikey = newIntegrationKey();
  const skey = newSecretKey();
  await seedApplication(databaseUrl, masterKey, { ...fields, client_id: ikey }, skey);
  return { ikey, skey };
}
