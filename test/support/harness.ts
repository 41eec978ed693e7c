import { randomBytes, randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { buildApp, type App } from '../../src/app.js';
import { systemActor } from '../../src/audit/audit.service.js';
import { ManualClock } from '../../src/clock.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { AppContext } from '../../src/context.js';
import { createDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { createCorporation } from '../../src/directory/corporation.service.js';
import { createUser, type NewUserInput } from '../../src/directory/user.service.js';
import type { UserView } from '../../src/directory/user.view.js';
import { createFirm, type FirmView } from '../../src/firms/firm.service.js';
import { hashPassword } from '../../src/core/passwords.js';
import { SecretBox } from '../../src/crypto/secret-box.js';
import { createMailService } from '../../src/notify/mail.service.js';
import type { ClientSource } from '../../src/oidc/clients.js';
import type { LogDestination } from '../../src/ops/logging.js';
import { hashToken } from '../../src/sessions/session.service.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { Secret, TOTP } from 'otpauth';
import { TOTP_PARAMS } from '../../src/factors/totp/totp.factor.js';
import type { AuthenticatorKind } from '../../src/factors/kinds.js';

export const PASSWORD = 'correct horse battery staple';

export interface Harness {
  app: App;
  ctx: AppContext;
  clock: ManualClock;
  /** Lines the embedded mode would print (setup links, kept mails). */
  announced: string[];
  close(): Promise<void>;
}

/** A Tessera app on a fresh database, with a hand-moved clock. */
export async function startHarness(
  options: {
    env?: Record<string, string>;
    clock?: ManualClock;
    /** Another process's database: left in place at close. */
    shared?: TestDatabase;
    /** The master key of the other processes on a shared database (each harness has its own otherwise). */
    secrets?: SecretBox;
    /** Sees every route as the app adds it (see buildApp). */
    onRoute?: NonNullable<Parameters<typeof buildApp>[1]>['onRoute'];
    /** Where the app's JSON log lines go (with TESSERA_LOG_LEVEL in `env`). */
    logDestination?: LogDestination;
    /** Mounts the Duo door with this integration look-up (see buildApp). */
    duo?: NonNullable<Parameters<typeof buildApp>[1]>['duo'];
    /** The OpenID Provider's clients (none by default). */
    oidcClients?: ClientSource;
  } = {},
): Promise<Harness> {
  const database: TestDatabase = options.shared ?? (await createTestDatabase());
  const base: Config = loadConfig({ TESSERA_LOG_LEVEL: 'silent', ...options.env });
  const config: Config = Object.freeze({ ...base, database: database.config });
  const db = createDatabase(config.database);
  await migrateToLatest(db);
  const clock = options.clock ?? new ManualClock(Date.now());
  const announced: string[] = [];
  const announce = (line: string) => void announced.push(line);
  const mail = createMailService({ db, clock, smtpUrl: config.smtpUrl, from: config.mailFrom, announce });
  const secrets = options.secrets ?? new SecretBox({ id: 'test', key: randomBytes(32) });
  const ctx: AppContext = { config, db, clock, mail, secrets, announce };
  const app = await buildApp(ctx, { onRoute: options.onRoute, logDestination: options.logDestination, duo: options.duo, oidcClients: options.oidcClients });
  return {
    app,
    ctx,
    clock,
    announced,
    async close() {
      await app.close();
      await mail.stop();
      await db.destroy();
      if (!options.shared) await database.drop();
    },
  };
}

type Body = Record<string, unknown> | unknown[] | string | undefined;

/**
 * A browser-like client over app.inject: keeps cookies, and fetches and sends the
 * CSRF token for state-changing requests, as the web apps do.
 */
export class Agent {
  cookies = new Map<string, string>();
  csrf: string | null = null;
  constructor(
    readonly app: App,
    readonly defaults: { ip?: string; userAgent?: string } = {},
  ) {}

  private cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private keep(res: LightMyRequestResponse): void {
    for (const c of res.cookies as { name: string; value: string; maxAge?: number; expires?: Date }[]) {
      if (c.value === '' || c.maxAge === 0 || (c.expires && c.expires.getTime() < Date.now())) this.cookies.delete(c.name);
      else this.cookies.set(c.name, c.value);
    }
  }

  async raw(method: string, url: string, opts: { body?: Body; headers?: Record<string, string>; csrf?: boolean } = {}) {
    const unsafe = !['GET', 'HEAD', 'OPTIONS'].includes(method);
    const headers: Record<string, string> = { 'user-agent': this.defaults.userAgent ?? 'vitest', ...opts.headers };
    if (unsafe && opts.csrf !== false) {
      if (!this.csrf) {
        const r = await this.app.inject({ method: 'GET', url: '/api/v1/csrf', headers: { cookie: this.cookieHeader() }, remoteAddress: this.defaults.ip });
        this.keep(r);
        this.csrf = r.json().token;
      }
      headers['x-csrf-token'] = this.csrf!;
    }
    if (this.cookies.size) headers.cookie = this.cookieHeader();
    let payload: string | undefined;
    if (opts.body !== undefined) {
      payload = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await this.app.inject({ method: method as 'GET', url, headers, payload, remoteAddress: this.defaults.ip ?? '127.0.0.1' });
    this.keep(res);
    return res;
  }

  get(url: string) {
    return this.raw('GET', url);
  }
  post(url: string, body?: Body) {
    return this.raw('POST', url, { body });
  }
  patch(url: string, body?: Body) {
    return this.raw('PATCH', url, { body });
  }
  delete(url: string) {
    return this.raw('DELETE', url);
  }
}

/** The passcode an authenticator app shows for this secret at a time (ms). */
export const totpAt = (secret: string, at: number): string => TOTP.generate({ ...TOTP_PARAMS, secret: Secret.fromBase32(secret), timestamp: at });

/** The passcode an authenticator app shows for this secret at the harness's time (plus whole steps). */
export function totpCode(h: Harness, secret: string, offsetSteps = 0): string {
  return totpAt(secret, h.clock.now() + offsetSteps * TOTP_PARAMS.period * 1000);
}

export interface TestOperator {
  id: string;
  email: string;
  /** Signed in with password and passcode. */
  agent: Agent;
  /** The base32 secret of the operator's authenticator app (enrolled at the first login). */
  secret: string;
  backupCodes: string[];
}

/**
 * An operator with a password, signed in as the console requires (issue 8.6): the first login
 * enrols an authenticator app through the real enrollment routes, which finishes the login.
 */
export async function enrolledOperator(h: Harness, email = `op-${randomUUID().slice(0, 8)}@platform.example`): Promise<TestOperator> {
  const id = randomUUID();
  await h.ctx.db
    .insertInto('operators')
    .values({ id, email, name: 'Olga Operator', password_hash: await hashPassword(PASSWORD), status: 'active', created_at: h.clock.now() })
    .execute();
  const agent = new Agent(h.app);
  const res = await agent.post('/api/v1/operator/login', { email, password: PASSWORD });
  if (res.statusCode !== 200 || res.json().next !== 'enroll') throw new Error(`operator login failed: ${res.body}`);
  const begun = await agent.post('/api/v1/mfa/enrollment/totp', {});
  if (begun.statusCode !== 201) throw new Error(`operator enrollment failed: ${begun.body}`);
  const { authenticatorId, secret } = begun.json() as { authenticatorId: string; secret: string };
  const confirmed = await agent.post(`/api/v1/mfa/enrollment/totp/${authenticatorId}/confirm`, { code: totpCode(h, secret) });
  if (confirmed.statusCode !== 200) throw new Error(`operator enrollment failed: ${confirmed.body}`);
  return { id, email, agent, secret, backupCodes: confirmed.json().backupCodes };
}

/** An operator with a password and an authenticator app, signed in with both. */
export async function operatorAgent(h: Harness, email?: string): Promise<Agent> {
  return (await enrolledOperator(h, email)).agent;
}

export interface TestFirm {
  firm: FirmView;
  superuser: UserView;
  admin: Agent;
  /** The base32 secret of the superuser's authenticator app (`enrolled: true`). */
  adminSecret?: string;
}

export interface FirmWithAdminOptions {
  /**
   * The superuser enrols an authenticator app (through the enrollment routes, from their full
   * session) on an active subscription of `licences` (10), and so holds a seat: enabling MFA for
   * case managers later does not send them to enrollment at their next admin request (issue 16
   * item 4). Tests whose superuser administers the firm after its own kind is enabled use it.
   */
  enrolled?: boolean;
  licences?: number;
}

/** A firm with a superuser who has a password and is logged in. */
export async function firmWithAdmin(h: Harness, slug = `firm-${randomUUID().slice(0, 8)}`, o: FirmWithAdminOptions = {}): Promise<TestFirm> {
  const { firm, superuser } = await h.ctx.db.transaction().execute((tx) =>
    createFirm(h.ctx, tx, systemActor, { name: `Firm ${slug}`, slug, superuser: { name: 'Sam Super', email: `sam@${slug}.example` } }),
  );
  await setPassword(h, superuser.id);
  const admin = new Agent(h.app);
  const res = await admin.post('/api/v1/login', { email: superuser.email, password: PASSWORD, firm: slug });
  if (res.statusCode !== 200) throw new Error(`admin login failed: ${res.body}`);
  if (!o.enrolled) return { firm, superuser, admin };
  await activateSubscription(h, firm.id, o.licences ?? 10);
  const begun = await admin.post('/api/v1/mfa/enrollment/totp', {});
  if (begun.statusCode !== 201) throw new Error(`admin enrollment failed: ${begun.body}`);
  const { authenticatorId, secret } = begun.json() as { authenticatorId: string; secret: string };
  const confirmed = await admin.post(`/api/v1/mfa/enrollment/totp/${authenticatorId}/confirm`, { code: totpCode(h, secret) });
  if (confirmed.statusCode !== 200) throw new Error(`admin enrollment failed: ${confirmed.body}`);
  return { firm, superuser, admin, adminSecret: secret };
}

export async function setPassword(h: Harness, userId: string, password = PASSWORD): Promise<void> {
  await h.ctx.db.updateTable('users').set({ password_hash: await hashPassword(password) }).where('id', '=', userId).execute();
}

export async function addUser(h: Harness, firmId: string, input: NewUserInput, password: string | null = PASSWORD): Promise<UserView> {
  const user = await h.ctx.db.transaction().execute((tx) => createUser(h.ctx, tx, { ...systemActor, firmId }, firmId, input));
  if (password) await setPassword(h, user.id, password);
  return user;
}

export async function addCorporation(h: Harness, firmId: string, name: string) {
  return h.ctx.db.transaction().execute((tx) => createCorporation(h.ctx, tx, { ...systemActor, firmId }, firmId, name));
}

/** The link of the mail to `to` that still works (older links stop working when a new one is sent). */
export async function lastLinkTo(h: Harness, to: string): Promise<string> {
  const mails = await h.ctx.db.selectFrom('mail_outbox').select('link').where('to_address', '=', to).where('link', 'is not', null).execute();
  for (const m of mails) {
    const live = await h.ctx.db
      .selectFrom('one_time_tokens')
      .select('id')
      .where('id', '=', hashToken(tokenOf(m.link!)))
      .where('used_at', 'is', null)
      .executeTakeFirst();
    if (live) return m.link!;
  }
  throw new Error(`no mail with a live link to ${to}`);
}

export const tokenOf = (link: string) => new URL(link).hash.slice(1);

export const expectError = (res: LightMyRequestResponse, status: number, code: string) => {
  if (res.statusCode !== status || res.json().error !== code) {
    throw new Error(`expected ${status} ${code}, got ${res.statusCode} ${res.body}`);
  }
};

/** Every table a request can change, with the column that orders its rows; see `dbState`. */
const STATE_TABLES = {
  firms: 'id',
  corporations: 'id',
  users: 'id',
  sessions: 'id',
  one_time_tokens: 'id',
  mail_outbox: 'id',
  audit_events: 'id',
  subscriptions: 'firm_id',
  seats: 'user_id',
  mfa_settings: 'firm_id',
  mfa_corporations: 'corporation_id',
  authenticators: 'id',
  jobs: 'id',
  totp_authenticators: 'authenticator_id',
  backup_codes: 'id',
  remembered_browsers: 'id',
  webauthn_credentials: 'authenticator_id',
  webauthn_challenges: 'id',
  push_devices: 'authenticator_id',
  device_activations: 'id',
  push_transactions: 'id',
  server_keys: 'name',
  operators: 'id',
  applications: 'id',
  oidc_payloads: 'id',
  oidc_signing_keys: 'kid',
  duo_prompts: 'id',
  duo_client_assertions: 'jti',
} as const;
type StateTable = keyof typeof STATE_TABLES;

/** Every row of those tables, in a stable order: compare two of them to prove a refused request changed nothing. */
export async function dbState(h: Harness): Promise<Record<StateTable, unknown[]>> {
  const state = {} as Record<StateTable, unknown[]>;
  for (const [table, key] of Object.entries(STATE_TABLES) as [StateTable, string][]) {
    state[table] = await h.ctx.db.selectFrom(table as 'users').selectAll().orderBy(key as 'id').execute();
  }
  return state;
}

/** Audit events, oldest first, narrowed by event code, subject and/or firm. Details come parsed. */
export async function auditEvents(h: Harness, where: { event?: string; subjectId?: string; firmId?: string } = {}) {
  let q = h.ctx.db.selectFrom('audit_events').selectAll();
  if (where.event) q = q.where('event', '=', where.event);
  if (where.subjectId) q = q.where('subject_id', '=', where.subjectId);
  if (where.firmId) q = q.where('firm_id', '=', where.firmId);
  const rows = await q.orderBy('id').execute();
  return rows.map((r) => ({ ...r, details: JSON.parse(r.details) as Record<string, unknown> }));
}

/** A firm user with a password, logged in through the login route. */
export async function userAgent(h: Harness, email: string, firmSlug: string, password = PASSWORD): Promise<Agent> {
  const agent = new Agent(h.app);
  const res = await agent.post('/api/v1/login', { email, password, firm: firmSlug });
  if (res.statusCode !== 200) throw new Error(`login of ${email} failed: ${res.body}`);
  return agent;
}

/** A refused request: this status, exactly `{ error, message }`, and not one row changed since `before` (a `dbState`). */
export async function expectRefused(h: Harness, res: LightMyRequestResponse, status: number, code: string, before: Awaited<ReturnType<typeof dbState>>) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.json()).toEqual({ error: code, message: expect.stringMatching(/\S/) });
  expect(await dbState(h)).toEqual(before);
}

/**
 * Enrols a user as the factor issues will: an active authenticator and a seat, in one
 * transaction. Returns the seat result; on 'no_seat' nothing is written.
 */
export async function enrollForTest(
  h: Harness,
  firmId: string,
  userId: string,
  kind: AuthenticatorKind = 'totp',
): Promise<'taken' | 'already_held' | 'no_seat'> {
  const { takeSeat } = await import('../../src/subscriptions/seat.service.js');
  class NoSeat extends Error {}
  try {
    return await h.ctx.db.transaction().execute(async (tx) => {
      const now = h.clock.now();
      await tx
        .insertInto('authenticators')
        .values({ id: randomUUID(), firm_id: firmId, user_id: userId, kind, label: kind, status: 'active', created_at: now, confirmed_at: now, last_used_at: null })
        .execute();
      const result = await takeSeat(h.ctx, tx, firmId, userId);
      if (result === 'no_seat') throw new NoSeat();
      return result;
    });
  } catch (err) {
    if (err instanceof NoSeat) return 'no_seat';
    throw err;
  }
}

/** Puts a firm on an active MFA subscription directly (the operator's activation, without HTTP). */
export async function activateSubscription(h: Harness, firmId: string, licenceCount: number): Promise<void> {
  const now = h.clock.now();
  await h.ctx.db
    .insertInto('subscriptions')
    .values({
      firm_id: firmId,
      state: 'active',
      plan_name: 'Test plan',
      licence_count: licenceCount,
      seats_used: 0,
      starts_at: null,
      ends_at: null,
      requested_at: now,
      activated_at: now,
      updated_at: now,
      requested_licences: null,
      licences_requested_at: null,
      alert_80_sent: 0,
      alert_100_sent: 0,
      bypass_logins: 0,
    })
    .onConflict((oc) => oc.column('firm_id').doUpdateSet({ state: 'active', licence_count: licenceCount }))
    .execute();
}

// --- MFA at login (issue 4): My security and the admin side ------------------------------

/**
 * A browser holding a session of this user made directly (no password step), stage 'full'.
 * `secondFactorAt` simulates a session that passed a second factor (sessions.second_factor_at).
 */
export async function sessionAgent(
  h: Harness,
  user: { id: string; firmId: string },
  opts: { secondFactorAt?: number | null; ip?: string; userAgent?: string } = {},
): Promise<Agent> {
  const { createSession } = await import('../../src/sessions/session.service.js');
  const { sessionCookieName } = await import('../../src/http/auth.js');
  const token = await createSession(h.ctx, h.ctx.db, {
    principal: 'user',
    userId: user.id,
    firmId: user.firmId,
    stage: 'full',
    ip: opts.ip ?? '127.0.0.1',
    userAgent: opts.userAgent ?? 'vitest',
    secondFactorAt: opts.secondFactorAt ?? null,
  });
  const agent = new Agent(h.app, { ip: opts.ip, userAgent: opts.userAgent });
  agent.cookies.set(sessionCookieName(h.ctx), token);
  return agent;
}

/** Marks every session of a user as having passed a second factor now, as a successful /mfa/verify does. */
export async function passSecondFactor(h: Harness, userId: string): Promise<void> {
  await h.ctx.db.updateTable('sessions').set({ second_factor_at: h.clock.now() }).where('user_id', '=', userId).execute();
}

/** Turns MFA on for the firm's staff (case managers, vendor case managers), as PUT /admin/mfa/configuration would. */
export async function enableMfaForStaff(h: Harness, firmId: string): Promise<void> {
  const values = { case_managers: 1, vendor_case_managers: 1, corporation_scope: 'all' as const, all_corp_users: 0, all_foreign_nationals: 0, updated_at: h.clock.now() };
  await h.ctx.db
    .insertInto('mfa_settings')
    .values({ firm_id: firmId, ...values })
    .onConflict((oc) => oc.column('firm_id').doUpdateSet(values))
    .execute();
}
