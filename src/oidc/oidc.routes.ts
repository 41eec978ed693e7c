import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import type Provider from 'oidc-provider';
import { Type } from 'typebox';
import type { AppContext } from '../context.js';
import { abortInteraction, ABORT_ERRORS, runInteraction, type AbortError } from './interaction.js';
import { ensureSigningKeys, KEY_REFRESH_MS, providerJwks, publishedKeys } from './keys.js';
import { interactionPath, OIDC_ROUTES } from './paths.js';
import type { ProviderSources } from './provider.js';

/**
 * The OpenID Connect front door: oidc-provider mounted in Tessera's Fastify app, in the same
 * process and origin. Its routes hand the raw request to the provider (a Koa app) and stay out
 * of the API's global hooks (session, CSRF, JSON-only bodies, the `{error, message}` shape):
 * the provider parses its own form bodies, authenticates its own clients and answers errors as
 * OAuth 2.0 says (RFC 6749 5.2, `{error, error_description}`).
 */

/** Each path the provider serves, with its methods (OPTIONS: its CORS preflights). */
const PROVIDER_PATHS: [string, HTTPMethods[]][] = [
  ['/.well-known/openid-configuration', ['GET', 'OPTIONS']],
  ['/.well-known/oauth-authorization-server', ['GET', 'OPTIONS']],
  [OIDC_ROUTES.authorization, ['GET']],
  [`${OIDC_ROUTES.authorization}/:uid`, ['GET']],
  [OIDC_ROUTES.token, ['POST', 'OPTIONS']],
  [OIDC_ROUTES.userinfo, ['GET', 'POST', 'OPTIONS']],
  [OIDC_ROUTES.jwks, ['GET', 'OPTIONS']],
  [OIDC_ROUTES.revocation, ['POST', 'OPTIONS']],
  [OIDC_ROUTES.end_session, ['GET']],
  [`${OIDC_ROUTES.end_session}/confirm`, ['POST']],
  [`${OIDC_ROUTES.end_session}/success`, ['GET']],
];

/** Whether a route (as registered, e.g. `/oidc/auth/:uid`) is one the provider answers, in OAuth's error shape. */
export const isProviderRoute = (url: string) => PROVIDER_PATHS.some(([path]) => path === url);

/** Whether a request belongs to the OpenID Connect door (exempt from the API's CSRF check: the provider has its own). */
export const isOidcDoor = (url: string) => /^\/(oidc(\/|\?|$)|\.well-known\/(openid-configuration|oauth-authorization-server)(\/|\?|$))/.test(url);

/**
 * The API's Content-Security-Policy without `form-action`: the provider's pages post forms to
 * the applications (response_mode=form_post, the logout confirmation redirecting to
 * post_logout_redirect_uri), which `form-action 'self'` would block. Its one inline script (the
 * form_post auto-submit) gets its hash added to script-src by oidc-provider itself.
 */
const PROVIDER_CSP = "default-src 'self';script-src 'self';style-src 'self' 'unsafe-inline';img-src 'self' data:;connect-src 'self';object-src 'none';base-uri 'self';frame-ancestors 'none'";

interface Serving {
  provider: Provider;
  callback: ReturnType<Provider['callback']>;
  /** The kids in the provider's order: a change means new keys to sign or publish. */
  fingerprint: string;
}

export interface OidcDoor {
  /** The provider now serving; built on first use, with the signing keys made if there are none. */
  provider(): Promise<Provider>;
  /**
   * Reads the signing keys again and, when what is published or what signs has changed (a
   * rotation, a key's activation, a retired key's end of publication), swaps in a provider built
   * with them. Runs every KEY_REFRESH_MS once the provider is built; requests in flight finish on
   * the provider they started on, and all state is in the database, so nothing is lost.
   */
  refreshKeys(): Promise<void>;
  /** Hands one request to the provider, as it would arrive at the issuer. */
  handle(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  /** Makes a request look, to oidc-provider, as it arrived at the issuer (its scheme, host and the client's address). */
  pinForwarded(request: FastifyRequest): void;
  /** Where the provider finds its clients and accounts (the interaction reads them too). */
  sources: ProviderSources;
  close(): void;
}

export function createOidcDoor(ctx: AppContext, sources: ProviderSources, log: FastifyBaseLogger): OidcDoor {
  let serving: Promise<Serving> | null = null;
  let timer: NodeJS.Timeout | null = null;

  const load = async (): Promise<{ jwks: ReturnType<typeof providerJwks>; fingerprint: string }> => {
    const now = ctx.clock.now();
    const jwks = providerJwks(ctx, await publishedKeys(ctx.db, now), now);
    return { jwks, fingerprint: jwks.keys.map((k) => k.kid).join(' ') };
  };
  const build = async ({ jwks, fingerprint }: Awaited<ReturnType<typeof load>>): Promise<Serving> => {
    const { createProvider } = await import('./provider.js');
    const provider = createProvider(ctx, jwks, sources, log);
    return { provider, callback: provider.callback(), fingerprint };
  };
  const current = (): Promise<Serving> => {
    if (!serving) {
      serving = (async () => {
        await ensureSigningKeys(ctx);
        const built = await build(await load());
        if (!timer) {
          timer = setInterval(() => void door.refreshKeys().catch((err) => log.warn({ err }, 'could not reload the OpenID signing keys; serving with the ones loaded')), KEY_REFRESH_MS);
          timer.unref();
        }
        return built;
      })();
      // A failed first build (database away) is tried again by the next request.
      serving.catch(() => (serving = null));
    }
    return serving;
  };

  const door: OidcDoor = {
    provider: async () => (await current()).provider,
    async refreshKeys() {
      const before = await current();
      const next = await load();
      if (next.fingerprint !== before.fingerprint) serving = Promise.resolve(await build(next));
    },
    async handle(request, reply) {
      const { callback } = await current();
      reply.hijack();
      door.pinForwarded(request);
      reply.raw.setHeader('content-security-policy', PROVIDER_CSP);
      await callback(request.raw, reply.raw);
    },
    pinForwarded(request) {
      const headers = request.raw.headers;
      headers['x-forwarded-proto'] = ctx.config.publicUrl.protocol.slice(0, -1);
      headers['x-forwarded-host'] = ctx.config.publicUrl.host;
      headers['x-forwarded-for'] = request.ip;
    },
    sources,
    close() {
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
  return door;
}

const UidParams = Type.Object({ uid: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }) });
/** `login`: when the browser was sent to sign in for this interaction, signed (src/oidc/interaction.ts). */
const InteractionQuery = Type.Object({ login: Type.Optional(Type.String({ maxLength: 80 })) });
const AbortQuery = Type.Object({ error: Type.Union(Object.keys(ABORT_ERRORS).map((e) => Type.Literal(e as AbortError))) }, { additionalProperties: false });

/** The provider's routes, and Tessera's interaction page. Not in the OpenAPI document: discovery describes them. */
export const oidcRoutes =
  (ctx: AppContext, door: OidcDoor): FastifyPluginAsyncTypebox =>
  async (app) => {
    // The provider reads its own bodies (form-encoded, 56 KB at most): Fastify must leave the
    // stream untouched, whatever the content type (JSON-only parsing is the API's rule, not OAuth's).
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
    for (const [url, methods] of PROVIDER_PATHS) {
      app.route({
        method: methods,
        url,
        schema: { hide: true },
        handler: (request, reply) => {
          // The provider answers CORS preflights; any other OPTIONS would reach its router as a
          // plain-text 404. It is HTTP's question "what may I do here?": 204 and Allow.
          if (request.method === 'OPTIONS' && !request.headers['access-control-request-method']) {
            return reply.code(204).header('allow', methods.filter((m) => m !== 'OPTIONS').join(', ')).send();
          }
          return door.handle(request, reply);
        },
      });
    }

    // Where the provider sends the browser to sign in (interactions.url): Tessera's login, src/oidc/interaction.ts.
    app.get(
      interactionPath(':uid'),
      { schema: { hide: true, params: UidParams, querystring: InteractionQuery } },
      async (request, reply) => {
        const provider = await door.provider();
        door.pinForwarded(request);
        const answer = await runInteraction(ctx, provider, door.sources, { req: request.raw, res: reply.raw }, request.params.uid, request.query.login);
        reply.header('cache-control', 'no-store');
        if ('redirect' in answer) return reply.redirect(answer.redirect, 303);
        return reply.code(answer.status).type('text/html').header('content-security-policy', PROVIDER_CSP).send(answer.html);
      },
    );

    // "Return to the application" from a page that cannot sign the user in: the application gets the error.
    app.post(
      `${interactionPath(':uid')}/abort`,
      { schema: { hide: true, params: UidParams, querystring: AbortQuery } },
      async (request, reply) => {
        const provider = await door.provider();
        door.pinForwarded(request);
        const returnTo = await abortInteraction(provider, { req: request.raw, res: reply.raw }, request.params.uid, request.query.error);
        return reply.header('cache-control', 'no-store').redirect(returnTo, 303);
      },
    );
  };
