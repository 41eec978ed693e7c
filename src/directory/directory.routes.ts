import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { audit } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import { requireFirmAdmin } from '../http/auth.js';
import { IdParams, Page, PageQuery, errors } from '../http/schemas.js';
import { createCorporation, deleteCorporation, getCorporation, listCorporations, renameCorporation } from './corporation.service.js';
import { CorporationBody, CorporationViewSchema, NewUserBody, UserKind, UserPatchBody, UserViewSchema } from './directory.schemas.js';
import { createUser, deleteUser, getUser, getUserView, listUsers, mailPasswordLink, unlockMfa, updateUser } from './user.service.js';

/**
 * The firm administration API (superusers only). Every query is scoped by the firm of
 * the logged-in superuser: an id from another firm answers 404, as if it did not exist.
 */
export const directoryRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['firm admin'];
    const admin = (request: FastifyRequest) => requireFirmAdmin(ctx, request);

    app.get(
      '/admin/users',
      {
        schema: {
          tags,
          summary: 'Users of the firm, searchable by name, email or corporation',
          querystring: Type.Object({ ...PageQuery, kind: Type.Optional(UserKind) }, { additionalProperties: false }),
          response: { 200: Page(UserViewSchema), ...errors(400, 401, 403) },
        },
      },
      async (request) => listUsers(ctx.db, (await admin(request)).firmId, request.query, ctx.clock.now()),
    );

    app.post(
      '/admin/users',
      { schema: { tags, summary: 'Create a user and mail a set-password link', body: NewUserBody, response: { 201: UserViewSchema, ...errors(400, 401, 403, 409) } } },
      async (request, reply) => {
        const { firmId, actor } = await admin(request);
        const view = await ctx.db.transaction().execute((tx) => createUser(ctx, tx, actor, firmId, request.body));
        return reply.status(201).send(view);
      },
    );

    app.get(
      '/admin/users/:id',
      { schema: { tags, params: IdParams, response: { 200: UserViewSchema, ...errors(401, 403, 404) } } },
      async (request) => getUserView(ctx.db, (await admin(request)).firmId, request.params.id, ctx.clock.now()),
    );

    app.patch(
      '/admin/users/:id',
      {
        schema: {
          tags,
          summary: 'Edit a user: name, email, superuser, status (staff), portal access and record (corporation users), corporation',
          params: IdParams,
          body: UserPatchBody,
          response: { 200: UserViewSchema, ...errors(400, 401, 403, 404, 409) },
        },
      },
      async (request) => {
        const { firmId, actor } = await admin(request);
        return ctx.db.transaction().execute((tx) => updateUser(ctx, tx, actor, firmId, request.params.id, request.body));
      },
    );

    app.delete(
      '/admin/users/:id',
      { schema: { tags, params: IdParams, response: { 204: Type.Null(), ...errors(401, 403, 404, 409) } } },
      async (request, reply) => {
        const { firmId, actor } = await admin(request);
        await ctx.db.transaction().execute((tx) => deleteUser(ctx, tx, actor, firmId, request.params.id));
        return reply.status(204).send(null);
      },
    );

    app.post(
      '/admin/users/:id/password-link',
      { schema: { tags, summary: 'Mail the user a new set-password link', params: IdParams, response: { 204: Type.Null(), ...errors(401, 403, 404) } } },
      async (request, reply) => {
        const { firmId, actor } = await admin(request);
        await ctx.db.transaction().execute(async (tx) => {
          const user = await getUser(tx, firmId, request.params.id);
          await mailPasswordLink(ctx, tx, user);
          await audit(tx, ctx.clock.now(), actor, { event: 'user.password_link_sent', subjectType: 'user', subjectId: user.id });
        });
        return reply.status(204).send(null);
      },
    );

    app.post(
      '/admin/users/:id/mfa-unlock',
      {
        schema: {
          tags,
          summary: "Unlock a user's second factor after too many failed attempts (the count starts again)",
          params: IdParams,
          response: { 204: Type.Null(), ...errors(401, 403, 404) },
        },
      },
      async (request, reply) => {
        const { firmId, actor } = await admin(request);
        await ctx.db.transaction().execute((tx) => unlockMfa(ctx, tx, actor, firmId, request.params.id));
        return reply.status(204).send(null);
      },
    );

    app.get(
      '/admin/corporations',
      {
        schema: {
          tags,
          querystring: Type.Object(PageQuery, { additionalProperties: false }),
          response: { 200: Page(CorporationViewSchema), ...errors(400, 401, 403) },
        },
      },
      async (request) => listCorporations(ctx.db, (await admin(request)).firmId, request.query),
    );

    app.post(
      '/admin/corporations',
      { schema: { tags, body: CorporationBody, response: { 201: CorporationViewSchema, ...errors(400, 401, 403, 409) } } },
      async (request, reply) => {
        const { firmId, actor } = await admin(request);
        const view = await ctx.db.transaction().execute((tx) => createCorporation(ctx, tx, actor, firmId, request.body.name));
        return reply.status(201).send(view);
      },
    );

    app.get(
      '/admin/corporations/:id',
      { schema: { tags, params: IdParams, response: { 200: CorporationViewSchema, ...errors(401, 403, 404) } } },
      async (request) => getCorporation(ctx.db, (await admin(request)).firmId, request.params.id),
    );

    app.patch(
      '/admin/corporations/:id',
      { schema: { tags, params: IdParams, body: CorporationBody, response: { 200: CorporationViewSchema, ...errors(400, 401, 403, 404, 409) } } },
      async (request) => {
        const { firmId, actor } = await admin(request);
        return ctx.db.transaction().execute((tx) => renameCorporation(ctx, tx, actor, firmId, request.params.id, request.body.name));
      },
    );

    app.delete(
      '/admin/corporations/:id',
      { schema: { tags, params: IdParams, response: { 204: Type.Null(), ...errors(401, 403, 404, 409) } } },
      async (request, reply) => {
        const { firmId, actor } = await admin(request);
        await ctx.db.transaction().execute((tx) => deleteCorporation(ctx, tx, actor, firmId, request.params.id));
        return reply.status(204).send(null);
      },
    );
  };
