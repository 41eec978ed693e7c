import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isDatabaseUnavailable } from '../db/database.js';
import { AppError, databaseUnavailable, ERROR_CATALOGUE, isServiceFault, type ErrorCode } from '../core/errors.js';
import { RETRY_AFTER_STATUSES, webStatusOf } from '../web/error-status.js';

/** Fastify's own client-error codes, mapped onto our stable codes. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'MALFORMED_REQUEST',
  FST_ERR_BAD_URL: 'MALFORMED_URL',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_JSON',
  FST_CSRF_INVALID_TOKEN: 'CSRF_INVALID',
  FST_CSRF_MISSING_SECRET: 'CSRF_INVALID',
};

/**
 * Every error leaves as `{ "error": CODE, "message": text }`. Client mistakes keep their
 * 4xx status; a database that cannot be reached (or SQLite still locked) is a 503 with
 * Retry-After, logged as a warning; another 5xx AppError keeps its code, logged; anything
 * else is a 500 with a generic message, logged.
 */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler(sendError);
}

/** The first schema violation of a validation error: the field it concerns (dotted path) and a sentence saying what is wrong. */
export function validationProblem(fe: FastifyError): { field: string | undefined; message: string } {
  const first = fe.validation?.[0];
  const where = fe.validationContext ?? 'request';
  const params = first?.params as { missingProperty?: string; additionalProperty?: string } | undefined;
  const field = first?.instancePath ? first.instancePath.replace(/^\//, '').replace(/\//g, '.') : (params?.missingProperty ?? params?.additionalProperty);
  return { field, message: `Invalid ${where}${field ? ` (${field})` : ''}: ${first?.message ?? 'does not match the schema'}.` };
}

/**
 * The error handler itself; also Fastify's `frameworkErrors` (app.ts), which the router calls
 * before any route (a path like /users/%ZZ that does not percent-decode).
 */
export function sendError(thrown: FastifyError | AppError, request: FastifyRequest, reply: FastifyReply) {
  let err = thrown;
  if (!(err instanceof AppError) && isDatabaseUnavailable(err)) {
    request.log.warn({ reason: (err as Error).message }, 'database unavailable');
    err = databaseUnavailable();
  }
  if (err instanceof AppError) {
    // A lasting server-side condition raised on purpose (SECRET_UNAVAILABLE: a master key is
    // missing) is the operator's to fix: logged, with what the error carries beyond its message.
    // Passing ones that say when to retry (migrations still running) would only flood the log.
    if (err === thrown && isServiceFault(err.code) && !err.retryAfterSeconds) request.log.error({ err }, err.message);
    const status = webStatusOf(err.code);
    if (RETRY_AFTER_STATUSES.has(status) && err.retryAfterSeconds) reply.header('retry-after', String(err.retryAfterSeconds));
    return reply.status(status).send({ error: err.code, message: err.message, ...(err.details ?? {}) });
  }
  const fe = err as FastifyError;
  if (fe.validation) return reply.status(webStatusOf('VALIDATION_FAILED')).send({ error: 'VALIDATION_FAILED', message: validationProblem(fe).message });
  const status = fe.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const code: ErrorCode = (fe.code && FASTIFY_CODES[fe.code]) || (status === 403 ? 'FORBIDDEN' : status === 404 ? 'NOT_FOUND' : 'BAD_REQUEST');
    const message = code === 'CSRF_INVALID' || code === 'MALFORMED_URL' ? ERROR_CATALOGUE[code] : fe.message;
    return reply.status(status).send({ error: code, message });
  }
  request.log.error({ err }, 'unhandled error');
  return reply.status(500).send({ error: 'INTERNAL', message: ERROR_CATALOGUE.INTERNAL });
}
