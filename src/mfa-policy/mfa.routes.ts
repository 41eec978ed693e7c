import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { requireFirmAdmin } from '../http/auth.js';
import { errors } from '../http/schemas.js';
import { addMfaCorporation, changeMfaCorporation, removeMfaCorporation, updateConfiguration } from './mfa-config.service.js';
import { getMfaOverview } from './mfa-overview.service.js';
import { loginsPerApplication, LoginsPerApplicationSchema, LoginPeriodQuery } from '../applications/application-logins.service.js';
import { mfaLoginPolicyRoutes } from './mfa-login-policy.routes.js';
import { previewMfaChange } from './mfa-preview.service.js';
import { AddCorporationBody, ConfigurationBody, CorporationParams, CorporationSwitchesBody, MfaChangeBody, MfaChangePreviewSchema, MfaOverviewSchema } from './mfa.schemas.js';

/**
 * The MFA page of a firm (reference A.2), superusers only. Every answer is the whole
 * overview, read in the transaction of the change, so the page redraws from one response.
 */
export const mfaRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['firm admin: MFA'];
    // GET/PUT /admin/mfa/policy: the login policy (lockout, remembered browsers).
    await app.register(mfaLoginPolicyRoutes(ctx));
    const admin = (request: FastifyRequest) => requireFirmAdmin(ctx, request);

    app.get(
      '/admin/mfa',
      { schema: { tags, summary: 'Subscription plan, configuration, counters and usage', response: { 200: MfaOverviewSchema, ...errors(401, 403) } } },
      async (request) => getMfaOverview(ctx, ctx.db, (await admin(request)).firmId),
    );

    app.get(
      '/admin/mfa/logins',
      {
        schema: {
          tags,
          summary: "Usage: logins per application (and Tessera's own sign-in) in the last 7, 30 or 90 days, with a second factor and on the no-seat bypass",
          querystring: LoginPeriodQuery,
          response: { 200: LoginsPerApplicationSchema, ...errors(400, 401, 403) },
        },
      },
      async (request) => loginsPerApplication(ctx, ctx.db, (await admin(request)).firmId, request.query.days),
    );

    app.post(
      '/admin/mfa/preview',
      {
        schema: {
          tags,
          summary: 'What a change of the configuration would do (users brought under MFA or taken out, who is mailed), without making it',
          body: MfaChangeBody,
          response: { 200: MfaChangePreviewSchema, ...errors(400, 401, 403, 404, 409) },
        },
      },
      async (request) => {
        const { firmId, actor } = await admin(request);
        return previewMfaChange(ctx, actor, firmId, request.body);
      },
    );

    app.put(
      '/admin/mfa/configuration',
      {
        schema: {
          tags,
          summary: 'Set who is MFA-enabled: case managers, vendor case managers, and the corporation scope with its switches',
          body: ConfigurationBody,
          response: { 200: MfaOverviewSchema, ...errors(400, 401, 403, 409) },
        },
      },
      async (request) => {
        const { firmId, actor } = await admin(request);
        return ctx.db.transaction().execute(async (tx) => {
          await updateConfiguration(ctx, tx, actor, firmId, request.body);
          return getMfaOverview(ctx, tx, firmId);
        });
      },
    );

    app.post(
      '/admin/mfa/corporations',
      {
        schema: {
          tags,
          summary: 'Add a corporation to the "specific corporations" list',
          body: AddCorporationBody,
          response: { 201: MfaOverviewSchema, ...errors(400, 401, 403, 409) },
        },
      },
      async (request, reply) => {
        const { firmId, actor } = await admin(request);
        const overview = await ctx.db.transaction().execute(async (tx) => {
          await addMfaCorporation(ctx, tx, actor, firmId, request.body);
          return getMfaOverview(ctx, tx, firmId);
        });
        return reply.status(201).send(overview);
      },
    );

    app.patch(
      '/admin/mfa/corporations/:corporationId',
      {
        schema: {
          tags,
          summary: 'Turn MFA on or off for the corp users / foreign nationals of a listed corporation',
          params: CorporationParams,
          body: CorporationSwitchesBody,
          response: { 200: MfaOverviewSchema, ...errors(400, 401, 403, 404, 409) },
        },
      },
      async (request) => {
        const { firmId, actor } = await admin(request);
        return ctx.db.transaction().execute(async (tx) => {
          await changeMfaCorporation(ctx, tx, actor, firmId, request.params.corporationId, request.body);
          return getMfaOverview(ctx, tx, firmId);
        });
      },
    );

    app.delete(
      '/admin/mfa/corporations/:corporationId',
      {
        schema: {
          tags,
          summary: 'Remove a corporation from the "specific corporations" list',
          params: CorporationParams,
          response: { 200: MfaOverviewSchema, ...errors(400, 401, 403, 404, 409) },
        },
      },
      async (request) => {
        const { firmId, actor } = await admin(request);
        return ctx.db.transaction().execute(async (tx) => {
          await removeMfaCorporation(ctx, tx, actor, firmId, request.params.corporationId);
          return getMfaOverview(ctx, tx, firmId);
        });
      },
    );
  };
