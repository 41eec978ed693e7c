import cookie from '@fastify/cookie';
import csrf from '@fastify/csrf-protection';
import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../context.js';
import { attachSession, refusePendingOperator } from '../http/auth.js';
import { rejectCrossSite, UNSAFE_METHODS } from '../http/cross-site.js';
import { notFoundAnswer, sendError } from '../http/error-handler.js';
import { routeModules } from './routes.js';

/** Where the web door is mounted: the API of Tessera's own pages (the device API, /api/v1/device, is a door of its own). */
export const WEB_API_PREFIX = '/api/v1';

/**
 * The web door: the API behind Tessera's own pages (login, second factor, enrollment, My
 * security, firm administration, the operators' console), as one encapsulated Fastify plugin.
 * What it does to a request stays inside it: JSON bodies only; the session cookie read into
 * `request.session` (and an operator who has not passed their second factor stopped at the
 * operator paths); for every state-changing request, a foreign `Origin` refused and the CSRF
 * token checked; errors (a 404 included) answered `{ "error": CODE, "message": ... }` with the
 * statuses of src/http/error-status.ts. The other doors (device API, OpenID Provider, Duo)
 * see none of this.
 */
export function webDoor(ctx: AppContext): FastifyPluginAsync {
  return async (app) => {
    const https = ctx.config.publicUrl.protocol === 'https:';

    // JSON only: text/plain and forms are what a cross-site form may send without a CORS preflight.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('application/json', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'ignore'));
    app.setErrorHandler(sendError);
    app.setNotFoundHandler(notFoundAnswer);

    await app.register(cookie);
    await app.register(csrf, {
      cookieKey: https ? '__Host-tessera_csrf' : 'tessera_csrf',
      cookieOpts: { path: '/', sameSite: 'strict', httpOnly: true, secure: https },
    });

    app.addHook('onRequest', async (request) => {
      if (UNSAFE_METHODS.has(request.method)) rejectCrossSite(ctx, request.headers);
      await attachSession(ctx, request);
      refusePendingOperator(request);
    });
    app.addHook('onRequest', (request, reply, done) => {
      if (!UNSAFE_METHODS.has(request.method)) return done();
      app.csrfProtection(request, reply, done);
    });

    for (const routes of routeModules) await app.register(routes(ctx));
  };
}
