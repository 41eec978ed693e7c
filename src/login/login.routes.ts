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
import { rememberCookieName } from './remembered-browsers.js';
import { PASSWORD_MAX } from '../core/passwords.js';

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

    app.post('/logout', { schema: { tags: ['session'], response: { 204: Type.Null(), ...errors(403) } } }, async (request, reply) => {
      const token = sessionToken(ctx, request);
      if (token) {
        await deleteSession(ctx.db, token);
        if (request.session) await audit(ctx.db, ctx.clock.now(), actorOf(request), { event: 'logout' });
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
    async (tx, { subject, stage }) => {
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

/** Where the user goes next: the homepage, or the second-factor or enrollment screen. */
const NEXT_OF_STAGE = { full: 'home', second_factor: 'second_factor', enroll: 'enroll' } as const;
