import { randomUUID } from 'node:crypto';
import type { AuditEventName } from '../audit/audit.catalogue.js';
import { audit, type Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import { isUniqueViolation, isUniqueViolationOf } from '../db/constraints.js';
import type { DbOrTx } from '../db/database.js';
import type { UserKind } from '../directory/user.table.js';
import { AppError, notFound } from '../core/errors.js';
import type { PageOf } from '../http/schemas.js';
import {
  changeStatus,
  creatorNames,
  deleteApplication as deleteRow,
  findApplication,
  insertApplication,
  listApplicationRows,
  listColumns,
  nameInUse,
  replaceSecret,
  updateApplication as updateRow,
  type ApplicationListQuery,
} from './application.repository.js';
import {
  isDuoType,
  type Application,
  type ApplicationStatus,
  type ApplicationType,
  type ClientType,
  type NewUserPolicy,
  type SecretAuthMethod,
  type TokenEndpointAuthMethod,
} from './application.table.js';
import { newClientId, newClientSecret, newIntegrationKey, newSecretKey } from './credentials.js';
import { checkRedirectUris } from './redirect-uris.js';

/**
 * The Applications registry (issue 14 item 1, issue 15 item 1): a firm's superusers register
 * the firm's own applications that will sign users in through Tessera, as OpenID Connect
 * clients or Duo-compatible integrations (Auth API, Web SDK). Every change is audited in the
 * transaction that makes it; no detail ever holds a secret.
 */

export interface ApplicationView {
  id: string;
  type: ApplicationType;
  name: string;
  /** The OIDC client_id, or the Duo integration key. */
  clientId: string;
  clientType: ClientType | null;
  tokenEndpointAuthMethod: TokenEndpointAuthMethod | null;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  /** null: every user of the firm may sign in. */
  allowedKinds: UserKind[] | null;
  newUserPolicy: NewUserPolicy | null;
  status: ApplicationStatus;
  hasSecret: boolean;
  secretRotatedAt: number | null;
  /** Until when the secret before the last rotation still works; null when it no longer does. */
  previousSecretExpiresAt: number | null;
  createdAt: number;
  updatedAt: number;
  createdBy: { id: string; name: string } | null;
  /** OIDC: where a client library reads the provider's configuration. */
  discoveryUrl: string | null;
  /** Duo types: the "API hostname" a Duo client is given (Tessera's own host). */
  apiHostname: string | null;
}

/** What creating an application or rotating its secret answers: the only time the secret is shown. */
export interface ApplicationWithSecret {
  application: ApplicationView;
  /** The new client secret or Duo secret key; null for a public OIDC client. */
  secret: string | null;
}

export interface NewApplicationInput {
  type: ApplicationType;
  name: string;
  clientType?: ClientType;
  tokenEndpointAuthMethod?: SecretAuthMethod;
  redirectUris?: string[];
  postLogoutRedirectUris?: string[];
  allowedKinds?: UserKind[] | null;
  newUserPolicy?: NewUserPolicy;
}

export type ApplicationChange = Partial<Pick<NewApplicationInput, 'name' | 'tokenEndpointAuthMethod' | 'redirectUris' | 'postLogoutRedirectUris' | 'allowedKinds' | 'newUserPolicy'>>;

/** The rotation grace periods a superuser may choose. */
export const GRACE_PERIODS = { none: 0, '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000 } as const;
export type GracePeriod = keyof typeof GRACE_PERIODS;

const nameTaken = () => new AppError('APPLICATION_NAME_TAKEN');
const notApplicable = (message: string) => new AppError('FIELD_NOT_APPLICABLE', message);
const applicationNotFound = () => notFound('Application');

/**
 * What each type may carry, checked for a new application and for a change alike:
 * - OIDC: client type (fixed at creation), token endpoint auth method for a confidential
 *   client, at least one redirect URI, post-logout redirect URIs; no new user policy (a user
 *   Tessera does not know cannot sign in through OIDC at all).
 * - Duo Web SDK: at least one redirect URI. Duo's Web SDK takes the redirect URI from each
 *   request; Tessera only sends a code back to a URI registered here, so that a stolen
 *   integration key cannot route a user's login result to another site.
 * - Duo Auth API: no redirect URIs (the application calls Tessera server to server).
 * - Both Duo types: the new user policy; neither has client types or post-logout URIs.
 */
function checkFields(type: ApplicationType, clientType: ClientType | null, input: ApplicationChange & { clientType?: ClientType }): void {
  const duo = isDuoType(type);
  if (duo && input.clientType !== undefined) throw notApplicable('A Duo application has no client type: it always holds a secret key.');
  if (duo && input.tokenEndpointAuthMethod !== undefined) throw notApplicable('A Duo application has no token endpoint authentication method: Duo clients sign their requests.');
  if (clientType === 'public' && input.tokenEndpointAuthMethod !== undefined) {
    throw notApplicable('A public client has no secret to authenticate with: it proves itself with PKCE.');
  }
  if (duo && input.postLogoutRedirectUris?.length) throw notApplicable('A Duo application has no post-logout redirect URIs.');
  if (type === 'duo_auth_api' && input.redirectUris?.length) throw notApplicable('A Duo Auth API application has no redirect URIs: it calls Tessera from its server.');
  if (!duo && input.newUserPolicy !== undefined) {
    throw notApplicable('An OpenID Connect application has no new user policy: only users Tessera knows can sign in through it.');
  }
  if (type !== 'duo_auth_api' && input.redirectUris !== undefined && input.redirectUris.length === 0) {
    throw new AppError('REDIRECT_URI_REQUIRED');
  }
  if (input.redirectUris) checkRedirectUris('redirectUris', input.redirectUris);
  if (input.postLogoutRedirectUris) checkRedirectUris('postLogoutRedirectUris', input.postLogoutRedirectUris);
}

function view(ctx: AppContext, app: Application, creators: Map<string, string>): ApplicationView {
  const now = ctx.clock.now();
  const creator = app.created_by ? creators.get(app.created_by) : undefined;
  return {
    id: app.id,
    type: app.type,
    name: app.name,
    clientId: app.client_id,
    clientType: app.client_type,
    tokenEndpointAuthMethod: app.token_endpoint_auth_method,
    redirectUris: app.redirect_uris,
    postLogoutRedirectUris: app.post_logout_redirect_uris,
    allowedKinds: app.allowed_kinds,
    newUserPolicy: app.new_user_policy,
    status: app.status,
    hasSecret: app.secret !== null,
    secretRotatedAt: app.secret_rotated_at,
    previousSecretExpiresAt: app.previous_secret !== null && app.previous_expires_at !== null && app.previous_expires_at > now ? app.previous_expires_at : null,
    createdAt: app.created_at,
    updatedAt: app.updated_at,
    createdBy: app.created_by && creator !== undefined ? { id: app.created_by, name: creator } : null,
    discoveryUrl: app.type === 'oidc' ? new URL('/.well-known/openid-configuration', ctx.config.publicUrl).href : null,
    apiHostname: isDuoType(app.type) ? ctx.config.publicUrl.host : null,
  };
}

async function loadApplication(db: DbOrTx, firmId: string, id: string): Promise<Application> {
  const app = await findApplication(db, firmId, id);
  if (!app) throw applicationNotFound();
  return app;
}

async function viewOf(ctx: AppContext, db: DbOrTx, firmId: string, app: Application): Promise<ApplicationView> {
  return view(ctx, app, await creatorNames(db, firmId, [app]));
}

export async function getApplication(ctx: AppContext, db: DbOrTx, firmId: string, id: string): Promise<ApplicationView> {
  return viewOf(ctx, db, firmId, await loadApplication(db, firmId, id));
}

export async function listApplications(ctx: AppContext, db: DbOrTx, firmId: string, query: ApplicationListQuery): Promise<PageOf<ApplicationView>> {
  const { rows, total } = await listApplicationRows(db, firmId, query);
  const creators = await creatorNames(db, firmId, rows);
  return { items: rows.map((a) => view(ctx, a, creators)), total, page: query.page ?? 1, pageSize: query.pageSize ?? 20 };
}

/** The details every audit event of an application carries: what it is, never its secret. */
const named = (app: Pick<Application, 'name' | 'type' | 'client_id'>) => ({ name: app.name, type: app.type, clientId: app.client_id });

const auditApplication = (ctx: AppContext, db: DbOrTx, actor: Actor, firmId: string, event: AuditEventName, app: Application, extra: Record<string, unknown> = {}) =>
  audit(db, ctx.clock.now(), actor, { event, firmId, subjectType: 'application', subjectId: app.id, applicationId: app.id, details: { ...named(app), ...extra } });

/** Seals a secret to its application: a sealed value copied into another row does not open. */
const seal = (ctx: AppContext, id: string, secret: string) => ctx.secrets.seal(secret, id);

/**
 * `options.clientId` fixes the client id instead of drawing one: only for the demo's example
 * portal (src/demo.ts), whose configuration names it; the API never passes it.
 */
export async function createApplication(
  ctx: AppContext,
  db: DbOrTx,
  actor: Actor,
  firmId: string,
  input: NewApplicationInput,
  options: { clientId?: string } = {},
): Promise<ApplicationWithSecret> {
  const { type } = input;
  const duo = isDuoType(type);
  const clientType: ClientType | null = duo ? null : (input.clientType ?? 'confidential');
  const redirectUris = input.redirectUris ?? [];
  checkFields(type, clientType, { ...input, redirectUris });
  const name = input.name.trim();
  if (await nameInUse(db, firmId, name)) throw nameTaken();

  const id = randomUUID();
  const now = ctx.clock.now();
  const secret = duo ? newSecretKey() : clientType === 'confidential' ? newClientSecret() : null;
  try {
    await insertApplication(db, {
      id,
      firm_id: firmId,
      type,
      name,
      client_id: options.clientId ?? (duo ? newIntegrationKey() : newClientId()),
      client_type: clientType,
      token_endpoint_auth_method: duo ? null : clientType === 'public' ? 'none' : (input.tokenEndpointAuthMethod ?? 'client_secret_basic'),
      redirect_uris: JSON.stringify(redirectUris),
      post_logout_redirect_uris: JSON.stringify(input.postLogoutRedirectUris ?? []),
      allowed_kinds: input.allowedKinds ? JSON.stringify(input.allowedKinds) : null,
      new_user_policy: duo ? (input.newUserPolicy ?? 'enroll') : null,
      status: 'active',
      secret: secret === null ? null : seal(ctx, id, secret),
      previous_secret: null,
      previous_expires_at: null,
      secret_rotated_at: null,
      created_by: actor.type === 'user' ? actor.id : null,
      created_at: now,
      updated_at: now,
    });
  } catch (err) {
    // A name taken between the check and the insert (the same name created twice at once).
    if (isUniqueViolationOf(err, 'applications_firm_name_unique')) throw nameTaken();
    throw err;
  }
  const app = await loadApplication(db, firmId, id);
  await auditApplication(ctx, db, actor, firmId, 'application.created', app);
  return { application: await viewOf(ctx, db, firmId, app), secret };
}

const sameList = (a: readonly string[] | null, b: readonly string[] | null) => JSON.stringify(a) === JSON.stringify(b);

export async function updateApplication(ctx: AppContext, db: DbOrTx, actor: Actor, firmId: string, id: string, change: ApplicationChange): Promise<ApplicationView> {
  const app = await loadApplication(db, firmId, id);
  checkFields(app.type, app.client_type, change);
  const name = change.name?.trim();

  // Only what really changes is written and audited: saving an unchanged form writes nothing.
  const changes: Record<string, { from: unknown; to: unknown }> = {};
  if (name !== undefined && name !== app.name) changes.name = { from: app.name, to: name };
  if (change.tokenEndpointAuthMethod !== undefined && change.tokenEndpointAuthMethod !== app.token_endpoint_auth_method) {
    changes.tokenEndpointAuthMethod = { from: app.token_endpoint_auth_method, to: change.tokenEndpointAuthMethod };
  }
  if (change.redirectUris !== undefined && !sameList(change.redirectUris, app.redirect_uris)) changes.redirectUris = { from: app.redirect_uris, to: change.redirectUris };
  if (change.postLogoutRedirectUris !== undefined && !sameList(change.postLogoutRedirectUris, app.post_logout_redirect_uris)) {
    changes.postLogoutRedirectUris = { from: app.post_logout_redirect_uris, to: change.postLogoutRedirectUris };
  }
  if (change.allowedKinds !== undefined && !sameList(change.allowedKinds, app.allowed_kinds)) changes.allowedKinds = { from: app.allowed_kinds, to: change.allowedKinds };
  if (change.newUserPolicy !== undefined && change.newUserPolicy !== app.new_user_policy) changes.newUserPolicy = { from: app.new_user_policy, to: change.newUserPolicy };
  if (Object.keys(changes).length === 0) return viewOf(ctx, db, firmId, app);

  if (changes.name && (await nameInUse(db, firmId, name!, id))) throw nameTaken();
  try {
    await updateRow(db, firmId, id, {
      ...(changes.name ? { name } : {}),
      ...(changes.tokenEndpointAuthMethod ? { token_endpoint_auth_method: change.tokenEndpointAuthMethod } : {}),
      ...(changes.newUserPolicy ? { new_user_policy: change.newUserPolicy } : {}),
      ...listColumns({
        redirect_uris: changes.redirectUris ? change.redirectUris : undefined,
        post_logout_redirect_uris: changes.postLogoutRedirectUris ? change.postLogoutRedirectUris : undefined,
        allowed_kinds: changes.allowedKinds ? change.allowedKinds : undefined,
      }),
      updated_at: ctx.clock.now(),
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw nameTaken();
    throw err;
  }
  const after = await loadApplication(db, firmId, id);
  await auditApplication(ctx, db, actor, firmId, 'application.changed', after, { changes });
  return viewOf(ctx, db, firmId, after);
}

/**
 * Disables or enables. A disabled application cannot sign anyone in (the doors' lookups do not
 * find it) but keeps its keys, so enabling it again needs no change on the application's side.
 * Setting the status it already has answers the application and writes nothing.
 */
export async function setApplicationStatus(ctx: AppContext, db: DbOrTx, actor: Actor, firmId: string, id: string, to: ApplicationStatus): Promise<ApplicationView> {
  const app = await loadApplication(db, firmId, id);
  const from: ApplicationStatus = to === 'active' ? 'disabled' : 'active';
  if (await changeStatus(db, firmId, id, from, to, ctx.clock.now())) {
    await auditApplication(ctx, db, actor, firmId, to === 'active' ? 'application.enabled' : 'application.disabled', app);
  }
  return getApplication(ctx, db, firmId, id);
}

/**
 * A new secret, shown once. With a grace period the secret it replaces keeps working until the
 * period ends, so the application can be given the new one without an outage; without one it
 * stops at once (a leaked secret). There are at most two: rotating again during a grace period
 * replaces the older secret, whose grace ends then.
 */
export async function rotateApplicationSecret(ctx: AppContext, db: DbOrTx, actor: Actor, firmId: string, id: string, grace: GracePeriod): Promise<ApplicationWithSecret> {
  const app = await loadApplication(db, firmId, id);
  if (app.secret === null) throw new AppError('APPLICATION_HAS_NO_SECRET');
  const now = ctx.clock.now();
  const graceMs = GRACE_PERIODS[grace];
  const secret = isDuoType(app.type) ? newSecretKey() : newClientSecret();
  const rotated = await replaceSecret(db, firmId, id, app.secret, {
    secret: seal(ctx, id, secret),
    // The sealed value moves as it is: same application, same AAD, never opened here.
    previous_secret: graceMs > 0 ? app.secret : null,
    previous_expires_at: graceMs > 0 ? now + graceMs : null,
    secret_rotated_at: now,
    updated_at: now,
  });
  if (!rotated) throw new AppError('APPLICATION_SECRET_CHANGED');
  const after = await loadApplication(db, firmId, id);
  await auditApplication(ctx, db, actor, firmId, 'application.secret_rotated', after, { grace, previousValidUntil: after.previous_expires_at });
  return { application: await viewOf(ctx, db, firmId, after), secret };
}

/**
 * Deleted for good, keys and all: its client id or integration key then answers like one that
 * never existed, and tokens or sessions bound to it die with the lookup. The audit log keeps
 * what it was (name, type, client id).
 */
export async function deleteApplication(ctx: AppContext, db: DbOrTx, actor: Actor, firmId: string, id: string): Promise<void> {
  const app = await loadApplication(db, firmId, id);
  if (!(await deleteRow(db, firmId, id))) throw applicationNotFound();
  await auditApplication(ctx, db, actor, firmId, 'application.deleted', app);
}
