import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../context.js';

/**
 * The path prefixes Duo's clients call: the Auth API, and the Universal Prompt's OAuth endpoints
 * (health_check, authorize, token; and the prompt page's calls). Each answers Duo's envelope, a 404 included.
 */
export const DUO_PREFIXES = ['/auth/v2', '/oauth/v1'] as const;
export type DuoPrefix = (typeof DUO_PREFIXES)[number];

/** One endpoint module of the Duo door (door.ts lists them; an endpoint module imports only this, not the door). */
export interface DuoRouteModule {
  prefix: DuoPrefix;
  routes: (ctx: AppContext) => FastifyPluginAsyncTypebox;
}

/**
 * The Duo door's one endpoint that answers OAuth's `{error, error_description}` (RFC 6749 5.2)
 * instead of Duo's envelope, for every refusal (its own, and the door's: a body too large, a
 * wrong content type): the Web SDK's token endpoint, where duo_universal reads that shape.
 */
export const isOAuthErrorRoute = (url: string) => url === '/oauth/v1/token' || url.startsWith('/oauth/v1/token?');
