import fc from 'fast-check';
import type { FastifySchema } from 'fastify';
import { validatorCompiler } from '../../src/http/validation.js';

/**
 * Malformed requests for the fuzz test (test/fuzz.test.ts), built from a route's own schema:
 * a plausible value for every part the route declares, then one to three mutations that
 * break it (wrong types, missing and extra fields, huge strings, odd unicode, deep nesting,
 * prototype-pollution keys, invalid JSON, wrong content types, bad cookies and CSRF headers,
 * ids of the wrong shape). Each request says whether it is certainly malformed: the route's
 * own validators (the app's validatorCompiler) decide that, not a guess of this file.
 */

export const BODY_LIMIT = 64 * 1024;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Schema = Record<string, any>;

/** What a persona sends besides the request: its cookies, a CSRF token, and whether it signs as a device. */
export interface Persona {
  name: string;
  cookies: Record<string, string>;
  csrfToken: string | null;
  /** Signs the final request as the Tessera Authenticator (device routes only). */
  sign?: (method: string, url: string, payload: string | undefined) => Promise<Record<string, string>>;
}

export interface FuzzRoute {
  method: string;
  url: string;
  schema: FastifySchema | undefined;
  /** Cookies and CSRF do not apply (the device API). */
  device: boolean;
  /** The OpenID Provider answers (src/oidc/oidc.routes.ts): OAuth 2.0's rules, not the API's. */
  oauth?: boolean;
  /** The Duo door answers (src/duo/door.ts): Duo's envelope, not the API's. */
  duo?: boolean;
}

/** One generated request, and what the fuzz test may expect of it. */
export interface FuzzRequest {
  persona: Persona;
  method: string;
  url: string;
  headers: Record<string, string>;
  payload: string | undefined;
  /** Certainly refused (4xx) by parsing, CSRF or the route's schema, before any handler runs. */
  malformed: boolean;
  /** The mutations applied, for the failure report. */
  mutations: string[];
}

// --- nasty values -------------------------------------------------------------------------

export const POLLUTION_KEYS = ['__proto__', 'constructor', 'prototype'] as const;

const nastyStrings: string[] = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfffy',
  '\u202eevil\u202c',
  'مرحبا بالعالم',
  '\u200b\u200d\ufeff',
  '😀'.repeat(50),
  'e\u0301\u0301\u0301',
  '../../../etc/passwd',
  '%00%ZZ%E0%A4%A',
  "' OR 1=1 --",
  '<script>alert(1)</script>',
  '${7*7}{{7*7}}',
  '__proto__',
  'constructor',
  'NaN',
  '-1',
  '1e309',
  'null',
  'true',
  '\r\nSet-Cookie: x=y',
];

const hugeString = (size: number) => fc.constantFrom('a', 'é', '😀', '\u0000').map((c) => c.repeat(Math.ceil(size / c.length)));

/** Nested `depth` times: arrays, objects or a mix. */
const deep = (depth: number, kind: 'array' | 'object'): Json => {
  let v: Json = 1;
  for (let i = 0; i < depth; i++) v = kind === 'array' ? [v] : { a: v };
  return v;
};

/** An object with own keys that could pollute a prototype if someone merged it carelessly. */
const withOwnKeys = (entries: [string, Json][]): { [k: string]: Json } => {
  const o: { [k: string]: Json } = {};
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, configurable: true, writable: true });
  return o;
};

const pollutionObject: fc.Arbitrary<Json> = fc.constantFrom(...POLLUTION_KEYS).map((k) =>
  withOwnKeys([[k, k === 'constructor' ? withOwnKeys([['prototype', { polluted: 'yes' }]]) : { polluted: 'yes' }]]),
);

/** A value of some type, weird more often than not. */
export const garbage: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(...nastyStrings),
  fc.constantFrom<Json>(null, true, false, 0, -1, 1.5, -0, 2 ** 53 + 1, 1e308, -1e308, [], {}),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.integer(),
  fc.double(),
  hugeString(100).map((s) => s as Json),
  hugeString(5_000).map((s) => s as Json),
  fc.constantFrom(20, 200, 2_000).chain((d) => fc.constantFrom(deep(d, 'array'), deep(d, 'object'))),
  pollutionObject,
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
);

// --- a plausible value from a schema ------------------------------------------------------

function stringFor(s: Schema): fc.Arbitrary<Json> {
  const max = Math.min(s.maxLength ?? 40, 40);
  const min = Math.min(s.minLength ?? 0, max);
  if (s.format === 'email') return fc.emailAddress().map((e) => e.slice(-(s.maxLength ?? 254)));
  if (s.format === 'uuid') return fc.uuid();
  if (s.format === 'uri') return fc.webUrl();
  // Cut to length rather than filtered (a filter that can never pass never ends); the validator has the last word.
  if (s.pattern) return fc.stringMatching(new RegExp(s.pattern)).map((v) => v.slice(0, s.maxLength ?? Infinity));
  return fc.string({ minLength: min, maxLength: max });
}

/** A value that the schema probably accepts (the route's validator decides). */
export function plausible(s: Schema | undefined, depth = 0): fc.Arbitrary<Json> {
  if (!s || depth > 6) return garbage;
  if (s.const !== undefined) return fc.constant(s.const);
  if (Array.isArray(s.enum)) return fc.constantFrom(...s.enum);
  if (Array.isArray(s.anyOf)) return fc.oneof(...s.anyOf.map((x: Schema) => plausible(x, depth + 1)));
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case 'object': {
      const props: Record<string, Schema> = s.properties ?? {};
      const model = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, plausible(v, depth + 1)]));
      return fc.record(model, { requiredKeys: (s.required ?? []).filter((k: string) => k in props) }) as fc.Arbitrary<Json>;
    }
    case 'string':
      return stringFor(s);
    case 'integer':
      return fc.integer({ min: s.minimum ?? -1_000_000, max: s.maximum ?? 1_000_000 });
    case 'number':
      return fc.double({ min: s.minimum ?? -1e6, max: s.maximum ?? 1e6, noNaN: true });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(plausible(s.items, depth + 1), { minLength: s.minItems ?? 0, maxLength: Math.min(s.maxItems ?? 3, 3) });
    default:
      return garbage;
  }
}

// --- mutations ----------------------------------------------------------------------------

/** Every path (list of keys) to a value inside `v`, the root included. */
function paths(v: Json, at: string[] = [], out: string[][] = []): string[][] {
  out.push(at);
  if (v !== null && typeof v === 'object' && at.length < 4) for (const k of Object.keys(v)) paths((v as Record<string, Json>)[k]!, [...at, k], out);
  return out;
}

function setAt(root: Json, at: string[], value: Json | undefined): Json {
  if (at.length === 0) return value === undefined ? null : value;
  const copy: Json = Array.isArray(root) ? [...root] : withOwnKeys(Object.entries(root as object) as [string, Json][]);
  const [head, ...rest] = at;
  const child = (copy as Record<string, Json>)[head!]!;
  if (rest.length === 0 && value === undefined) delete (copy as Record<string, Json>)[head!];
  else Object.defineProperty(copy, head!, { value: rest.length ? setAt(child, rest, value) : value, enumerable: true, configurable: true, writable: true });
  return copy;
}

type Mutation = (v: Json) => fc.Arbitrary<[Json, string]>;

const pick = (v: Json) => fc.constantFrom(...paths(v));
const label = (at: string[]) => at.join('.') || '(root)';

/** Mutations of a JSON value: every one of them may make it invalid. */
const valueMutations: Mutation[] = [
  // a wrong type (or a weird value) anywhere
  (v) => fc.tuple(pick(v), garbage).map(([at, g]) => [setAt(v, at, g), `replace ${label(at)}`]),
  // a missing field (or no body at all)
  (v) => pick(v).map((at) => [at.length ? setAt(v, at, undefined) : (undefined as unknown as Json), `drop ${label(at)}`]),
  // an extra field, often one named like a prototype
  (v) =>
    fc
      .tuple(pick(v), fc.oneof(fc.constantFrom<string>(...POLLUTION_KEYS, 'extra', '', '\u0000', '$where'), fc.string({ maxLength: 10 })), garbage)
      .map(([at, k, g]) => {
        let target: Json = at.reduce<Json>((o, key) => (o as Record<string, Json>)[key]!, v);
        if (target === null || typeof target !== 'object' || Array.isArray(target)) target = {};
        return [setAt(v, at, withOwnKeys([...(Object.entries(target) as [string, Json][]), [k, g]])), `add ${JSON.stringify(k)} at ${label(at)}`];
      }),
  // a long string where a short one belongs (below the body limit, so the schema must catch it)
  (v) => fc.tuple(pick(v), hugeString(40_000)).map(([at, s]) => [setAt(v, at, s), `40 KB string at ${label(at)}`]),
];

const mutateValue = (v: Json): fc.Arbitrary<[Json, string]> => fc.constantFrom(...valueMutations).chain((m) => m(v));

/** Payload-level breakage: the text itself, its size or its content type. */
const payloadMutations: fc.Arbitrary<{ payload?: string; contentType?: string; note: string }> = fc.oneof(
  fc
    .constantFrom(
      '{',
      '{"a":',
      '{"a":1,}',
      "{'a':1}",
      '{"a":NaN}',
      '{"a":1}{"b":2}',
      '\ufeff{}',
      '{"a":"\ud800"}',
      '{"a":"\\ud800"}',
      'null',
      '[]',
      '"string"',
      '12',
      '{"__proto__":{"polluted":"yes"}}',
      '{"constructor":{"prototype":{"polluted":"yes"}}}',
      '{"a":{"__proto__":{"polluted":"yes"}}}',
      '\u0000',
      '[' .repeat(5000),
      '['.repeat(20_000) + ']'.repeat(20_000),
      '{"a":'.repeat(5000) + '1' + '}'.repeat(5000),
    )
    .map((payload) => ({ payload, note: `payload ${JSON.stringify(payload.slice(0, 30))}` })),
  fc.constant({ payload: '', contentType: 'application/json', note: 'empty JSON body' }),
  hugeString(100 * 1024).map((s) => ({ payload: JSON.stringify({ big: s }), note: 'body above the limit' })),
  fc
    .constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/json; charset=utf-16', 'application/jsonx', '*/*', 'text/html')
    .map((contentType) => ({ payload: '{"a":1}', contentType, note: `content-type ${contentType}` })),
);

// --- parts of the URL -----------------------------------------------------------------------

/** A URL cannot carry a lone surrogate (a browser sends U+FFFD); the raw bytes of one are in the garbage below. */
export const wellFormed = (s: string) => s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
const enc = (s: string) => encodeURIComponent(wellFormed(s));

/** A path param value: raw text for the URL (already encoded, or garbage on purpose) and the value the router would decode. */
const paramValue = (realIds: string[]): fc.Arbitrary<{ raw: string; decoded: string | null; odd: boolean }> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...realIds, '00000000-0000-4000-8000-000000000000').map((v) => ({ raw: enc(v), decoded: v, odd: false })) },
    {
      weight: 5,
      arbitrary: fc
        .oneof(fc.constantFrom(...nastyStrings.filter((s) => s !== ''), ...POLLUTION_KEYS), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }), hugeString(65), hugeString(10_000), fc.integer().map(String))
        .map((v) => ({ raw: enc(v), decoded: wellFormed(v), odd: true })),
    },
    { weight: 1, arbitrary: fc.constantFrom('%ZZ', '%E0%A4%A', '%', '%%', '%C0%AF', '%ED%A0%80').map((raw) => ({ raw, decoded: null, odd: true })) },
  );

/** A query: as an object (for the validator) and as text. */
const queryFor = (schema: Schema | undefined): fc.Arbitrary<{ text: string; value: Record<string, string | string[]> | null; note: string }> => {
  const fromSchema = plausible(schema ?? { type: 'object', properties: {} }).map((v) =>
    Object.fromEntries(Object.entries((v ?? {}) as object).map(([k, x]) => [wellFormed(k), wellFormed(typeof x === 'string' ? x : JSON.stringify(x) ?? '')])),
  );
  const garbageEntry = fc.tuple(
    fc.oneof(fc.constantFrom<string>(...POLLUTION_KEYS, 'constructor[prototype][polluted]', '__proto__[polluted]', 'a[b][c]', 'page', 'pageSize', 'q'), fc.string({ maxLength: 10 })),
    fc.oneof(fc.constantFrom(...nastyStrings), hugeString(10_000), fc.integer().map(String), fc.string({ unit: 'grapheme', maxLength: 20 })),
  );
  return fc.oneof(
    fc.tuple(fromSchema, fc.array(garbageEntry, { minLength: 1, maxLength: 3 })).map(([base, extra]) => {
      const value: Record<string, string | string[]> = { ...base };
      for (const [k, x] of extra.map(([k, x]) => [wellFormed(k), wellFormed(x)] as const)) {
        const prev = Object.prototype.hasOwnProperty.call(value, k) ? value[k] : undefined;
        Object.defineProperty(value, k, { value: prev === undefined ? x : [prev, x].flat(), enumerable: true, configurable: true, writable: true });
      }
      const text = Object.entries(value)
        .flatMap(([k, x]) => [x].flat().map((one) => `${enc(k)}=${enc(one)}`))
        .join('&');
      return { text, value, note: `query ${text.slice(0, 60)}` };
    }),
    fc.constantFrom('%ZZ=1', 'page=%ZZ', '&&&==&', 'a=1&a=2&a=3', '=x', 'q=%00', 'page=1e400').map((text) => ({ text, value: null, note: `query ${text}` })),
    fromSchema.map((value) => ({ text: new URLSearchParams(value as Record<string, string>).toString(), value, note: 'query from the schema' })),
  );
};

// --- headers ------------------------------------------------------------------------------

const headerMutations: fc.Arbitrary<{ note: string; apply: (h: Record<string, string>, persona: Persona) => void; breaksCsrf: boolean }> = fc.oneof(
  fc.constant({ note: 'no CSRF header', breaksCsrf: true, apply: (h: Record<string, string>) => void delete h['x-csrf-token'] }),
  fc
    .constantFrom('garbage', '', 'a'.repeat(5000), '\u00e9\u00e8', 'null', '__proto__')
    .map((t) => ({ note: `CSRF header ${JSON.stringify(t.slice(0, 20))}`, breaksCsrf: true, apply: (h: Record<string, string>) => void (h['x-csrf-token'] = t) })),
  fc.constantFrom('https://evil.example', 'null').map((o) => ({
    note: `origin ${o}`,
    breaksCsrf: o !== 'null',
    apply: (h: Record<string, string>) => void (h.origin = o),
  })),
  fc.constant({ note: 'sec-fetch-site cross-site', breaksCsrf: true, apply: (h: Record<string, string>) => void (h['sec-fetch-site'] = 'cross-site') }),
  fc
    .constantFrom(
      'tessera_session=',
      'tessera_session=' + 'A'.repeat(22),
      'tessera_session=' + 'A'.repeat(5000),
      'tessera_session=%E0%A4%A',
      'tessera_session=a; tessera_session=b',
      ';;==;',
      '__proto__=x; constructor=y',
      'tessera_csrf=garbage',
      'tessera_csrf=',
      '=; =; =',
    )
    .map((c) => ({
      note: `cookie ${c.slice(0, 40)}`,
      // A broken CSRF secret cookie breaks the token; a replaced session cookie only changes who is asking.
      breaksCsrf: c.startsWith('tessera_csrf') || c.startsWith('__proto__') || c.startsWith('=') || c.startsWith(';'),
      apply: (h: Record<string, string>) => void (h.cookie = c),
    })),
  fc
    .record({
      device: fc.constantFrom('', 'x', 'a'.repeat(500), '__proto__'),
      ts: fc.constantFrom('', 'NaN', '-1', '1e400', '99999999999999999999'),
      nonce: fc.constantFrom('', 'x', 'A'.repeat(22), '!'.repeat(22), 'A'.repeat(5000)),
      sig: fc.constantFrom('', 'A'.repeat(86), '!'.repeat(86)),
    })
    .map(({ device, ts, nonce, sig }) => ({
      note: `device signature ${JSON.stringify([device.slice(0, 10), ts, nonce.slice(0, 5), sig.slice(0, 5)])}`,
      breaksCsrf: false,
      apply: (h: Record<string, string>) => Object.assign(h, { 'x-tessera-device': device, 'x-tessera-timestamp': ts, 'x-tessera-nonce': nonce, 'x-tessera-signature': sig }),
    })),
);

// --- whole requests -----------------------------------------------------------------------

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

const validators = new Map<unknown, (data: unknown) => boolean>();
/** The route's own validation of one part (as Fastify would run it); `data` must be a fresh copy (defaults are filled in). */
function passes(schema: unknown, part: 'body' | 'querystring' | 'params', data: unknown): boolean {
  if (!schema) return true;
  let v = validators.get(schema);
  if (!v) {
    v = validatorCompiler({ schema, httpPart: part, method: 'GET', url: '/' }) as (data: unknown) => boolean;
    validators.set(schema, v);
  }
  return v(data);
}

/**
 * Requests for one route: a persona, path params, a query and (for routes that take one) a
 * body, with one to three of the mutations above.
 */
export function requestsFor(route: FuzzRoute, personas: Persona[], realIds: string[]): fc.Arbitrary<FuzzRequest> {
  const schema = (route.schema ?? {}) as Record<string, Schema | undefined>;
  const paramNames = [...route.url.matchAll(/:([A-Za-z0-9_]+)|\*/g)].map((m) => m[1] ?? '*');
  const takesBody = UNSAFE.has(route.method);
  const params = fc.tuple(...paramNames.map(() => paramValue(realIds)));
  const body = plausible(schema.body ?? { type: 'object', properties: {} });
  const parts = fc.record({
    persona: fc.constantFrom(...personas),
    params,
    query: fc.option(queryFor(schema.querystring), { freq: 2 }),
    body: fc.option(body, { freq: 8 }),
    // which kinds of breakage, at least one
    kinds: fc.uniqueArray(fc.constantFrom('params', 'query', 'value', 'value', 'value', 'payload', 'headers'), { minLength: 1, maxLength: 3 }),
    headerMutation: headerMutations,
    payloadMutation: payloadMutations,
  });
  return parts.chain((p) => {
    const value = p.body === null ? fc.constant<[Json | undefined, string]>([undefined, 'no body']) : p.kinds.includes('value') ? mutateValue(p.body) : fc.constant<[Json, string]>([p.body, 'body from the schema']);
    return value.map(([bodyValue, bodyNote]) => build(route, schema, paramNames, p, bodyValue, bodyNote, takesBody));
  });
}

function build(
  route: FuzzRoute,
  schema: Record<string, Schema | undefined>,
  paramNames: string[],
  p: {
    persona: Persona;
    params: { raw: string; decoded: string | null; odd: boolean }[];
    query: { text: string; value: Record<string, string | string[]> | null; note: string } | null;
    kinds: string[];
    headerMutation: { note: string; apply: (h: Record<string, string>, persona: Persona) => void; breaksCsrf: boolean };
    payloadMutation: { payload?: string; contentType?: string; note: string };
  },
  bodyValue: Json | undefined,
  bodyNote: string,
  takesBody: boolean,
): FuzzRequest {
  const mutations: string[] = [`as ${p.persona.name}`];
  let malformed = false;

  // the path
  let path = route.url;
  const decodedParams: Record<string, string> = {};
  let badUrl = false;
  paramNames.forEach((name, i) => {
    const v = p.params[i]!;
    const raw = p.kinds.includes('params') || !v.odd ? v.raw : 'x';
    path = name === '*' ? path.replace('*', raw) : path.replace(`:${name}`, raw);
    if (raw !== v.raw) return void (decodedParams[name] = 'x');
    if (v.decoded === null) badUrl = true;
    else decodedParams[name] = v.decoded;
    mutations.push(`param ${name}=${v.raw.slice(0, 40)}`);
  });
  if (badUrl) malformed = true;
  else if (paramNames.length && !passes(schema.params, 'params', { ...decodedParams })) malformed = true;

  // the query
  let url = path;
  if (p.query && (p.kinds.includes('query') || !schema.querystring)) {
    url += `?${p.query.text}`;
    mutations.push(p.query.note);
    if (p.query.value && !passes(schema.querystring, 'querystring', copyQuery(p.query.value))) malformed = true;
  } else if (schema.querystring && !passes(schema.querystring, 'querystring', {})) malformed = true;

  // the body
  const headers: Record<string, string> = { 'user-agent': 'fuzz' };
  let payload: string | undefined;
  if (takesBody && p.kinds.includes('payload')) {
    payload = p.payloadMutation.payload;
    headers['content-type'] = p.payloadMutation.contentType ?? 'application/json';
    mutations.push(p.payloadMutation.note);
    // What every parser refuses: not JSON, too big, or a type we do not parse.
    // Fastify parses application/json whatever its charset parameter, and skips a BOM.
    const json = payload?.replace(/^\ufeff/, '');
    if (json !== undefined && (Buffer.byteLength(json) > BODY_LIMIT || !headers['content-type'].startsWith('application/json') || headers['content-type'] === 'application/jsonx' || !isJson(json))) malformed = true;
    else if (json !== undefined && schema.body && !passes(schema.body, 'body', JSON.parse(json))) malformed = true;
  } else if (takesBody && bodyValue !== undefined) {
    payload = JSON.stringify(bodyValue);
    headers['content-type'] = 'application/json';
    mutations.push(bodyNote);
    if (Buffer.byteLength(payload) > BODY_LIMIT) malformed = true;
    // Refused by the JSON parser (__proto__, constructor.prototype) or else by the same validator.
    else if (schema.body && !passes(schema.body, 'body', JSON.parse(payload))) malformed = true;
  } else if (takesBody && schema.body && !passes(schema.body, 'body', undefined)) {
    malformed = true;
  }

  // cookies, CSRF, signatures
  const cookies = { ...p.persona.cookies };
  if (Object.keys(cookies).length) headers.cookie = Object.entries(cookies).map(([k, v]) => `${k}=${v}`).join('; ');
  if (p.persona.csrfToken && UNSAFE.has(route.method)) headers['x-csrf-token'] = p.persona.csrfToken;
  const csrfApplies = UNSAFE.has(route.method) && !route.device && route.url.startsWith('/api/v1/');
  if (csrfApplies && !p.persona.csrfToken) malformed = true;
  if (p.kinds.includes('headers')) {
    p.headerMutation.apply(headers, p.persona);
    mutations.push(p.headerMutation.note);
    if (csrfApplies && p.headerMutation.breaksCsrf) malformed = true;
  }
  return { persona: p.persona, method: route.method, url, headers, payload, malformed, mutations };
}

/** A copy that keeps own keys such as __proto__ as own keys. */
const copyQuery = (q: Record<string, string | string[]>) => {
  const o: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(q)) Object.defineProperty(o, k, { value: Array.isArray(v) ? [...v] : v, enumerable: true, configurable: true, writable: true });
  return o;
};

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
