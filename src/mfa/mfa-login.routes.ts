import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AppContext } from '../context.js';
import { UserKind } from '../directory/directory.schemas.js';
import type { FastifyRequest } from 'fastify';
import { unauthorized } from '../core/errors.js';
import { requirePendingLogin, requirePendingPrincipal, setSessionCookie, type PendingLogin, type PendingPrincipal } from '../http/auth.js';
import { isEnrolled } from '../core/enrolled.js';
import { errors } from '../http/schemas.js';
import { AuthenticatorKindSchema, CodeMethodSchema, LoginMethodSchema } from '../factors/factor.schemas.js';
import { enrollmentInfo, skipEnrollment } from '../core/enrollment.js';
import { enrollmentState } from '../core/enrollment-state.js';
import { beginTotp, confirmTotp } from '../factors/totp/totp-enrollment.service.js';
import { coreLogin, enrollmentHold, hasFreshStepUp, pendingActor, returnTo, sessionHold, setRememberCookie } from './pending-login.js';
import { answerEnrollment, EnrollmentConfirmedSchema } from './enrollment-end.js';
import { secondFactorChallenge, verifySecondFactor } from './second-factor.service.js';
import { withdrawEndedPushes } from '../factors/push/push.service.js';

/** Any string is a code to check (wrong, short, long, letters: all "not right"); only a non-string is malformed. */
const Code = Type.String({ maxLength: 256 });

const ChallengeSchema = Type.Object({
  user: Type.Object({ name: Type.String(), email: Type.String() }),
  firmName: Type.String(),
  /** Every method of the factor registry; the registry decides which ones this user can answer with. */
  methods: Type.Array(LoginMethodSchema),
  defaultMethod: AuthenticatorKindSchema,
  lockedUntil: Type.Union([Type.Integer(), Type.Null()]),
  rememberDays: Type.Integer(),
  /** Pushes paused after a fraud report until then (epoch ms), for a user with a Tessera Authenticator; else null. */
  pushPausedUntil: Type.Union([Type.Integer(), Type.Null()]),
});
/** A typed code; a security key answers at /mfa/webauthn/verify, a push by its long-poll. */
const VerifyBody = Type.Object({ method: CodeMethodSchema, code: Code, remember: Type.Optional(Type.Boolean()) }, { additionalProperties: false });
const Home = Type.Object({ next: Type.Literal('home') });

const EnrollmentSchema = Type.Object({
  firmName: Type.String(),
  user: Type.Object({ name: Type.String(), email: Type.String(), kind: Type.Union([UserKind, Type.Literal('operator')]) }),
  methods: Type.Array(Type.Object({ kind: AuthenticatorKindSchema, label: Type.String() })),
  seatAvailable: Type.Boolean(),
  enrolled: Type.Boolean(),
  /** Opened by this application's enroll link (a Duo preauth's enroll_portal_url): the enrollment ends with no Tessera session, back to it. */
  application: Type.Union([Type.Object({ name: Type.String() }), Type.Null()]),
});
const TotpEnrollmentSchema = Type.Object({ authenticatorId: Type.String(), otpauthUri: Type.String(), secret: Type.String(), qrSvg: Type.String() });
const PushEnrollmentSchema = Type.Object({ authenticatorId: Type.String(), activationUrl: Type.String(), qrSvg: Type.String(), expiresAt: Type.Integer() });
/** Where this login's enrollment stands (src/core/enrollment-state.ts): what /enroll continues after a reload. */
const EnrollmentStateSchema = Type.Union([
  Type.Object({ step: Type.Literal('choose') }),
  Type.Object({ step: Type.Literal('in_progress'), method: Type.Literal('totp'), totp: TotpEnrollmentSchema }),
  Type.Object({
    step: Type.Literal('in_progress'),
    method: Type.Literal('push'),
    authenticatorId: Type.String(),
    phone: Type.Union([Type.String(), Type.Null()]),
    push: Type.Union([PushEnrollmentSchema, Type.Null()]),
  }),
  Type.Object({ step: Type.Literal('in_progress'), method: Type.Literal('webauthn'), authenticatorId: Type.String(), label: Type.String() }),
  Type.Object({ step: Type.Literal('activated'), method: Type.Literal('push'), authenticatorId: Type.String() }),
  Type.Object({ step: Type.Literal('done') }),
]);
const ConfirmParams = Type.Object({ authenticatorId: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });
const ConfirmBody = Type.Object(
  {
    code: Code,
    label: Type.Optional(Type.String({ minLength: 1, maxLength: 60, pattern: '\\S' })),
    phone: Type.Optional(
      Type.Object(
        { number: Type.String({ minLength: 1, maxLength: 40 }), country: Type.Optional(Type.String({ pattern: '^[A-Za-z]{2}$' })) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
const SkipResult = Type.Object({ next: Type.Literal('home'), notice: Type.Literal('mfa_bypassed_no_seat') });

/**
 * The second step of a login (issue 4): the second factor, and first-login enrollment.
 * These are the only routes a half-finished login may use (besides /logout and /csrf);
 * the enrollment routes also serve a full session adding another authenticator.
 */
/**
 * The second factor answers a pending login, and also a full session without a fresh one (a
 * remembered browser skipped it, or the last one is older than STEP_UP_MAX_AGE_MS): My
 * security asks for a fresh second factor before any change, and this is how such a session
 * gets one (a step-up, which replaces the session token).
 */
const STEP_UP_STAGES = ['second_factor', 'full'] as const;

/**
 * A pending login (of a firm user or an operator), or a full session of an enrolled user
 * without a fresh step-up; else 401 (nothing to answer).
 */
export async function secondFactorTarget(ctx: AppContext, request: FastifyRequest): Promise<PendingPrincipal> {
  const pending = await requirePendingPrincipal(ctx, request, STEP_UP_STAGES);
  if (pending.session.stage === 'full') {
    const enrolled = await isEnrolled(ctx.db, pending.user);
    if (hasFreshStepUp(pending.session, ctx.clock.now()) || !enrolled) throw unauthorized();
  }
  return pending;
}

/** secondFactorTarget for a firm user only (push: operators have no Tessera Authenticator); an operator gets 401. */
export async function userSecondFactorTarget(ctx: AppContext, request: FastifyRequest): Promise<PendingLogin> {
  const pending = await secondFactorTarget(ctx, request);
  if (pending.firm === null) throw unauthorized();
  return pending;
}

export const mfaLoginRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['login: second factor'];

    app.get(
      '/mfa/challenge',
      { schema: { tags, summary: 'The second-factor step of a pending login', response: { 200: ChallengeSchema, ...errors(401) } } },
      async (request) => secondFactorChallenge(ctx, await secondFactorTarget(ctx, request)),
    );

    app.post(
      '/mfa/verify',
      {
        schema: {
          tags,
          summary: 'Answer the second factor; success replaces the session (pending, or full for a step-up) with a new full one',
          body: VerifyBody,
          response: { 200: Home, ...errors(400, 401, 403, 423) },
        },
      },
      async (request, reply) => {
        const pending = await secondFactorTarget(ctx, request);
        const { method, code, remember } = request.body;
        const result = await verifySecondFactor(ctx, pending, pendingActor(request, pending), { method, answer: code, remember });
        if (pending.firm) await withdrawEndedPushes(ctx, pending.user.id, request.log);
        setSessionCookie(ctx, reply, result.token);
        if (result.remember) setRememberCookie(ctx, reply, result.remember.token, result.remember.days);
        return { next: 'home' as const };
      },
    );

    app.get(
      '/mfa/enrollment',
      { schema: { tags, summary: 'The enrollment step: methods, and whether a licence is free', response: { 200: EnrollmentSchema, ...errors(401) } } },
      async (request) => {
        const pending = await requirePendingPrincipal(ctx, request, ['enroll', 'full']);
        return { ...(await enrollmentInfo(ctx, coreLogin(pending))), application: await returnTo(ctx.db, pending.attempt) };
      },
    );

    app.get(
      '/mfa/enrollment/state',
      {
        schema: {
          tags,
          summary:
            "Where this login's enrollment stands: choose a method, one in progress (its QR code again), the phone activated (finish next), or done; a reload or a second tab continues there",
          response: { 200: EnrollmentStateSchema, ...errors(401) },
        },
      },
      async (request) => enrollmentState(ctx, coreLogin(await requirePendingPrincipal(ctx, request, ['enroll', 'full']))),
    );

    app.post(
      '/mfa/enrollment/totp',
      {
        schema: {
          tags,
          summary: 'Start an authenticator-app enrollment: a pending authenticator, its otpauth URI and QR code',
          body: Type.Object({}, { additionalProperties: false }),
          response: { 201: TotpEnrollmentSchema, ...errors(400, 401, 403, 409) },
        },
      },
      async (request, reply) => {
        const pending = await requirePendingPrincipal(ctx, request, ['enroll', 'full']);
        return reply.status(201).send(await beginTotp(ctx, coreLogin(pending)));
      },
    );

    app.post(
      '/mfa/enrollment/totp/:authenticatorId/confirm',
      {
        schema: {
          tags,
          summary: 'Confirm an authenticator-app enrollment with one code; takes the seat, and finishes a pending login',
          params: ConfirmParams,
          body: ConfirmBody,
          response: { 200: EnrollmentConfirmedSchema, ...errors(400, 401, 403, 404, 409, 423) },
        },
      },
      async (request, reply) => {
        const pending = await requirePendingPrincipal(ctx, request, ['enroll', 'full']);
        const actor = pendingActor(request, pending);
        const result = await confirmTotp(ctx, coreLogin(pending), actor, request.params.authenticatorId, request.body, enrollmentHold(ctx, pending, actor));
        return answerEnrollment(ctx, reply, result.held, result.backupCodes);
      },
    );

    app.post(
      '/mfa/enrollment/skip',
      {
        schema: {
          tags,
          summary: 'Go on with the password alone, only while no licence is free (counted as a bypass)',
          response: { 200: SkipResult, ...errors(401, 403, 409) },
        },
      },
      async (request, reply) => {
        const pending = await requirePendingLogin(ctx, request, ['enroll']);
        const actor = pendingActor(request, pending);
        setSessionCookie(ctx, reply, await skipEnrollment(ctx, coreLogin(pending), actor, sessionHold(ctx, pending, actor)));
        return { next: 'home' as const, notice: 'mfa_bypassed_no_seat' as const };
      },
    );
  };
