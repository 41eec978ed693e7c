import type { ClientMetadata } from 'oidc-provider';
import { findOidcClient } from '../applications/application.lookup.js';
import type { AppContext } from '../context.js';
import type { UserKind } from '../directory/user.table.js';

/**
 * Where the provider finds its clients (the firm's applications, issue 14). The Applications
 * registry provides the real source (`registryClients`); the provider asks it for every request
 * that names a client (through the adapter's Client model, src/oidc/adapter.ts), so a client
 * added, changed, disabled or removed there is seen at once by every node, with nothing cached
 * across requests beyond oidc-provider's own memo of identical metadata.
 */
export interface ClientSource {
  /** The client, or undefined when there is none by that id (or it is switched off). */
  findClient(clientId: string): Promise<OidcClientRecord | undefined>;
}

export interface OidcClientRecord {
  /** The firm the application belongs to: only that firm's users can sign in to it. */
  firmId: string;
  /** The registry's application (its sign-ins are counted for the Usage section); absent for a fixed client of no application. */
  applicationId?: string;
  /** Who may sign in: the user kinds the application admits; null or absent = every user of the firm. */
  allowedKinds?: readonly UserKind[] | null;
  /**
   * oidc-provider client metadata (snake_case, RFC 7591 / OIDC Registration names): client_id,
   * redirect_uris, post_logout_redirect_uris, token_endpoint_auth_method (`client_secret_basic`,
   * `client_secret_post`, `client_secret_jwt`, or `none` for a public client, which must use
   * PKCE), client_secret in clear for the three secret methods (the registry keeps it sealed at
   * rest and opens it here: client_secret_jwt needs the secret itself, not a hash), grant_types
   * (`authorization_code`, `refresh_token`), client_name, ... Checked by oidc-provider on every load;
   * metadata it refuses makes the client unusable (`invalid_client`), never a crash.
   */
  metadata: ClientMetadata;
  /**
   * Every secret valid now, the current one (metadata.client_secret) first, then the one before
   * the last rotation while its grace period lasts. The adapter gives oidc-provider the one the
   * request presents (src/oidc/adapter.ts), since oidc-provider knows one secret per client.
   */
  secrets?: readonly string[];
}

/** The custom client metadata property that carries the firm of a client into oidc-provider. */
export const FIRM_METADATA = 'tessera_firm_id';
/** The custom client metadata property that carries the registry's application id (absent for a fixed client): its sign-ins are counted (Usage). */
export const APPLICATION_METADATA = 'tessera_application_id';
/** The custom client metadata property that carries the user kinds an application admits (absent: all). */
export const KINDS_METADATA = 'tessera_allowed_kinds';

/** No client exists, every authorization request is refused (a process that serves no applications). */
export const noClients: ClientSource = { findClient: async () => undefined };

/** A fixed list of clients (tests; a deployment's own fixed clients if ever wanted). */
export function staticClients(records: OidcClientRecord[]): ClientSource {
  const byId = new Map(records.map((r) => [String(r.metadata.client_id), r]));
  return { findClient: async (clientId) => byId.get(clientId) };
}

/**
 * The Applications registry as the provider's clients (src/applications/application.lookup.ts):
 * an active OpenID Connect application of any firm, by its client_id. A disabled or deleted one,
 * or a Duo integration's key, is no client (`invalid_client`). Its secrets come opened: the
 * current one, and during a rotation's grace period the previous one.
 */
export function registryClients(ctx: AppContext): ClientSource {
  return {
    async findClient(clientId) {
      const found = await findOidcClient(ctx.db, ctx.secrets, clientId, ctx.clock);
      if (!found) return undefined;
      return { applicationId: found.applicationId, firmId: found.firmId, allowedKinds: found.allowedKinds, metadata: { ...found.metadata }, secrets: found.secrets };
    },
  };
}
