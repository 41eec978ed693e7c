import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { jwtVerify, SignJWT, type JWTPayload } from 'jose';
import type { Transaction } from 'kysely';
import type { DuoIntegration } from '../applications/application.lookup.js';
import { audit, type Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import type { Authentication } from '../core/completion.js';
import { decideAfterPassword, reasonMeaning } from '../core/decision.js';
import { AppError } from '../core/errors.js';
import { lockedUntil } from '../core/lockout.js';
import { countLogin } from '../core/login-counts.js';
import { endAttempt, openAttempt, type LoginAttempt } from '../core/login-attempt.js';
import { recordBypass } from '../core/seats.js';
import { answerSecondFactor, factorsFor } from '../core/second-factor.js';
import type { Database, DbOrTx } from '../db/database.js';
import { isActiveUser, type User } from '../directory/user.table.js';
import { PUSH_LABEL } from '../factors/push/push.factor.js';
import { startPush, waitForPush, withdrawEndedPushes, type PushSubject } from '../factors/push/push.service.js';
import { beginAuthentication } from '../factors/webauthn/webauthn.ceremony.js';
import type { LoginMethod } from '../factors/kinds.js';
import { enrollPortalUrl, gate, type Who } from './auth-api.service.js';
import type { DuoPrompt } from './duo-prompt.table.js';
import { DuoError } from './envelope.js';

/**
 * Duo's Web SDK v4 ("Universal Prompt", Duo's OIDC Auth API; issue 15 item 4) answered by the
 * authentication core. The application (duo_universal's Client) checks the password, then:
 *
 *   healthCheck          POST /oauth/v1/health_check  client_id + client_assertion (HS512 JWT)
 *   createAuthUrl        GET  /oauth/v1/authorize     request = HS512 JWT: duo_uname, state, redirect_uri, ...
 *                        -> Tessera's prompt page (second factor only) -> redirect_uri?duo_code=&state=
 *   exchangeAuthorizationCodeFor2FAResult
 *                        POST /oauth/v1/token         code + client_assertion -> id_token (HS512)
 *
 * Every JWT is HS512 with the application's secret key (each key valid now: a rotation's grace
 * period included), verified by jose. A login's state is a `duo_prompts` row (any node answers
 * any step), bound to the browser that opened it (an HttpOnly cookie's token, hashed), and to the
 * application, redirect_uri, state and nonce; its result is written once and its code taken once.
 * The prompt never makes a Tessera session: like an enrollment an application's link opens
 * (core/login-attempt.ts enrollsOnly), the login is the application's.
 */

/** Duo's clients sign 5-minute JWTs and allow 60 s of skew; so does Tessera. */
export const JWT_LEEWAY_S = 60;
/** How long the prompt may stay open (a pending login's 10 minutes). */
export const PROMPT_TTL_MS = 10 * 60_000;
/** An authorization code lives a minute and is used once. */
export const CODE_TTL_MS = 60_000;
/** The id_token's (and the access token's) lifetime. */
export const TOKEN_TTL_S = 300;
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('base64url');
const unix = (ms: number) => Math.floor(ms / 1000);

/** The Web SDK application of a client_id, or null (unknown, disabled, or an integration of another type). */
export type FindIntegration = (clientId: string) => Promise<DuoIntegration | null>;

export interface UniversalCall {
  /** The host the client addressed (its API hostname, port included): the JWTs' audiences and the ID token's issuer are URLs on it. */
  host: string;
  actor: Actor;
  log: FastifyBaseLogger;
}

const auditFor = (ctx: AppContext, db: DbOrTx, actor: Actor, integration: DuoIntegration, event: Parameters<typeof audit>[3]['event'], userId: string | null, details: Record<string, unknown>) =>
  audit(db, ctx.clock.now(), userId ? { ...actor, type: 'user', id: userId, firmId: integration.firmId } : actor, {
    event,
    firmId: integration.firmId,
    subjectType: userId ? 'user' : undefined,
    subjectId: userId,
    applicationId: integration.applicationId,
    details: { application: integration.name, ...details },
  });

// --- JWTs ----------------------------------------------------------------------------------

/** Verifies an HS512 JWT with any secret key of the application valid now; the payload, or null. */
async function verifyWithSecrets(ctx: AppContext, integration: DuoIntegration, jwt: string, options: { issuer: string; audience: string | string[]; subject?: string }): Promise<JWTPayload | null> {
  for (const secret of integration.secretKeys) {
    try {
      const { payload } = await jwtVerify(jwt, new TextEncoder().encode(secret), {
        algorithms: ['HS512'],
        issuer: options.issuer,
        audience: options.audience,
        ...(options.subject ? { subject: options.subject } : {}),
        clockTolerance: JWT_LEEWAY_S,
        currentDate: new Date(ctx.clock.now()),
        requiredClaims: ['exp'],
      });
      return payload;
    } catch {
      // The next key (a rotation's previous one), then null: a forged, expired or foreign JWT.
    }
  }
  return null;
}

/**
 * A client_assertion (RFC 7523, as duo_universal makes it): HS512, iss = sub = client_id, aud =
 * the endpoint's URL, exp, and a jti used once (kept until the assertion expires), so a captured
 * assertion cannot be replayed. Null when any of that fails.
 */
async function verifyClientAssertion(ctx: AppContext, integration: DuoIntegration, assertion: string, audience: string): Promise<JWTPayload | null> {
  const payload = await verifyWithSecrets(ctx, integration, assertion, { issuer: integration.integrationKey, subject: integration.integrationKey, audience });
  if (!payload || typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 200 || typeof payload.exp !== 'number') return null;
  const expiresAt = (payload.exp + JWT_LEEWAY_S) * 1000;
  const kept = await ctx.db
    .insertInto('duo_client_assertions')
    .values({ application_id: integration.applicationId, jti: payload.jti, expires_at: expiresAt })
    .onConflict((oc) => oc.columns(['application_id', 'jti']).doNothing())
    .returning('jti')
    .executeTakeFirst();
  return kept ? payload : null;
}

/** The URL of an endpoint as the client addressed it (https: Duo's clients speak nothing else). */
export const endpointUrl = (host: string, path = '') => `https://${host}${path}`;

// --- health_check --------------------------------------------------------------------------

/** A refusal of health_check in Duo's words (duo_universal shows `message: message_detail`). */
export class HealthCheckFailure extends Error {
  constructor(readonly detail: string) {
    super(detail);
  }
}

/** POST /oauth/v1/health_check: `{"stat":"OK","response":{"timestamp":...}}` for a Web SDK application's valid assertion. */
export async function healthCheck(ctx: AppContext, find: FindIntegration, call: UniversalCall, input: { clientId?: string; clientAssertion?: string }): Promise<{ timestamp: number }> {
  if (!input.clientId) throw new HealthCheckFailure('The client_id parameter is missing.');
  const integration = await find(input.clientId);
  if (!integration) throw new HealthCheckFailure('Invalid Client ID.');
  if (!input.clientAssertion || !(await verifyClientAssertion(ctx, integration, input.clientAssertion, endpointUrl(call.host, '/oauth/v1/health_check')))) {
    await auditFor(ctx, ctx.db, call.actor, integration, 'duo.request_refused', null, { endpoint: 'health_check', reason: 'invalid_client_assertion' });
    throw new HealthCheckFailure('The client_assertion is invalid, expired or was used before.');
  }
  await auditFor(ctx, ctx.db, call.actor, integration, 'duo.call', null, { endpoint: 'health_check' });
  return { timestamp: unix(ctx.clock.now()) };
}

// --- authorize -----------------------------------------------------------------------------

export interface AuthorizeQuery {
  response_type?: string;
  client_id?: string;
  request?: string;
  redirect_uri?: string;
  scope?: string;
}

/** Where the browser goes after /authorize: Tessera's prompt page (with the cookie that binds it), or straight back to the application. */
export type AuthorizeAnswer = { redirect: string; browserToken?: string };

const MIN_STATE = 22;
const MAX_STATE = 1024;

/**
 * GET /oauth/v1/authorize, as declared steps:
 *   1. client         - a Web SDK application of the registry (else 40102);
 *   2. request object - HS512 with its secret, iss = client_id, aud = this host, not expired;
 *                       its response_type, scope, client_id and redirect_uri agree with the query;
 *                       redirect_uri is one the application registered; state is Duo's 22-1024
 *                       characters; duo_uname is given (anything wrong: 40002 naming it);
 *   3. rules          - the Auth API's gate (unknown user: the new user policy; disabled; a kind
 *                       the application does not admit) and the core's decision: not covered or
 *                       the no-seat bypass -> straight back, allowed; locked, disabled, policy
 *                       deny -> straight back, denied; enrolled -> the prompt's second factor;
 *                       covered, not enrolled, a seat free -> the prompt's enrollment;
 *   4. prompt         - a duo_prompts row (and, for a second factor, a LoginAttempt of door duo
 *                       with the application), bound to a new browser token.
 */
export async function authorize(ctx: AppContext, find: FindIntegration, call: UniversalCall, query: AuthorizeQuery): Promise<AuthorizeAnswer> {
  const bad = (detail: string) => new DuoError('INVALID_PARAMETERS', detail);
  if (!query.client_id) throw bad('client_id');
  const integration = await find(query.client_id);
  if (!integration) throw new DuoError('INVALID_INTEGRATION_KEY');
  if (query.response_type !== 'code') throw bad('response_type: must be code');
  if (!query.scope || !query.scope.split(' ').includes('openid')) throw bad('scope: must include openid');
  if (!query.request) throw bad('request');
  const refuse = async (reason: string, detail: string) => {
    await auditFor(ctx, ctx.db, call.actor, integration, 'duo.request_refused', null, { endpoint: 'authorize', reason });
    return bad(detail);
  };
  const claims = await verifyWithSecrets(ctx, integration, query.request, { issuer: integration.integrationKey, audience: [endpointUrl(call.host), ctx.config.publicUrl.origin] });
  if (!claims) throw await refuse('invalid_request_object', 'request: not a valid HS512 JWT of this client for this host, or expired');
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  if (str(claims.client_id) !== integration.integrationKey) throw await refuse('client_id_mismatch', 'request: client_id');
  if (claims.response_type !== undefined && claims.response_type !== 'code') throw await refuse('response_type', 'request: response_type');
  const redirectUri = str(claims.redirect_uri);
  if (!redirectUri || redirectUri !== query.redirect_uri || !integration.redirectUris.includes(redirectUri)) {
    throw await refuse('redirect_uri', 'redirect_uri: not one registered for this application, or not the one in the request');
  }
  const state = str(claims.state);
  if (!state || state.length < MIN_STATE || state.length > MAX_STATE) throw await refuse('state', `state: ${MIN_STATE} to ${MAX_STATE} characters`);
  const username = str(claims.duo_uname)?.trim();
  if (!username || username.length > 320) throw await refuse('duo_uname', 'duo_uname');
  const nonce = claims.nonce === undefined || claims.nonce === null ? null : str(claims.nonce);
  if (nonce === undefined || (nonce !== null && (nonce.length === 0 || nonce.length > 1024))) throw await refuse('nonce', 'nonce');
  if (claims.use_duo_code_attribute !== undefined && typeof claims.use_duo_code_attribute !== 'boolean') throw await refuse('use_duo_code_attribute', 'use_duo_code_attribute: true or false');
  const useDuoCode = claims.use_duo_code_attribute === true;

  const now = ctx.clock.now();
  const browserToken = randomBytes(32).toString('base64url');
  const base = {
    id: randomUUID(),
    browser_hash: sha256(browserToken),
    firm_id: integration.firmId,
    application_id: integration.applicationId,
    username,
    attempt_id: null,
    push_id: null,
    redirect_uri: redirectUri,
    state,
    nonce,
    use_duo_code_attribute: useDuoCode ? 1 : 0,
    factor: null,
    reason: null,
    auth_device: null,
    ip: call.actor.ip,
    auth_time: null,
    code_hash: null,
    code_expires_at: null,
    code_used_at: null,
    created_at: now,
    expires_at: now + PROMPT_TTL_MS,
  };
  return ctx.db.transaction().execute(async (tx) => {
    const who: Who = { username };
    const g = await gate(tx, integration, who);
    // Decided without a prompt: the row exists only to carry the result to /token.
    const straightBack = async (user: User | undefined, result: 'allow' | 'deny', status: string, statusMsg: string, reason: string, factor: string | null) => {
      await tx.insertInto('duo_prompts').values({ ...base, user_id: user?.id ?? null, stage: 'done', result: 'waiting', status: 'waiting', status_msg: '' }).execute();
      await auditFor(ctx, tx, call.actor, integration, result === 'allow' ? 'duo.prompt_allowed' : 'duo.prompt_denied', user?.id ?? null, { result, status, reason, ...(user ? {} : { username }) });
      if (result === 'allow') await countAllowWithoutPrompt(ctx, tx, integration, status === 'bypass');
      return { redirect: await finish(ctx, tx, base.id, { result, status, status_msg: statusMsg, reason, factor, auth_device: null }) };
    };
    if (!('user' in g)) return straightBack(undefined, g.result, g.result, g.statusMsg, g.reason, g.result === 'allow' ? 'bypass' : null);
    const user = g.user;
    const decision = await decideAfterPassword(ctx, tx, user, undefined);
    const meaning = reasonMeaning(decision.reason);
    if (decision.verdict === 'full') {
      const bypass = decision.reason === 'no_seat_bypass';
      if (bypass) await recordBypass(ctx, tx, { ...call.actor, type: 'user', id: user.id, firmId: user.firm_id }, user.id, user.firm_id);
      return straightBack(user, 'allow', bypass ? 'bypass' : 'allow', meaning.duoStatusMsg, decision.reason, 'bypass');
    }
    if (decision.verdict === 'refused' || (decision.verdict === 'second_factor' && lockedUntil(user, now) !== null)) {
      return straightBack(user, 'deny', 'locked_out', reasonMeaning('locked').duoStatusMsg, 'locked', null);
    }
    let attemptId: string | null = null;
    if (decision.verdict === 'second_factor') {
      const attempt = await openAttempt(ctx, tx, { owner: user, stage: 'second_factor', door: 'duo', applicationId: integration.applicationId, expiresAt: base.expires_at });
      attemptId = attempt.id;
    }
    const stage = decision.verdict === 'enroll' ? 'enroll' : 'second_factor';
    await tx.insertInto('duo_prompts').values({ ...base, user_id: user.id, attempt_id: attemptId, stage, result: 'waiting', status: 'waiting', status_msg: meaning.duoStatusMsg }).execute();
    await auditFor(ctx, tx, call.actor, integration, 'duo.prompt_opened', user.id, { stage, reason: decision.reason });
    return { redirect: new URL(`/duo/prompt/${base.id}`, ctx.config.publicUrl).toString(), browserToken };
  });
}

// --- the result and its code ---------------------------------------------------------------

interface Result {
  result: 'allow' | 'deny';
  status: string;
  status_msg: string;
  reason: string;
  factor: string | null;
  auth_device: string | null;
}

/**
 * An allow without a second factor (a user the firm does not cover, one the new user policy lets in,
 * the no-seat bypass) is one login to the application (core/login-counts.ts); an allow after a second
 * factor is counted by the core's completion of the attempt.
 */
const countAllowWithoutPrompt = (ctx: AppContext, db: DbOrTx, integration: Pick<DuoIntegration, 'firmId' | 'applicationId'>, bypass: boolean) =>
  countLogin(db, { firmId: integration.firmId, applicationId: integration.applicationId, at: ctx.clock.now(), kind: bypass ? 'bypass' : 'password_only' });

/**
 * Writes a prompt's result once (one conditional UPDATE: of two requests finishing one prompt,
 * one wins; the other is told the sign-in has finished) with a new single-use code, and returns where the
 * browser goes: redirect_uri with duo_code and state (and `code` too unless the request set
 * use_duo_code_attribute, as Duo does).
 */
async function finish(ctx: AppContext, db: DbOrTx, promptId: string, r: Result): Promise<string> {
  const code = randomBytes(32).toString('base64url');
  const now = ctx.clock.now();
  const row = await db
    .updateTable('duo_prompts')
    .set({ ...r, stage: 'done', auth_time: now, code_hash: sha256(code), code_expires_at: now + CODE_TTL_MS, attempt_id: null })
    .where('id', '=', promptId)
    .where('result', '=', 'waiting')
    .returning(['redirect_uri', 'state', 'use_duo_code_attribute'])
    .executeTakeFirst();
  if (!row) throw new AppError('NOT_FOUND', 'This sign-in has finished already.');
  const back = new URL(row.redirect_uri);
  back.searchParams.set('duo_code', code);
  if (!row.use_duo_code_attribute) back.searchParams.set('code', code);
  back.searchParams.set('state', row.state);
  return back.toString();
}

// --- the prompt page's calls ---------------------------------------------------------------

export interface PromptLogin {
  prompt: DuoPrompt;
  user: User;
  integration: { applicationId: string; name: string; firmId: string };
}

const promptGone = () => new DuoError('NOT_FOUND', 'This sign-in is over or was opened in another browser: go back to the application and sign in again.');

/**
 * The prompt a browser may act on: by id, its browser token's hash compared in constant time
 * (a link to someone else's prompt finishes nothing), still waiting, not expired, of a user and
 * an application that still exist.
 */
export async function loadPrompt(ctx: AppContext, id: string, browserToken: string | undefined): Promise<PromptLogin> {
  if (!browserToken) throw promptGone();
  const prompt = await ctx.db.selectFrom('duo_prompts').selectAll().where('id', '=', id).executeTakeFirst();
  // Both are base64url SHA-256 digests (43 characters): equal lengths, compared in constant time.
  const given = Buffer.from(sha256(browserToken));
  if (!prompt || prompt.browser_hash.length !== given.length || !timingSafeEqual(Buffer.from(prompt.browser_hash), given)) throw promptGone();
  if (prompt.result !== 'waiting' || Number(prompt.expires_at) <= ctx.clock.now() || !prompt.user_id) throw promptGone();
  const user = await ctx.db.selectFrom('users').selectAll().where('id', '=', prompt.user_id).where('firm_id', '=', prompt.firm_id).executeTakeFirst();
  const app = await ctx.db.selectFrom('applications').select(['id', 'name', 'firm_id', 'status']).where('id', '=', prompt.application_id).executeTakeFirst();
  // A user disabled, or an application disabled, since /authorize: the prompt is over.
  if (!user || !isActiveUser(user) || !app || app.status !== 'active') throw promptGone();
  return { prompt, user, integration: { applicationId: app.id, name: app.name, firmId: app.firm_id } };
}

const attemptOf = (p: PromptLogin): LoginAttempt => ({
  id: p.prompt.attempt_id!,
  subject: { type: 'user', id: p.user.id },
  firmId: p.user.firm_id,
  stage: 'second_factor',
  door: 'duo',
  applicationId: p.integration.applicationId,
  sessionId: null,
  expiresAt: Number(p.prompt.expires_at),
});
const loginOf = (p: PromptLogin) => ({ attempt: attemptOf(p), subject: p.user as PushSubject });

export type PromptView =
  | {
      stage: 'second_factor';
      application: { name: string };
      username: string;
      methods: LoginMethod[];
      defaultMethod: LoginMethod;
      expiresAt: number;
    }
  | { stage: 'enroll'; application: { name: string }; username: string; expiresAt: number }
  | { stage: 'done'; redirect: string };

/**
 * What the prompt page shows. An enrollment is decided again each time: once the user enrolled
 * (in Tessera's enrollment pages, through the one-time link), the prompt asks for the new factor;
 * if the last seat went meanwhile, the no-seat bypass lets the user through, as at /authorize.
 */
export async function promptView(ctx: AppContext, p: PromptLogin, actor: Actor): Promise<PromptView> {
  const common = { application: { name: p.integration.name }, username: p.prompt.username, expiresAt: Number(p.prompt.expires_at) };
  if (p.prompt.stage === 'enroll') {
    const decided = await ctx.db.transaction().execute(async (tx) => {
      const decision = await decideAfterPassword(ctx, tx, p.user, undefined);
      if (decision.verdict === 'enroll') return null;
      if (decision.verdict === 'full') {
        if (decision.reason === 'no_seat_bypass') await recordBypass(ctx, tx, { ...actor, type: 'user', id: p.user.id, firmId: p.user.firm_id }, p.user.id, p.user.firm_id);
        await countAllowWithoutPrompt(ctx, tx, p.integration, decision.reason === 'no_seat_bypass');
        return { redirect: await finish(ctx, tx, p.prompt.id, { result: 'allow', status: decision.reason === 'no_seat_bypass' ? 'bypass' : 'allow', status_msg: reasonMeaning(decision.reason).duoStatusMsg, reason: decision.reason, factor: 'bypass', auth_device: null }) };
      }
      const attempt = await openAttempt(ctx, tx, { owner: p.user, stage: 'second_factor', door: 'duo', applicationId: p.integration.applicationId, expiresAt: Number(p.prompt.expires_at) });
      await tx.updateTable('duo_prompts').set({ stage: 'second_factor', attempt_id: attempt.id }).where('id', '=', p.prompt.id).where('stage', '=', 'enroll').execute();
      return 'second_factor' as const;
    });
    if (decided === null) return { stage: 'enroll', ...common };
    if (decided !== 'second_factor') return { stage: 'done', redirect: decided.redirect };
    p = { ...p, prompt: await ctx.db.selectFrom('duo_prompts').selectAll().where('id', '=', p.prompt.id).executeTakeFirstOrThrow() };
  }
  const choice = await factorsFor(ctx, p.user);
  return { stage: 'second_factor', ...common, methods: choice.methods, defaultMethod: choice.defaultMethod };
}

/** "Set up now": a one-time link into Tessera's enrollment pages (the preauth's enroll_portal_url). */
export async function promptEnrollment(ctx: AppContext, p: PromptLogin): Promise<{ url: string }> {
  if (p.prompt.stage !== 'enroll') throw new DuoError('INVALID_PARAMETERS', 'This sign-in does not ask for an enrollment.');
  const decision = await decideAfterPassword(ctx, ctx.db, p.user, undefined);
  if (decision.verdict !== 'enroll') throw new DuoError('INVALID_PARAMETERS', 'Reload the page: this sign-in no longer asks for an enrollment.');
  const integration = { applicationId: p.integration.applicationId } as DuoIntegration;
  return { url: await enrollPortalUrl(ctx, ctx.db, { integration }, p.user, reasonMeaning('seat_free').duoStatusMsg) };
}

const requireSecondFactor = (p: PromptLogin) => {
  if (p.prompt.stage !== 'second_factor' || !p.prompt.attempt_id) throw new DuoError('INVALID_PARAMETERS', 'Reload the page: this sign-in does not ask for a second factor now.');
};

/** Duo's auth_context.factor and reason for each of Tessera's factors. */
const DUO_FACTOR: Record<LoginMethod, { factor: string; reason: string }> = {
  push: { factor: 'duo_push', reason: 'user_approved' },
  totp: { factor: 'passcode', reason: 'valid_passcode' },
  backup_code: { factor: 'passcode', reason: 'valid_passcode' },
  webauthn: { factor: 'webauthn', reason: 'user_approved' },
};

/** The prompt's `hold`: the core completed the attempt into an Authentication; the prompt's result is `allow`, and the way back. */
const allowHold =
  (ctx: AppContext, p: PromptLogin, method: LoginMethod, authDevice: string | null) =>
  async (tx: Transaction<Database>, authentication: Authentication): Promise<string> => {
    if (authentication.door !== 'duo' || authentication.applicationId !== p.integration.applicationId) throw new AppError('UNAUTHENTICATED');
    const redirect = await finish(ctx, tx, p.prompt.id, { result: 'allow', status: 'allow', status_msg: 'Login Successful', ...DUO_FACTOR[method], auth_device: authDevice });
    await audit(tx, ctx.clock.now(), { type: 'user', id: p.user.id, firmId: p.user.firm_id, ip: p.prompt.ip, userAgent: null }, {
      event: 'duo.prompt_allowed',
      firmId: p.user.firm_id,
      subjectType: 'user',
      subjectId: p.user.id,
      applicationId: p.integration.applicationId,
      details: { application: p.integration.name, result: 'allow', method },
    });
    return redirect;
  };

/** A denial: written once, audited, the attempt ended; the browser goes back with it. */
async function deny(ctx: AppContext, p: PromptLogin, actor: Actor, status: string, statusMsg: string, reason: string, method: LoginMethod | null): Promise<string> {
  const redirect = await ctx.db.transaction().execute(async (tx) => {
    const to = await finish(ctx, tx, p.prompt.id, { result: 'deny', status, status_msg: statusMsg, reason, factor: method ? DUO_FACTOR[method].factor : null, auth_device: null });
    await auditFor(ctx, tx, actor, { applicationId: p.integration.applicationId, firmId: p.user.firm_id, name: p.integration.name } as DuoIntegration, 'duo.prompt_denied', p.user.id, {
      result: 'deny',
      status,
      reason,
      ...(method ? { method } : {}),
    });
    return to;
  });
  if (p.prompt.attempt_id) await endAttempt(ctx.db, p.prompt.attempt_id);
  return redirect;
}

const LOCKED = { status: 'locked_out', msg: reasonMeaning('locked').duoStatusMsg, reason: 'locked_out' } as const;

/** A passcode (TOTP or a backup code): the core's answerSecondFactor. Wrong: 40002 with the attempts left; locked: back to the application, denied. */
export async function promptPasscode(ctx: AppContext, p: PromptLogin, actor: Actor, passcode: string, log: FastifyBaseLogger): Promise<{ redirect: string }> {
  requireSecondFactor(p);
  const code = passcode.replace(/\s+/g, '');
  const method = /^\d{6,8}$/.test(code) ? 'totp' : 'backup_code';
  return answerWith(ctx, p, actor, log, { method, answer: code }, method === 'totp' ? 'Tessera Authenticator or authenticator app' : 'Backup code');
}

/** Options for navigator.credentials.get() with the user's security keys, bound to the prompt's attempt. */
export async function promptWebAuthnOptions(ctx: AppContext, p: PromptLogin): Promise<{ options: unknown }> {
  requireSecondFactor(p);
  return ctx.db.transaction().execute(async (tx) => {
    const started = await beginAuthentication(ctx, tx, { owner: p.user, attempt: { attemptId: p.prompt.attempt_id!, sessionId: null } });
    if (started.keys === 0) throw new AppError('NO_SECURITY_KEY');
    return { options: started.options };
  });
}

export async function promptWebAuthn(ctx: AppContext, p: PromptLogin, actor: Actor, response: unknown, log: FastifyBaseLogger): Promise<{ redirect: string }> {
  requireSecondFactor(p);
  return answerWith(ctx, p, actor, log, { method: 'webauthn', answer: response }, 'Security key');
}

async function answerWith(ctx: AppContext, p: PromptLogin, actor: Actor, log: FastifyBaseLogger, input: { method: LoginMethod; answer: unknown }, device: string): Promise<{ redirect: string }> {
  try {
    const { held } = await answerSecondFactor(ctx, loginOf(p), actor, input, allowHold(ctx, p, input.method, device));
    await withdrawEndedPushes(ctx, p.user.id, log);
    return { redirect: held };
  } catch (err) {
    if (err instanceof AppError && err.code === 'MFA_LOCKED') return { redirect: await deny(ctx, p, actor, LOCKED.status, LOCKED.msg, LOCKED.reason, input.method) };
    throw err;
  }
}

/** "Send me a push" to the Tessera Authenticator, showing the application's name and the number the page shows. */
export async function promptPush(ctx: AppContext, p: PromptLogin, actor: Actor, log: FastifyBaseLogger): Promise<{ number: string; expiresInSeconds: number } | { redirect: string }> {
  requireSecondFactor(p);
  try {
    const started = await startPush(ctx, loginOf(p), actor, log, { app: p.integration.name });
    await ctx.db.updateTable('duo_prompts').set({ push_id: started.transactionId }).where('id', '=', p.prompt.id).where('result', '=', 'waiting').execute();
    return { number: started.number, expiresInSeconds: started.expiresInSeconds };
  } catch (err) {
    // Locked: back to the application, denied (the page follows `redirect`).
    if (err instanceof AppError && err.code === 'MFA_LOCKED') return { redirect: await deny(ctx, p, actor, LOCKED.status, LOCKED.msg, LOCKED.reason, 'push') };
    throw err;
  }
}

const PUSH_DENIALS = {
  denied: { status: 'deny', msg: 'Login request denied.', reason: 'user_mistake' },
  fraud: { status: 'fraud', msg: 'Login request reported as fraudulent.', reason: 'user_marked_fraud' },
} as const;

/**
 * The page waits for the push's answer (long-poll). Approved: the core completes the attempt and
 * the hold writes `allow`. Denied or reported as fraud: back to the application, denied (Duo's
 * `deny` / `fraud`). Expired: the page may send another. Locked by the failure: denied.
 */
export async function promptPushWait(ctx: AppContext, p: PromptLogin, actor: Actor, maxWaitMs?: number): Promise<{ status: 'pending' | 'expired' } | { status: 'done'; redirect: string }> {
  requireSecondFactor(p);
  if (!p.prompt.push_id) throw new DuoError('INVALID_PARAMETERS', 'No push was sent for this sign-in.');
  let waited;
  try {
    waited = await waitForPush(ctx, loginOf(p), actor, p.prompt.push_id, allowHold(ctx, p, 'push', PUSH_LABEL), maxWaitMs);
  } catch (err) {
    if (err instanceof AppError && (err.code === 'MFA_LOCKED' || err.code === 'UNAUTHENTICATED')) {
      return { status: 'done', redirect: await deny(ctx, p, actor, LOCKED.status, LOCKED.msg, LOCKED.reason, 'push') };
    }
    throw err;
  }
  if (waited.status === 'pending') return { status: 'pending' };
  if (waited.status === 'approved') {
    if (waited.held) return { status: 'done', redirect: waited.held };
    throw promptGone();
  }
  if (waited.status === 'expired') {
    if (lockedUntil((await ctx.db.selectFrom('users').select('mfa_locked_until').where('id', '=', p.user.id).executeTakeFirstOrThrow()) as User, ctx.clock.now()) !== null) {
      return { status: 'done', redirect: await deny(ctx, p, actor, LOCKED.status, LOCKED.msg, LOCKED.reason, 'push') };
    }
    return { status: 'expired' };
  }
  const d = PUSH_DENIALS[waited.status];
  return { status: 'done', redirect: await deny(ctx, p, actor, d.status, d.msg, d.reason, 'push') };
}

// --- token ---------------------------------------------------------------------------------

/** An OAuth 2.0 token error (RFC 6749 5.2), which duo_universal shows as `error: error_description`. */
export class TokenError extends Error {
  constructor(
    readonly error: 'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unsupported_grant_type',
    readonly description: string,
  ) {
    super(description);
  }
  get status() {
    return this.error === 'invalid_client' ? 401 : 400;
  }
}

export interface TokenInput {
  grant_type?: string;
  code?: string;
  redirect_uri?: string;
  client_id?: string;
  client_assertion_type?: string;
  client_assertion?: string;
}

export interface TokenAnswer {
  id_token: string;
  access_token: string;
  expires_in: number;
  token_type: 'Bearer';
}

/**
 * POST /oauth/v1/token, as declared steps:
 *   1. client     - client_id a Web SDK application; client_assertion_type jwt-bearer; the
 *                   assertion HS512 with its secret, aud = this token endpoint, jti single use;
 *   2. grant      - grant_type authorization_code; the code taken by ONE conditional UPDATE: of
 *                   this application, for this redirect_uri, unexpired (60 s), never used;
 *   3. id_token   - HS512 with the current secret key: iss = https://<host>/oauth/v1/token, aud =
 *                   client_id, sub = preferred_username = the duo_uname the application sent,
 *                   auth_time, nonce (when the request had one), auth_result and auth_context as
 *                   Duo's; the application reads auth_result.status (allow / deny / fraud ...).
 */
export async function token(ctx: AppContext, find: FindIntegration, call: UniversalCall, input: TokenInput): Promise<TokenAnswer> {
  if (!input.client_id) throw new TokenError('invalid_request', 'The client_id parameter is missing.');
  const integration = await find(input.client_id);
  if (!integration) throw new TokenError('invalid_client', 'Invalid Client ID.');
  const tokenUrl = endpointUrl(call.host, '/oauth/v1/token');
  const refuse = async (error: TokenError['error'], reason: string, description: string) => {
    await auditFor(ctx, ctx.db, call.actor, integration, 'duo.token_refused', null, { reason });
    return new TokenError(error, description);
  };
  if (input.client_assertion_type !== CLIENT_ASSERTION_TYPE) throw await refuse('invalid_request', 'client_assertion_type', `client_assertion_type must be ${CLIENT_ASSERTION_TYPE}.`);
  if (!input.client_assertion || !(await verifyClientAssertion(ctx, integration, input.client_assertion, tokenUrl))) {
    throw await refuse('invalid_client', 'invalid_client_assertion', 'The client_assertion is invalid, expired or was used before.');
  }
  if (input.grant_type !== 'authorization_code') throw await refuse('unsupported_grant_type', 'grant_type', 'grant_type must be authorization_code.');
  if (!input.code || input.code.length > 200) throw await refuse('invalid_request', 'code', 'The code parameter is missing.');
  if (!input.redirect_uri) throw await refuse('invalid_request', 'redirect_uri', 'The redirect_uri parameter is missing.');
  const now = ctx.clock.now();
  const prompt = await ctx.db
    .updateTable('duo_prompts')
    .set({ code_used_at: now })
    .where('code_hash', '=', sha256(input.code))
    .where('application_id', '=', integration.applicationId)
    .where('redirect_uri', '=', input.redirect_uri)
    .where('code_used_at', 'is', null)
    .where('code_expires_at', '>', now)
    .returningAll()
    .executeTakeFirst();
  if (!prompt) throw await refuse('invalid_grant', 'invalid_code', 'The code is unknown, expired, already used, or was issued to another client or redirect_uri.');

  const user = prompt.user_id ? await ctx.db.selectFrom('users').select(['id', 'email']).where('id', '=', prompt.user_id).executeTakeFirst() : undefined;
  const authTime = unix(Number(prompt.auth_time ?? now));
  const success = prompt.result === 'allow';
  const claims = {
    preferred_username: prompt.username,
    auth_time: authTime,
    ...(prompt.nonce ? { nonce: prompt.nonce } : {}),
    auth_result: { result: prompt.result, status: prompt.status, status_msg: prompt.status_msg },
    auth_context: {
      access_device: { hostname: null, ip: prompt.ip, location: { city: null, country: null, state: null } },
      alias: '',
      application: { key: integration.integrationKey, name: integration.name },
      auth_device: { ip: null, location: { city: null, country: null, state: null }, name: prompt.auth_device },
      email: user?.email ?? '',
      event_type: 'authentication',
      factor: prompt.factor,
      isotimestamp: new Date(Number(prompt.auth_time ?? now)).toISOString(),
      ood_software: null,
      reason: prompt.reason,
      result: success ? 'success' : prompt.status === 'fraud' ? 'fraud' : 'denied',
      timestamp: authTime,
      trusted_endpoint_status: 'unknown',
      txid: prompt.id,
      user: { groups: [], key: prompt.user_id, name: prompt.username },
    },
  };
  const idToken = await new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS512', typ: 'JWT' })
    .setIssuer(tokenUrl)
    .setAudience(integration.integrationKey)
    .setSubject(prompt.username)
    .setIssuedAt(unix(now))
    .setExpirationTime(unix(now) + TOKEN_TTL_S)
    .sign(new TextEncoder().encode(integration.secretKeys[0]!));
  await auditFor(ctx, ctx.db, call.actor, integration, 'duo.token_issued', prompt.user_id, { result: prompt.result, status: prompt.status });
  return { id_token: idToken, access_token: randomBytes(32).toString('base64url'), expires_in: TOKEN_TTL_S, token_type: 'Bearer' };
}
