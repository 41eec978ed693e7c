import { expect } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import type { App } from '../../src/app.js';
import { dbState, type Harness } from './harness.js';

/**
 * What the security suite (test/security/) shares: the routes of the app as the app itself
 * declares them (so a new route is covered, or fails the suite, without anyone remembering
 * to add it), and "firm B's data" as a snapshot. People, logins and factors are in fixtures.ts and factors.ts.
 */

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

/** Median of a list of numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
