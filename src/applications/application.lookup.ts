import type { Clock } from '../clock.js';
import type { SealedColumn } from '../crypto/reseal.js';
import type { SecretBox } from '../crypto/secret-box.js';
import type { DbOrTx } from '../db/database.js';
import type { UserKind } from '../directory/user.table.js';
import { findByClientId } from './application.repository.js';
import { isDuoType, type Application, type ApplicationType, type NewUserPolicy, type TokenEndpointAuthMethod } from './application.table.js';

/**
 * What the front doors need to know about the application calling them, without HTTP: the
 * OpenID Connect provider looks a client up by client_id, the Duo-compatible APIs an
 * integration by its integration key. Both find it across all firms (the key names the firm)
 * and treat a disabled application exactly like an unknown one, so that disabling stops every
 * sign-in at once and a caller cannot tell "disabled" from "never existed".
 *
 * The secrets come back in clear, because HMAC client authentication (client_secret_jwt,
 * Duo's request signatures, the Web SDK's HS512 JWTs) needs the key itself. A caller compares
 * with each of them in constant time and keeps them no longer than the request.
 */

/** The applications' secrets, sealed under the master key and bound to their application: re-sealed after a key rotation (crypto/reseal.job.ts). */
export const APPLICATION_SECRETS: SealedColumn = { label: 'application secrets', table: 'applications', id: 'id', value: 'secret', aad: (id) => id };
export const APPLICATION_PREVIOUS_SECRETS: SealedColumn = { ...APPLICATION_SECRETS, label: 'previous application secrets (rotation grace)', value: 'previous_secret' };

/** The secrets valid at `now`: the current one, then the one before the last rotation while its grace period lasts. */
function validSecrets(secrets: SecretBox, app: Application, now: number): string[] {
  const out: string[] = [];
  if (app.secret !== null) out.push(secrets.open(app.secret, app.id).toString('utf8'));
  if (app.previous_secret !== null && app.previous_expires_at !== null && now < app.previous_expires_at) {
    out.push(secrets.open(app.previous_secret, app.id).toString('utf8'));
  }
  return out;
}

/** Client metadata as oidc-provider reads it (OpenID Connect Dynamic Client Registration §2 names). */
export interface OidcClientMetadata {
  client_id: string;
  /** The current secret; absent for a public client. */
  client_secret?: string;
  client_name: string;
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  grant_types: ['authorization_code', 'refresh_token'];
  response_types: ['code'];
  /** client_secret_basic unless the superuser chose client_secret_post or client_secret_jwt; `none` for a public client (PKCE required). */
  token_endpoint_auth_method: TokenEndpointAuthMethod;
}

export interface OidcClient {
  applicationId: string;
  firmId: string;
  /** Who may sign in: null = every user of the firm. */
  allowedKinds: UserKind[] | null;
  /** A public client has no secret and must use PKCE (RFC 7636; OAuth 2.0 Security BCP). */
  public: boolean;
  metadata: OidcClientMetadata;
  /**
   * Every secret valid now: the current one first, then, during a rotation's grace period, the
   * previous one. Empty for a public client. `metadata.client_secret` is the first.
   */
  secrets: string[];
}

/** The active OIDC application with this client_id, or null (unknown, disabled, or a Duo integration's key). */
export async function findOidcClient(db: DbOrTx, secrets: SecretBox, clientId: string, clock: Clock): Promise<OidcClient | null> {
  const app = await findByClientId(db, clientId);
  if (!app || app.type !== 'oidc' || app.status !== 'active') return null;
  const valid = validSecrets(secrets, app, clock.now());
  return {
    applicationId: app.id,
    firmId: app.firm_id,
    allowedKinds: app.allowed_kinds,
    public: app.client_type === 'public',
    metadata: {
      client_id: app.client_id,
      ...(valid[0] !== undefined ? { client_secret: valid[0] } : {}),
      client_name: app.name,
      redirect_uris: app.redirect_uris,
      post_logout_redirect_uris: app.post_logout_redirect_uris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: app.token_endpoint_auth_method ?? 'client_secret_basic',
    },
    secrets: valid,
  };
}

export interface DuoIntegration {
  applicationId: string;
  firmId: string;
  type: Extract<ApplicationType, 'duo_auth_api' | 'duo_web_sdk'>;
  name: string;
  integrationKey: string;
  /** What to do with a username Tessera does not know. */
  newUserPolicy: NewUserPolicy;
  allowedKinds: UserKind[] | null;
  /** Web SDK: the only URIs a login result may be sent back to. Empty for Auth API. */
  redirectUris: string[];
  /** Every secret key valid now: the current one first, then the previous one during a rotation's grace period. */
  secretKeys: string[];
}

/** The active Duo integration (Auth API or Web SDK) with this integration key, or null (unknown, disabled, or an OIDC client id). */
export async function findDuoIntegration(db: DbOrTx, secrets: SecretBox, ikey: string, clock: Clock): Promise<DuoIntegration | null> {
  const app = await findByClientId(db, ikey);
  if (!app || !isDuoType(app.type) || app.status !== 'active') return null;
  return {
    applicationId: app.id,
    firmId: app.firm_id,
    type: app.type as DuoIntegration['type'],
    name: app.name,
    integrationKey: app.client_id,
    newUserPolicy: app.new_user_policy ?? 'enroll',
    allowedKinds: app.allowed_kinds,
    redirectUris: app.redirect_uris,
    secretKeys: validSecrets(secrets, app, clock.now()),
  };
}
