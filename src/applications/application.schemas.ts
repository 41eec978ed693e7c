import { Type } from 'typebox';
import { UserKind } from '../directory/directory.schemas.js';
import { Name, PageQuery, literals } from '../http/schemas.js';
import { APPLICATION_STATUSES, APPLICATION_TYPES, CLIENT_TYPES, NEW_USER_POLICIES, SECRET_AUTH_METHODS } from './application.table.js';
import { GRACE_PERIODS, type GracePeriod } from './application.service.js';

/** One of these strings (a JSON Schema enum, typed as their union). */

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const ApplicationType = literals(APPLICATION_TYPES, 'oidc: OpenID Connect client; duo_auth_api: Duo Auth API; duo_web_sdk: Duo Web SDK (Universal Prompt)');
const ClientType = literals(CLIENT_TYPES, 'OIDC only. confidential: holds a client secret; public: no secret, PKCE required');
const SecretAuthMethod = literals(SECRET_AUTH_METHODS, 'OIDC confidential clients only; default client_secret_basic');
const NewUserPolicy = literals(NEW_USER_POLICIES, 'Duo types only: for usernames Tessera does not know, require enrollment, allow access or deny access');
const Status = literals(APPLICATION_STATUSES);

/** Exact URIs (checked further by the service: https, or http to loopback; no fragment). */
const UriList = (what: string) =>
  Type.Array(Type.String({ minLength: 1, maxLength: 1000, pattern: '^\\S+$' }), { maxItems: 20, uniqueItems: true, description: what });

/** null or absent: every user of the firm may sign in; else these kinds only. */
const AllowedKinds = Nullable(Type.Array(UserKind, { minItems: 1, maxItems: 4, uniqueItems: true }));

export const ApplicationViewSchema = Type.Object({
  id: Type.String(),
  type: ApplicationType,
  name: Type.String(),
  clientId: Type.String({ description: 'OIDC client_id, or the Duo integration key' }),
  clientType: Nullable(ClientType),
  tokenEndpointAuthMethod: Nullable(literals([...SECRET_AUTH_METHODS, 'none'])),
  redirectUris: Type.Array(Type.String()),
  postLogoutRedirectUris: Type.Array(Type.String()),
  allowedKinds: Nullable(Type.Array(UserKind)),
  newUserPolicy: Nullable(NewUserPolicy),
  status: Status,
  hasSecret: Type.Boolean(),
  secretRotatedAt: Nullable(Type.Integer()),
  previousSecretExpiresAt: Nullable(Type.Integer({ description: 'Until when the secret before the last rotation still works (epoch ms)' })),
  createdAt: Type.Integer(),
  updatedAt: Type.Integer(),
  createdBy: Nullable(Type.Object({ id: Type.String(), name: Type.String() })),
  discoveryUrl: Nullable(Type.String()),
  apiHostname: Nullable(Type.String()),
});

export const ApplicationWithSecretSchema = Type.Object({
  application: ApplicationViewSchema,
  secret: Nullable(Type.String({ description: 'The client secret or Duo secret key, shown only in this answer; null for a public client' })),
});

export const ApplicationListQuery = Type.Object(
  { ...PageQuery, type: Type.Optional(ApplicationType), status: Type.Optional(Status) },
  { additionalProperties: false },
);

/** What a superuser may change after creation (type and client type are fixed; ids and secrets are never chosen). */
const changeable = {
  name: Name,
  tokenEndpointAuthMethod: Type.Optional(SecretAuthMethod),
  redirectUris: Type.Optional(UriList('OIDC and Web SDK: at least one')),
  postLogoutRedirectUris: Type.Optional(UriList('OIDC only')),
  allowedKinds: Type.Optional(AllowedKinds),
  newUserPolicy: Type.Optional(NewUserPolicy),
};

export const NewApplicationBody = Type.Object({ type: ApplicationType, clientType: Type.Optional(ClientType), ...changeable }, { additionalProperties: false });

export const ApplicationPatchBody = Type.Object({ ...changeable, name: Type.Optional(Name) }, { additionalProperties: false, minProperties: 1 });

export const RotateSecretBody = Type.Object(
  {
    grace: literals(Object.keys(GRACE_PERIODS) as GracePeriod[], 'How long the current secret keeps working beside the new one: none, 1 hour, 24 hours or 7 days'),
  },
  { additionalProperties: false },
);
