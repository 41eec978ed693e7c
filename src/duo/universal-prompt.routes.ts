import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static } from 'typebox';
import { findDuoIntegration } from '../applications/application.lookup.js';
import type { Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import { rejectCrossSite } from '../http/cross-site.js';
import type { DuoRouteModule } from './route-module.js';
import {
  authorize,
  healthCheck,
  HealthCheckFailure,
  loadPrompt,
  promptEnrollment,
  promptPasscode,
  promptPush,
  promptPushWait,
  promptView,
  promptWebAuthn,
  promptWebAuthnOptions,
  PROMPT_TTL_MS,
  token,
  TokenError,
  type FindIntegration,
  type UniversalCall,
} from './universal-prompt.service.js';

/**
 * Duo's Web SDK v4 endpoints (the Universal Prompt) and the calls of Tessera's prompt page
 * (web/src/pages/DuoPrompt.tsx). Duo's three endpoints are not signed the Auth API's way: each
 * carries an HS512 JWT (client_assertion, or the request object), checked by the service; so
 * they are `duoUnsigned` to the door's signature hook. health_check answers Duo's envelope,
 * token OAuth's `{error, error_description}` (what duo_universal reads), authorize a 302 or
 * Duo's envelope for a request it cannot trust.
 *
 * The page's calls (/oauth/v1/prompt/:id...) are authenticated by the prompt's browser cookie
 * (HttpOnly, SameSite=Strict, set by /authorize); their POSTs are JSON and must come from
 * Tessera's own origin (no cross-site form can make them).
 */

const cookieName = (ctx: AppContext) => (ctx.config.publicUrl.protocol === 'https:' ? '__Host-tessera_duo_prompt' : 'tessera_duo_prompt');

function browserToken(ctx: AppContext, request: FastifyRequest): string | undefined {
  const header = request.headers.cookie;
  if (typeof header !== 'string') return undefined;
  const name = cookieName(ctx);
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      const v = part.slice(eq + 1).trim();
      return /^[A-Za-z0-9_-]{20,100}$/.test(v) ? v : undefined;
    }
  }
  return undefined;
}

function setBrowserCookie(ctx: AppContext, reply: FastifyReply, value: string): void {
  const secure = ctx.config.publicUrl.protocol === 'https:' ? '; Secure' : '';
  reply.header('set-cookie', `${cookieName(ctx)}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${PROMPT_TTL_MS / 1000}${secure}`);
}

const str = (v: unknown) => (typeof v === 'string' && v.length <= 8192 ? v : undefined);
/** The parameters of a form body or a query string, strings only (a repeated parameter is refused as absent). */
const params = (v: unknown): Record<string, string | undefined> => {
  const out: Record<string, string | undefined> = {};
  if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out[k] = str(x);
  return out;
};

const callOf = (request: FastifyRequest): UniversalCall => {
  const ua = request.headers['user-agent'];
  return {
    host: request.host,
    actor: { type: 'anonymous', id: null, firmId: null, ip: request.ip, userAgent: typeof ua === 'string' ? ua : null },
    log: request.log,
  };
};
const userActor = (request: FastifyRequest, user: { id: string; firm_id: string }): Actor => ({ ...callOf(request).actor, type: 'user', id: user.id, firmId: user.firm_id });

const PromptParams = Type.Object({ id: Type.String({ format: 'uuid' }) }, { additionalProperties: false });
const PasscodeBody = Type.Object({ passcode: Type.String({ minLength: 1, maxLength: 32 }) }, { additionalProperties: false });
const WebAuthnBody = Type.Object({ response: Type.Object({}, { additionalProperties: true }) }, { additionalProperties: false });
const NoBody = Type.Object({}, { additionalProperties: false });

export const universalPromptRoutes: DuoRouteModule = {
  prefix: '/oauth/v1',
  routes: (ctx: AppContext) => async (app) => {
    const find: FindIntegration = async (clientId) => {
      const integration = await findDuoIntegration(ctx.db, ctx.secrets, clientId, ctx.clock);
      return integration?.type === 'duo_web_sdk' ? integration : null;
    };

    // duo_universal posts the form; a GET with the same parameters in the query is answered alike.
    const health = async (request: FastifyRequest, reply: FastifyReply) => {
      const p = params(request.method === 'GET' ? request.query : request.body);
      try {
        return { stat: 'OK', response: await healthCheck(ctx, find, callOf(request), { clientId: p.client_id, clientAssertion: p.client_assertion }) };
      } catch (err) {
        if (!(err instanceof HealthCheckFailure)) throw err;
        return reply.status(400).send({ stat: 'FAIL', code: 40002, timestamp: Math.floor(ctx.clock.now() / 1000), message: 'invalid_client', message_detail: err.detail });
      }
    };
    app.post('/health_check', { config: { duoUnsigned: true }, schema: { hide: true } }, health);
    app.get('/health_check', { config: { duoUnsigned: true }, schema: { hide: true } }, health);

    app.get('/authorize', { config: { duoUnsigned: true }, schema: { hide: true } }, async (request, reply) => {
      const answer = await authorize(ctx, find, callOf(request), params(request.query));
      if (answer.browserToken) setBrowserCookie(ctx, reply, answer.browserToken);
      return reply.redirect(answer.redirect, 302);
    });

    app.post('/token', { config: { duoUnsigned: true }, schema: { hide: true } }, async (request, reply) => {
      try {
        return await token(ctx, find, callOf(request), params(request.body));
      } catch (err) {
        if (!(err instanceof TokenError)) throw err;
        return reply.status(err.status).send({ error: err.error, error_description: err.description });
      }
    });

    // --- the prompt page's calls ---
    const login = async (request: FastifyRequest) => {
      if (request.method === 'POST') rejectCrossSite(ctx, request.headers);
      return loadPrompt(ctx, (request.params as Static<typeof PromptParams>).id, browserToken(ctx, request));
    };
    const page = { config: { duoUnsigned: true }, schema: { hide: true, params: PromptParams } };
    const pagePost = { config: { duoUnsigned: true }, schema: { hide: true, params: PromptParams, body: NoBody } };

    app.get('/prompt/:id', page, async (request) => {
      const p = await login(request);
      return promptView(ctx, p, userActor(request, p.user));
    });
    app.post('/prompt/:id/enroll', pagePost, async (request) => promptEnrollment(ctx, await login(request)));
    app.post('/prompt/:id/passcode', { ...page, schema: { ...page.schema, body: PasscodeBody } }, async (request) => {
      const p = await login(request);
      return promptPasscode(ctx, p, userActor(request, p.user), (request.body as Static<typeof PasscodeBody>).passcode, request.log);
    });
    app.post('/prompt/:id/push', pagePost, async (request) => {
      const p = await login(request);
      return promptPush(ctx, p, userActor(request, p.user), request.log);
    });
    app.post('/prompt/:id/push/wait', pagePost, async (request) => {
      const p = await login(request);
      return promptPushWait(ctx, p, userActor(request, p.user));
    });
    app.post('/prompt/:id/webauthn/options', pagePost, async (request) => promptWebAuthnOptions(ctx, await login(request)));
    app.post('/prompt/:id/webauthn/verify', { ...page, schema: { ...page.schema, body: WebAuthnBody } }, async (request) => {
      const p = await login(request);
      return promptWebAuthn(ctx, p, userActor(request, p.user), (request.body as Static<typeof WebAuthnBody>).response, request.log);
    });
  },
};
