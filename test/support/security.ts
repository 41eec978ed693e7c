import { Secret, TOTP } from 'otpauth';
import { expect } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import type { App } from '../../src/app.js';
import type { UserView } from '../../src/directory/user.view.js';
import { TOTP_PARAMS } from '../../src/factors/totp/totp.factor.js';
import { hashToken } from '../../src/sessions/session.service.js';
import { DeviceSimulator } from './device-simulator.js';
import { Agent, PASSWORD, activateSubscription, addUser, dbState, enableMfaForStaff, firmWithAdmin, type Harness, type TestFirm } from './harness.js';
import { SoftAuthenticator, type SoftCredential } from './soft-authenticator.js';

/**
 * What the security suite (test/security/) shares: the routes of the app as the app itself
 * declares them (so a new route is covered, or fails the suite, without anyone remembering
 * to add it), "firm B's data" as a snapshot, and users enrolled through the API with each factor.
 */

export const api = (path: string) => `/api/v1${path}`;

// --- the routes, from the app ---------------------------------------------------------------

export type IdSlot = { in: 'path' | 'query' | 'body'; name: string };

export interface ApiRoute {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Fastify style: /api/v1/admin/users/:id */
  path: string;
  /** Every parameter, query field or top-level body field that names an object (`id`, `...Id`). */
  ids: IdSlot[];
  /** `METHOD path`, the key of the suite's tables. */
  key: string;
  /** The JSON Schema of the body, when the route takes one. */
  body?: JsonSchema;
}

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minItems?: number;
  minProperties?: number;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  minLength?: number;
  pattern?: string;
  format?: string;
}

const isIdName = (name: string) => name === 'id' || /Id$/.test(name);
const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

interface OpenApiOperation {
  parameters?: { in: string; name: string }[];
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
}

/**
 * Every route of /api/v1, read from the OpenAPI document the app generates from its route
 * schemas (every route has one: src/routes.ts registers them all with a schema).
 */
export async function apiRoutes(app: App): Promise<ApiRoute[]> {
  await app.ready();
  const spec = app.swagger() as { paths: Record<string, Record<string, OpenApiOperation>> };
  const routes: ApiRoute[] = [];
  for (const [openApiPath, operations] of Object.entries(spec.paths)) {
    if (!openApiPath.startsWith('/api/v1/')) continue;
    const path = openApiPath.replace(/\{([^}]+)\}/g, ':$1');
    for (const [m, op] of Object.entries(operations)) {
      const method = m.toUpperCase() as ApiRoute['method'];
      if (!METHODS.has(method)) continue;
      const ids: IdSlot[] = [];
      for (const p of op.parameters ?? []) if ((p.in === 'path' || p.in === 'query') && isIdName(p.name)) ids.push({ in: p.in, name: p.name });
      const body = op.requestBody?.content?.['application/json']?.schema;
      for (const name of Object.keys(body?.properties ?? {})) if (isIdName(name)) ids.push({ in: 'body', name });
      routes.push({ method, path, ids, key: `${method} ${path}`, ...(body ? { body } : {}) });
    }
  }
  expect(routes.length, 'the OpenAPI document lists the API').toBeGreaterThan(30);
  return routes;
}

const SAMPLE_STRINGS = ['Sample name', 'GB', 'sample-1', '1', 'https://sample.example/x'];

/**
 * The smallest value a JSON Schema accepts (required members, and optional ones up to minProperties; the first choice of a
 * union or enum): a body that passes a route's validation, so that what answers is the route.
 */
export function sampleOf(schema: JsonSchema): unknown {
  if (schema.const !== undefined) return schema.const;
  if (schema.enum) return schema.enum[0];
  const choice = schema.anyOf ?? schema.oneOf;
  if (choice) return sampleOf(choice.find((c) => c.type !== 'null') ?? choice[0]!);
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  switch (type) {
    case 'object': {
      // The required members, then optional ones in order while the schema wants more.
      const keys = [...(schema.required ?? [])];
      for (const k of Object.keys(schema.properties ?? {})) if (keys.length < (schema.minProperties ?? 0) && !keys.includes(k)) keys.push(k);
      return Object.fromEntries(keys.map((k) => [k, sampleOf(schema.properties![k]!)]));
    }
    case 'array':
      return Array.from({ length: schema.minItems ?? 0 }, () => sampleOf(schema.items!));
    case 'integer':
    case 'number':
      return Math.max(schema.minimum ?? 1, 1);
    case 'boolean':
      return false;
    case 'string': {
      if (schema.format === 'email') return `sample-${Math.random().toString(36).slice(2, 8)}@example.com`;
      const fits = SAMPLE_STRINGS.find((c) => (!schema.pattern || new RegExp(schema.pattern, 'u').test(c)) && c.length >= (schema.minLength ?? 0));
      if (!fits) throw new Error(`no sample string for ${JSON.stringify(schema)}`);
      return fits;
    }
    default:
      return null;
  }
}

/** The path with every `:param` replaced by `value` (or by `values[param]`). */
export const fillPath = (path: string, values: Record<string, string> | string) =>
  path.replace(/:([A-Za-z]+)/g, (_m, name: string) => encodeURIComponent(typeof values === 'string' ? values : (values[name] ?? 'x')));

export const isUnsafe = (r: { method: string }) => r.method !== 'GET';
export const isDeviceRoute = (r: { path: string }) => r.path.startsWith('/api/v1/device/');

// --- one firm's data --------------------------------------------------------------------

/**
 * The rows of `dbState` that belong to one firm: with its firm_id, or those of its users,
 * corporations and authenticators. Rows that belong to no firm (keys) are kept whole.
 * A refusal may write to the caller's own firm (an audit entry, an attempt counter) but
 * must leave this unchanged.
 */
export async function firmState(h: Harness, firmId: string) {
  const all = await dbState(h);
  const ids = (rows: unknown[]) => new Set((rows as { id: string; firm_id: string }[]).filter((r) => r.firm_id === firmId).map((r) => r.id));
  const users = ids(all.users);
  const corporations = ids(all.corporations);
  const authenticators = ids(all.authenticators);
  const mine = (row: Record<string, unknown>): boolean => {
    const links = ['firm_id', 'user_id', 'corporation_id', 'authenticator_id'].filter((c) => c in row);
    if (links.length === 0) return true;
    return (
      row.firm_id === firmId ||
      users.has(row.user_id as string) ||
      corporations.has(row.corporation_id as string) ||
      authenticators.has(row.authenticator_id as string)
    );
  };
  const out: Record<string, unknown[]> = {};
  for (const [table, rows] of Object.entries(all)) {
    out[table] = table === 'firms' ? (rows as { id: string }[]).filter((f) => f.id === firmId) : (rows as Record<string, unknown>[]).filter(mine);
  }
  return out;
}

/** Exactly the API's error shape: `{ error: CODE, message }`, plus only the details the code carries. */
export function expectErrorShape(res: LightMyRequestResponse, extra: string[] = []): { error: string; message: string } {
  const body = res.json() as Record<string, unknown>;
  expect(typeof body.error, res.body).toBe('string');
  expect(body.error).toMatch(/^[A-Z][A-Z_]+$/);
  expect(typeof body.message).toBe('string');
  expect((body.message as string).trim().length).toBeGreaterThan(0);
  expect(Object.keys(body).sort()).toEqual(['error', 'message', ...extra].sort());
  return body as { error: string; message: string };
}

// --- people, logins and factors, through the API ----------------------------------------

export const sessionCookie = (agent: Agent) => agent.cookies.get('tessera_session');
/** A browser that holds this session token (planted, or copied by a thief). */
export function withSessionCookie(h: Harness, token: string): Agent {
  const agent = new Agent(h.app);
  agent.cookies.set('tessera_session', token);
  return agent;
}
export const sessionRow = (h: Harness, token: string) => h.ctx.db.selectFrom('sessions').selectAll().where('id', '=', hashToken(token)).executeTakeFirst();

/** A firm on an active subscription whose staff (case managers, vendor case managers) are MFA-enabled. */
export async function mfaFirm(h: Harness, licences = 20): Promise<TestFirm> {
  const f = await firmWithAdmin(h);
  await activateSubscription(h, f.firm.id, licences);
  await enableMfaForStaff(h, f.firm.id);
  return f;
}

let seq = 0;
/** A new case manager of the firm, with the harness PASSWORD. */
export function person(h: Harness, f: TestFirm, o: { superuser?: boolean; password?: string | null } = {}): Promise<UserView> {
  const n = ++seq;
  return addUser(h, f.firm.id, { name: `Sec ${n}`, email: `sec-${n}-${f.firm.slug}@example.com`, kind: 'case_manager', isSuperuser: o.superuser }, o.password === undefined ? PASSWORD : o.password);
}

/** Password login; asserts 200 and the next step. */
export async function loginAs(h: Harness, f: TestFirm, user: { email: string }, next: 'home' | 'second_factor' | 'enroll', agent = new Agent(h.app)): Promise<Agent> {
  const res = await agent.post(api('/login'), { email: user.email, password: PASSWORD, firm: f.firm.slug });
  expect(res.statusCode, res.body).toBe(200);
  expect(res.json().next).toBe(next);
  return agent;
}

export const totpCode = (secret: string, at: number) => TOTP.generate({ ...TOTP_PARAMS, secret: Secret.fromBase32(secret), timestamp: at });

export interface TotpUser {
  user: UserView;
  secret: string;
  authenticatorId: string;
  backupCodes: string[];
}

/** A user who enrolled an authenticator app at first login (the code of the current step is used up), then logged out. */
export async function totpUser(h: Harness, f: TestFirm, o: { superuser?: boolean } = {}): Promise<TotpUser> {
  const user = await person(h, f, o);
  const agent = await loginAs(h, f, user, 'enroll');
  const begun = (await agent.post(api('/mfa/enrollment/totp'), {})).json() as { authenticatorId: string; secret: string };
  const res = await agent.post(api(`/mfa/enrollment/totp/${begun.authenticatorId}/confirm`), { code: totpCode(begun.secret, h.clock.now()) });
  expect(res.statusCode, res.body).toBe(200);
  await agent.post(api('/logout'));
  return { user, secret: begun.secret, authenticatorId: begun.authenticatorId, backupCodes: res.json().backupCodes };
}

/** Moves the clock to the next TOTP step (no code of it used yet) and returns its code. */
export function freshCode(h: Harness, secret: string): string {
  h.clock.advance(TOTP_PARAMS.period * 1000);
  return totpCode(secret, h.clock.now());
}

export interface PushUser {
  user: UserView;
  device: DeviceSimulator;
  authenticatorId: string;
}

/** A user who enrolled the Tessera Authenticator at first login (activation, complete), then logged out. */
export async function pushUser(h: Harness, f: TestFirm): Promise<PushUser> {
  const user = await person(h, f);
  const agent = await loginAs(h, f, user, 'enroll');
  const begun = await agent.post(api('/mfa/enrollment/push'), { phone: { number: '07911 123456', country: 'GB' } });
  expect(begun.statusCode, begun.body).toBe(201);
  const { authenticatorId, activationUrl } = begun.json() as { authenticatorId: string; activationUrl: string };
  const device = await DeviceSimulator.create(h.app, h.clock);
  const activated = await device.activate(activationUrl);
  expect(activated.statusCode, activated.body).toBe(200);
  const done = await agent.post(api(`/mfa/enrollment/push/${authenticatorId}/complete`));
  expect(done.statusCode, done.body).toBe(200);
  await agent.post(api('/logout'));
  return { user, device, authenticatorId };
}

/** Sends a push from a pending login; returns the transaction. */
export async function sendPush(agent: Agent): Promise<{ transactionId: string; number: string }> {
  const res = await agent.post(api('/mfa/push'));
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

export interface KeyUser {
  user: UserView;
  key: SoftAuthenticator;
  credential: SoftCredential;
  authenticatorId: string;
}

export const softKey = (h: Harness) => new SoftAuthenticator({ origin: h.ctx.config.publicUrl.origin });

/** Registers a security key in the agent's session (enrollment or "add another"); asserts success. */
export async function registerKey(agent: Agent, key: SoftAuthenticator): Promise<{ authenticatorId: string; credential: SoftCredential; res: LightMyRequestResponse }> {
  const opts = await agent.post(api('/mfa/enrollment/webauthn/options'), { label: 'Security key' });
  expect(opts.statusCode, opts.body).toBe(200);
  const { authenticatorId, options } = opts.json();
  const { response, credential } = key.register(options);
  const res = await agent.post(api(`/mfa/enrollment/webauthn/${authenticatorId}/verify`), { response });
  expect(res.statusCode, res.body).toBe(200);
  return { authenticatorId, credential, res };
}

/** A user who enrolled a security key at first login, then logged out. */
export async function keyUser(h: Harness, f: TestFirm): Promise<KeyUser> {
  const user = await person(h, f);
  const agent = await loginAs(h, f, user, 'enroll');
  const key = softKey(h);
  const { authenticatorId, credential } = await registerKey(agent, key);
  await agent.post(api('/logout'));
  return { user, key, credential, authenticatorId };
}

/** The options of a security-key second factor in a pending login. */
export async function assertionOptions(agent: Agent): Promise<{ challenge: string }> {
  const res = await agent.post(api('/mfa/webauthn/options'));
  expect(res.statusCode, res.body).toBe(200);
  return res.json().options;
}

/** Median of a list of numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
