import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import * as oidc from 'openid-client';
import { casesFor } from './cases.js';
import type { PortalConfig } from './config.js';

/**
 * The example portal: a firm's own web application that signs its users in through Tessera
 * with OpenID Connect, using openid-client (panva, OpenID Certified) and nothing else, on a
 * plain node:http server. The authorization code flow with PKCE (S256), state and nonce;
 * logout is RP-initiated (OpenID Connect RP-Initiated Logout 1.0), so signing out of the
 * portal also ends the Tessera session.
 *
 * Routes: GET / (the case list, or off to sign in), GET /login, GET /callback (the redirect
 * URI), POST /logout, GET /signed-out (the post-logout redirect URI).
 */

/** What the portal keeps of a signed-in user: the ID token's claims, and the token itself for logout. */
interface SignedIn {
  claims: oidc.IDToken;
  idToken: string;
}

/** A sign-in under way: what the callback must check (RFC 7636, OIDC Core 3.1.2.1, RFC 6749 10.12). */
interface Pending {
  state: string;
  nonce: string;
  codeVerifier: string;
}

interface Session {
  pending?: Pending;
  user?: SignedIn;
  expiresAt: number;
}

const COOKIE = 'portal_session';
const SESSION_MS = 8 * 3_600_000;
const SCOPE = 'openid profile email tessera';

export interface PortalOptions {
  /** openid-client's fetch (tests send the provider's requests to a chosen node). */
  fetch?: oidc.CustomFetch;
}

export interface Portal {
  server: Server;
  /** Sessions in this process's memory: an example keeps it simple; a real portal stores them. */
  sessions: Map<string, Session>;
}

export function createPortal(config: PortalConfig, options: PortalOptions = {}): Portal {
  const sessions = new Map<string, Session>();
  const secureCookie = config.redirectUri.protocol === 'https:';
  let discovered: Promise<oidc.Configuration> | null = null;

  /** The provider's configuration, read once from its discovery document (again after a failure). */
  const provider = (): Promise<oidc.Configuration> => {
    discovered ??= (async () => {
      const local = config.issuer.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(config.issuer.hostname);
      const found = await oidc.discovery(config.issuer, config.clientId, undefined, oidc.ClientSecretBasic(config.clientSecret), {
        // Plain HTTP only to a provider on this machine (development); openid-client refuses it otherwise.
        ...(local ? { execute: [oidc.allowInsecureRequests] } : {}),
        ...(options.fetch ? { [oidc.customFetch]: options.fetch } : {}),
      });
      if (options.fetch) found[oidc.customFetch] = options.fetch;
      return found;
    })();
    discovered.catch(() => (discovered = null));
    return discovered;
  };

  const sessionOf = (req: IncomingMessage): [string, Session] | [null, null] => {
    const id = cookieValue(req, COOKIE);
    const session = id ? sessions.get(id) : undefined;
    if (!id || !session) return [null, null];
    if (session.expiresAt <= Date.now()) {
      sessions.delete(id);
      return [null, null];
    }
    return [id, session];
  };
  const newSession = (res: ServerResponse, session: Omit<Session, 'expiresAt'>): void => {
    const id = randomBytes(32).toString('base64url');
    sessions.set(id, { ...session, expiresAt: Date.now() + SESSION_MS });
    res.setHeader('set-cookie', `${COOKIE}=${id}; Path=/; HttpOnly; SameSite=Lax${secureCookie ? '; Secure' : ''}`);
  };
  const endSession = (res: ServerResponse, id: string | null): void => {
    if (id) sessions.delete(id);
    res.setHeader('set-cookie', `${COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0${secureCookie ? '; Secure' : ''}`);
  };

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', config.redirectUri);
    const [sessionId, session] = sessionOf(req);

    if (req.method === 'GET' && url.pathname === '/') {
      if (!session?.user) return redirect(res, '/login');
      return html(res, 200, casesPage(session.user.claims));
    }

    if (req.method === 'GET' && url.pathname === '/login') {
      const rp = await provider();
      const pending: Pending = { state: oidc.randomState(), nonce: oidc.randomNonce(), codeVerifier: oidc.randomPKCECodeVerifier() };
      const authorizationUrl = oidc.buildAuthorizationUrl(rp, {
        redirect_uri: config.redirectUri.href,
        scope: SCOPE,
        code_challenge: await oidc.calculatePKCECodeChallenge(pending.codeVerifier),
        code_challenge_method: 'S256',
        state: pending.state,
        nonce: pending.nonce,
      });
      // A new session for every sign-in: one planted before it is never the one signed in.
      endSession(res, sessionId);
      newSession(res, { pending });
      return redirect(res, authorizationUrl.href);
    }

    if (req.method === 'GET' && url.pathname === new URL(config.redirectUri).pathname) {
      const pending = session?.pending;
      if (!pending) return html(res, 400, errorPage('This sign-in has expired or was started in another browser.', 'no_pending_sign_in'));
      const rp = await provider();
      const current = new URL(`${url.pathname}${url.search}`, config.redirectUri);
      let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
      try {
        // Checks state, iss (RFC 9207), the code with the PKCE verifier at the token endpoint,
        // and the ID token: issuer, audience, nonce, expiry.
        tokens = await oidc.authorizationCodeGrant(rp, current, { pkceCodeVerifier: pending.codeVerifier, expectedState: pending.state, expectedNonce: pending.nonce, idTokenExpected: true });
      } catch (err) {
        endSession(res, sessionId);
        const code = err instanceof oidc.AuthorizationResponseError || err instanceof oidc.ResponseBodyError ? err.error : err instanceof Error && 'code' in err ? String(err.code) : 'sign_in_failed';
        const description = err instanceof oidc.AuthorizationResponseError || err instanceof oidc.ResponseBodyError ? err.error_description : undefined;
        return html(res, 400, errorPage(description ?? 'Tessera did not sign you in.', code));
      }
      endSession(res, sessionId);
      newSession(res, { user: { claims: tokens.claims()!, idToken: tokens.id_token! } });
      return redirect(res, '/');
    }

    if (req.method === 'POST' && url.pathname === '/logout') {
      await drain(req);
      endSession(res, sessionId);
      if (!session?.user) return redirect(res, '/signed-out');
      // Tessera asks the user to confirm, ends its session, and sends the browser to the post-logout URI.
      const end = oidc.buildEndSessionUrl(await provider(), { id_token_hint: session.user.idToken, post_logout_redirect_uri: config.postLogoutRedirectUri.href });
      return redirect(res, end.href);
    }

    if (req.method === 'GET' && url.pathname === new URL(config.postLogoutRedirectUri).pathname) {
      return html(res, 200, signedOutPage());
    }

    return html(res, 404, errorPage('There is no page here.', 'not_found'));
  }

  const server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      // Tessera unreachable (discovery, token endpoint): say so rather than hang or crash.
      console.error('portal:', err);
      if (!res.headersSent) html(res, 502, errorPage('Tessera could not be reached. Try again in a moment.', 'provider_unreachable'));
      else res.end();
    });
  });
  return { server, sessions };
}

function cookieValue(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

async function drain(req: IncomingMessage): Promise<void> {
  for await (const _chunk of req) void _chunk;
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(303, { location, 'cache-control': 'no-store' }).end();
}

function html(res: ServerResponse, status: number, body: string): void {
  res
    .writeHead(status, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      // No form-action: the logout form's answer redirects to Tessera, another origin, which
      // browsers check against form-action too.
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
      'x-content-type-options': 'nosniff',
    })
    .end(body);
}

const esc = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const KINDS: Record<string, string> = {
  case_manager: 'Case manager',
  vendor_case_manager: 'Vendor case manager',
  corp_user: 'Corporation user',
  foreign_national: 'Foreign national',
};

/** RFC 8176 authentication method references, as Tessera uses them. */
const AMR: Record<string, string> = {
  pwd: 'password',
  otp: 'one-time passcode',
  swk: 'Tessera Authenticator (push)',
  hwk: 'security key',
  mfa: 'multiple factors',
};

const STYLE = `
  *{box-sizing:border-box}
  body{margin:0;font-family:system-ui,sans-serif;color:#1d2433;background:#f5f6f8}
  header{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;justify-content:space-between;padding:.75rem 1rem;background:#123f6d;color:#fff}
  header p{margin:0}
  main{max-width:60rem;margin:0 auto;padding:1rem}
  section{background:#fff;border:1px solid #d8dce3;border-radius:6px;padding:1rem;margin-bottom:1rem;overflow-x:auto}
  h1{font-size:1.5rem}
  dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}
  dt{font-weight:600}
  dd{margin:0;overflow-wrap:anywhere}
  table{border-collapse:collapse;width:100%}
  th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #e3e6eb}
  button,a.button{font:inherit;padding:.45rem .9rem;border-radius:4px;border:1px solid #fff;background:transparent;color:inherit;cursor:pointer;text-decoration:none}
  main a.button{border-color:#123f6d;color:#123f6d}
  .visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
  @media (max-width:480px){
    dl{grid-template-columns:1fr}dt{margin-top:.5rem}
    /* The case table as one card per case: each cell under its column's name. */
    thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
    tr{display:block;border-bottom:1px solid #d8dce3;padding:.4rem 0}
    td{display:grid;grid-template-columns:7rem 1fr;border:0;padding:.15rem 0}
    td::before{content:attr(data-label);font-weight:600}
  }
`;

function layout(title: string, body: string, header = ''): string {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} - Case Portal</title><style>${STYLE}</style></head>
<body><header><p><strong>Case Portal</strong> <span>(example application)</span></p>${header}</header><main>${body}</main></body></html>`;
}

function casesPage(claims: oidc.IDToken): string {
  const amr = Array.isArray(claims.amr) ? (claims.amr as string[]) : [];
  const authTime = typeof claims.auth_time === 'number' ? new Date(claims.auth_time * 1000).toISOString().replace('.000Z', 'Z') : 'unknown';
  const cases = casesFor(claims as Record<string, unknown>);
  const rows = cases
    .map(
      (c) =>
        `<tr><td data-label="Case">${esc(c.number)}</td><td data-label="Beneficiary">${esc(c.beneficiary)}</td><td data-label="Corporation">${esc(c.corporation)}</td>` +
        `<td data-label="Type">${esc(c.type)}</td><td data-label="Status">${esc(c.status)}</td></tr>`,
    )
    .join('');
  const signOut = `<nav aria-label="Account"><form method="post" action="/logout"><span>${esc(claims.name)}</span> <button type="submit">Sign out</button></form></nav>`;
  return layout(
    'Cases',
    `<h1>Cases</h1>
<section aria-labelledby="who"><h2 id="who">Signed in</h2><dl>
<dt>Name</dt><dd data-claim="name">${esc(claims.name)}</dd>
<dt>Email</dt><dd data-claim="email">${esc(claims.email)}</dd>
<dt>Kind</dt><dd data-claim="kind">${esc(KINDS[String(claims.kind)] ?? claims.kind)}</dd>
<dt>Firm</dt><dd data-claim="firm">${esc(claims.firm)}</dd>
${claims.corporation ? `<dt>Corporation</dt><dd data-claim="corporation">${esc(claims.corporation)}</dd>` : ''}
</dl></section>
<section aria-labelledby="how"><h2 id="how">How you signed in</h2><dl>
<dt>Methods (amr)</dt><dd data-claim="amr">${amr.map((m) => `<code>${esc(m)}</code>${AMR[m] ? ` (${esc(AMR[m])})` : ''}`).join(', ') || 'none given'}</dd>
<dt>Level (acr)</dt><dd data-claim="acr"><code>${esc(claims.acr ?? 'none given')}</code></dd>
<dt>Signed in at</dt><dd data-claim="auth_time"><time datetime="${esc(authTime)}">${esc(authTime)}</time></dd>
</dl></section>
<section aria-labelledby="list"><h2 id="list">Case list</h2>
${cases.length ? `<table><caption class="visually-hidden">${cases.length} cases</caption><thead><tr><th scope="col">Case</th><th scope="col">Beneficiary</th><th scope="col">Corporation</th><th scope="col">Type</th><th scope="col">Status</th></tr></thead><tbody>${rows}</tbody></table>` : '<p>No cases for you yet.</p>'}
</section>`,
    signOut,
  );
}

function signedOutPage(): string {
  return layout('Signed out', '<h1>Signed out</h1><section><p>You have signed out of the Case Portal and of Tessera.</p><p><a class="button" href="/login">Sign in again</a></p></section>');
}

function errorPage(message: string, code: string): string {
  return layout('Sign-in problem', `<h1>Sign-in problem</h1><section role="alert"><p>${esc(message)}</p><p>Code: <code>${esc(code)}</code></p><p><a class="button" href="/login">Try again</a></p></section>`);
}
