import fs from 'node:fs';
import path from 'node:path';
import helmet from 'helmet';
import fastifyStatic from '@fastify/static';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type RouteOptions } from 'fastify';
import type { Config } from './config.js';
import type { AppContext } from './context.js';
import { DEVICE_API_PREFIX, deviceDoor } from './device/door.js';
import { findDuoIntegration } from './applications/application.lookup.js';
import { duoDoor, isDuoApi, type DuoDoorOptions } from './duo/door.js';
import { sendDuoError } from './duo/envelope.js';
import type { App } from './http/app-instance.js';
import { installErrorHandler, notFoundAnswer, sendClientError, sendError } from './http/error-handler.js';
import { webDistDir } from './http/paths.js';
import { ErrorBody } from './http/schemas.js';
import { validatorCompiler } from './http/validation.js';
import { directoryAccounts } from './oidc/accounts.js';
import { registryClients, type ClientSource } from './oidc/clients.js';
import { createOidcDoor, isOidcDoor, oidcRoutes, type OidcDoor } from './oidc/oidc.routes.js';
import { loggerOptions, type LogDestination } from './ops/logging.js';
import { installRequestMetrics, opsRoutes } from './ops/ops.routes.js';
import { WEB_API_PREFIX, webDoor } from './web/door.js';

export type { App };

declare module 'fastify' {
  interface FastifyInstance {
    /** The OpenID Connect door (src/oidc/oidc.routes.ts): its provider and key reload. */
    oidc: OidcDoor;
  }
}

/**
 * Builds the HTTP application. Tests call this and use `app.inject`; server.ts adds listen().
 * `onRoute` sees every route as it is added (the fuzz test enumerates the routes with it);
 * `logDestination` receives the JSON log lines (the log-redaction test reads them); `duo`
 * replaces the Duo-compatible door's integration look-up (default: the applications registry);
 * `oidcClients` is where the OpenID Provider finds its clients (the Applications registry unless a
 * test gives a fixed list).
 */
export async function buildApp(
  ctx: AppContext,
  options: { onRoute?: (route: RouteOptions) => void; logDestination?: LogDestination; duo?: DuoDoorOptions<any>; oidcClients?: ClientSource } = {},
): Promise<App> {
  const https = ctx.config.publicUrl.protocol === 'https:';
  const app = Fastify({
    logger: loggerOptions(ctx.config, options.logDestination),
    // TESSERA_TLS_CERT/KEY: Tessera serves HTTPS itself (Duo's clients speak nothing else).
    https: ctx.config.tls ? { cert: ctx.config.tls.cert, key: ctx.config.tls.key } : null,
    bodyLimit: 64 * 1024,
    trustProxy: fastifyTrustProxy(ctx.config.trustProxy),
    // A URL the router cannot decode is answered in the shape of the door it was meant for.
    frameworkErrors: (err, request, reply) => (isDuoApi(request.url) ? sendDuoError : sendError)(err, request, reply),
    // What Node's parser refuses (headers too large, bad bytes) in our error shape, not Fastify's.
    clientErrorHandler: sendClientError,
    logController: new LogController({ disableRequestLogging: ctx.config.logLevel !== 'debug' && ctx.config.logLevel !== 'trace' }),
  }).withTypeProvider<TypeBoxTypeProvider>();
  if (options.onRoute) app.addHook('onRoute', options.onRoute);

  app.setValidatorCompiler(validatorCompiler);
  // JSON only: text/plain is what a cross-site form may send without a CORS preflight.
  app.removeContentTypeParser('text/plain');
  installErrorHandler(app);
  installRequestMetrics(app, ctx);
  app.addSchema(ErrorBody);

  // Security headers from helmet itself, built once: @fastify/helmet rebuilds every helmet
  // middleware (and re-parses the CSP) on each request, which cost more than our health route.
  const securityHeaders = helmet({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        upgradeInsecureRequests: https ? [] : null,
      },
    },
    strictTransportSecurity: https ? { maxAge: 31536000, includeSubDomains: true } : false,
    referrerPolicy: { policy: 'no-referrer' },
    crossOriginEmbedderPolicy: false,
  });
  app.addHook('onRequest', (request, reply, done) => securityHeaders(request.raw, reply.raw, () => done()));
  await app.register(swagger, {
    // Shared schemas keep their $id as their name in the document (`Error`, not `def-0`), so
    // the types generated from it (web/src/api.generated.ts) read as the server names them.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    openapi: {
      info: { title: 'Tessera API', version: '1', description: 'Multi-factor authentication for firm portals.' },
      components: {
        securitySchemes: {
          session: { type: 'apiKey', in: 'cookie', name: https ? '__Host-tessera_session' : 'tessera_session' },
          csrf: { type: 'apiKey', in: 'header', name: 'x-csrf-token' },
        },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/api/docs' });

  // The session behind the cookie is the web door's to read (src/web/door.ts); elsewhere there is none.
  app.decorateRequest('session', null);
  // API answers are about one user at one moment; no cache may keep them (every door under /api/v1, errors included).
  app.addHook('onSend', async (request, reply) => {
    if (request.url.startsWith('/api/v1/')) reply.header('cache-control', 'no-store');
  });

  // The front doors, each an encapsulated plugin with its own hooks, body parsers and error
  // handler: Tessera's own pages, the Tessera Authenticator, Duo's clients, OpenID clients.
  await app.register(webDoor(ctx), { prefix: WEB_API_PREFIX });
  await app.register(deviceDoor(ctx), { prefix: DEVICE_API_PREFIX });
  await app.register(opsRoutes(ctx));
  // Duo's clients find their integration in the applications registry (tests may give their own look-up).
  await app.register(duoDoor(ctx, options.duo ?? { lookupIntegration: (ikey) => findDuoIntegration(ctx.db, ctx.secrets, ikey, ctx.clock) }));
  const oidc = createOidcDoor(ctx, { clients: options.oidcClients ?? registryClients(ctx), accounts: directoryAccounts(ctx.db) }, app.log);
  app.decorate('oidc', oidc);
  app.addHook('onClose', async () => oidc.close());
  await app.register(oidcRoutes(ctx, oidc));

  await serveWebApps(app);
  return app;
}

/**
 * TESSERA_TRUST_PROXY as Fastify's `trustProxy` (proxy-addr): request.ip is then the rightmost
 * X-Forwarded-For entry that is not a trusted hop, never an entry the client wrote in front of
 * it. A list of addresses/CIDRs is trusted by address. A hop count trusts the TCP peer and the
 * next `hops - 1` entries whoever they are (Fastify itself gives a bare number no trust at
 * all, since it cannot check the peer): it is right only where nothing but the proxies can
 * reach Tessera's port, which the README says.
 */
export function fastifyTrustProxy(trust: Config['trustProxy']): false | string[] | ((address: string, hop: number) => boolean) {
  if (trust === false || trust === 0) return false;
  if (typeof trust === 'number') return (_address, hop) => hop < trust;
  return [...trust];
}

/** The React apps: static files from dist/web, and index.html for every client-side route. */
async function serveWebApps(app: App): Promise<void> {
  const dir = webDistDir();
  const hasWeb = fs.existsSync(path.join(dir, 'index.html'));
  if (hasWeb) await app.register(fastifyStatic, { root: dir, prefix: '/', wildcard: false, index: false });
  app.setNotFoundHandler((request, reply) => {
    const isPage = request.method === 'GET' && !/^\/api(\/|\?|$)/.test(request.url) && !isOidcDoor(request.url) && !path.extname(request.url.split('?')[0]!);
    // The Tessera Authenticator (/authenticator and below) is an app of its own.
    const file = /^\/authenticator(\/|$|\?)/.test(request.url) ? 'authenticator.html' : 'index.html';
    if (isPage && hasWeb) return reply.type('text/html').header('cache-control', 'no-cache').sendFile(file);
    if (isPage) return reply.status(503).type('text/plain').send('The web apps are not built. Run `npm run build`.');
    return notFoundAnswer(request, reply);
  });
}
