import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { listAuditEvents } from '../audit/audit-log.service.js';
import { AuditPageSchema } from '../audit/audit.routes.js';
import type { AppContext } from '../context.js';
import { requireFirmAdmin } from '../http/auth.js';
import { IdParams, Page, errors } from '../http/schemas.js';
import {
  createApplication,
  deleteApplication,
  getApplication,
  listApplications,
  rotateApplicationSecret,
  setApplicationStatus,
  updateApplication,
} from './application.service.js';
import { applicationLogins, ApplicationLoginsSchema, LoginPeriodQuery } from './application-logins.service.js';
import { ApplicationListQuery, ApplicationPatchBody, ApplicationViewSchema, ApplicationWithSecretSchema, NewApplicationBody, RotateSecretBody } from './application.schemas.js';

/**
 * /api/v1/admin/applications: the firm's applications (superusers only). Every query is scoped
 * by the superuser's firm: another firm's application answers 404, as an unknown id does.
 * Secrets appear only in the answers of creation and rotation.
 */
export const applicationRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['firm admin'];
    const admin = (request: FastifyRequest) => requireFirmAdmin(ctx, request);

    app.get(
      '/admin/applications',
      {
        schema: {
          tags,
          summary: 'Applications of the firm, by name; q matches the name or is a client id / integration key',
          querystring: ApplicationListQuery,
          response: { 200: Page(ApplicationViewSchema), ...errors(400, 401, 403) },
        },
      },
      async (request) => listApplications(ctx, ctx.db, (await admin(request)).firmId, request.query),
    );

    app.post(
      '/admin/applications',
      {
        schema: {
          tags,
          summary: 'Register an application; the answer holds its secret, shown this once',
          body: NewApplicationBody,
          response: { 201: ApplicationWithSecretSchema, ...errors(400, 401, 403, 409) },
        },
      },
      async (request, reply) => {
        const { firmId, actor } = await admin(request);
        const created = await ctx.db.transaction().execute((tx) => createApplication(ctx, tx, actor, firmId, request.body));
        return reply.status(201).send(created);
      },
    );

    app.get(
      '/admin/applications/:id',
      { schema: { tags, params: IdParams, response: { 200: ApplicationViewSchema, ...errors(400, 401, 403, 404) } } },
      async (request) => getApplication(ctx, ctx.db, (await admin(request)).firmId, request.params.id),
    );

    app.patch(
      '/admin/applications/:id',
      {
        schema: {
          tags,
          summary: 'Change an application: name, redirect URIs, who may sign in, new user policy, token endpoint authentication',
          params: IdParams,
          body: ApplicationPatchBody,
          response: { 200: ApplicationViewSchema, ...errors(400, 401, 403, 404, 409) },
        },
      },
      async (request) => {
        const { firmId, actor } = await admin(request);
        return ctx.db.transaction().execute((tx) => updateApplication(ctx, tx, actor, firmId, request.params.id, request.body));
      },
    );

    app.delete(
      '/admin/applications/:id',
      { schema: { tags, summary: 'Delete an application for good, with its keys', params: IdParams, response: { 204: Type.Null(), ...errors(400, 401, 403, 404) } } },
      async (request, reply) => {
        const { firmId, actor } = await admin(request);
        await ctx.db.transaction().execute((tx) => deleteApplication(ctx, tx, actor, firmId, request.params.id));
        return reply.status(204).send(null);
      },
    );

    for (const [action, status] of [
      ['disable', 'disabled'],
      ['enable', 'active'],
    ] as const) {
      app.post(
        `/admin/applications/:id/${action}`,
        {
          schema: {
            tags,
            summary: action === 'disable' ? 'Disable an application: nobody signs in through it until it is enabled again' : 'Enable a disabled application',
            params: IdParams,
            response: { 200: ApplicationViewSchema, ...errors(400, 401, 403, 404) },
          },
        },
        async (request) => {
          const { firmId, actor } = await admin(request);
          return ctx.db.transaction().execute((tx) => setApplicationStatus(ctx, tx, actor, firmId, request.params.id, status));
        },
      );
    }

    app.post(
      '/admin/applications/:id/rotate-secret',
      {
        schema: {
          tags,
          summary: 'A new client secret or secret key, shown this once; the current one keeps working for the grace period chosen',
          params: IdParams,
          body: RotateSecretBody,
          response: { 200: ApplicationWithSecretSchema, ...errors(400, 401, 403, 404, 409) },
        },
      },
      async (request) => {
        const { firmId, actor } = await admin(request);
        return ctx.db.transaction().execute((tx) => rotateApplicationSecret(ctx, tx, actor, firmId, request.params.id, request.body.grace));
      },
    );

    app.get(
      '/admin/applications/:id/calls',
      {
        schema: {
          tags,
          summary: "The newest sign-ins and calls through the application, from the audit log (its own administration left out)",
          params: IdParams,
          response: { 200: AuditPageSchema, ...errors(400, 401, 403, 404) },
        },
      },
      async (request) => {
        const { firmId } = await admin(request);
        // 404 for an id of another firm, as on every route here, even though the log is scoped anyway.
        const application = await getApplication(ctx, ctx.db, firmId, request.params.id);
        return listAuditEvents(ctx.db, { kind: 'firm', firmId }, { applicationId: application.id, excludeCategories: ['administration'], page: 1, pageSize: 20 });
      },
    );

    app.get(
      '/admin/applications/:id/logins',
      {
        schema: {
          tags,
          summary: 'How many logins the application completed in the last days, with a second factor and on the no-seat bypass',
          params: IdParams,
          querystring: LoginPeriodQuery,
          response: { 200: ApplicationLoginsSchema, ...errors(400, 401, 403, 404) },
        },
      },
      async (request) => {
        const { firmId } = await admin(request);
        const application = await getApplication(ctx, ctx.db, firmId, request.params.id);
        return applicationLogins(ctx, ctx.db, firmId, application.id, request.query.days);
      },
    );
  };
