import { Type } from 'typebox';
import type { DuoRouteModule } from './route-module.js';
import { duoOk, OkEnvelope } from './envelope.js';

/**
 * Duo's Auth API v2 (Duo's documentation is the specification). So far the two endpoints that
 * need no login rules: ping (is the service up?) and check (are the integration key, secret
 * key and signature right?). preauth, auth, auth_status, enroll, enroll_status and logo come as
 * routes of this module once the authentication core answers them.
 *
 * Hidden from Tessera's OpenAPI document: this door's contract is Duo's, not ours.
 */

const Time = OkEnvelope(Type.Object({ time: Type.Integer({ description: 'Unix time, seconds' }) }));
/** Neither endpoint takes a parameter. */
const NoParams = Type.Object({}, { additionalProperties: false });

export const authApiRoutes: DuoRouteModule = {
  prefix: '/auth/v2',
  routes: (ctx) => async (app) => {
    const time = () => duoOk({ time: Math.floor(ctx.clock.now() / 1000) });

    // Unsigned by Duo's definition: a liveness check, also how a client learns the server's clock.
    app.get('/ping', { config: { duoUnsigned: true }, schema: { hide: true, querystring: NoParams, response: { 200: Time } } }, async () => time());

    app.get('/check', { schema: { hide: true, querystring: NoParams, response: { 200: Time } } }, async () => time());
  },
};
