/**
 * The core's refusals: a stable UPPER_SNAKE code (part of every door's contract), a message
 * for a human, and nothing about HTTP. Each door owns how a code is answered: the web door's
 * status table is src/web/error-status.ts, the Duo door's envelope is src/duo/envelope.ts.
 *
 * The catalogue holds every code with its default message. A call site passes its own message
 * only when it has something to add (a name, a count, which of several limits), never to
 * reword the default: one situation, one message.
 */
export const ERROR_CATALOGUE = {
  // The request could not be read.
  VALIDATION_FAILED: 'The request is not valid.',
  MALFORMED_JSON: 'The request body is not valid JSON.',
  MALFORMED_URL: 'The address is not valid (a broken %-escape).',
  MALFORMED_REQUEST: 'The request is not valid HTTP (a header holds a character it may not, or the body does not match its length).',
  URL_TOO_LONG: 'The address is too long.',
  REQUEST_TIMEOUT: 'The request took too long to arrive.',
  HEADERS_TOO_LARGE: 'The request headers are too large. Clear this site’s cookies and try again.',
  BODY_TOO_LARGE: 'The request body is too large.',
  UNSUPPORTED_MEDIA_TYPE: 'The request body must be JSON (Content-Type: application/json).',
  BAD_REQUEST: 'The request cannot be answered.',
  CSRF_INVALID: 'The form expired or came from another site. Reload the page and try again.',

  // Who is asking.
  UNAUTHENTICATED: 'You need to log in first.',
  FORBIDDEN: 'You are not allowed to do that.',
  NOT_FOUND: 'It was not found.',
  INVALID_CREDENTIALS: 'The email address or password is not right.',
  TOO_MANY_ATTEMPTS: 'Too many attempts. Try again later.',
  FIRM_REQUIRED: 'This address belongs to several firms. Enter the short name of your firm.',
  MFA_REQUIRED: 'Finish signing in with your second factor first.',
  SECOND_FACTOR_REQUIRED: 'Verify with your second factor first.',
  MFA_ENROLLMENT_REQUIRED: 'Your firm now requires a second factor for your account: set one up to continue.',
  LINK_INVALID: 'This link has expired or was already used. Ask your administrator for a new one.',
  INTERACTION_NOT_FOUND: 'This sign-in request has expired or does not exist. Go back to the application and start again.',

  // Passwords.
  PASSWORD_TOO_SHORT: 'The password is too short.',
  PASSWORD_TOO_LONG: 'The password is too long.',
  PASSWORD_TOO_COMMON: 'This password is too common or too easy to guess. Choose another one.',

  // The second factor at login.
  INVALID_CODE: 'That code is not right.',
  MFA_LOCKED: 'Too many wrong codes: your second factor is locked. Try again later, or ask your administrator to unlock it.',
  WEBAUTHN_FAILED: 'The security key was not accepted.',
  NO_SECURITY_KEY: 'You have no security key to sign in with. Use another method.',
  PUSH_NOT_APPROVED: 'The push was not approved.',
  PUSH_UNAVAILABLE: 'You have no Tessera Authenticator activated for push requests.',
  PUSH_LIMIT: 'Too many push requests without an approval. Use a passcode from your Tessera Authenticator or a security key instead.',
  PUSH_PAUSED: 'Push requests to you are paused after a request was reported as fraudulent. Use a passcode or a security key.',

  // Enrollment and My security.
  ALREADY_ENROLLED: 'You are enrolled now: log in again and use your second factor.',
  ALREADY_CONFIRMED: 'This authenticator is already confirmed.',
  NOT_ACTIVATED: 'The Tessera Authenticator has not been activated yet: scan the QR code with it first.',
  NO_SEAT: 'No MFA licence is free in your firm right now, so the authenticator cannot be added. Ask your administrator for more licences.',
  SEAT_AVAILABLE: 'A licence is free: set up your second factor to continue.',
  INVALID_PHONE: 'That phone number is not valid. Enter it with its country code, e.g. +44 7911 123456.',
  WEBAUTHN_INVALID: "The security key's answer could not be verified. Try again, or try another key.",
  CHALLENGE_INVALID: 'This security key request expired or was already used. Start again.',
  CREDENTIAL_EXISTS: 'This key is already registered.',
  PASSKEYS_NOT_ALLOWED: 'Your firm does not allow signing in with a passkey. Add this key as a security key instead.',
  LAST_AUTHENTICATOR: 'This is your only authenticator, and operators must always have one. Add another first, then remove this one.',
  CONFIRM_REQUIRED: 'This is your only authenticator. Removing it means setting up MFA again at your next login; confirm to go ahead.',
  NOT_ENROLLED: 'Add an authenticator first: backup codes stand in for one when it is not at hand.',
  SELF_RESET: 'You cannot reset your own second factor here: change your authenticators under Security.',

  // The Tessera Authenticator's device API.
  ACTIVATION_INVALID: 'This activation code is not valid any more (used, expired or unknown). Start the enrollment again to get a new QR code.',
  DEVICE_UNAUTHENTICATED: 'The device request is not signed by an active Tessera Authenticator.',
  TRANSACTION_NOT_PENDING: 'This request was already answered or has expired.',
  INVALID_PUBLIC_KEY: 'The public key must be a P-256 public key as a JWK (kty "EC", crv "P-256", x, y).',
  INVALID_ANSWER: 'A reason goes with a denial only.',
  INVALID_PUSH_ENDPOINT: 'The notification endpoint must be an https address of a public push service.',

  // Firms, users, corporations.
  SLUG_TAKEN: 'Another firm already uses this short name.',
  EMAIL_TAKEN: 'Another user of this firm already has this email address.',
  USERNAME_ALIAS_TAKEN: 'Another user of this firm already has this username alias or address.',
  FIELD_NOT_FOR_KIND: 'This field does not apply to a user of this kind.',
  SUPERUSER_KIND: 'Only case managers can be superusers.',
  CORPORATION_REQUIRED: 'Corp users and foreign nationals belong to a corporation: choose one.',
  CORPORATION_NOT_FOUND: 'The chosen corporation does not exist in this firm.',
  CORPORATION_NAME_TAKEN: 'This firm already has a corporation with that name.',
  CORPORATION_NOT_EMPTY: 'The corporation still has users; move or delete them first.',
  CORPORATION_ALREADY_ADDED: 'This corporation is already in the list.',
  CANNOT_CHANGE_SELF: 'You cannot change your own account this way; ask another superuser.',

  // Subscriptions and licences.
  SUBSCRIPTION_NOT_ACTIVE: 'MFA can be configured only while the MFA subscription is active.',
  ALREADY_SUBSCRIBED: 'MFA is already subscribed or requested for this firm.',
  INVALID_STATE: 'The subscription is not in a state that allows this.',
  INVALID_DATES: 'The end must come after the start.',
  LICENCES_NOT_MORE: 'Ask for more licences than the firm already has.',
  LICENCE_REQUEST_PENDING: 'A licence request is already waiting for the operator.',
  LICENCES_BELOW_ENROLLED: 'More users are enrolled than that many licences allow.',
  NO_LICENCE_REQUEST: 'There is no pending licence request.',

  // Applications.
  APPLICATION_NAME_TAKEN: 'This firm already has an application with that name.',
  FIELD_NOT_APPLICABLE: 'This field does not apply to this kind of application.',
  REDIRECT_URI_REQUIRED: 'Register at least one redirect URI: Tessera sends users back only to a registered one.',
  INVALID_REDIRECT_URI: 'This redirect URI cannot be used.',
  APPLICATION_HAS_NO_SECRET: 'A public client has no secret to rotate: it proves itself with PKCE.',
  APPLICATION_SECRET_CHANGED: 'The secret was just rotated by someone else. Reload the application and try again.',

  // The audit log.
  INVALID_TIME_RANGE: 'The time range is not valid.',
  PAGE_TOO_DEEP: 'This page is too deep. Narrow the time range, or export CSV.',

  // The service's side (see SERVICE_FAULTS).
  DATABASE_UNAVAILABLE: 'The service is briefly unavailable. Please try again in a few seconds.',
  MIGRATIONS_PENDING: 'The database is not migrated yet.',
  SECRET_UNAVAILABLE:
    'A stored secret needed for this step cannot be opened with this server’s master keys. The administrator has to restore the master key it was sealed with (TESSERA_RETIRED_MASTER_KEYS).',
  INTERNAL: 'Something went wrong on our side. Please try again.',
} as const satisfies Record<string, string>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/**
 * Codes that are the service's fault or condition, not the caller's: every door answers them
 * as its "unavailable"/"internal" kind and logs them; every other code is the caller's to fix.
 */
export const SERVICE_FAULTS = ['DATABASE_UNAVAILABLE', 'MIGRATIONS_PENDING', 'SECRET_UNAVAILABLE', 'INTERNAL'] as const satisfies readonly ErrorCode[];
export const isServiceFault = (code: ErrorCode): boolean => (SERVICE_FAULTS as readonly ErrorCode[]).includes(code);

/** Fields a refusal carries beside its message (attemptsLeft, ...); `retryAfterSeconds` says when trying again makes sense. */
export type ErrorDetails = Record<string, unknown> & { retryAfterSeconds?: number };

/** One error type for everything the core refuses on purpose. */
export class AppError extends Error {
  /** When trying again makes sense, in seconds (a lockout, a rate limit, a brief outage); each door decides how to say it. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    readonly code: ErrorCode,
    message: string = ERROR_CATALOGUE[code],
    /** Extra fields for the client, answered beside code and message. */
    readonly details?: ErrorDetails,
  ) {
    super(message);
    this.name = 'AppError';
    this.retryAfterSeconds = details?.retryAfterSeconds;
  }
}

// Constructors for refusals raised in more than one place: one situation, one message.

export const unauthorized = (message?: string) => new AppError('UNAUTHENTICATED', message);
export const forbidden = (message?: string) => new AppError('FORBIDDEN', message);
/** Also used for "exists in another firm": a firm admin must not learn that it exists. */
export const notFound = (what: string) => new AppError('NOT_FOUND', `${what} was not found.`);
export const tooManyAttempts = (retryAfterSeconds: number) =>
  new AppError('TOO_MANY_ATTEMPTS', `Too many attempts. Try again in ${retryAfterSeconds} seconds.`, { retryAfterSeconds });
/** A security change without a recent enough second factor; `change` says which kind, as the screens show it. */
export const secondFactorRequired = (maxAgeMs: number, change: 'security settings' | 'new authenticator' = 'security settings') =>
  new AppError(
    'SECOND_FACTOR_REQUIRED',
    `Verify with your second factor first: ${change === 'new authenticator' ? 'adding an authenticator needs' : 'changes to your security settings need'} one from the last ${maxAgeMs / 60_000} minutes.`,
  );
export const corporationNotEmpty = (name: string, userCount?: number) =>
  new AppError('CORPORATION_NOT_EMPTY', `${name} still has ${userCount === undefined ? 'users' : `${userCount} user(s)`}; move or delete them first.`);

/** Seconds a client is told to wait while the database is unreachable: a restart or failover takes about that long. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

/** The answer while the database is down or busy: nothing was changed, try again shortly. */
export const databaseUnavailable = () => new AppError('DATABASE_UNAVAILABLE', undefined, { retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS });
