// The one HTTP client of the browser app. Every page talks to the server through `api`, so
// CSRF handling, error shapes and the "session ended" signal live here only. What each route
// takes and answers is not written here: it comes from api.generated.ts, which
// `npm run api:types` generates from the server's OpenAPI document (the routes' own schemas),
// so a call that no longer matches its route fails `npm run typecheck`.
import createClient, { type MaybeOptionalInit } from 'openapi-fetch';
import type { paths } from './api.generated';

const BASE = '/api/v1';

/** The API's routes, keyed by their path below /api/v1 (as every call names them). */
type Routes = { [P in keyof paths as P extends `${typeof BASE}${infer Rest}` ? Rest : never]: paths[P] };

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** The paths that answer `M`, with their parameters as in the document: `/admin/users/{id}`. */
export type PathOf<M extends Method> = { [P in keyof Routes]: Routes[P] extends Record<M, object> ? P : never }[keyof Routes];

interface Operation {
  parameters: { query?: unknown };
  requestBody?: unknown;
  responses: object;
}
type OperationOf<M extends Method, P extends PathOf<M>> = Routes[P] extends Record<M, infer O extends Operation> ? O : never;
type JsonOf<T> = T extends { content: { 'application/json': infer B } } ? B : undefined;
type Success<R> = R[Extract<keyof R, 200 | 201 | 204>];

/** What a route answers on success (undefined for 204 No Content). */
export type Answer<M extends Method, P extends PathOf<M>> = JsonOf<Success<OperationOf<M, P>['responses']>>;
/** The JSON body a route takes. */
export type RequestBody<M extends Method, P extends PathOf<M>> = JsonOf<OperationOf<M, P>['requestBody']>;
/** The query string a GET route takes (every field optional). */
export type Query<P extends PathOf<'get'>> = NonNullable<OperationOf<'get', P>['parameters']['query']>;
/** A call's path parameters, query, body and abort signal: required where the route requires them. */
export type CallOptions<M extends Method, P extends PathOf<M>> = MaybeOptionalInit<Routes[P], M>;

type Call<M extends Method> = <P extends PathOf<M>>(
  path: P,
  ...options: undefined extends CallOptions<M, P> ? [options?: CallOptions<M, P>] : [options: CallOptions<M, P>]
) => Promise<Answer<M, P>>;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The rest of the error body (for example `attemptsLeft`, `retryAfterSeconds`). */
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** A whole-number detail of the error body, or null when absent. */
  count(key: string): number | null {
    const value = this.details[key];
    return typeof value === 'number' && Number.isFinite(value) ? value : null;
  }
}

/** The text to show for a failed request (the server's `message` when there is one). */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  return 'Something went wrong. Please try again.';
}

export function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === 'AbortError';
}

/** Builds `?a=1&b=x`, leaving out empty values (an empty filter field means "no filter"). */
export function query(params: Record<string, unknown>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

// The CSRF token is fetched once and shared by every state-changing request. It is
// dropped after login/logout (the server binds it to the session) and when the server
// says it is no longer valid.
let csrfToken: Promise<string> | null = null;

export function resetCsrfToken(): void {
  csrfToken = null;
}

function getCsrfToken(): Promise<string> {
  if (!csrfToken) {
    const pending = api.get('/csrf').then((body) => body.token);
    pending.catch(() => {
      if (csrfToken === pending) csrfToken = null;
    });
    csrfToken = pending;
  }
  return csrfToken;
}

const sessionEndedListeners = new Set<() => void>();

/** Called whenever the server answers 401 UNAUTHENTICATED (the session is gone). */
export function onSessionEnded(listener: () => void): () => void {
  sessionEndedListeners.add(listener);
  return () => sessionEndedListeners.delete(listener);
}

const enrollmentRequiredListeners = new Set<() => void>();

/**
 * Called whenever the server answers 403 MFA_ENROLLMENT_REQUIRED: the firm now requires a second
 * factor of this signed-in superuser (their kind was enabled since they signed in) and a licence is free.
 */
export function onEnrollmentRequired(listener: () => void): () => void {
  enrollmentRequiredListeners.add(listener);
  return () => enrollmentRequiredListeners.delete(listener);
}

async function toApiError(response: Response): Promise<ApiError> {
  try {
    const body = (await response.json()) as { error?: unknown; message?: unknown };
    if (typeof body.error === 'string' && typeof body.message === 'string') {
      const { error, message, ...details } = body as Record<string, unknown> & { error: string; message: string };
      return new ApiError(response.status, error, message, details);
    }
  } catch {
    // Not JSON: fall through to a generic message.
  }
  return new ApiError(response.status, 'HTTP_ERROR', `The server answered with an error (${response.status}).`);
}

/**
 * Sends one request built by openapi-fetch: adds the CSRF token to state-changing requests
 * (once more with a fresh token if the server no longer accepts it), and turns every
 * failure into an ApiError, so a caller gets the answer or an exception, never an error body.
 */
async function send(request: Request): Promise<Response> {
  const changesState = request.method !== 'GET';
  for (let attempt = 0; ; attempt++) {
    // A copy per attempt: a retry needs the body again.
    const sent = request.clone();
    if (changesState) sent.headers.set('x-csrf-token', await getCsrfToken());

    let response: Response;
    try {
      response = await fetch(sent);
    } catch (error) {
      if (isAbort(error)) throw error;
      throw new ApiError(0, 'NETWORK_ERROR', 'Could not reach the server. Check your connection and try again.');
    }
    if (response.ok) return response;

    const error = await toApiError(response);
    if (changesState && attempt === 0 && response.status === 403 && error.code === 'CSRF_INVALID') {
      resetCsrfToken();
      continue;
    }
    if (response.status === 401 && error.code === 'UNAUTHENTICATED') {
      for (const listener of sessionEndedListeners) listener();
    }
    if (response.status === 403 && error.code === 'MFA_ENROLLMENT_REQUIRED') {
      for (const listener of enrollmentRequiredListeners) listener();
    }
    throw error;
  }
}

const client = createClient<Routes>({
  baseUrl: BASE,
  fetch: send,
  credentials: 'same-origin',
  headers: { accept: 'application/json' },
  querySerializer: (params) => query(params),
});

function caller<M extends Method>(method: M): Call<M> {
  // The typing is Call<M>'s; openapi-fetch's own generic signature cannot be forwarded as is.
  return (async (path: string, options?: object) => {
    const { data } = await client.request(method, path as never, options as never);
    return data;
  }) as unknown as Call<M>;
}

/** `api.get('/admin/users/{id}', { params: { path: { id } } })`: the answer, or an ApiError thrown. */
export const api = {
  get: caller('get'),
  post: caller('post'),
  put: caller('put'),
  patch: caller('patch'),
  delete: caller('delete'),
};

// --- Names for answers the pages share, all taken from the generated types ------------------

export type Me = Answer<'get', '/me'>;
export type Operator = Extract<Me, { principal: 'operator' }>['operator'];
export type SessionUser = Extract<Me, { principal: 'user' }>['user'];

export type UserView = Answer<'get', '/admin/users/{id}'>;
export type Kind = UserView['kind'];
export type Corporation = Answer<'get', '/admin/corporations/{id}'>;
export type Firm = Answer<'get', '/operator/firms'>['items'][number];
export type OperatorSummary = Answer<'get', '/operator/operators'>['items'][number];
export type OutboxItem = Answer<'get', '/operator/outbox'>['items'][number];

export type SubscriptionFeature = Answer<'get', '/admin/subscriptions'>['categories'][number]['features'][number];
export type SubscriptionState = SubscriptionFeature['state'];
export type SubscriptionItem = Answer<'get', '/operator/subscriptions'>['items'][number];

export type MfaOverview = Answer<'get', '/admin/mfa'>;
export type MfaConfiguration = RequestBody<'put', '/admin/mfa/configuration'>;
export type MfaCorporation = MfaOverview['configuration']['corporations'][number];
export type MfaChange = RequestBody<'post', '/admin/mfa/preview'>;
export type MfaChangePreview = Answer<'post', '/admin/mfa/preview'>;
export type MfaLoginPolicy = Answer<'get', '/admin/mfa/policy'>;
export type EnrolledUser = Answer<'get', '/admin/mfa/enrolled'>['items'][number];
export type FraudReport = Answer<'get', '/admin/mfa/fraud-reports'>['items'][number];

export type LoginResult = Answer<'post', '/login'>;
export type LoginNotice = NonNullable<LoginResult['notice']>;
export type MfaChallenge = Answer<'get', '/mfa/challenge'>;
export type SecondFactorMethod = MfaChallenge['methods'][number];
export type EnrollmentInfo = Answer<'get', '/mfa/enrollment'>;
/** Where this login's enrollment stands, on the server (a reload continues there). */
export type EnrollmentState = Answer<'get', '/mfa/enrollment/state'>;
export type AuthenticatorMethod = EnrollmentInfo['methods'][number]['kind'];
export type MySecurity = Answer<'get', '/me/security'>;
export type MyAuthenticator = MySecurity['authenticators'][number];

export type Application = Answer<'get', '/admin/applications/{id}'>;
export type ApplicationType = Application['type'];
export type ClientType = NonNullable<Application['clientType']>;
export type SecretAuthMethod = Exclude<NonNullable<Application['tokenEndpointAuthMethod']>, 'none'>;
export type NewUserPolicy = NonNullable<Application['newUserPolicy']>;
export type LoginsPerApplication = Answer<'get', '/admin/mfa/logins'>;
export type ApplicationLoginsRow = LoginsPerApplication['rows'][number];
export type LoginPeriod = NonNullable<Query<'/admin/mfa/logins'>['days']>;
export type ApplicationWithSecret = Answer<'post', '/admin/applications'>;
export type ApplicationInput = RequestBody<'post', '/admin/applications'>;
export type GracePeriod = RequestBody<'post', '/admin/applications/{id}/rotate-secret'>['grace'];
export type ApplicationCall = Answer<'get', '/admin/applications/{id}/calls'>['items'][number];
