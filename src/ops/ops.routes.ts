import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sql } from 'kysely';
import { Type } from 'typebox';
import type { App } from '../app.js';
import type { AppContext } from '../context.js';
import { LATEST_MIGRATION } from '../db/migrate.js';
import { AppError, notFound } from '../core/errors.js';
import { errors } from '../http/schemas.js';
import { metrics } from './metrics.js';

/**
 * Operations endpoints, outside /api/v1: no session, no CSRF (GET only), no throttling, and
 * no request log lines (logLevel 'warn'), since load balancers and Prometheus call them
 * every few seconds.
 *   GET /healthz  the process is up and serving (liveness);
 *   GET /readyz   the database answers and the newest migration is applied (readiness):
 *                 503 + Retry-After otherwise, so a load balancer sends traffic elsewhere;
 *   GET /metrics  Prometheus text format, not for the public internet (see metricsAllowed).
 */
export const opsRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['operations'];
    const quiet = { logLevel: 'warn' as const };

    app.get('/healthz', { ...quiet, schema: { tags, summary: 'Liveness: the process is up', response: { 200: Type.Object({ status: Type.Literal('ok') }) } } }, async () => ({
      status: 'ok' as const,
    }));

    app.get(
      '/readyz',
      {
        ...quiet,
        schema: {
          tags,
          summary: 'Readiness: the database answers and migrations are done',
          response: { 200: Type.Object({ status: Type.Literal('ready'), migration: Type.String() }), ...errors(503) },
        },
      },
      async () => {
        // A database failure here is answered 503 DATABASE_UNAVAILABLE by the error handler.
        const { rows } = await sql<{ name: string | null }>`select max(name) as name from kysely_migration`.execute(ctx.db);
        const applied = rows[0]?.name ?? null;
        if (applied === null || applied < LATEST_MIGRATION) {
          throw new AppError('MIGRATIONS_PENDING', `The database is not migrated yet (at ${applied ?? 'none'}, expected ${LATEST_MIGRATION}).`, {
            retryAfterSeconds: 5,
          });
        }
        return { status: 'ready' as const, migration: applied };
      },
    );

    app.get('/metrics', { ...quiet, schema: { tags, summary: 'Prometheus metrics (bearer token, or loopback only)', hide: true } }, async (request, reply) => {
      assertMetricsAllowed(ctx, request);
      const m = metrics(ctx);
      return reply.type(m.registry.contentType).send(await m.scrape());
    });
  };

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Who may read /metrics. With TESSERA_METRICS_TOKEN: whoever sends `Authorization: Bearer
 * <token>` (compared in constant time), anyone else gets 401. Without it: only a client on
 * the loopback interface that no proxy relayed (a reverse proxy on the same host connects
 * from 127.0.0.1 too, and X-Forwarded-For can be forged), anyone else gets 404, as if there
 * were no such route.
 */
function assertMetricsAllowed(ctx: AppContext, request: FastifyRequest): void {
  const token = ctx.config.metricsToken;
  if (token) {
    const given = /^Bearer (.+)$/i.exec(request.headers.authorization ?? '')?.[1]?.trim() ?? '';
    if (!timingSafeEqual(digest(given), digest(token))) {
      throw new AppError('UNAUTHENTICATED', 'Metrics need the bearer token configured in TESSERA_METRICS_TOKEN.');
    }
    return;
  }
  const peer = request.socket.remoteAddress ?? '';
  const loopback = peer === '127.0.0.1' || peer === '::1' || peer === '::ffff:127.0.0.1';
  const relayed = request.headers['x-forwarded-for'] !== undefined || request.headers.forwarded !== undefined;
  if (!loopback || relayed) throw notFound(`Route GET ${request.url.split('?')[0]}`);
}

/**
 * Counts every answered request by its route pattern (`/api/v1/admin/users/:id`, never the
 * raw URL with ids in it, so the label set stays bounded); unmatched URLs share one label.
 */
export function installRequestMetrics(app: App, ctx: AppContext): void {
  const m = metrics(ctx);
  app.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
    const route = request.routeOptions.url ?? '(unmatched)';
    m.request(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
  });
}
