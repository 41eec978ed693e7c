import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AppContext } from '../context.js';
import { requirePendingLogin, setSessionCookie } from '../http/auth.js';
import { errors } from '../http/schemas.js';
import { userSecondFactorTarget } from './mfa-login.routes.js';
import { coreLogin, enrollmentHold, pendingActor, sessionHold } from './pending-login.js';
import { answerEnrollment, EnrollmentConfirmedSchema } from './enrollment-end.js';
import { beginPushEnrollment, completePushEnrollment, mailActivationLink, pushEnrollmentStatus } from '../factors/push/push-enrollment.service.js';
import { startPush, waitForPush } from '../factors/push/push.service.js';

/**
 * The login side of the Tessera Authenticator (issue 5): "Mobile" at enrollment (QR code,
 * then the screen notices the activation and finishes), and "Send me a push" at the second
 * factor, whose screen long-polls for the answer.
 */

const Phone = Type.Object(
  { number: Type.String({ minLength: 1, maxLength: 40 }), country: Type.Optional(Type.String({ pattern: '^[A-Za-z]{2}$' })) },
  { additionalProperties: false },
);
const AuthenticatorParams = Type.Object({ authenticatorId: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });
const TxParams = Type.Object({ transactionId: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });
const Status = Type.Union([Type.Literal('pending'), Type.Literal('approved'), Type.Literal('denied'), Type.Literal('fraud'), Type.Literal('expired')]);

export const pushRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['login: push'];

    app.post(
      '/mfa/enrollment/push',
      {
        schema: {
          tags,
          summary: 'Start a Tessera Authenticator enrollment: phone number, then a single-use activation code as QR code and link (10 minutes)',
          body: Type.Object({ phone: Phone }, { additionalProperties: false }),
          response: {
            201: Type.Object({ authenticatorId: Type.String(), activationUrl: Type.String(), qrSvg: Type.String(), expiresAt: Type.Integer() }),
            ...errors(400, 401, 403, 409, 423),
          },
        },
      },
      async (request, reply) => {
        const pending = await requirePendingLogin(ctx, request, ['enroll', 'full']);
        return reply.status(201).send(await beginPushEnrollment(ctx, coreLogin(pending), request.body));
      },
    );

    app.get(
      '/mfa/enrollment/push/:authenticatorId',
      {
        schema: {
          tags,
          summary: 'Whether the device activated yet (the enrollment screen polls this)',
          params: AuthenticatorParams,
          response: { 200: Type.Object({ status: Type.Union([Type.Literal('pending'), Type.Literal('active'), Type.Literal('expired')]) }), ...errors(401, 404) },
        },
      },
      async (request) => ({ status: await pushEnrollmentStatus(ctx, coreLogin(await requirePendingLogin(ctx, request, ['enroll', 'full'])), request.params.authenticatorId) }),
    );

    app.post(
      '/mfa/enrollment/push/:authenticatorId/mail',
      {
        schema: {
          tags,
          summary: 'Mail the activation link to the user\'s own address (to open it on the phone); as single-use and short-lived as the QR code',
          params: AuthenticatorParams,
          response: { 200: Type.Object({ sentTo: Type.String(), expiresAt: Type.Integer() }), ...errors(401, 404, 410, 429) },
        },
      },
      async (request) => mailActivationLink(ctx, coreLogin(await requirePendingLogin(ctx, request, ['enroll', 'full'])), request.params.authenticatorId),
    );

    app.post(
      '/mfa/enrollment/push/:authenticatorId/complete',
      {
        schema: {
          tags,
          summary: 'After the activation: finish the login (backup codes at the first enrollment)',
          params: AuthenticatorParams,
          response: { 200: EnrollmentConfirmedSchema, ...errors(401, 404, 409, 423) },
        },
      },
      async (request, reply) => {
        const pending = await requirePendingLogin(ctx, request, ['enroll', 'full']);
        const actor = pendingActor(request, pending);
        const result = await completePushEnrollment(ctx, coreLogin(pending), actor, request.params.authenticatorId, enrollmentHold(ctx, pending, actor));
        return answerEnrollment(ctx, reply, result.held, result.backupCodes);
      },
    );

    app.post(
      '/mfa/push',
      {
        schema: {
          tags,
          summary: 'Send a push to the user\'s devices (60 s); the number is shown on the login screen and typed into the app',
          response: {
            201: Type.Object({ transactionId: Type.String(), number: Type.String(), expiresAt: Type.Integer(), expiresInSeconds: Type.Integer() }),
            ...errors(401, 409, 423, 429),
          },
        },
      },
      async (request, reply) => {
        const pending = await userSecondFactorTarget(ctx, request);
        return reply.status(201).send(await startPush(ctx, coreLogin(pending), pendingActor(request, pending), request.log));
      },
    );

    app.get(
      '/mfa/push/:transactionId/wait',
      {
        schema: {
          tags,
          summary: 'Long-poll (up to 25 s) for the answer; "approved" finishes the login in this response',
          params: TxParams,
          response: {
            200: Type.Object({
              status: Status,
              /** Denied because the number typed in the app was not the one on this screen. */
              reason: Type.Optional(Type.Literal('wrong_number')),
            }),
            ...errors(401, 404, 423),
          },
        },
      },
      async (request, reply) => {
        const pending = await userSecondFactorTarget(ctx, request);
        const actor = pendingActor(request, pending);
        // An approval completes the attempt; the web door's answer to it is a new full session.
        const result = await waitForPush(ctx, coreLogin(pending), actor, request.params.transactionId, sessionHold(ctx, pending, actor));
        if (result.held) setSessionCookie(ctx, reply, result.held);
        return result.reason ? { status: result.status, reason: result.reason } : { status: result.status };
      },
    );
  };
