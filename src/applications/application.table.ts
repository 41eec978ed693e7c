import type { ColumnType, Insertable, Selectable, Updateable } from 'kysely';
import type { UserKind } from '../directory/user.table.js';

/**
 * The kinds of application (issue 14: OpenID Connect clients; issue 15: Duo-compatible
 * integrations). The type is chosen at creation and never changes: it decides how the
 * application authenticates to Tessera and which door it comes through.
 */
export const APPLICATION_TYPES = ['oidc', 'duo_auth_api', 'duo_web_sdk'] as const;
export type ApplicationType = (typeof APPLICATION_TYPES)[number];
export const DUO_TYPES: readonly ApplicationType[] = ['duo_auth_api', 'duo_web_sdk'];
export const isDuoType = (type: ApplicationType) => DUO_TYPES.includes(type);

/** OIDC only: a confidential client holds a secret; a public one (SPA, native app) does not and must use PKCE. */
export const CLIENT_TYPES = ['confidential', 'public'] as const;
export type ClientType = (typeof CLIENT_TYPES)[number];

/**
 * How a confidential OIDC client proves itself at the token endpoint (OpenID Connect Core §9).
 * client_secret_basic is the default of the specification and of most libraries; a public
 * client uses `none` (and PKCE).
 */
export const SECRET_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'client_secret_jwt'] as const;
export type SecretAuthMethod = (typeof SECRET_AUTH_METHODS)[number];
export type TokenEndpointAuthMethod = SecretAuthMethod | 'none';

/** Duo's "new user policy": what happens to a username Tessera does not know (Duo: require enrollment / allow access / deny access). */
export const NEW_USER_POLICIES = ['enroll', 'allow', 'deny'] as const;
export type NewUserPolicy = (typeof NEW_USER_POLICIES)[number];

export const APPLICATION_STATUSES = ['active', 'disabled'] as const;
export type ApplicationStatus = (typeof APPLICATION_STATUSES)[number];

/** One application of a firm. JSON columns are text, read and written by the repository only. */
export interface ApplicationTable {
  id: string;
  firm_id: string;
  type: ApplicationType;
  name: string;
  /** The OIDC client_id or the Duo integration key: unique across all firms. */
  client_id: string;
  client_type: ClientType | null;
  token_endpoint_auth_method: TokenEndpointAuthMethod | null;
  /** JSON array of strings. */
  redirect_uris: string;
  /** JSON array of strings. */
  post_logout_redirect_uris: string;
  /** JSON array of user kinds; null = all users of the firm. */
  allowed_kinds: string | null;
  new_user_policy: NewUserPolicy | null;
  status: ApplicationStatus;
  /** Sealed with the master key (AAD = id); null for a public OIDC client. */
  secret: string | null;
  /** The secret before the last rotation, sealed, valid until previous_expires_at. */
  previous_secret: string | null;
  previous_expires_at: number | null;
  secret_rotated_at: number | null;
  created_by: ColumnType<string | null, string | null, never>;
  created_at: ColumnType<number, number, never>;
  updated_at: number;
}
export type ApplicationRow = Selectable<ApplicationTable>;
export type NewApplicationRow = Insertable<ApplicationTable>;
export type ApplicationRowUpdate = Updateable<ApplicationTable>;

/** The row with its JSON columns read. */
export interface Application extends Omit<ApplicationRow, 'redirect_uris' | 'post_logout_redirect_uris' | 'allowed_kinds'> {
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  allowed_kinds: UserKind[] | null;
}
