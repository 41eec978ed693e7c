import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';
import type { AppContext } from '../context.js';
import { isEnrolled } from '../core/enrolled.js';
import { AppError } from '../core/errors.js';
import { escapeHtml } from '../http/html.js';
import { sessionAuthentication, sessionFromCookieHeader } from '../sessions/session-cookie.js';
import { acrOf, demandsMfa } from './accounts.js';
import { interactionPath } from './paths.js';
import { page } from './pages.js';
import type { ProviderSources } from './provider.js';

/**
 * The interaction is Tessera's login (issue 14 item 4). oidc-provider sends the browser here
 * (interactions.url) when an authorization request needs a login; this decides, from the Tessera
 * session the browser holds (read through src/sessions/session-cookie.ts, not the web door):
 *
 * 1. No session that fits (none, a half-finished login, an operator, a user of another firm, a
 *    user who may no longer sign in), or `prompt=login` / `max_age` asks for a newer login: to
 *    Tessera's own sign-in page, `/login?firm=<the application's firm>&next=<back here>`. The page
 *    runs the whole login of the web door (password, the core's decision: covered? enrolled? seat
 *    free? the no-seat bypass; enrollment at first login; the second factor) and comes back. The
 *    firm narrows the password step to the application's firm, so a user of another firm is
 *    refused there exactly like a wrong password. The way back carries when it was sent
 *    (`?login=<ms>.<HMAC>`, bound to this interaction), so a login made after it counts as fresh.
 * 2. A user of a kind the application does not admit: a page saying so, and the application gets
 *    `access_denied` when the user goes back.
 * 3. `acr_values=urn:tessera:acr:mfa` and a login without a second factor: a step-up at /mfa for
 *    an enrolled user; a user with no authenticator gets a page (add one in My security), and the
 *    application `unmet_authentication_requirements` (OpenID Connect Core, errata 2, 3.1.2.6)
 *    when the user goes back.
 * 4. Otherwise the interaction finishes with the session's Authentication: accountId = the user's
 *    id, the `amr` and auth time the session remembers (migration 0019), `acr` from the amr. An
 *    existing session is reused this way across the firm's applications (single sign-on).
 *
 * The interaction is read through oidc-provider's interactionDetails, which checks the browser's
 * interaction cookie: only the browser that started an authorization request can finish it (a
 * link to someone else's interaction, followed by a signed-in victim, finishes nothing).
 */

export type InteractionAnswer = { redirect: string } | { status: number; html: string };

/** The errors an interaction may end with at the user's request, and what the application is told. */
export const ABORT_ERRORS = {
  access_denied: 'the user may not sign in to this application',
  unmet_authentication_requirements: 'the application asks for a second factor and the user has no authenticator',
} as const;
export type AbortError = keyof typeof ABORT_ERRORS;

/** The proof that the browser was sent to sign in at `since` (ms), for this interaction. */
const proofKeys = (ctx: AppContext) => ctx.secrets.derivedKeys('oidc interaction login');
const mac = (key: Buffer, uid: string, since: number) => createHmac('sha256', key).update(`${uid}.${since}`).digest('base64url');

export function loginProof(ctx: AppContext, uid: string, since: number): string {
  return `${since}.${mac(proofKeys(ctx)[0]!, uid, since)}`;
}

/** When the browser was sent to sign in for this interaction, if `proof` says so truly; else null. */
export function verifyLoginProof(ctx: AppContext, uid: string, proof: string | undefined): number | null {
  const m = proof ? /^(\d{1,16})\.([A-Za-z0-9_-]{43})$/.exec(proof) : null;
  if (!m) return null;
  const since = Number(m[1]);
  const sent = Buffer.from(m[2]!);
  return proofKeys(ctx).some((key) => timingSafeEqual(Buffer.from(mac(key, uid, since)), sent)) ? since : null;
}

async function details(provider: Provider, req: IncomingMessage, res: ServerResponse, uid: string) {
  try {
    const interaction = await provider.interactionDetails(req, res);
    if (interaction.uid === uid) return interaction;
  } catch (err) {
    // No interaction cookie, another browser's interaction, one that expired or was finished.
    if ((err as { name?: string }).name !== 'SessionNotFound') throw err;
  }
  throw new AppError('INTERACTION_NOT_FOUND');
}

export async function runInteraction(
  ctx: AppContext,
  provider: Provider,
  sources: ProviderSources,
  raw: { req: IncomingMessage; res: ServerResponse },
  uid: string,
  proof: string | undefined,
): Promise<InteractionAnswer> {
  const interaction = await details(provider, raw.req, raw.res, uid);
  const finish = async (result: Parameters<Provider['interactionResult']>[2], merge = false) => ({
    redirect: await provider.interactionResult(raw.req, raw.res, result, { mergeWithLastSubmission: merge }),
  });
  const params = interaction.params as Record<string, unknown>;
  const client = await sources.clients.findClient(String(params.client_id));
  const firm = client ? await ctx.db.selectFrom('firms').select(['id', 'slug']).where('id', '=', client.firmId).executeTakeFirst() : undefined;
  // The application was disabled or deleted since the request began.
  if (!client || !firm) return finish({ error: 'access_denied', error_description: 'the application is not available' });
  // Only consent is asked (prompt=consent with a login the provider already has): the firm's own applications need none.
  if (interaction.prompt.name !== 'login') return finish({ consent: {} }, true);

  const appName = typeof client.metadata.client_name === 'string' && client.metadata.client_name ? client.metadata.client_name : 'the application';
  const now = ctx.clock.now();
  const since = verifyLoginProof(ctx, uid, proof);
  const back = (sentAt: number) => `${interactionPath(uid)}?login=${encodeURIComponent(loginProof(ctx, uid, sentAt))}`;
  const toLogin = () => ({ redirect: `/login?firm=${encodeURIComponent(firm.slug)}&next=${encodeURIComponent(back(since ?? now))}` });

  const found = await sessionFromCookieHeader(ctx, raw.req.headers.cookie);
  const s = found?.session;
  if (!s || s.stage !== 'full' || s.principal !== 'user' || !s.user_id || s.firm_id !== firm.id) return toLogin();
  const account = await sources.accounts.findAccount(s.user_id, firm.id);
  if (!account) return toLogin();
  const { amr, authTime } = sessionAuthentication(s);
  if (!freshEnough(params, authTime, since, now)) return toLogin();

  if (client.allowedKinds && !client.allowedKinds.includes(account.kind)) {
    return refusal(uid, 'access_denied', `You cannot sign in to ${appName}`, `<p>${escapeHtml(appName)} is not available to your kind of account. If you think you should have access, ask your firm's administrator.</p>`, appName);
  }

  if (demandsMfa(params.acr_values) && !amr.includes('mfa')) {
    if (await isEnrolled(ctx.db, { id: s.user_id, firm_id: firm.id })) return { redirect: `/mfa?next=${encodeURIComponent(since === null ? interactionPath(uid) : back(since))}` };
    return refusal(
      uid,
      'unmet_authentication_requirements',
      `${appName} asks for a second factor`,
      `<p>${escapeHtml(appName)} needs you to confirm your sign-in with a second factor, such as an authenticator app or a security key, and you have none yet.</p>` +
        `<p><a href="/me/security">Add one in My security</a>, then sign in to ${escapeHtml(appName)} again.</p>`,
      appName,
    );
  }

  return finish({ login: { accountId: s.user_id, acr: acrOf(amr), amr, ts: Math.floor(authTime / 1000), remember: true }, consent: {} });
}

/**
 * Is the session's login recent enough for this request? A login made after the browser was sent
 * to sign in for it always is. Otherwise `prompt=login` asks for exactly such a login, and
 * `max_age` for one at most that many seconds old (OpenID Connect Core 3.1.2.1).
 */
export function freshEnough(params: Record<string, unknown>, authTime: number, since: number | null, now: number): boolean {
  if (since !== null && authTime >= since) return true;
  if (typeof params.prompt === 'string' && params.prompt.split(' ').includes('login')) return false;
  if (params.max_age !== undefined) {
    const maxAge = Number(params.max_age);
    if (!Number.isFinite(maxAge) || authTime < now - maxAge * 1000) return false;
  }
  return true;
}

/** A page that cannot sign the user in, with the way back to the application (the interaction ends with `error`). */
function refusal(uid: string, error: AbortError, title: string, body: string, appName: string): InteractionAnswer {
  return {
    status: 403,
    html: page(
      title,
      `${body}<form method="post" action="${escapeHtml(abortPath(uid, error))}"><button type="submit">Return to ${escapeHtml(appName)}</button></form>`,
    ),
  };
}

export const abortPath = (uid: string, error: AbortError) => `${interactionPath(uid)}/abort?error=${error}`;

/** Ends the interaction with `error` (the user's "Return to the application"): the application gets it at its redirect URI. */
export async function abortInteraction(provider: Provider, raw: { req: IncomingMessage; res: ServerResponse }, uid: string, error: AbortError): Promise<string> {
  await details(provider, raw.req, raw.res, uid);
  return provider.interactionResult(raw.req, raw.res, { error, error_description: ABORT_ERRORS[error] }, { mergeWithLastSubmission: false });
}
