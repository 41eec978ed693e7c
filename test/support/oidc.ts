import type { RouteOptions } from 'fastify';
import * as client from 'openid-client';
import type Provider from 'oidc-provider';
import { expect } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import type { SecretBox } from '../../src/crypto/secret-box.js';
import { staticClients, type ClientSource, type OidcClientRecord } from '../../src/oidc/clients.js';
import { TOTP_PARAMS } from '../../src/factors/totp/totp.factor.js';
import { PASSWORD, startHarness, totpAt, type Harness } from './harness.js';

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

/** `clients`: a fixed list or source; without it, the Applications registry (as in a running Tessera). */
export async function startOidcNode(options: {
  clients?: OidcClientRecord[] | ClientSource;
  clock?: ManualClock;
  secrets?: SecretBox;
  sameDatabaseAs?: OidcNode;
  /** Sees every route as the app adds it (see buildApp). */
  onRoute?: (route: RouteOptions) => void;
}): Promise<OidcNode> {
  const other = options.sameDatabaseAs?.h;
  const h = await startHarness({
    env: { TESSERA_PUBLIC_URL: ISSUER },
    onRoute: options.onRoute,
    clock: options.clock,
    oidcClients: options.clients === undefined ? undefined : Array.isArray(options.clients) ? staticClients(options.clients) : options.clients,
    secrets: other?.ctx.secrets ?? options.secrets,
    ...(other ? { shared: { config: other.ctx.config.database, drop: async () => undefined } } : {}),
  });
  return listenAsOidcNode(h);
}

/** A harness whose TESSERA_PUBLIC_URL is ISSUER, listening on a port of 127.0.0.1 as a node of the issuer. */
export async function listenAsOidcNode(h: Harness): Promise<OidcNode> {
  if (h.ctx.config.publicUrl.origin !== ISSUER) throw new Error(`an OIDC node needs TESSERA_PUBLIC_URL=${ISSUER}, not ${h.ctx.config.publicUrl.origin}`);
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  const address = h.app.server.address();
  if (!address || typeof address === 'string') throw new Error('not listening');
  return { h, base: `http://127.0.0.1:${address.port}`, provider: () => h.app.oidc.provider() };
}

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

  /**
   * A call of Tessera's web API from this browser's pages (same origin): JSON, and the CSRF token
   * of the session fetched first for a state-changing one, as the web app does.
   */
  async api(node: OidcNode, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json', origin: ISSUER };
    if (method !== 'GET') {
      const csrf = await this.send(node, '/api/v1/csrf', { method: 'GET' });
      headers['x-csrf-token'] = ((await csrf.json()) as { token: string }).token;
      headers['content-type'] = 'application/json';
    }
    return this.send(node, `/api/v1${path}`, { method, headers, body: body === undefined ? (method === 'GET' ? undefined : '{}') : JSON.stringify(body) });
  }

  private async send(node: OidcNode, url: string | URL, init: RequestInit): Promise<Response> {
    const path = new URL(url, ISSUER).pathname;
    const cookie = [...this.jar].filter(([, c]) => path.startsWith(c.path)).map(([name, c]) => `${name}=${c.value}`).join('; ');
    const res = await fetch(onNode(node, new URL(url, ISSUER)), { ...init, redirect: 'manual', headers: { accept: 'text/html', ...(init.headers as Record<string, string>), ...(cookie ? { cookie } : {}) } });
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

  /** A cookie's value, as the browser holds it. */
  cookie(name: string): string | undefined {
    return this.jar.get(name)?.value;
  }

  /** A cookie put there by someone else (a session fixation attempt). */
  plant(name: string, value: string, path = '/'): void {
    this.jar.set(name, { value, path });
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
 * Someone who signs in at Tessera's login pages: their address, the firm's short name, and,
 * once they have one, the secret of their authenticator app (`login` enrolls one when Tessera
 * asks, at a first login, and records it here).
 */
export interface Person {
  email: string;
  firm: string;
  password?: string;
  totp?: string;
}

/** What the login pages saw on the way: each step the browser was sent to, in order. */
export interface LoginTrail {
  steps: ('login' | 'second_factor' | 'enroll' | 'step_up')[];
  /** The answer of the password step, when there was one. */
  password?: { status: number; body: { next?: string; notice?: string; error?: string } };
}

/** A passcode of the person's authenticator app, at the next TOTP step of the node's clock (each code works once). */
export function passcode(node: OidcNode, secret: string): string {
  node.h.clock.advance(TOTP_PARAMS.period * 1000);
  return totpAt(secret, node.h.clock.now());
}

/**
 * Follows the browser from a response of the provider through Tessera's login, as a person at
 * the web app would: the interaction page, /login (the password step of the web API, with the
 * firm the page was given), /mfa (a passcode), /enroll (an authenticator app, confirmed with its
 * first passcode), and back, until a response leaves Tessera (the application's redirect URI) or
 * stops on a page. Tessera's own API is called on `node`.
 */
export async function throughLogin(browser: Browser, node: OidcNode, res: Response, person: Person | null, trail: LoginTrail = { steps: [] }): Promise<{ res: Response; trail: LoginTrail }> {
  for (let hops = 0; hops < 12; hops++) {
    const location = res.headers.get('location');
    if (res.status !== 303 && res.status !== 302) return { res, trail };
    const url = new URL(location!, ISSUER);
    if (url.origin !== ISSUER) return { res, trail };
    const next = url.searchParams.get('next');
    if (url.pathname === '/login') {
      trail.steps.push('login');
      if (!person) return { res, trail };
      expect(url.searchParams.get('firm')).toEqual(expect.any(String));
      const answer = await browser.api(node, 'POST', '/login', { email: person.email, password: person.password ?? PASSWORD, firm: url.searchParams.get('firm') });
      const body = (await answer.json()) as { next?: string; notice?: string; error?: string };
      trail.password = { status: answer.status, body };
      if (answer.status !== 200) return { res, trail };
      if (body.next === 'second_factor') await secondFactor(browser, node, person, trail, 'second_factor');
      if (body.next === 'enroll') await enroll(browser, node, person, trail);
      res = await browser.get(node, next!);
    } else if (url.pathname === '/mfa') {
      if (!person) return { res, trail };
      await secondFactor(browser, node, person, trail, 'step_up');
      res = await browser.get(node, next!);
    } else if (url.pathname.startsWith('/oidc/')) {
      res = await browser.get(node, url);
    } else return { res, trail };
  }
  throw new Error('too many redirects');
}

async function secondFactor(browser: Browser, node: OidcNode, person: Person, trail: LoginTrail, step: 'second_factor' | 'step_up'): Promise<void> {
  trail.steps.push(step);
  if (!person.totp) throw new Error(`${person.email} has no authenticator app to answer with`);
  const verified = await browser.api(node, 'POST', '/mfa/verify', { method: 'totp', code: passcode(node, person.totp) });
  expect(verified.status, await verified.clone().text()).toBe(200);
}

async function enroll(browser: Browser, node: OidcNode, person: Person, trail: LoginTrail): Promise<void> {
  trail.steps.push('enroll');
  const begun = await browser.api(node, 'POST', '/mfa/enrollment/totp', {});
  expect(begun.status, await begun.clone().text()).toBe(201);
  const { authenticatorId, secret } = (await begun.json()) as { authenticatorId: string; secret: string };
  const confirmed = await browser.api(node, 'POST', `/mfa/enrollment/totp/${authenticatorId}/confirm`, { code: passcode(node, secret) });
  expect(confirmed.status, await confirmed.clone().text()).toBe(200);
  person.totp = secret;
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
  trail: LoginTrail;
}

/**
 * One sign-in with the code flow and PKCE: the authorization request on `start`, Tessera's login
 * (throughLogin) and the resumed request on `resume` (straight back with a code when the
 * browser's sessions suffice), the code redeemed by openid-client on `redeem`, which checks
 * state, nonce and iss. By default it asks for offline_access, which OIDC Core 11 grants only
 * with prompt=consent; `params` replaces scope and prompt.
 */
export async function signIn(options: {
  clientId: string;
  auth: client.ClientAuth;
  redirectUri: string;
  person: Person;
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
  const first = await browser.get(nodes.start, url);
  const { res, trail } = await throughLogin(browser, nodes.resume, first, options.person);
  expect(res.status, await res.clone().text()).toBe(303);
  const callback = new URL(res.headers.get('location')!);
  expect(callback.origin + callback.pathname).toBe(options.redirectUri);
  const tokens = await client.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true });
  return { tokens, browser, callback, verifier, trail };
}
