import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type TSchema } from 'typebox';
import { isDatabaseUnavailable } from '../db/database.js';
import { AppError, DATABASE_RETRY_AFTER_SECONDS, isServiceFault, type ErrorCode } from '../core/errors.js';
import { validationProblem } from '../http/error-handler.js';
import { isOAuthErrorRoute } from './route-module.js';
import type { AuthFailure } from './signature.js';

/**
 * Duo's answer envelope. Success: `{"stat":"OK","response":...}`. Failure:
 * `{"stat":"FAIL","code":40103,"message":"...","message_detail":"..."}` (message_detail only when
 * there is something to add), with the HTTP status that the code's first three digits name.
 * The official clients read `stat`, and on failure show `message` and `message_detail`
 * (python: "Received 401 Invalid signature in request credentials").
 *
 * Duo's codes, with where each was checked (Duo publishes them in its knowledge base article
 * "What are Duo's API responses and error messages?"; the messages are Duo's own words, as
 * quoted by Duo staff and seen in answers of Duo's API):
 *   40002 Invalid request parameters        a parameter missing or wrong; message_detail names it
 *   40101 Missing request credentials       no Authorization header, or not HTTP Basic
 *   40102 Invalid integration key in ...    no integration with this key
 *   40103 Invalid signature in ...          the HMAC does not match
 *   40104 Missing request timestamp         no Date header, or one Duo cannot read (a localised
 *                                           weekday draws this answer from Duo)
 *   40105 Bad request timestamp             a date too far from the server's clock
 *   40301 Access forbidden                  an integration of another type (a Web SDK key on the Auth API)
 *   40401 Resource not found                no such endpoint
 * Codes Tessera needs and Duo's table does not give (a database outage, our own fault) follow
 * Duo's pattern, the HTTP status then two digits: 50301 and 50001.
 */
export const DUO_ERRORS = {
  INVALID_PARAMETERS: { code: 40002, status: 400, message: 'Invalid request parameters' },
  MISSING_CREDENTIALS: { code: 40101, status: 401, message: 'Missing request credentials' },
  INVALID_INTEGRATION_KEY: { code: 40102, status: 401, message: 'Invalid integration key in request credentials' },
  INVALID_SIGNATURE: { code: 40103, status: 401, message: 'Invalid signature in request credentials' },
  MISSING_TIMESTAMP: { code: 40104, status: 401, message: 'Missing request timestamp' },
  BAD_TIMESTAMP: { code: 40105, status: 401, message: 'Bad request timestamp' },
  FORBIDDEN: { code: 40301, status: 403, message: 'Access forbidden' },
  NOT_FOUND: { code: 40401, status: 404, message: 'Resource not found' },
  INTERNAL: { code: 50001, status: 500, message: 'Internal server error' },
  UNAVAILABLE: { code: 50301, status: 503, message: 'Service temporarily unavailable' },
} as const satisfies Record<AuthFailure, unknown> & Record<string, { code: number; status: number; message: string }>;

export type DuoErrorName = keyof typeof DUO_ERRORS;

/** A refusal in Duo's terms: one of DUO_ERRORS, with an optional message_detail. */
export class DuoError extends Error {
  constructor(
    readonly duo: DuoErrorName,
    readonly detail?: string,
  ) {
    super(detail ? `${DUO_ERRORS[duo].message}: ${detail}` : DUO_ERRORS[duo].message);
    this.name = 'DuoError';
  }
}

export const duoOk = <T>(response: T) => ({ stat: 'OK' as const, response });

/** The response schema of a Duo route: the OK envelope around `response`. */
export const OkEnvelope = <T extends TSchema>(response: T) => Type.Object({ stat: Type.Literal('OK'), response });

/** Fastify's client-error codes that reach a Duo route (parsing, limits), as 40002 with a detail. */
const FASTIFY_DETAILS: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'The request body is too large.',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'Parameters must be sent as application/x-www-form-urlencoded, or JSON with signature version 4 or 5.',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'The Content-Length does not match the body.',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'The JSON body is empty.',
  FST_ERR_CTP_INVALID_JSON_BODY: 'The body is not valid JSON.',
  FST_ERR_BAD_URL: 'The address is not valid (a broken %-escape).',
};

/**
 * The Duo door's mapping of the core's codes: Duo's table has no finer refusal than 40002 (the
 * message says which), 40401 for what does not exist, and 40301 for a call of the prompt page
 * from another site. The service's own faults are
 * answered 50301 / 50001 below.
 */
const duoErrorOf = (code: ErrorCode): DuoErrorName => (code === 'NOT_FOUND' ? 'NOT_FOUND' : code === 'CSRF_INVALID' ? 'FORBIDDEN' : 'INVALID_PARAMETERS');

/**
 * The Duo door's error handler (and its `frameworkErrors` for a broken URL): every error leaves
 * in Duo's envelope, never in the `{error, message}` shape of /api/v1. Client mistakes are
 * 4xx; a database that cannot be reached is 503 with Retry-After; anything else is a 500,
 * logged, with a generic message.
 */
export function sendDuoError(thrown: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) {
  const fail = (name: DuoErrorName, detail?: string) => {
    const { code, status, message } = DUO_ERRORS[name];
    if (isOAuthErrorRoute(request.url)) {
      return reply.status(status).send({ error: status >= 500 ? (status === 503 ? 'temporarily_unavailable' : 'server_error') : 'invalid_request', error_description: detail ?? message });
    }
    return reply.status(status).send({ stat: 'FAIL', code, message, ...(detail ? { message_detail: detail } : {}) });
  };
  if (thrown instanceof DuoError) return fail(thrown.duo, thrown.detail);
  if (isDatabaseUnavailable(thrown) || (thrown instanceof AppError && thrown.code === 'DATABASE_UNAVAILABLE')) {
    request.log.warn({ reason: thrown.message }, 'database unavailable');
    reply.header('retry-after', String(DATABASE_RETRY_AFTER_SECONDS));
    return fail('UNAVAILABLE');
  }
  if (thrown instanceof AppError && !isServiceFault(thrown.code)) return fail(duoErrorOf(thrown.code), thrown.message);
  const fe = thrown as FastifyError;
  // Duo names the offending parameter in message_detail.
  if (fe.validation) {
    const problem = validationProblem(fe);
    return fail('INVALID_PARAMETERS', problem.field ?? problem.message);
  }
  if (fe.code && FASTIFY_DETAILS[fe.code]) return fail('INVALID_PARAMETERS', FASTIFY_DETAILS[fe.code]);
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) return fail(fe.statusCode === 404 ? 'NOT_FOUND' : 'INVALID_PARAMETERS', fe.message);
  request.log.error({ err: thrown }, 'unhandled error');
  return fail('INTERNAL');
}
