import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../context.js';
import { UserViewSchema } from '../directory/directory.schemas.js';
import { SLUG_PATTERN, createFirm, listFirms } from '../firms/firm.service.js';
import { actorOf, requireOperator } from '../http/auth.js';
import { Email, IdParams, Name, Page, PageQuery, errors } from '../http/schemas.js';
import { listOperators, resetOperatorFactors } from './operator-mfa.service.js';

const FirmViewSchema = Type.Object({ id: Type.String(), slug: Type.String(), name: Type.String(), createdAt: Type.Integer(), userCount: Type.Integer(), applicationCount: Type.Integer() });

const NewFirmBody = Type.Object(
  {
    name: Name,
    slug: Type.String({ pattern: SLUG_PATTERN, maxLength: 63, description: 'Short name: lower-case letters, digits and dashes' }),
    superuser: Type.Object({ name: Name, email: Email }, { additionalProperties: false }),
  },
  { additionalProperties: false },
);

const OutboxItem = Type.Object({
  id: Type.String(),
  to: Type.String(),
  subject: Type.String(),
  status: Type.String(),
  link: Type.Union([Type.String(), Type.Null()]),
  textBody: Type.String(),
  createdAt: Type.Integer(),
});

const OperatorViewSchema = Type.Object({
  id: Type.String(),
  email: Type.String(),
  name: Type.String(),
  status: Type.Union([Type.Literal('active'), Type.Literal('disabled')]),
  enrolled: Type.Boolean(),
  authenticators: Type.Integer(),
  lockedUntil: Type.Union([Type.Integer(), Type.Null()]),
  createdAt: Type.Integer(),
});

/** The operator console API: firms, the outbox of the embedded mail mode, and the operators' second factors. */
export const operatorRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['operator'];

    app.get(
      '/operator/firms',
      {
        schema: { tags, querystring: Type.Object(PageQuery, { additionalProperties: false }), response: { 200: Page(FirmViewSchema), ...errors(400, 401, 403) } },
      },
      async (request) => {
        await requireOperator(ctx, request);
        return listFirms(ctx.db, request.query);
      },
    );

    app.post(
      '/operator/firms',
      {
        schema: {
          tags,
          summary: 'Create a firm with its first superuser (mailed a set-password link)',
          body: NewFirmBody,
          response: { 201: Type.Object({ firm: FirmViewSchema, superuser: UserViewSchema }), ...errors(400, 401, 403, 409) },
        },
      },
      async (request, reply) => {
        const op = await requireOperator(ctx, request);
        const actor = { ...actorOf(request), type: 'operator' as const, id: op.id };
        const result = await ctx.db.transaction().execute((tx) => createFirm(ctx, tx, actor, request.body));
        return reply.status(201).send(result);
      },
    );

    app.get(
      '/operator/operators',
      { schema: { tags, summary: 'Every operator, with the state of their second factor', response: { 200: Type.Object({ items: Type.Array(OperatorViewSchema) }), ...errors(401, 403) } } },
      async (request) => {
        await requireOperator(ctx, request);
        return { items: await listOperators(ctx, ctx.db) };
      },
    );

    app.post(
      '/operator/operators/:id/mfa-reset',
      {
        schema: {
          tags,
          summary: "Reset another operator's second factor (lost phone or key): they enrol again at their next login",
          params: IdParams,
          response: { 204: Type.Null(), ...errors(400, 401, 403, 404, 409) },
        },
      },
      async (request, reply) => {
        const op = await requireOperator(ctx, request);
        const actor = { ...actorOf(request), type: 'operator' as const, id: op.id };
        await ctx.db.transaction().execute((tx) => resetOperatorFactors(ctx, tx, actor, request.params.id));
        return reply.status(204).send(null);
      },
    );

    app.get(
      '/operator/outbox',
      {
        schema: {
          tags,
          summary: 'Mails, newest first. In embedded mode (no SMTP) they are kept here with their links, for the operator to pass on; with SMTP only the envelope is shown.',
          querystring: Type.Object({ page: PageQuery.page, pageSize: PageQuery.pageSize }, { additionalProperties: false }),
          response: { 200: Page(OutboxItem), ...errors(400, 401, 403) },
        },
      },
      async (request) => {
        await requireOperator(ctx, request);
        const page = request.query.page ?? 1;
        const pageSize = request.query.pageSize ?? 20;
        const { total } = await ctx.db.selectFrom('mail_outbox').select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow();
        const rows = await ctx.db
          .selectFrom('mail_outbox')
          .selectAll()
          .orderBy('created_at', 'desc')
          .orderBy('id')
          .limit(pageSize)
          .offset((page - 1) * pageSize)
          .execute();
        // With real SMTP the mails reach their recipients; their links and bodies are theirs alone.
        const embedded = ctx.config.smtpUrl === null;
        return {
          items: rows.map((m) => ({
            id: m.id,
            to: m.to_address,
            subject: m.subject,
            status: m.status,
            link: embedded ? m.link : null,
            textBody: embedded ? m.text_body : '',
            createdAt: m.created_at,
          })),
          total: Number(total),
          page,
          pageSize,
        };
      },
    );
  };
