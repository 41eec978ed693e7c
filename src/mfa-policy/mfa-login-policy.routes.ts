import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../context.js';
import { actorOf, requireSuperuser } from '../http/auth.js';
import { errors } from '../http/schemas.js';
import { LOGIN_POLICY_LIMITS, loadLoginPolicy, updateLoginPolicy } from './mfa-login-policy.service.js';

export const LoginPolicySchema = Type.Object(
  {
    lockoutThreshold: Type.Integer({ ...LOGIN_POLICY_LIMITS.lockoutThreshold, description: 'Consecutive failed second factors that lock it' }),
    lockoutMinutes: Type.Integer({ ...LOGIN_POLICY_LIMITS.lockoutMinutes, description: 'How long a lock lasts' }),
    rememberDays: Type.Integer({ ...LOGIN_POLICY_LIMITS.rememberDays, description: '"Remember this browser" lifetime; 0 = not offered' }),
    passkeysEnabled: Type.Boolean({ description: 'Enrolled users may sign in with a passkey instead of the password (off by default)' }),
    pushNumberDigits: Type.Union([Type.Literal(3), Type.Literal(6)], { description: 'Digits of the number typed into the app to approve a push' }),
    pushMaxPerWindow: Type.Integer({ ...LOGIN_POLICY_LIMITS.pushMaxPerWindow, description: 'Pushes a user may get in the window without a success' }),
    pushWindowMinutes: Type.Integer({ ...LOGIN_POLICY_LIMITS.pushWindowMinutes, description: 'The push-bombing window' }),
  },
  { additionalProperties: false },
);

/** The PUT body: as the policy, with the later settings optional (left out = unchanged), so older clients keep working. */
const P = LoginPolicySchema.properties;
const LoginPolicyBody = Type.Object(
  {
    ...P,
    passkeysEnabled: Type.Optional(P.passkeysEnabled),
    pushNumberDigits: Type.Optional(P.pushNumberDigits),
    pushMaxPerWindow: Type.Optional(P.pushMaxPerWindow),
    pushWindowMinutes: Type.Optional(P.pushWindowMinutes),
  },
  { additionalProperties: false },
);

/** The firm's second-factor login policy (lockout, remembered browsers), superusers only. */
export const mfaLoginPolicyRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['firm admin: MFA'];

    app.get(
      '/admin/mfa/policy',
      { schema: { tags, summary: 'Lockout and remembered-browser settings', response: { 200: LoginPolicySchema, ...errors(401, 403) } } },
      async (request) => loadLoginPolicy(ctx.db, (await requireSuperuser(ctx, request)).firm.id),
    );

    app.put(
      '/admin/mfa/policy',
      {
        schema: {
          tags,
          summary: 'Set the lockout threshold and duration, the remembered-browser lifetime (0 forgets every remembered browser) and passkey sign-in',
          body: LoginPolicyBody,
          response: { 200: LoginPolicySchema, ...errors(400, 401, 403) },
        },
      },
      async (request) => {
        const { user, firm } = await requireSuperuser(ctx, request);
        const actor = { ...actorOf(request), id: user.id, firmId: firm.id };
        return ctx.db.transaction().execute((tx) => updateLoginPolicy(ctx, tx, actor, firm.id, request.body));
      },
    );
  };
