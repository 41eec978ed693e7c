import type { FastifyBaseLogger } from 'fastify';
import type { JWK } from 'jose';
import Provider, { errors, interactionPolicy, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { AppContext } from '../context.js';
import { DATABASE_RETRY_AFTER_SECONDS } from '../core/errors.js';
import { escapeHtml } from '../http/html.js';
import { ACR_VALUES, SCOPE_CLAIMS, type AccountSource } from './accounts.js';
import { adapterFactory } from './adapter.js';
import { FIRM_METADATA, type ClientSource } from './clients.js';
import { ACCESS_TOKEN_TTL, AUTHORIZATION_CODE_TTL, ID_TOKEN_TTL, INTERACTION_TTL } from './lifetimes.js';
import { interactionPath, OIDC_ROUTES } from './paths.js';

/**
 * The OpenID Provider (issue 14) on `oidc-provider`, panva's OpenID Certified implementation:
 * the protocol is the library's; this file is Tessera's configuration of it. The issuer is
 * TESSERA_PUBLIC_URL; its endpoints live under /oidc/ and its discovery document at
 * /.well-known/openid-configuration (src/oidc/oidc.routes.ts mounts them). Loaded on first use
 * (oidc.routes.ts imports it dynamically), so that a process or test that never serves OpenID
 * Connect does not load oidc-provider and its libraries.
 */

export interface ProviderSources {
  clients: ClientSource;
  accounts: AccountSource;
}

const SCOPES = ['openid', 'offline_access', 'profile', 'email', 'tessera'];

export function createProvider(ctx: AppContext, jwks: { keys: JWK[] }, sources: ProviderSources, log: FastifyBaseLogger): Provider {
  const provider = new Provider(ctx.config.publicUrl.origin, configuration(ctx, jwks, sources));
  // The door (oidc.routes.ts) pins X-Forwarded-Proto/-Host to TESSERA_PUBLIC_URL and
  // X-Forwarded-For to the address Fastify settled on, so oidc-provider builds every URL on the
  // issuer whatever Host header a client sent, and sees the client's real address.
  provider.proxy = true;
  provider.on('server_error', (_kctx: unknown, err: Error) => log.error({ err }, 'OpenID provider error'));
  // The database away (OidcStorageUnavailable, 503): say when to come back, as the API does.
  provider.use(async (kctx, next) => {
    await next();
    if (kctx.status === 503) kctx.set('retry-after', String(DATABASE_RETRY_AFTER_SECONDS));
  });
  // Koa's own error event (a failure outside the provider's route error handlers), else printed to stderr.
  (provider as unknown as NodeJS.EventEmitter).on('error', (err: Error) => log.error({ err }, 'OpenID provider error'));
  return provider;
}

function configuration(ctx: AppContext, jwks: { keys: JWK[] }, { clients, accounts }: ProviderSources): Configuration {
  const sessionSeconds = Math.floor(ctx.config.sessionAbsoluteMs / 1000);
  return {
    adapter: adapterFactory(ctx.db, ctx.clock, clients),
    clients: [],
    jwks: jwks as Configuration['jwks'],
    routes: OIDC_ROUTES,
    scopes: SCOPES,
    claims: SCOPE_CLAIMS as unknown as Configuration['claims'],
    acrValues: ACR_VALUES,
    // The firm's own web applications: the code flow only (RFC 9700: no tokens from the authorization endpoint).
    responseTypes: ['code'],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'none'],
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      id_token_signed_response_alg: 'ES256',
      token_endpoint_auth_method: 'client_secret_basic',
    },
    enabledJWA: {
      idTokenSigningAlgValues: ['ES256', 'RS256'],
      // client_secret_jwt signs with the client secret (HMAC).
      clientAuthSigningAlgValues: ['HS256', 'HS384', 'HS512'],
    },
    // RFC 9700 2.1.1: public clients must use PKCE (S256 is the only method oidc-provider
    // accepts); confidential clients may, and should.
    pkce: { required: (_kctx, client) => client.clientAuthMethod === 'none' },
    // Each client belongs to a firm: only that firm's users sign in to it (findAccount below).
    extraClientMetadata: {
      properties: [FIRM_METADATA],
      validator(_kctx, key, value) {
        if (key === FIRM_METADATA && (typeof value !== 'string' || value === '')) throw new errors.InvalidClientMetadata(`${FIRM_METADATA} must name the client's firm`);
      },
    },
    // Redirect URIs are always named in the request and compared exactly, even for a client with one.
    allowOmittingSingleRegisteredRedirectUri: false,
    async findAccount(kctx, sub) {
      const firmId = kctx.oidc.client?.[FIRM_METADATA];
      // Without a client there is no firm to look in: nobody is found (no cross-firm answers).
      if (typeof firmId !== 'string') return undefined;
      const claims = await accounts.findAccount(sub, firmId);
      return claims ? { accountId: claims.sub, claims: async () => ({ ...claims }) } : undefined;
    },
    // Claims of the requested scopes go into the ID token too (not only userinfo), so an
    // application learns the user's firm, kind and name from the one signed token it gets.
    conformIdTokenClaims: false,
    /**
     * The applications are the firm's own, registered by its superusers: their users are not
     * asked to consent. A signed-in user's grant covers what the client asked for.
     */
    async loadExistingGrant(kctx) {
      const { client, session, params, result } = kctx.oidc;
      if (!client || !session?.accountId) return undefined;
      const grantId = (result?.consent as { grantId?: string } | undefined)?.grantId ?? session.grantIdFor(client.clientId);
      const existing = grantId ? await kctx.oidc.provider.Grant.find(grantId) : undefined;
      const grant = existing && existing.accountId === session.accountId ? existing : new kctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
      if (typeof params?.scope === 'string') grant.addOIDCScope(params.scope);
      await grant.save();
      return grant;
    },
    interactions: { url: async (_kctx, interaction) => interactionPath(interaction.uid), policy: policy() },
    rotateRefreshToken: true,
    ttl: {
      AuthorizationCode: AUTHORIZATION_CODE_TTL,
      AccessToken: ACCESS_TOKEN_TTL,
      IdToken: ID_TOKEN_TTL,
      Interaction: INTERACTION_TTL,
      // What a Tessera session allows (TESSERA_SESSION_ABSOLUTE_HOURS): the provider's own
      // sign-in session, the grant, and the whole chain of rotated refresh tokens, counted from
      // the login (iiat), however often it is refreshed.
      Session: sessionSeconds,
      Grant: sessionSeconds,
      RefreshToken: (_kctx, token) => {
        const left = (token.iiat ?? token.iat ?? Math.floor(Date.now() / 1000)) + sessionSeconds - Math.floor(Date.now() / 1000);
        return Math.max(1, left);
      },
    },
    cookies: {
      // Signed with keys derived from the master key: every node checks every other's cookies.
      keys: ctx.secrets.derivedKeys('oidc cookies'),
      names: { session: 'tessera_oidc_session', interaction: 'tessera_oidc_interaction', resume: 'tessera_oidc_resume' },
    },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      // Access tokens are for the userinfo endpoint only: opaque, stored, revocable.
      resourceIndicators: { enabled: false },
      introspection: { enabled: false },
      registration: { enabled: false },
      clientCredentials: { enabled: false },
      deviceFlow: { enabled: false },
      claimsParameter: { enabled: false },
    },
    renderError,
  };
}

/**
 * oidc-provider's prompts (login, then consent), with one more login check: a session whose
 * account findAccount does not give for this client (a user of another firm, one disabled since)
 * is asked to log in again, here rather than failing later in the consent checks.
 */
function policy(): interactionPolicy.DefaultPolicy {
  const prompts = interactionPolicy.base();
  prompts.get('login')!.checks.add(
    new interactionPolicy.Check('account_unavailable', 'the signed-in account cannot sign in to this application', (kctx) =>
      kctx.oidc.session?.accountId !== undefined && kctx.oidc.account === undefined ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT,
    ),
  );
  return prompts;
}

const page = (title: string, body: string) =>
  `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)} - Tessera</title>` +
  `<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#1d2433}button{margin-right:.5rem;padding:.5rem 1rem}</style></head>` +
  `<body><main><h1>${escapeHtml(title)}</h1>${body}</main></body></html>`;

/** An authorization or logout request that cannot go back to the application (unknown client, bad redirect URI): said on a page. */
async function renderError(kctx: KoaContextWithOIDC, out: { error: string; error_description?: string }): Promise<void> {
  kctx.type = 'html';
  kctx.body = page(
    'This sign-in request cannot be completed',
    `<p>The application that sent you here made a request Tessera cannot accept. Go back to the application and try again, or tell its administrator.</p>` +
      `<p><code>${escapeHtml(out.error)}</code>${out.error_description ? `: ${escapeHtml(out.error_description)}` : ''}</p>`,
  );
}

async function logoutSource(kctx: KoaContextWithOIDC, form: string): Promise<void> {
  kctx.body = page(
    'Sign out?',
    `${form}<p>Do you want to sign out of Tessera?</p>` +
      `<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Sign out</button>` +
      `<button type="submit" form="op.logoutForm">Stay signed in</button>`,
  );
}

async function postLogoutSuccessSource(kctx: KoaContextWithOIDC): Promise<void> {
  kctx.body = page('Signed out', '<p>You have signed out of Tessera. You can close this window.</p>');
}
