import type { ErrorCode } from '../core/errors.js';

/**
 * The web door's one mapping from the core's error codes to HTTP statuses (the web pages' API
 * under /api/v1, and what the app answers outside any door: health, metrics, pages, the
 * OpenID Provider's interaction pages). Every code has a status: a code added to the
 * catalogue does not type-check until it is given one here.
 *
 * The device API (src/device/door.ts) shares it, on purpose: its one client is our own
 * Tessera Authenticator, which reads statuses and `{ error, message }` as the web pages do.
 * That is why it lives here, beside the error handler both doors install, and not in a door
 * folder (doors do not import each other). The Duo door has its own (src/duo/envelope.ts).
 */
export const WEB_ERROR_STATUS = {
  VALIDATION_FAILED: 400,
  MALFORMED_JSON: 400,
  MALFORMED_URL: 400,
  MALFORMED_REQUEST: 400,
  URL_TOO_LONG: 414,
  REQUEST_TIMEOUT: 408,
  HEADERS_TOO_LARGE: 431,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  BAD_REQUEST: 400,
  CSRF_INVALID: 403,

  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  INVALID_CREDENTIALS: 401,
  TOO_MANY_ATTEMPTS: 429,
  FIRM_REQUIRED: 409,
  MFA_REQUIRED: 403,
  SECOND_FACTOR_REQUIRED: 403,
  MFA_ENROLLMENT_REQUIRED: 403,
  LINK_INVALID: 410,
  INTERACTION_NOT_FOUND: 404,

  PASSWORD_TOO_SHORT: 400,
  PASSWORD_TOO_LONG: 400,
  PASSWORD_TOO_COMMON: 400,

  INVALID_CODE: 401,
  MFA_LOCKED: 423,
  WEBAUTHN_FAILED: 401,
  NO_SECURITY_KEY: 409,
  PUSH_NOT_APPROVED: 401,
  PUSH_UNAVAILABLE: 409,
  PUSH_LIMIT: 429,
  PUSH_PAUSED: 409,

  ALREADY_ENROLLED: 409,
  ALREADY_CONFIRMED: 409,
  NOT_ACTIVATED: 409,
  NO_SEAT: 409,
  SEAT_AVAILABLE: 409,
  INVALID_PHONE: 400,
  WEBAUTHN_INVALID: 400,
  CHALLENGE_INVALID: 400,
  CREDENTIAL_EXISTS: 409,
  PASSKEYS_NOT_ALLOWED: 403,
  LAST_AUTHENTICATOR: 409,
  CONFIRM_REQUIRED: 409,
  NOT_ENROLLED: 409,
  SELF_RESET: 409,

  ACTIVATION_INVALID: 410,
  DEVICE_UNAUTHENTICATED: 401,
  TRANSACTION_NOT_PENDING: 409,
  INVALID_PUBLIC_KEY: 400,
  INVALID_ANSWER: 400,
  INVALID_PUSH_ENDPOINT: 400,

  SLUG_TAKEN: 409,
  EMAIL_TAKEN: 409,
  USERNAME_ALIAS_TAKEN: 409,
  FIELD_NOT_FOR_KIND: 400,
  SUPERUSER_KIND: 400,
  CORPORATION_REQUIRED: 400,
  CORPORATION_NOT_FOUND: 400,
  CORPORATION_NAME_TAKEN: 409,
  CORPORATION_NOT_EMPTY: 409,
  CORPORATION_ALREADY_ADDED: 409,
  CANNOT_CHANGE_SELF: 409,

  SUBSCRIPTION_NOT_ACTIVE: 409,
  ALREADY_SUBSCRIBED: 409,
  INVALID_STATE: 409,
  INVALID_DATES: 400,
  LICENCES_NOT_MORE: 400,
  LICENCE_REQUEST_PENDING: 409,
  LICENCES_BELOW_ENROLLED: 409,
  NO_LICENCE_REQUEST: 409,

  APPLICATION_NAME_TAKEN: 409,
  FIELD_NOT_APPLICABLE: 400,
  REDIRECT_URI_REQUIRED: 400,
  INVALID_REDIRECT_URI: 400,
  APPLICATION_HAS_NO_SECRET: 409,
  APPLICATION_SECRET_CHANGED: 409,

  INVALID_TIME_RANGE: 400,
  PAGE_TOO_DEEP: 400,

  DATABASE_UNAVAILABLE: 503,
  MIGRATIONS_PENDING: 503,
  SECRET_UNAVAILABLE: 503,
  INTERNAL: 500,
} as const satisfies Record<ErrorCode, number>;

export const webStatusOf = (code: ErrorCode): number => WEB_ERROR_STATUS[code];

/**
 * Statuses that carry a `Retry-After` header when the error says when to try again: a lock
 * (423), a limit (429), an outage (503), and a conflict that lifts at a known time (409:
 * PUSH_PAUSED, pushes paused after a fraud report, like PUSH_LIMIT's 429).
 */
export const RETRY_AFTER_STATUSES: ReadonlySet<number> = new Set([409, 423, 429, 503]);
