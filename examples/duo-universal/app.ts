import { randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { Client } from '@duosecurity/duo_universal';

/**
 * A small web application protected by Duo's Web SDK v4, written as Duo's own duo_universal
 * example (duosecurity/duo_universal_nodejs, example/src/index.js) is: a login form, then
 *   1. healthCheck()                               is the service up?
 *   2. generateState(), kept in the session with the username
 *   3. createAuthUrl(username, state)              and a 302 to it (the Universal Prompt)
 *   4. /redirect: duo_code and state; state compared with the saved one;
 *      exchangeAuthorizationCodeFor2FAResult(duo_code, username), the token shown.
 * Pointed at Tessera by its three settings alone (client id, client secret, API hostname). The
 * only addition: Tessera on a private CA (DUO_CA_FILE), which the client's pinned Duo CAs do not
 * include, so its https agent is given that CA (README "Duo Web SDK v4").
 *
 * Plain node:http instead of Express, so the example needs nothing but the client. Like Duo's
 * example, it checks no password: a real application checks it before step 1.
 */
export interface DuoSampleConfig {
  clientId: string;
  clientSecret: string;
  /** Tessera's host (and port when not 443), as Duo's "API hostname". */
  apiHost: string;
  /** Registered in Tessera as the application's redirect URI. */
  redirectUrl: string;
  /** PEM of a private CA that signed Tessera's certificate (else the client trusts Duo's pinned CAs only). */
  caPem?: string;
}

export class DuoSampleConfigError extends Error {}

export function duoSampleConfigFromEnv(env: NodeJS.ProcessEnv = process.env, readFile: (path: string) => string): DuoSampleConfig & { port: number } {
  const need = (name: string) => {
    const v = env[name];
    if (!v) throw new DuoSampleConfigError(`${name} is required (see examples/duo-universal/README.md)`);
    return v;
  };
  const port = Number(env.DUO_SAMPLE_PORT || 3002);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new DuoSampleConfigError('DUO_SAMPLE_PORT must be a port number');
  return {
    clientId: need('DUO_CLIENT_ID'),
    clientSecret: need('DUO_CLIENT_SECRET'),
    apiHost: need('DUO_API_HOST'),
    redirectUrl: env.DUO_REDIRECT_URL || `http://localhost:${port}/redirect`,
    ...(env.DUO_CA_FILE ? { caPem: readFile(env.DUO_CA_FILE) } : {}),
    port,
  };
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res: ServerResponse, status: number, title: string, body: string, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escape(title)}</title>` +
      `<style>body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:40rem;padding:0 1rem}label{display:block;margin:.75rem 0 .25rem}input{font:inherit;padding:.4rem;width:100%;box-sizing:border-box}button{font:inherit;margin-top:1rem;padding:.5rem 1rem}pre{white-space:pre-wrap;word-break:break-all;background:#f4f4f4;padding:1rem}</style>` +
      `</head><body><h1>${escape(title)}</h1>${body}</body></html>`,
  );
}

const loginForm = (message: string) =>
  `<p role="status">${escape(message)}</p><form method="post" action="/" aria-label="Sign in"><label for="username">Username</label><input id="username" name="username" autocomplete="username">` +
  `<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password"><button type="submit">Sign in</button></form>`;

async function formBody(req: IncomingMessage): Promise<URLSearchParams> {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10_000) break;
  }
  return new URLSearchParams(body);
}

export function createDuoSample(config: DuoSampleConfig): { server: http.Server; client: Client } {
  const { clientId, clientSecret, apiHost, redirectUrl } = config;
  const duoClient = new Client({ clientId, clientSecret, apiHost, redirectUrl });
  if (config.caPem) {
    // Tessera's certificate comes from a private CA: trust it (and only it) instead of Duo's pinned CAs.
    (duoClient as unknown as { axios: { defaults: { httpsAgent: https.Agent } } }).axios.defaults.httpsAgent = new https.Agent({ ca: config.caPem });
  }
  // The session store of Duo's example (express-session), reduced to what it keeps: state and username.
  const sessions = new Map<string, { state: string; username: string }>();
  const sessionId = (req: IncomingMessage) => /(?:^|;\s*)sample_session=([A-Za-z0-9_-]+)/.exec(req.headers.cookie ?? '')?.[1];

  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://sample.invalid');
      if (req.method === 'GET' && url.pathname === '/') return page(res, 200, 'Duo Web SDK sample', loginForm('This is a demo'));
      if (req.method === 'POST' && url.pathname === '/') {
        const form = await formBody(req);
        const username = form.get('username') ?? '';
        const password = form.get('password') ?? '';
        if (!username || !password) return page(res, 400, 'Duo Web SDK sample', loginForm('Missing username or password'));
        try {
          await duoClient.healthCheck();
          const state = duoClient.generateState();
          const sid = randomBytes(16).toString('base64url');
          sessions.set(sid, { state, username });
          const authUrl = await duoClient.createAuthUrl(username, state);
          res.writeHead(302, { location: authUrl, 'set-cookie': `sample_session=${sid}; Path=/; HttpOnly; SameSite=Lax` });
          return res.end();
        } catch (err) {
          return page(res, 502, 'Duo Web SDK sample', loginForm((err as Error).message));
        }
      }
      if (req.method === 'GET' && url.pathname === '/redirect') {
        const duoCode = url.searchParams.get('duo_code');
        const state = url.searchParams.get('state');
        if (!duoCode) return page(res, 400, 'Duo Web SDK sample', loginForm("Missing 'duo_code' query parameters"));
        if (!state) return page(res, 400, 'Duo Web SDK sample', loginForm("Missing 'state' query parameters"));
        const sid = sessionId(req);
        const saved = sid ? sessions.get(sid) : undefined;
        if (sid) sessions.delete(sid);
        if (!saved) return page(res, 400, 'Duo Web SDK sample', loginForm('Missing user session information'));
        if (state !== saved.state) return page(res, 400, 'Duo Web SDK sample', loginForm('Duo state does not match saved state'));
        try {
          const decodedToken = await duoClient.exchangeAuthorizationCodeFor2FAResult(duoCode, saved.username);
          const result = (decodedToken as { auth_result?: { status?: string } }).auth_result?.status ?? 'unknown';
          return page(res, 200, 'Duo Web SDK sample: result', `<p role="status">Duo result: <strong>${escape(result)}</strong></p><pre aria-label="Decoded token">${escape(JSON.stringify(decodedToken, null, 2))}</pre><p><a href="/">Sign in again</a></p>`);
        } catch (err) {
          return page(res, 502, 'Duo Web SDK sample', loginForm(`Error decoding Duo result. Confirm device clock is correct. (${(err as Error).message})`));
        }
      }
      return page(res, 404, 'Not found', '<p><a href="/">Home</a></p>');
    })().catch((err: unknown) => {
      if (!res.headersSent) page(res, 500, 'Error', `<p>${escape(String(err))}</p>`);
    });
  });
  return { server, client: duoClient };
}
