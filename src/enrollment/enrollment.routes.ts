import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../context.js';
import { USER_KINDS } from '../directory/user.table.js';
import { notFound } from '../core/errors.js';
import { actorOf, requireSuperuser } from '../http/auth.js';
import { Page, PageQuery, errors, literals } from '../http/schemas.js';
import { isEnrolled } from '../core/enrolled.js';
import { listEnrolled } from './enrolled-users.service.js';
import { resetEnrollment } from '../core/enrollment-reset.js';
import { AuthenticatorKindSchema } from '../factors/factor.schemas.js';

export const EnrolledUserSchema = Type.Object({
  userId: Type.String(),
  name: Type.String(),
  email: Type.String(),
  kind: literals(USER_KINDS),
  organisation: Type.String({ description: "The user's corporation, or the firm for staff" }),
  methods: Type.Array(AuthenticatorKindSchema, { description: 'Distinct kinds of active authenticators, sorted' }),
  phones: Type.Array(Type.String(), { description: 'E.164 phone numbers of active authenticators that have one, sorted' }),
  enrolledAt: Type.Integer({ description: 'When the seat was taken (epoch ms)' }),
  lastUsedAt: Type.Union([Type.Integer(), Type.Null()], { description: 'Latest use of any authenticator (epoch ms)' }),
});

const UserIdParams = Type.Object({ userId: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });

/**
 * Enrolled Users (A.2.5) and Reset MFA Enrollment (A.2.6), superusers only. Scoped by the
 * superuser's firm: a user of another firm answers 404, as if it did not exist.
 */
export const enrollmentRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['firm admin'];

    app.get(
      '/admin/mfa/enrolled',
      {
        schema: {
          tags,
          summary: 'Enrolled users (holding a seat), searchable by name, email or organisation',
          querystring: Type.Object(PageQuery, { additionalProperties: false }),
          response: { 200: Page(EnrolledUserSchema), ...errors(400, 401, 403) },
        },
      },
      async (request) => {
        const { firm } = await requireSuperuser(ctx, request);
        return listEnrolled(ctx.db, firm.id, request.query);
      },
    );

    app.post(
      '/admin/mfa/enrolled/:userId/reset',
      {
        schema: {
          tags,
          summary: "Reset a user's MFA enrollment: removes every authenticator, frees the seat, ends their sessions, mails them",
          params: UserIdParams,
          response: { 204: Type.Null(), ...errors(401, 403, 404) },
        },
      },
      async (request, reply) => {
        const { user, firm } = await requireSuperuser(ctx, request);
        const actor = { ...actorOf(request), id: user.id, firmId: firm.id };
        const { userId } = request.params;
        await ctx.db.transaction().execute(async (tx) => {
          if (!(await isEnrolled(tx, { id: userId, firm_id: firm.id }))) throw notFound('Enrolled user');
          // False when a concurrent reset got there first; throwing rolls back its session deletion too.
          if (!(await resetEnrollment(ctx, tx, actor, { id: userId, firm_id: firm.id }, 'admin_reset'))) throw notFound('Enrolled user');
        });
        return reply.status(204).send(null);
      },
    );
  };
