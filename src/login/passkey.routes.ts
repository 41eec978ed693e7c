import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AppContext } from '../context.js';
import { AuthenticationResponseSchema, RequestOptionsSchema } from '../factors/webauthn/webauthn.schemas.js';
import { actorOf, sessionToken, setSessionCookie } from '../http/auth.js';
import { errors } from '../http/schemas.js';
import { deleteSession } from '../sessions/session.service.js';
import { firmLoginOptions } from './login-options.service.js';
import { FirmSlugInput } from './login.routes.js';
import { passkeyLogin, passkeyOptions } from './passkey.service.js';

const OptionsResult = Type.Object({ challengeId: Type.String(), options: RequestOptionsSchema });
const VerifyBody = Type.Object(
  { challengeId: Type.String({ minLength: 1, maxLength: 64 }), response: AuthenticationResponseSchema },
  { additionalProperties: false },
);
const VerifyResult = Type.Object({ principal: Type.Literal('user'), next: Type.Literal('home') });
const LoginOptionsQuery = Type.Object({ firm: FirmSlugInput }, { additionalProperties: false });
const LoginOptions = Type.Object({
  passkeys: Type.Boolean({ description: 'The firm allows passkey sign-in. Also false for a firm that does not exist.' }),
});

/** "Sign in with a passkey" (issue 6.5): no email and no password; for firms that allow it. */
export const passkeyRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['session'];

    app.get(
      '/login/options',
      {
        schema: {
          tags,
          summary:
            'What the login page may offer for a firm named by its short name (the "Sign in with a passkey" button); the same answer for an unknown firm as for one without passkeys; throttled per client IP',
          querystring: LoginOptionsQuery,
          response: { 200: LoginOptions, ...errors(400, 429) },
        },
      },
      async (request) => firmLoginOptions(ctx, { firmSlug: request.query.firm, ip: request.ip }),
    );

    app.post(
      '/passkey/options',
      {
        schema: {
          tags,
          summary: 'Options for a passkey sign-in (discoverable credentials, user verification required); throttled per client IP',
          response: { 200: OptionsResult, ...errors(429) },
        },
      },
      async (request) => passkeyOptions(ctx, actorOf(request)),
    );

    app.post(
      '/passkey/verify',
      {
        schema: {
          tags,
          summary: 'Sign in with a passkey; the same 401 for every refusal (423 MFA_LOCKED while the second factor is locked); throttled per client IP',
          body: VerifyBody,
          response: { 200: VerifyResult, ...errors(400, 401, 423, 429) },
        },
      },
      async (request, reply) => {
        const old = sessionToken(ctx, request);
        const { token } = await passkeyLogin(ctx, { challengeId: request.body.challengeId, response: request.body.response, actor: actorOf(request) });
        // A new token at every login: a session fixed before it is worth nothing after it.
        if (old) await deleteSession(ctx.db, old);
        setSessionCookie(ctx, reply, token);
        return { principal: 'user' as const, next: 'home' as const };
      },
    );
  };
