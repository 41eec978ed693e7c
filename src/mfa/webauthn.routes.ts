import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AppContext } from '../context.js';
import { AppError } from '../core/errors.js';
import { beginAuthentication } from '../factors/webauthn/webauthn.ceremony.js';
import { AuthenticationResponseSchema, CreationOptionsSchema, RegistrationResponseSchema, RequestOptionsSchema } from '../factors/webauthn/webauthn.schemas.js';
import { requirePendingPrincipal, setSessionCookie } from '../http/auth.js';
import { errors } from '../http/schemas.js';
import { assertNotLocked } from '../core/lockout.js';
import { secondFactorTarget } from './mfa-login.routes.js';
import { coreLogin, enrollmentHold, pendingActor, setRememberCookie } from './pending-login.js';
import { answerEnrollment, EnrollmentConfirmedSchema } from './enrollment-end.js';
import { verifySecondFactor } from './second-factor.service.js';
import { withdrawEndedPushes } from '../factors/push/push.service.js';
import { beginWebAuthn, confirmWebAuthn } from '../factors/webauthn/webauthn-enrollment.service.js';

const OptionsBody = Type.Object(
  {
    label: Type.String({ minLength: 1, maxLength: 60, pattern: '\\S' }),
    passkey: Type.Optional(Type.Boolean({ description: 'A passkey: stored on the key (discoverable) and verified (PIN, biometrics)' })),
  },
  { additionalProperties: false },
);
const RegistrationStartSchema = Type.Object({ authenticatorId: Type.String(), options: CreationOptionsSchema });
const VerifyParams = Type.Object({ authenticatorId: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });
const RegistrationBody = Type.Object({ response: RegistrationResponseSchema }, { additionalProperties: false });
const AssertionBody = Type.Object({ response: AuthenticationResponseSchema, remember: Type.Optional(Type.Boolean()) }, { additionalProperties: false });
const Home = Type.Object({ next: Type.Literal('home') });

const noSecurityKey = () => new AppError('NO_SECURITY_KEY');

/**
 * Security keys (issue 6, reference 2.2): enrollment (first login, or "add another" from a
 * full session) and the second factor with a key. Beside the authenticator-app routes of
 * mfa-login.routes.ts, with the same stages and the same step-up from a full session.
 */
export const webauthnRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['login: security keys'];

    app.post(
      '/mfa/enrollment/webauthn/options',
      {
        schema: {
          tags,
          summary: 'Start a security-key (or passkey) enrollment: a pending authenticator with the label, and the options for navigator.credentials.create()',
          body: OptionsBody,
          response: { 200: RegistrationStartSchema, ...errors(400, 401, 403, 409, 423) },
        },
      },
      async (request) => beginWebAuthn(ctx, coreLogin(await requirePendingPrincipal(ctx, request, ['enroll', 'full'])), request.body),
    );

    app.post(
      '/mfa/enrollment/webauthn/:authenticatorId/verify',
      {
        schema: {
          tags,
          summary: 'Finish a security-key enrollment with the registration response; takes the seat, and finishes a pending login',
          params: VerifyParams,
          body: RegistrationBody,
          response: { 200: EnrollmentConfirmedSchema, ...errors(400, 401, 403, 404, 409, 423) },
        },
      },
      async (request, reply) => {
        const pending = await requirePendingPrincipal(ctx, request, ['enroll', 'full']);
        const actor = pendingActor(request, pending);
        const result = await confirmWebAuthn(ctx, coreLogin(pending), actor, request.params.authenticatorId, request.body.response, enrollmentHold(ctx, pending, actor));
        return answerEnrollment(ctx, reply, result.held, result.backupCodes);
      },
    );

    app.post(
      '/mfa/webauthn/options',
      {
        schema: {
          tags,
          summary: 'Options for navigator.credentials.get() with one of my security keys, bound to this session',
          response: { 200: Type.Object({ options: RequestOptionsSchema }), ...errors(401, 409, 423) },
        },
      },
      async (request) => {
        const pending = await secondFactorTarget(ctx, request);
        assertNotLocked(pending.user, ctx.clock.now());
        return ctx.db.transaction().execute(async (tx) => {
          const started = await beginAuthentication(ctx, tx, { owner: pending.user, attempt: { attemptId: pending.attempt.id, sessionId: pending.attempt.sessionId } });
          if (started.keys === 0) throw noSecurityKey(); // rolls the challenge back
          return { options: started.options };
        });
      },
    );

    app.post(
      '/mfa/webauthn/verify',
      {
        schema: {
          tags,
          summary: 'Answer the second factor with a security key; success replaces the session (pending, or full for a step-up) with a new full one',
          body: AssertionBody,
          response: { 200: Home, ...errors(400, 401, 403, 423) },
        },
      },
      async (request, reply) => {
        const pending = await secondFactorTarget(ctx, request);
        const { response, remember } = request.body;
        const result = await verifySecondFactor(ctx, pending, pendingActor(request, pending), { method: 'webauthn', answer: response, remember });
        if (pending.firm) await withdrawEndedPushes(ctx, pending.user.id, request.log);
        setSessionCookie(ctx, reply, result.token);
        if (result.remember) setRememberCookie(ctx, reply, result.remember.token, result.remember.days);
        return { next: 'home' as const };
      },
    );
  };
