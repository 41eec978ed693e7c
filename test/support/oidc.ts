import * as client from 'openid-client';
import type Provider from 'oidc-provider';
import { expect } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import type { SecretBox } from '../../src/crypto/secret-box.js';
import { amrFor, ACR } from '../../src/oidc/accounts.js';
import { findOidcClient } from '../../src/applications/application.lookup.js';
import { staticClients, type ClientSource, type OidcClientRecord } from '../../src/oidc/clients.js';
import { startHarness, type Harness } from './harness.js';

/**
 * Tessera as an OpenID Provider in tests: app instances ("nodes") listening on real ports of
 * 127.0.0.1 with one issuer, https://tessera.example, as behind a load balancer. Relying-party
 * requests go out with the real fetch over TCP to whichever node a test names (`via`), so
 * that a code issued on one node can be redeemed on another.
 */
export const ISSUER = 'https://tessera.example';

export interface OidcNode {
  h: Harness;
  /** Where this node listens, e.g. http://127.0.0.1:41234. */
  base: string;
  provider(): Promise<Provider>;
}

export async function startOidcNode(options: { clients: OidcClientRecord[] | ClientSource; clock?: ManualClock; secrets?: SecretBox; sameDatabaseAs?: OidcNode }): Promise<OidcNode> {
  const other = options.sameDatabaseAs?.h;
  const h = await startHarness({
    env: { TESSERA_PUBLIC_URL: ISSUER },
    clock: options.clock,
    oidcClients: Array.isArray(options.clients) ? staticClients(options.clients) : options.clients,
    secrets: other?.ctx.secrets ?? options.secrets,
    ...(other ? { shared: { config: other.ctx.config.database, drop: async () => undefined } } : {}),
  });
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  const address = h.app.server.address();
  if (!address || typeof address === 'string') throw new Error('not listening');
  return { h, base: `http://127.0.0.1:${address.port}`, provider: () => h.app.oidc.provider() };
}

/**
 * The Applications registry as the provider's client source, read on every request through the
 * node `of()` gives (so disabling or deleting an application is seen at once).
 */
export const registryClients = (of: () => Harness): ClientSource => ({
  async findClient(clientId) {
    const h = of();
    const found = await findOidcClient(h.ctx.db, h.ctx.secrets, clientId, h.ctx.clock);
    return found ? { firmId: found.firmId, metadata: { ...found.metadata } } : undefined;
  },
});

/** The issuer's URL as it reaches one node: same path and query, that node's address. */
export const onNode = (node: OidcNode, url: string | URL) => {
  const u = new URL(url);
  return `${node.base}${u.pathname}${u.search}`;
};

/** openid-client's fetch, sent to one node (the relying party's view of "the issuer"). */
export const via = (node: OidcNode) => ((url: string, init: RequestInit) => fetch(onNode(node, url), { ...init, redirect: 'manual' })) as client.CustomFetch;

/** openid-client's view of the issuer, through one node. */
export async function relyingParty(node: OidcNode, clientId: string, metadata: Partial<client.ClientMetadata>, auth?: client.ClientAuth): Promise<client.Configuration> {
  const config = await client.discovery(new URL(ISSUER), clientId, metadata, auth, { [client.customFetch]: via(node) });
  config[client.customFetch] = via(node);
  return config;
}

/**
 * A browser for the front channel: keeps cookies (by name and path, as oidc-provider scopes
 * them), follows nothing by itself, and can be pointed at any node.
 */
export class Browser {
  private jar = new Map<string, { value: string; path: string }>();

  async get(node: OidcNode, url: string | URL): Promise<Response> {
    return this.send(node, url, { method: 'GET' });
  }

  async postForm(node: OidcNode, url: string | URL, form: Record<string, string>): Promise<Response> {
    return this.send(node, url, { method: 'POST', body: new URLSearchParams(form), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  }

  private async send(node: OidcNode, url: string | URL, init: RequestInit): Promise<Response> {
    const path = new URL(url, ISSUER).pathname;
    const cookie = [...this.jar].filter(([, c]) => path.startsWith(c.path)).map(([name, c]) => `${name}=${c.value}`).join('; ');
    const res = await fetch(onNode(node, new URL(url, ISSUER)), { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), ...(cookie ? { cookie } : {}), accept: 'text/html' } });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';').map((s) => s.trim());
      const [name, ...rest] = pair!.split('=');
      const value = rest.join('=');
      const cookiePath = attributes.find((a) => a.toLowerCase().startsWith('path='))?.slice(5) ?? '/';
      const expired = attributes.some((a) => /^expires=/i.test(a) && new Date(a.slice(8)).getTime() < Date.now()) || value === '';
      if (expired) this.jar.delete(name!);
      else this.jar.set(name!, { value, path: cookiePath });
    }
    return res;
  }

  has(name: string): boolean {
    return this.jar.has(name);
  }
}

/** The interaction uid of a redirect to Tessera's sign-in page (/oidc/interaction/:uid). */
export function interactionUid(res: Response): string {
  const location = res.headers.get('location') ?? '';
  const m = /\/oidc\/interaction\/([A-Za-z0-9_-]+)$/.exec(new URL(location, ISSUER).pathname);
  if (res.status !== 303 || !m) throw new Error(`expected a redirect to the interaction page, got ${res.status} ${location}`);
  return m[1]!;
}

/**
 * Stands in for the login the interaction page will run (password and second factor through the
 * authentication core, a later change): records the login's result on the interaction, as
 * oidc-provider's interactionResult does, on the node given. The applications are the firm's
 * own, so the consent prompt (which prompt=consent, and so offline_access, asks for) is
 * answered with the login.
 */
export async function completeLogin(node: OidcNode, uid: string, accountId: string, login: { acr?: string; amr?: string[] } = {}): Promise<void> {
  const provider = await node.provider();
  const interaction = await provider.Interaction.find(uid);
  if (!interaction) throw new Error(`no interaction ${uid}`);
  interaction.result = { login: { accountId, acr: login.acr ?? ACR.mfa, amr: login.amr ?? amrFor(['password', 'totp']) }, consent: {} };
  await interaction.save(interaction.exp - Math.floor(Date.now() / 1000));
}

export interface SignInNodes {
  start: OidcNode;
  resume: OidcNode;
  redeem: OidcNode;
}

export interface SignIn {
  tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
  browser: Browser;
  callback: URL;
  verifier: string;
}

/**
 * One sign-in with the code flow and PKCE: the authorization request on `start`, the login and
 * the resumed request on `resume` (straight back with a code when the browser's session
 * suffices), the code redeemed by openid-client on `redeem`, which checks state, nonce and iss.
 * By default it asks for offline_access, which OIDC Core 11 grants only with prompt=consent;
 * `params` replaces scope and prompt.
 */
export async function signIn(options: {
  clientId: string;
  auth: client.ClientAuth;
  redirectUri: string;
  accountId: string;
  nodes: SignInNodes;
  browser?: Browser;
  params?: Record<string, string>;
}): Promise<SignIn> {
  const { nodes } = options;
  const browser = options.browser ?? new Browser();
  const rp = await relyingParty(nodes.redeem, options.clientId, {}, options.auth);
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(rp, {
    redirect_uri: options.redirectUri,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...(options.params ?? { scope: 'openid profile email tessera offline_access', prompt: 'consent' }),
  });
  let res = await browser.get(nodes.start, url);
  if (res.status === 303 && new URL(res.headers.get('location')!, ISSUER).pathname.startsWith('/oidc/interaction/')) {
    const uid = interactionUid(res);
    expect((await browser.get(nodes.start, `/oidc/interaction/${uid}`)).status).toBe(200);
    await completeLogin(nodes.resume, uid, options.accountId);
    res = await browser.get(nodes.resume, `/oidc/auth/${uid}`);
  }
  expect(res.status, await res.clone().text()).toBe(303);
  const callback = new URL(res.headers.get('location')!);
  expect(callback.origin + callback.pathname).toBe(options.redirectUri);
  const tokens = await client.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true });
  return { tokens, browser, callback, verifier };
}
