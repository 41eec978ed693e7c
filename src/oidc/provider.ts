import { AsyncLocalStorage } from 'node:async_hooks';
import type { FastifyBaseLogger } from 'fastify';
import type { JWK } from 'jose';
import Provider, { errors, interactionPolicy, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { audit } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import { DATABASE_RETRY_AFTER_SECONDS } from '../core/errors.js';
import { escapeHtml } from '../http/html.js';
import { page } from './pages.js';
import { deleteSession } from '../sessions/session.service.js';
import { clearedSessionCookieHeader, sessionAuthentication, sessionFromCookieHeader } from '../sessions/session-cookie.js';
import { ACR, ACR_VALUES, demandsMfa, SCOPE_CLAIMS, type AccountSource } from './accounts.js';
import { adapterFactory, type PresentedCredential } from './adapter.js';
import { APPLICATION_METADATA, FIRM_METADATA, KINDS_METADATA, type ClientSource } from './clients.js';
import { countLogin } from '../core/login-counts.js';
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
  // The request being served, for the client look-up (which secret of a rotation it presents).
  const serving = new AsyncLocalStorage<KoaContextWithOIDC>();
  const provider = new Provider(ctx.config.publicUrl.origin, configuration(ctx, jwks, sources, () => presentedCredential(serving.getStore())));
  provider.use((kctx, next) => serving.run(kctx as KoaContextWithOIDC, next));
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
  // RP-initiated logout ends the Tessera session too (issue 14: "logout from the portal ends the
  // Tessera session"), when the user chose to sign out of Tessera (logout=yes) at the provider's
  // confirmation. Not when oidc-provider itself ends its session to sign another account in
  // (resume.js posts the same form, to come back to the authorization): the Tessera session is
  // the one just made for that account.
  provider.on('end_session.success', (kctx: KoaContextWithOIDC) => {
    const state = kctx.oidc.session?.state as { postLogoutRedirectUri?: string } | undefined;
    const resuming = typeof state?.postLogoutRedirectUri === 'string' && state.postLogoutRedirectUri.startsWith(`${ctx.config.publicUrl.origin}${OIDC_ROUTES.authorization}/`);
    if (kctx.oidc.params?.logout && !resuming) kctx.state.endTesseraSession = true;
  });
  provider.use(async (kctx, next) => {
    await next();
    if (kctx.state.endTesseraSession) await endTesseraSession(ctx, kctx as KoaContextWithOIDC);
  });
  // A sign-in to an application (issue 15 item 6, Usage): every authorization answered with a
  // code, after a fresh login or by single sign-on, counts one login of the application, with the
  // second factor or the no-seat bypass of the Tessera session it rode on.
  provider.on('authorization.success', (kctx: KoaContextWithOIDC) => {
    kctx.state.countSignIn = true;
  });
  provider.use(async (kctx, next) => {
    await next();
    if (kctx.state.countSignIn) await countSignIn(ctx, kctx as KoaContextWithOIDC);
  });
  // Koa's own error event (a failure outside the provider's route error handlers), else printed to stderr.
  (provider as unknown as NodeJS.EventEmitter).on('error', (err: Error) => log.error({ err }, 'OpenID provider error'));
  return provider;
}

/** The login an authorization just answered, counted for its application (core/login-counts.ts) as the Tessera session signed in. */
async function countSignIn(ctx: AppContext, kctx: KoaContextWithOIDC): Promise<void> {
  const client = kctx.oidc.client;
  const firmId = client?.[FIRM_METADATA];
  const applicationId = client?.[APPLICATION_METADATA];
  if (typeof firmId !== 'string' || typeof applicationId !== 'string') return;
  const found = await sessionFromCookieHeader(ctx, kctx.headers.cookie);
  const session = found?.session;
  const amr = session ? sessionAuthentication(session).amr : (kctx.oidc.session?.amr ?? []);
  const kind = amr.includes('mfa') ? 'second_factor' : session?.mfa_bypassed === 1 ? 'bypass' : 'password_only';
  await countLogin(ctx.db, { firmId, applicationId, at: ctx.clock.now(), kind });
}

/** What a request to the token or revocation endpoint presents as its client's secret (oidc-provider has parsed its parameters by then). */
function presentedCredential(kctx: KoaContextWithOIDC | undefined): PresentedCredential | undefined {
  if (!kctx) return undefined;
  const params = (kctx.oidc?.params ?? {}) as { client_secret?: unknown; client_assertion?: unknown };
  if (typeof params.client_secret === 'string') return { secret: params.client_secret };
  if (typeof params.client_assertion === 'string') return { assertion: params.client_assertion };
  const authorization = kctx.headers.authorization;
  if (typeof authorization === 'string' && /^basic /i.test(authorization)) {
    const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1) return undefined;
    try {
      // RFC 6749 2.3.1: form-urlencoded, then base64.
      return { secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' ')) };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Deletes the Tessera session of the browser that signed out at the provider, audited as a logout, and clears its cookie. */
async function endTesseraSession(ctx: AppContext, kctx: KoaContextWithOIDC): Promise<void> {
  const found = await sessionFromCookieHeader(ctx, kctx.headers.cookie);
  if (found) {
    await deleteSession(ctx.db, found.token);
    const { session } = found;
    const ua = kctx.headers['user-agent'];
    await audit(ctx.db, ctx.clock.now(), {
      type: session.stage === 'full' ? session.principal : 'anonymous',
      id: session.stage === 'full' ? (session.user_id ?? session.operator_id) : null,
      firmId: session.firm_id,
      ip: kctx.ip,
      userAgent: typeof ua === 'string' ? ua : null,
    }, { event: 'logout', details: { door: 'oidc' } });
  }
  kctx.append('set-cookie', clearedSessionCookieHeader(ctx));
}

function configuration(ctx: AppContext, jwks: { keys: JWK[] }, { clients, accounts }: ProviderSources, presented: () => PresentedCredential | undefined): Configuration {
  const sessionSeconds = Math.floor(ctx.config.sessionAbsoluteMs / 1000);
  return {
    adapter: adapterFactory(ctx.db, ctx.clock, clients, presented),
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
    // Each client belongs to a firm, and may admit only some kinds of its users.
    extraClientMetadata: {
      properties: [FIRM_METADATA, KINDS_METADATA, APPLICATION_METADATA],
      validator(_kctx, key, value) {
        if (key === FIRM_METADATA && (typeof value !== 'string' || value === '')) throw new errors.InvalidClientMetadata(`${FIRM_METADATA} must name the client's firm`);
        if (key === APPLICATION_METADATA && value !== undefined && (typeof value !== 'string' || value === '')) throw new errors.InvalidClientMetadata(`${APPLICATION_METADATA} must name the application`);
        if (key === KINDS_METADATA && value !== undefined && value !== null && !(Array.isArray(value) && value.every((k) => typeof k === 'string'))) {
          throw new errors.InvalidClientMetadata(`${KINDS_METADATA} must list user kinds`);
        }
      },
    },
    // Redirect URIs are always named in the request and compared exactly, even for a client with one.
    allowOmittingSingleRegisteredRedirectUri: false,
    async findAccount(kctx, sub) {
      const firmId = kctx.oidc.client?.[FIRM_METADATA];
      // Without a client there is no firm to look in: nobody is found (no cross-firm answers).
      if (typeof firmId !== 'string') return undefined;
      const claims = await accounts.findAccount(sub, firmId);
      // A user of a kind the application does not admit is nobody to it: no tokens, no claims (the interaction says why).
      const kinds = kctx.oidc.client?.[KINDS_METADATA] as string[] | undefined;
      if (!claims || (Array.isArray(kinds) && !kinds.includes(claims.kind))) return undefined;
      return { accountId: claims.sub, claims: async () => ({ ...claims }) };
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
    interactions: { url: async (_kctx, interaction) => interactionPath(interaction.uid), policy: policy(ctx) },
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
 * oidc-provider's prompts (login, then consent), with three more login checks:
 * - account_unavailable: a session whose account findAccount does not give for this client (a
 *   user of another firm, of a kind the application does not admit, one disabled since) is asked
 *   to log in again, here rather than failing later in the consent checks;
 * - tessera_session: the provider's session mirrors a Tessera session (single sign-on across the
 *   firm's applications is the Tessera session reused). When that session has ended (signed out
 *   of Tessera, expired, idle) or is now another login (another user, a new login, a step-up),
 *   the interaction reads it again, so what the ID token says is what the Tessera session says
 *   (and max_age is measured on Tessera's clock, the one its login time was taken on);
 * - mfa_required: `acr_values` asks for urn:tessera:acr:mfa and the session signed in without a
 *   second factor (an uncovered user, the no-seat bypass, a remembered browser): the interaction
 *   asks for one (a step-up).
 * Checks that read the session skip the request resuming an interaction just finished (its
 * result is the login), so an interaction's answer cannot send the browser round again.
 */
function policy(ctx: AppContext): interactionPolicy.DefaultPolicy {
  const prompts = interactionPolicy.base();
  const login = prompts.get('login')!;
  const { Check } = interactionPolicy;
  login.checks.add(
    new Check('account_unavailable', 'the signed-in account cannot sign in to this application', (kctx) =>
      kctx.oidc.session?.accountId !== undefined && kctx.oidc.account === undefined ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT,
    ),
  );
  login.checks.add(
    new Check('tessera_session', 'the Tessera session has ended or changed, or is older than max_age', async (kctx) => {
      const session = kctx.oidc.session;
      if (!session?.accountId || kctx.oidc.result?.login) return Check.NO_NEED_TO_PROMPT;
      const found = await sessionFromCookieHeader(ctx, kctx.headers.cookie);
      if (!found || found.session.stage !== 'full' || found.session.user_id !== session.accountId) return Check.REQUEST_PROMPT;
      const { amr, authTime } = sessionAuthentication(found.session);
      const same = Math.floor(authTime / 1000) === session.loginTs && JSON.stringify(amr) === JSON.stringify(session.amr ?? []);
      // max_age on Tessera's clock, the one the login's time was taken on (oidc-provider's own check uses the process clock).
      const maxAge = kctx.oidc.params?.max_age;
      const tooOld = maxAge !== undefined && authTime < ctx.clock.now() - Number(maxAge) * 1000;
      return same && !tooOld ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
    }),
  );
  login.checks.add(
    new Check('mfa_required', 'the application asks for a second factor', (kctx) => {
      if (!demandsMfa(kctx.oidc.params?.acr_values) || !kctx.oidc.session?.accountId || kctx.oidc.result?.login) return Check.NO_NEED_TO_PROMPT;
      return kctx.oidc.session.acr === ACR.mfa ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
    }),
  );
  return prompts;
}


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
