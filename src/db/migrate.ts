import { Migrator, sql, type Migration, type MigrationProvider } from 'kysely';
import { isPostgres, type Db } from './database.js';
import * as m0001 from './migrations/0001_foundation.js';
import * as m0002 from './migrations/0002_mfa_subscription.js';
import * as m0003 from './migrations/0003_enrolled_users_index.js';
import * as m0004 from './migrations/0004_mfa_login.js';
import * as m0005 from './migrations/0005_webauthn.js';
import * as m0006 from './migrations/0006_push.js';
import * as m0007 from './migrations/0007_operator_mfa.js';
import * as m0008 from './migrations/0008_audit_search.js';
import * as m0009 from './migrations/0009_user_search.js';
import * as m0010 from './migrations/0010_address_history.js';
import * as m0012 from './migrations/0012_security_hardening.js';
import * as m0014 from './migrations/0014_applications.js';
import * as m0015 from './migrations/0015_oidc_provider.js';
import * as m0016 from './migrations/0016_login_attempts.js';
import * as m0017 from './migrations/0017_attempt_without_session.js';
import * as m0018 from './migrations/0018_enrollment_state.js';
import * as m0019 from './migrations/0019_session_authentication.js';
import * as m0020 from './migrations/0020_duo_auth.js';
import * as m0022 from './migrations/0022_push_end_reason.js';
import * as m0023 from './migrations/0023_duo_universal_prompt.js';
import * as m0024 from './migrations/0024_login_counts.js';
import * as m0025 from './migrations/0025_activation_application.js';

/** Every migration, in order. A new migration is a new file and one line here. (Tests of a migration start from the ones before it.) */
export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '0001_foundation': m0001,
  '0002_mfa_subscription': m0002,
  '0003_enrolled_users_index': m0003,
  '0004_mfa_login': m0004,
  '0005_webauthn': m0005,
  '0006_push': m0006,
  '0007_operator_mfa': m0007,
  '0008_audit_search': m0008,
  '0009_user_search': m0009,
  '0010_address_history': m0010,
  '0012_security_hardening': m0012,
  '0014_applications': m0014,
  '0015_oidc_provider': m0015,
  '0016_login_attempts': m0016,
  '0017_attempt_without_session': m0017,
  '0018_enrollment_state': m0018,
  '0019_session_authentication': m0019,
  '0020_duo_auth': m0020,
  '0022_push_end_reason': m0022,
  '0023_duo_universal_prompt': m0023,
  '0024_login_counts': m0024,
  '0025_activation_application': m0025,
};

/** The newest migration's name: the database is ready when it is applied (GET /readyz). */
export const LATEST_MIGRATION = Object.keys(MIGRATIONS).sort().at(-1)!;

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

/**
 * Runs at start-up, once per database however many processes start together.
 * PostgreSQL: Kysely's migration lock (a row lock) and one transaction per migration.
 * SQLite: Kysely's lock is in-process only, so the whole run happens inside one
 * BEGIN IMMEDIATE transaction: a second process waits (busy_timeout) for the first to
 * commit, then finds nothing left to do. Foreign keys are off meanwhile, as SQLite's own
 * procedure for changing a table asks (a rebuilt parent table must not cascade into its
 * children when the old one is dropped), and every reference is checked before the commit.
 */
export async function migrateToLatest(db: Db): Promise<void> {
  if (isPostgres(db)) {
    // Without a schema, Kysely takes a kysely_migration table of ANY schema of the database
    // for ours (another deployment's, a parallel test's) and skips creating its own.
    const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
    return check(await new Migrator({ db, provider, migrationTableSchema: rows[0]?.schema ?? 'public' }).migrateToLatest());
  }
  // A no-op inside a transaction, so before BEGIN; better-sqlite3 is one connection.
  await sql`pragma foreign_keys = off`.execute(db);
  await sql`begin immediate`.execute(db);
  try {
    const result = await new Migrator({ db, provider, disableTransactions: true }).migrateToLatest();
    check(result);
    const broken = await sql<{ table: string }>`pragma foreign_key_check`.execute(db);
    if (broken.rows.length > 0) throw new Error(`Database migration left broken references in ${broken.rows[0]!.table}`);
    await sql`commit`.execute(db);
  } catch (err) {
    await sql`rollback`.execute(db);
    throw err;
  } finally {
    await sql`pragma foreign_keys = on`.execute(db);
  }
}

function check({ error, results }: Awaited<ReturnType<Migrator['migrateToLatest']>>): void {
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(`Database migration ${failed?.migrationName ?? ''} failed: ${String(error)}`);
  }
}
