import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../context.js';
import { rejectCrossSite, UNSAFE_METHODS } from '../http/cross-site.js';
import { notFoundAnswer, sendError } from '../http/error-handler.js';
import { DEVICE_API_PREFIX, deviceRoutes } from './device.routes.js';

export { DEVICE_API_PREFIX };

/**
 * The device door: the Tessera Authenticator's API (/api/v1/device), as one encapsulated Fastify
 * plugin. No cookies, so no session and no CSRF token: every route but activation and the VAPID
 * key checks the device key's signature and nonce (device.routes.ts, with the raw-body JSON
 * parser the signature needs). A state-changing request from a browser of another origin is
 * still refused, as on the web door. Errors, a 404 included, are `{ "error": CODE, "message": ... }`
 * with the web door's statuses (shared on purpose: src/http/error-status.ts).
 */
export function deviceDoor(ctx: AppContext): FastifyPluginAsync {
  return async (app) => {
    app.setErrorHandler(sendError);
    app.setNotFoundHandler(notFoundAnswer);
    app.addHook('onRequest', async (request) => {
      if (UNSAFE_METHODS.has(request.method)) rejectCrossSite(ctx, request.headers);
    });
    await app.register(deviceRoutes(ctx));
  };
}
