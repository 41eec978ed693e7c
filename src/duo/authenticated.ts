import type { FastifyRequest } from 'fastify';

/** What the door needs of an integration (an application of the registry): its secret keys. */
export interface DuoIntegration {
  /** The current secret key and, during a rotation's grace period, the previous one. */
  readonly secretKeys: readonly string[];
}

/** The integration that signed each request the door authenticated (set by door.ts, read by the routes). */
const authenticated = new WeakMap<FastifyRequest, DuoIntegration>();

export function markAuthenticated(request: FastifyRequest, integration: DuoIntegration): void {
  authenticated.set(request, integration);
}

/** The integration that signed this request (throws for a request the door did not authenticate: a route marked duoUnsigned). */
export function duoIntegration<I extends DuoIntegration = DuoIntegration>(request: FastifyRequest): I {
  const integration = authenticated.get(request);
  if (!integration) throw new Error('duoIntegration() needs a request the Duo door authenticated');
  return integration as I;
}
