import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import { actorOf, requireFirmAdmin, requireOperator } from '../http/auth.js';
import { Page, PageQuery, errors } from '../http/schemas.js';
import { getMfaOverview } from '../mfa-policy/mfa-overview.service.js';
import { MfaOverviewSchema, SubscriptionStateSchema } from '../mfa-policy/mfa.schemas.js';
import {
  activateSubscription,
  cancelSubscription,
  declineLicenceRequest,
  declineSubscription,
  listFirmFeatures,
  listSubscriptions,
  MFA_FEATURE,
  pendingRequests,
  requestLicences,
  requestSubscription,
  suspendSubscription,
} from './subscription.service.js';

/** A stored subscription is never "not_subscribed": that is the absence of a row. */
const RowState = Type.Union([Type.Literal('requested'), Type.Literal('active'), Type.Literal('suspended'), Type.Literal('cancelled')]);

const IntOrNull = Type.Union([Type.Integer(), Type.Null()]);

const SubscriptionItemSchema = Type.Object({
  firmId: Type.String(),
  firmName: Type.String(),
  firmSlug: Type.String(),
  state: RowState,
  planName: Type.Union([Type.String(), Type.Null()]),
  licenceCount: Type.Integer(),
  seatsUsed: Type.Integer(),
  startsAt: IntOrNull,
  endsAt: IntOrNull,
  requestedAt: Type.Integer(),
  activatedAt: IntOrNull,
  requestedLicences: IntOrNull,
});

const FeaturesSchema = Type.Object({
  categories: Type.Array(
    Type.Object({
      name: Type.String(),
      features: Type.Array(
        Type.Object({
          // The features there are (one today): each is subscribed to at POST /admin/subscriptions/<key>.
          key: Type.Literal(MFA_FEATURE.key),
          name: Type.String(),
          description: Type.String(),
          state: SubscriptionStateSchema,
        }),
      ),
    }),
  ),
});

/** A number of licences: at least one, and no absurd figure (a typo of a few zeros). */
const LicenceCount = Type.Integer({ minimum: 1, maximum: 1_000_000 });
/** Epoch milliseconds, within the range a JavaScript Date can hold. */
const Instant = Type.Union([Type.Integer({ minimum: 0, maximum: 8_640_000_000_000_000 }), Type.Null()]);

const LicenceRequestBody = Type.Object({ licences: LicenceCount }, { additionalProperties: false });

const ActivationBody = Type.Object(
  {
    planName: Type.String({ minLength: 1, maxLength: 100, pattern: '\\S' }),
    licenceCount: LicenceCount,
    startsAt: Type.Optional(Instant),
    endsAt: Type.Optional(Instant),
  },
  { additionalProperties: false },
);

const FirmParams = Type.Object({ firmId: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });

/** Subscriptions (reference A.1): the firm's Setup > Subscriptions side, and the operator's console side. */
export const subscriptionRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    const admin = (request: FastifyRequest) => requireFirmAdmin(ctx, request);
    const operator = async (request: FastifyRequest): Promise<Actor> => {
      const op = await requireOperator(ctx, request);
      return { ...actorOf(request), type: 'operator', id: op.id, firmId: null };
    };

    // ------------------------------------------------------------ firm admin
    const firmTags = ['firm admin'];

    app.get(
      '/admin/subscriptions',
      { schema: { tags: firmTags, summary: 'Features the firm can subscribe to, by category, with their state', response: { 200: FeaturesSchema, ...errors(401, 403) } } },
      async (request) => listFirmFeatures(ctx.db, (await admin(request)).firmId),
    );

    app.post(
      '/admin/subscriptions/mfa',
      {
        schema: {
          tags: firmTags,
          summary: 'Subscribe to MFA: records a request for the operator to activate',
          response: { 201: Type.Object({ state: Type.Literal('requested') }), ...errors(401, 403, 409) },
        },
      },
      async (request, reply) => {
        const { firmId, actor } = await admin(request);
        const result = await ctx.db.transaction().execute((tx) => requestSubscription(ctx, tx, actor, firmId));
        return reply.status(201).send(result);
      },
    );

    app.post(
      '/admin/mfa/licence-request',
      {
        schema: {
          tags: firmTags,
          summary: 'Ask the operator for more MFA licences (the new total)',
          body: LicenceRequestBody,
          response: { 200: MfaOverviewSchema, ...errors(400, 401, 403, 409) },
        },
      },
      async (request) => {
        const { firmId, actor } = await admin(request);
        return ctx.db.transaction().execute(async (tx) => {
          await requestLicences(ctx, tx, actor, firmId, request.body.licences);
          return getMfaOverview(ctx, tx, firmId);
        });
      },
    );

    // ------------------------------------------------------------ operator
    const tags = ['operator'];

    app.get(
      '/operator/subscriptions',
      {
        schema: {
          tags,
          summary: 'Subscriptions of all firms: pending requests (to subscribe, or for more licences) first, then by firm name',
          querystring: Type.Object({ ...PageQuery, state: Type.Optional(RowState) }, { additionalProperties: false }),
          response: { 200: Page(SubscriptionItemSchema), ...errors(400, 401, 403) },
        },
      },
      async (request) => {
        await operator(request);
        return listSubscriptions(ctx.db, request.query);
      },
    );

    app.get(
      '/operator/subscriptions/pending',
      {
        schema: {
          tags,
          summary: 'How many requests wait for an answer: to subscribe, and for more licences (the console shows the count)',
          response: { 200: Type.Object({ subscriptions: Type.Integer(), licences: Type.Integer() }), ...errors(401, 403) },
        },
      },
      async (request) => {
        await operator(request);
        return pendingRequests(ctx.db);
      },
    );

    app.post(
      '/operator/subscriptions/:firmId/activate',
      {
        schema: {
          tags,
          summary: 'Activate (or, when active, change) a subscription: plan, licence count, optional dates. Approves a pending licence request.',
          params: FirmParams,
          body: ActivationBody,
          response: { 200: SubscriptionItemSchema, ...errors(400, 401, 403, 404, 409) },
        },
      },
      async (request) => {
        const actor = await operator(request);
        return ctx.db.transaction().execute((tx) => activateSubscription(ctx, tx, actor, request.params.firmId, request.body));
      },
    );

    app.post(
      '/operator/subscriptions/:firmId/decline',
      { schema: { tags, summary: 'Decline a request to subscribe', params: FirmParams, response: { 204: Type.Null(), ...errors(401, 403, 404, 409) } } },
      async (request, reply) => {
        const actor = await operator(request);
        await ctx.db.transaction().execute((tx) => declineSubscription(ctx, tx, actor, request.params.firmId));
        return reply.status(204).send(null);
      },
    );

    app.post(
      '/operator/subscriptions/:firmId/licence-request/decline',
      {
        schema: { tags, summary: 'Decline a pending request for more licences', params: FirmParams, response: { 200: SubscriptionItemSchema, ...errors(401, 403, 404, 409) } },
      },
      async (request) => {
        const actor = await operator(request);
        return ctx.db.transaction().execute((tx) => declineLicenceRequest(ctx, tx, actor, request.params.firmId));
      },
    );

    app.post(
      '/operator/subscriptions/:firmId/suspend',
      { schema: { tags, summary: 'Suspend an active subscription', params: FirmParams, response: { 200: SubscriptionItemSchema, ...errors(401, 403, 404, 409) } } },
      async (request) => {
        const actor = await operator(request);
        return ctx.db.transaction().execute((tx) => suspendSubscription(ctx, tx, actor, request.params.firmId));
      },
    );

    app.post(
      '/operator/subscriptions/:firmId/cancel',
      { schema: { tags, summary: 'Cancel a subscription (requested, active or suspended)', params: FirmParams, response: { 200: SubscriptionItemSchema, ...errors(401, 403, 404, 409) } } },
      async (request) => {
        const actor = await operator(request);
        return ctx.db.transaction().execute((tx) => cancelSubscription(ctx, tx, actor, request.params.firmId));
      },
    );
  };
