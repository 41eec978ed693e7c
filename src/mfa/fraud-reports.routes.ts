import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../context.js';
import { requireSuperuser } from '../http/auth.js';
import { Page, PageQuery, errors } from '../http/schemas.js';
import { listFraudReports } from '../factors/push/fraud-reports.service.js';

export const FraudReportSchema = Type.Object({
  id: Type.String({ description: 'The push request reported' }),
  userId: Type.String(),
  userName: Type.String(),
  email: Type.String(),
  reportedAt: Type.Integer({ description: 'When the user answered "It seemed fraudulent" (epoch ms)' }),
  ip: Type.Union([Type.String(), Type.Null()], { description: 'IP address of the login that asked for the push' }),
  browser: Type.String(),
  os: Type.String(),
});

/**
 * Fraud reports (issue 5.6): the pushes the firm's users denied as "It seemed fraudulent",
 * newest first, superusers only, scoped by the superuser's firm.
 */
export const fraudReportRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/admin/mfa/fraud-reports',
      {
        schema: {
          tags: ['firm admin'],
          summary: 'Push requests reported as fraudulent by the firm\'s users, newest first',
          querystring: Type.Object({ page: PageQuery.page, pageSize: PageQuery.pageSize }, { additionalProperties: false }),
          response: { 200: Page(FraudReportSchema), ...errors(400, 401, 403) },
        },
      },
      async (request) => {
        const { firm } = await requireSuperuser(ctx, request);
        return listFraudReports(ctx.db, firm.id, request.query);
      },
    );
  };
