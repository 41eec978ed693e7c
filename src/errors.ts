/**
 * One error type for everything the API reports on purpose. `code` is stable
 * (UPPER_SNAKE, part of the API contract), `status` is the HTTP status and
 * `message` is meant for a human. The error handler in app.ts turns these into
 * `{ "error": code, "message": message }` and logs only 5xx.
 */
export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export const badRequest = (code: string, message: string, details?: Record<string, unknown>) =>
  new AppError(code, 400, message, details);
export const unauthorized = (message = 'You need to log in first.') =>
  new AppError('UNAUTHENTICATED', 401, message);
export const forbidden = (message = 'You are not allowed to do that.') =>
  new AppError('FORBIDDEN', 403, message);
/** Also used for "exists in another firm": a firm admin must not learn that it exists. */
export const notFound = (what: string) => new AppError('NOT_FOUND', 404, `${what} was not found.`);
export const conflict = (code: string, message: string) => new AppError(code, 409, message);
