import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { audit } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import { actorOf, clearSessionCookie, requireOperator, requireUser, sessionToken, setSessionCookie } from '../http/auth.js';
import { UserKind } from '../directory/directory.schemas.js';
import { Email, errors } from '../http/schemas.js';
import { unauthorized } from '../core/errors.js';
import { passwordStep } from '../core/password-step.js';
import { amrOf } from '../core/decision.js';
import { createSession, deleteSession, hashToken } from '../sessions/session.service.js';
import { PENDING_LOGIN_MS, type LoginNotice } from './mfa-gate.js';
import { rememberCookieName } from '../mfa/pending-login.js';
import { PASSWORD_MAX } from '../core/passwords.js';
import { withdrawEndedPushes } from '../factors/push/push.service.js';
import { consumeEnrollLink } from '../applications/enroll-link.js';
import { decideAfterPassword } from '../core/decision.js';
import { openAttempt } from '../core/login-attempt.js';
import { isActiveUser } from '../directory/user.table.js';
import { linkInvalid } from './one-time-token.service.js';

// Not format-checked: a malformed address is just a wrong one, answered like any other.
const Credentials = {
  email: Type.String({ minLength: 1, maxLength: 254 }),
  password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX * 4 }),
};
/** A firm's short name as people type it (any case; compared in lower case). */
export const FirmSlugInput = Type.String({ minLength: 1, maxLength: 63, pattern: '^[A-Za-z0-9-]+$' });
const LoginBody = Type.Object(
  { ...Credentials, firm: Type.Optional(FirmSlugInput) },
  { additionalProperties: false },
);
const OperatorLoginBody = Type.Object(Credentials, { additionalProperties: false });
const LoginResult = Type.Object({
  principal: Type.Union([Type.Literal('operator'), Type.Literal('user')]),
  next: Type.Union([Type.Literal('home'), Type.Literal('second_factor'), Type.Literal('enroll')]),
  notice: Type.Optional(Type.Literal('mfa_bypassed_no_seat')),
});

const Me = Type.Union([
  Type.Object({ principal: Type.Literal('operator'), operator: Type.Object({ id: Type.String(), email: Email, name: Type.String() }) }),
  Type.Object({
    principal: Type.Literal('user'),
    user: Type.Object({
      id: Type.String(),
      email: Type.String(),
      name: Type.String(),
      kind: UserKind,
      isSuperuser: Type.Boolean(),
      firm: Type.Object({ id: Type.String(), name: Type.String(), slug: Type.String() }),
    }),
  }),
]);

export const loginRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get('/health', { schema: { tags: ['system'], response: { 200: Type.Object({ status: Type.Literal('ok') }) } } }, async () => ({
      status: 'ok' as const,
    }));

    app.get(
      '/csrf',
      { schema: { tags: ['session'], summary: 'A CSRF token for the x-csrf-token header of state-changing requests', response: { 200: Type.Object({ token: Type.String() }) } } },
      async (_request, reply) => ({ token: reply.generateCsrf() }),
    );

    app.post(
      '/login',
      {
        schema: {
          tags: ['session'],
          summary: 'Password login of a firm user (423 MFA_LOCKED: a remembered browser, but the second factor is locked)',
          body: LoginBody,
          response: { 200: LoginResult, ...errors(400, 401, 403, 409, 423, 429) },
        },
      },
      (request, reply) => login(ctx, 'firm', request, reply, request.body),
    );
    app.post(
      '/operator/login',
      { schema: { tags: ['session'], summary: 'Password login of a platform operator', body: OperatorLoginBody, response: { 200: LoginResult, ...errors(400, 401, 403, 429) } } },
      (request, reply) => login(ctx, 'operator', request, reply, request.body),
    );

    app.post(
      '/login/enrollment-link',
      {
        schema: {
          tags: ['session'],
          summary: "Opens the enrollment of the user an application's one-time link names (Duo preauth's enroll_portal_url): a pending session at the enrollment step",
          body: EnrollLinkBody,
          response: { 200: LoginResult, ...errors(400, 410) },
        },
      },
      (request, reply) => enrollLinkLogin(ctx, request, reply, request.body.token),
    );

    app.post('/logout', { schema: { tags: ['session'], response: { 204: Type.Null(), ...errors(403) } } }, async (request, reply) => {
      const token = sessionToken(ctx, request);
      if (token) {
        await deleteSession(ctx.db, token);
        if (request.session) await audit(ctx.db, ctx.clock.now(), actorOf(request), { event: 'logout' });
        // A push this login was waiting for: the phone drops it now ("Cancel and sign out").
        if (request.session?.user_id) await withdrawEndedPushes(ctx, request.session.user_id, request.log);
      }
      clearSessionCookie(ctx, reply);
      return reply.status(204).send(null);
    });

    app.get('/me', { schema: { tags: ['session'], response: { 200: Me, ...errors(401, 403) } } }, async (request) => {
      if (request.session?.principal === 'operator') {
        const op = await requireOperator(ctx, request);
        return { principal: 'operator' as const, operator: { id: op.id, email: op.email, name: op.name } };
      }
      if (!request.session) throw unauthorized();
      const { user, firm } = await requireUser(ctx, request);
      return {
        principal: 'user' as const,
        user: {
          id: user.id,
          email: user.email,
          name: user.name,
          kind: user.kind,
          isSuperuser: user.is_superuser === 1,
          firm: { id: firm.id, name: firm.name, slug: firm.slug },
        },
      };
    });
  };

async function login(
  ctx: AppContext,
  realm: 'firm' | 'operator',
  request: FastifyRequest,
  reply: FastifyReply,
  body: { email: string; password: string; firm?: string },
) {
  const old = sessionToken(ctx, request);
  const actor = actorOf(request);
  // The core decides (src/core/password-step.ts); the web door holds the login as its session, made
  // in the same transaction: pending (second factor, enrollment) for a short while, or full.
  const { accepted, held: token } = await passwordStep(
    ctx,
    { realm, email: body.email, password: body.password, firmSlug: body.firm, actor, rememberToken: request.cookies[rememberCookieName(ctx)], door: 'web' },
    async (tx, { subject, stage, bypassed }) => {
      const pending = stage !== 'full';
      const token = await createSession(ctx, tx, {
        principal: subject.type,
        operatorId: subject.type === 'operator' ? subject.id : null,
        userId: subject.type === 'user' ? subject.id : null,
        firmId: subject.firmId,
        stage,
        lifetimeMs: pending ? PENDING_LOGIN_MS : undefined,
        // Signed in on the password alone (not covered, the no-seat bypass, a remembered browser): `pwd`.
        amr: pending ? null : amrOf(['password']),
        mfaBypassed: !pending && bypassed,
        ip: actor.ip,
        userAgent: actor.userAgent,
      });
      const session = await tx.selectFrom('sessions').select(['id', 'expires_at']).where('id', '=', hashToken(token)).executeTakeFirstOrThrow();
      return { value: token, sessionId: session.id, expiresAt: Number(session.expires_at) };
    },
  );
  // A new token at every login: a session fixed before login is worth nothing after it.
  if (old) await deleteSession(ctx.db, old);
  setSessionCookie(ctx, reply, token);
  const notice: LoginNotice | undefined = accepted.bypassed ? 'mfa_bypassed_no_seat' : undefined;
  return { principal: accepted.subject.type, next: NEXT_OF_STAGE[accepted.stage], ...(notice ? { notice } : {}) };
}

const EnrollLinkBody = Type.Object({ token: Type.String({ minLength: 20, maxLength: 100, pattern: '^[A-Za-z0-9_-]+$' }) }, { additionalProperties: false });

/**
 * An application's one-time enrollment link (a Duo preauth's `enroll_portal_url`, 10 minutes,
 * single use) stands in for the password step: the application checked the user's primary
 * credentials and, through its signed call, names the user, as Duo's enrollment portal trusts it.
 * It opens only a pending login at the enrollment step, and only while the core still decides
 * "enrol now" (covered, not enrolled, a seat free); its attempt is the Duo door's (door `duo`,
 * with the application), so the enrollment's completion deletes the pending session and gives NO
 * Tessera session (src/mfa/pending-login.ts enrollmentHold): the user goes back to the
 * application and signs in there again, as after Duo's own enrollment portal. The link stands in
 * for the password only for the enrollment, never for a login. Anything else: 410 LINK_INVALID,
 * and the link stays unused.
 */
async function enrollLinkLogin(ctx: AppContext, request: FastifyRequest, reply: FastifyReply, linkToken: string) {
  const old = sessionToken(ctx, request);
  const actor = actorOf(request);
  const token = await ctx.db.transaction().execute(async (tx) => {
    const now = ctx.clock.now();
    const link = await consumeEnrollLink(tx, linkToken, now);
    if (!link) throw linkInvalid();
    const user = await tx.selectFrom('users').selectAll().where('id', '=', link.userId).where('firm_id', '=', link.firmId).executeTakeFirst();
    if (!user || !isActiveUser(user) || (await decideAfterPassword(ctx, tx, user, undefined)).verdict !== 'enroll') throw linkInvalid();
    const token = await createSession(ctx, tx, {
      principal: 'user',
      operatorId: null,
      userId: user.id,
      firmId: user.firm_id,
      stage: 'enroll',
      lifetimeMs: PENDING_LOGIN_MS,
      ip: actor.ip,
      userAgent: actor.userAgent,
    });
    const session = await tx.selectFrom('sessions').select(['id', 'expires_at']).where('id', '=', hashToken(token)).executeTakeFirstOrThrow();
    // Door duo: the login is the application's (core/login-attempt.ts enrollsOnly), so its completion signs in nowhere.
    await openAttempt(ctx, tx, { owner: user, stage: 'enroll', door: 'duo', applicationId: link.applicationId, sessionId: session.id, expiresAt: Number(session.expires_at) });
    await audit(tx, now, { ...actor, type: 'user', id: user.id, firmId: user.firm_id }, { event: 'login.enroll_link_used', subjectType: 'user', subjectId: user.id, applicationId: link.applicationId, details: { next: 'enroll' } });
    return token;
  });
  if (old) await deleteSession(ctx.db, old);
  setSessionCookie(ctx, reply, token);
  return { principal: 'user' as const, next: 'enroll' as const };
}

/** Where the user goes next: the homepage, or the second-factor or enrollment screen. */
const NEXT_OF_STAGE = { full: 'home', second_factor: 'second_factor', enroll: 'enroll' } as const;
