import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { authApiRoutes } from './auth-api.routes.js';
import { duoIntegration, markAuthenticated, type DuoIntegration } from './authenticated.js';
import { DuoError, sendDuoError } from './envelope.js';
import { recordRefusedSignature, RefusalSlots } from './refused-signatures.js';
import { decodeFormPairs, decodeUtf8, paramsObject } from './form-params.js';
import { DUO_PREFIXES, type DuoPrefix, type DuoRouteModule } from './route-module.js';
import { authenticateSignedRequest, type SignedBody } from './signature.js';

/**
 * The Duo door: Duo's Auth API (and later the Universal Prompt) for applications that keep
 * Duo's own client libraries and change only the API hostname and keys. A self-contained
 * Fastify plugin at the root (Duo's paths, not /api/v1): its own body parsers (form-encoded
 * and JSON, with the raw bytes the signature needs), its own error and not-found handlers
 * (Duo's `{"stat":"FAIL","code":...}` envelope), and one hook that authenticates every route
 * by Duo's request signature, against an injected integration look-up. None of the /api/v1
 * machinery (session, CSRF, `{error, message}`) applies here: those are the web door's own
 * hooks (src/web/door.ts), which never see these paths.
 *
 * An endpoint is a route in a module of `duoRouteModules` (or the `routes` option); it finds its
 * parameters in `request.query` (GET, DELETE) or `request.body` (POST), decoded by the same
 * code that checked the signature, and the authenticated integration with duoIntegration().
 */

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A Duo route anyone may call without a signature (the Auth API's ping). */
    duoUnsigned?: boolean;
  }
}


/**
 * Finds the integration of an integration key: null when there is none, or when it may not be
 * used (a disabled application), so that both answer 40102.
 */
export type LookupIntegration<I extends DuoIntegration = DuoIntegration> = (ikey: string) => Promise<I | null>;

export { DUO_PREFIXES, duoIntegration, type DuoIntegration, type DuoPrefix, type DuoRouteModule };

/** Every endpoint module of the door, in one list. */
export const duoRouteModules: DuoRouteModule[] = [authApiRoutes];

export interface DuoDoorOptions<I extends DuoIntegration = DuoIntegration> {
  lookupIntegration: LookupIntegration<I>;
  /** The endpoint modules (default duoRouteModules; tests add their own). */
  routes?: DuoRouteModule[];
}

/** Whether a URL belongs to the Duo door (its requests carry no cookies and are signed: no CSRF token). */
export const isDuoApi = (url: string) => DUO_PREFIXES.some((p) => url === p || url.startsWith(`${p}/`) || url.startsWith(`${p}?`));

/** The clients put parameters in the body for these methods, in the query string for the others. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

const jsonBodies = new WeakMap<FastifyRequest, Buffer>();
const formBodies = new WeakMap<FastifyRequest, [string, string][]>();


export function duoDoor<I extends DuoIntegration>(ctx: AppContext, options: DuoDoorOptions<I>): FastifyPluginAsync {
  const modules = options.routes ?? duoRouteModules;
  // Per app: which integration keys had a refused signature audited this minute (refused-signatures.ts).
  const refusals = new RefusalSlots();
  return async (door) => {
    door.setErrorHandler(sendDuoError);

    // Only Duo's two encodings. The bytes are kept: the signature covers them exactly.
    door.removeAllContentTypeParsers();
    door.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'buffer' }, (request, body, done) => {
      const pairs = decodeFormPairs(body as Buffer);
      if (!pairs) return done(new DuoError('INVALID_PARAMETERS', 'The form body has a broken %-escape or is not UTF-8.'), undefined);
      formBodies.set(request, pairs);
      done(null, paramsObject(pairs));
    });
    // Fastify's own JSON parser: refuses __proto__ and constructor.prototype keys.
    const parseJson = door.getDefaultJsonParser('error', 'error');
    door.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
      const text = decodeUtf8(body as Buffer);
      if (text === null) return done(new DuoError('INVALID_PARAMETERS', 'The JSON body is not UTF-8.'), undefined);
      jsonBodies.set(request, body as Buffer);
      parseJson(request, text, done);
    });

    // An answer is about one request at one moment; no cache may keep it.
    door.addHook('onSend', async (_request, reply) => {
      reply.header('cache-control', 'no-store');
    });

    // After parsing (the signature covers the body), before the route's schema: a request that
    // is not signed is refused before any parameter of it is judged.
    door.addHook('preValidation', async (request) => {
      if (request.is404 || request.routeOptions.config.duoUnsigned) return;
      const { params, body } = signedParameters(request);
      const url = request.url;
      const result = await authenticateSignedRequest(
        {
          method: request.method,
          // HTTP/1.0 may come without a Host header: then no host can match and the signature fails.
          hosts: [request.host, request.hostname].filter((h): h is string => typeof h === 'string' && h !== ''),
          path: url.includes('?') ? url.slice(0, url.indexOf('?')) : url,
          params,
          body,
          date: header(request, 'x-duo-date') ?? header(request, 'date'),
          duoHeaders: Object.keys(request.headers)
            .filter((name) => name.startsWith('x-duo-'))
            .map((name) => [name, header(request, name)!] as const),
          authorization: header(request, 'authorization') ?? undefined,
        },
        options.lookupIntegration,
        ctx.clock.now(),
      );
      if (!result.ok) {
        try {
          const ua = request.headers['user-agent'];
          await recordRefusedSignature(ctx, refusals, result, options.lookupIntegration, { ip: request.ip, userAgent: typeof ua === 'string' ? ua : null });
        } catch (err) {
          // The audit of a refusal never turns it into another answer.
          request.log.error({ err }, 'auditing a refused Duo signature failed');
        }
        throw new DuoError(result.failure, result.detail);
      }
      markAuthenticated(request, result.integration);
    });

    for (const prefix of DUO_PREFIXES) {
      const here = modules.filter((m) => m.prefix === prefix);
      await door.register(
        async (scope) => {
          scope.setNotFoundHandler((request, reply) => sendDuoError(new DuoError('NOT_FOUND'), request, reply));
          for (const m of here) await scope.register(m.routes(ctx));
        },
        { prefix },
      );
    }
  };
}

function header(request: FastifyRequest, name: string): string | null {
  const v = request.headers[name];
  return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
}

/**
 * The parameters the signature covers, from the one place the clients put them: the query
 * string of a GET or DELETE (then `request.query` is replaced by the strict decoding, so the
 * route reads what was verified), the form or JSON body of a POST. Parameters in both places
 * are refused rather than half-signed: a v2 signature of a POST covers only its body, one of a
 * GET only its query.
 */
function signedParameters(request: FastifyRequest): { params: [string, string][]; body: SignedBody } {
  const q = request.url.indexOf('?');
  const rawQuery = q < 0 ? '' : request.url.slice(q + 1);
  if (BODY_METHODS.has(request.method)) {
    if (rawQuery !== '') throw new DuoError('INVALID_PARAMETERS', `A ${request.method} carries its parameters in the body, not in the query string.`);
    const raw = jsonBodies.get(request);
    if (raw) {
      if (typeof request.body !== 'object' || request.body === null || Array.isArray(request.body)) throw new DuoError('INVALID_PARAMETERS', 'The JSON body must be an object.');
      return { params: [], body: { kind: 'json', raw } };
    }
    if (request.body === undefined) request.body = paramsObject([]);
    return { params: formBodies.get(request) ?? [], body: { kind: 'form' } };
  }
  if (request.body !== undefined) throw new DuoError('INVALID_PARAMETERS', `A ${request.method} carries its parameters in the query string, not in a body.`);
  const pairs = decodeFormPairs(rawQuery);
  if (!pairs) throw new DuoError('INVALID_PARAMETERS', 'The query string has a broken %-escape or is not UTF-8.');
  request.query = paramsObject(pairs);
  return { params: pairs, body: { kind: 'none' } };
}
