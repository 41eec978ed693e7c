import { Type, type Static } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { AppError } from '../core/errors.js';
import { requireOperator, requireSuperuser } from '../http/auth.js';
import { PageQuery, errors, literals } from '../http/schemas.js';
import { AUDIT_CATEGORIES, AUDIT_EVENTS, AUDIT_EVENT_NAMES, AUDIT_FACTORS, AUDIT_RESULTS } from './audit.catalogue.js';
import { exportAuditEvents, listAuditEvents, type AuditFilters, type AuditScope } from './audit-log.service.js';

/** One of these strings (a JSON Schema enum, typed as their union). */

const categoryKeys = Object.keys(AUDIT_CATEGORIES) as (keyof typeof AUDIT_CATEGORIES)[];
const factorKeys = Object.keys(AUDIT_FACTORS) as (keyof typeof AUDIT_FACTORS)[];

/** A day (UTC) or an instant with its offset (RFC 3339). */
const Instant = Type.Union([Type.String({ format: 'date' }), Type.String({ format: 'date-time' })]);

const FilterQuery = Type.Object(
  {
    from: Type.Optional(Instant),
    to: Type.Optional(Instant),
    userId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    user: Type.Optional(Type.String({ maxLength: 254, description: 'Users whose email or name contains this text' })),
    event: Type.Optional(literals(AUDIT_EVENT_NAMES)),
    result: Type.Optional(literals(AUDIT_RESULTS)),
    factor: Type.Optional(literals(factorKeys)),
    attention: Type.Optional(Type.Boolean({ description: 'true: only failures and suspicious events ("Needs attention")' })),
  },
  { additionalProperties: false },
);
const ListQuery = Type.Object({ ...FilterQuery.properties, page: PageQuery.page, pageSize: PageQuery.pageSize }, { additionalProperties: false });

const Party = Type.Object({ type: Type.String(), id: Type.Union([Type.String(), Type.Null()]), name: Type.Union([Type.String(), Type.Null()]), email: Type.Union([Type.String(), Type.Null()]) });
const AuditEventSchema = Type.Object({
  id: Type.Integer(),
  at: Type.Integer(),
  event: Type.String(),
  label: Type.String(),
  category: literals(categoryKeys),
  result: literals(AUDIT_RESULTS),
  factor: Type.Union([literals(factorKeys), Type.Null()]),
  attention: Type.Boolean(),
  flag: Type.Union([Type.String(), Type.Null()]),
  actor: Party,
  subject: Type.Union([Party, Type.Null()]),
  firm: Type.Union([Type.Object({ id: Type.String(), name: Type.Union([Type.String(), Type.Null()]), slug: Type.Union([Type.String(), Type.Null()]) }), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  userAgent: Type.Union([Type.String(), Type.Null()]),
  details: Type.Record(Type.String(), Type.Unknown()),
});
export const AuditPageSchema = Type.Object({
  items: Type.Array(AuditEventSchema),
  total: Type.Integer(),
  totalCapped: Type.Boolean(),
  page: Type.Integer(),
  pageSize: Type.Integer(),
});
const CatalogueSchema = Type.Object({
  events: Type.Array(Type.Object({ event: Type.String(), label: Type.String(), category: Type.String() })),
  categories: Type.Array(Type.Object({ category: Type.String(), label: Type.String() })),
  factors: Type.Array(Type.Object({ factor: Type.String(), label: Type.String() })),
});

/** The filter and label lists of the screens, from the catalogue: the same for both logs. */
const catalogue = {
  events: AUDIT_EVENT_NAMES.map((event) => ({ event, label: AUDIT_EVENTS[event].label, category: AUDIT_EVENTS[event].category })),
  categories: categoryKeys.map((category) => ({ category, label: AUDIT_CATEGORIES[category] })),
  factors: factorKeys.map((factor) => ({ factor, label: AUDIT_FACTORS[factor] })),
};

const DAY = 86_400_000;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/**
 * The query's filters in the service's terms. A day means that whole UTC day: `from` its
 * first millisecond, `to` its last.
 */
function filtersOf(q: Static<typeof FilterQuery>): AuditFilters {
  const instant = (value: string | undefined, name: string, endOfDay: boolean): number | undefined => {
    if (value === undefined) return undefined;
    const ms = Date.parse(DATE_ONLY.test(value) ? `${value}T00:00:00Z` : value);
    // ajv accepts a leap second (23:59:60), which Date.parse does not.
    if (!Number.isFinite(ms)) throw new AppError('INVALID_TIME_RANGE', `The ${name} time is not a date or time we can read.`);
    return DATE_ONLY.test(value) && endOfDay ? ms + DAY - 1 : ms;
  };
  return {
    from: instant(q.from, 'start', false),
    to: instant(q.to, 'end', true),
    userId: q.userId,
    user: q.user,
    event: q.event,
    result: q.result,
    factor: q.factor,
    attention: q.attention,
  };
}

/** `tessera-audit-<who>-20261129T111640Z.csv` */
const fileName = (who: string, now: number) => `tessera-audit-${who}-${new Date(now).toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '')}.csv`;

/**
 * The audit log (issue 8.1). A firm's superusers read their firm's events at
 * /admin/audit-events (the scope comes from their session, never from the request); the
 * operator reads the platform's at /operator/audit-events. Each has a CSV export of the same
 * filters, and both share the event catalogue.
 */
export const auditRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    const sendCsv = async (reply: FastifyReply, scope: AuditScope, who: string, query: Static<typeof FilterQuery>) => {
      const { stream, truncated } = await exportAuditEvents(ctx.db, scope, filtersOf(query));
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="${fileName(who, ctx.clock.now())}"`)
        .header('x-tessera-export-truncated', String(truncated))
        .send(stream);
    };
    const superuserScope = async (request: FastifyRequest) => {
      const { firm } = await requireSuperuser(ctx, request);
      return { scope: { kind: 'firm', firmId: firm.id } as const, who: firm.slug };
    };
    const platform = { kind: 'platform' } as const;

    for (const [prefix, tags, audience] of [
      ['/admin', ['firm admin'], 'superusers of the firm'],
      ['/operator', ['operator'], 'platform operators'],
    ] as const) {
      const scopeOf = async (request: FastifyRequest) => {
        if (prefix === '/admin') return superuserScope(request);
        await requireOperator(ctx, request);
        return { scope: platform, who: 'platform' };
      };
      const what = prefix === '/admin' ? "the firm's authentication and admin events" : 'platform events: those of no firm, and every operator action';

      app.get(
        `${prefix}/audit-events`,
        {
          schema: {
            tags: [...tags],
            summary: `Audit log: ${what}, newest first, filtered (for ${audience})`,
            querystring: ListQuery,
            response: { 200: AuditPageSchema, ...errors(400, 401, 403) },
          },
        },
        async (request) => {
          const { scope } = await scopeOf(request);
          const { page, pageSize, ...filters } = request.query;
          return listAuditEvents(ctx.db, scope, { ...filtersOf(filters), page, pageSize });
        },
      );

      app.get(
        `${prefix}/audit-events.csv`,
        {
          schema: {
            tags: [...tags],
            summary: `Audit log as CSV: ${what}, with the same filters, newest first, at most 100,000 rows (header x-tessera-export-truncated says whether more matched)`,
            querystring: FilterQuery,
            response: errors(400, 401, 403),
          },
        },
        async (request, reply) => {
          const { scope, who } = await scopeOf(request);
          return sendCsv(reply, scope, who, request.query);
        },
      );

      app.get(
        `${prefix}/audit-events/catalogue`,
        { schema: { tags: [...tags], summary: 'The event types, categories and factors the audit log filters by', response: { 200: CatalogueSchema, ...errors(401, 403) } } },
        async (request) => {
          await scopeOf(request);
          return catalogue;
        },
      );
    }
  };
