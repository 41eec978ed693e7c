// The one HTTP client of the browser app. Every page talks to the server through
// `api`, so CSRF handling, error shapes and the "session ended" signal live here only.

const BASE = '/api/v1';

export type Kind = 'case_manager' | 'vendor_case_manager' | 'corp_user' | 'foreign_national';

export interface Operator {
  id: string;
  email: string;
  name: string;
}

export interface SessionUser {
  id: string;
  email: string;
  name: string;
  kind: Kind;
  isSuperuser: boolean;
  firm: { id: string; name: string; slug: string };
}

export type Me = { principal: 'operator'; operator: Operator } | { principal: 'user'; user: SessionUser };

export interface UserView {
  id: string;
  email: string;
  name: string;
  kind: Kind;
  isSuperuser: boolean;
  corporation: { id: string; name: string } | null;
  status: 'active' | 'disabled' | null;
  portalAccess: 'enabled' | 'disabled' | null;
  recordState: 'active' | 'inactive' | null;
  active: boolean;
  hasPassword: boolean;
  createdAt: number;
  /** Only on GET /admin/users/:id. */
  mfa?: UserMfaState;
}

/** The MFA state of a user, as the firm admin sees it on GET /admin/users/:id. */
export interface UserMfaState {
  enrolled: boolean;
  lockedUntil: number | null;
  failedAttempts: number;
}

export interface Corporation {
  id: string;
  name: string;
  createdAt: number;
  userCount: number;
}

export interface Firm {
  id: string;
  slug: string;
  name: string;
  createdAt: number;
  userCount: number;
  applicationCount: number;
}

// --- Applications (a firm's own systems that sign users in through Tessera) -----------

export type ApplicationType = 'oidc' | 'duo_auth_api' | 'duo_web_sdk';
export type ClientType = 'confidential' | 'public';
export type SecretAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'client_secret_jwt';
export type NewUserPolicy = 'enroll' | 'allow' | 'deny';
export type GracePeriod = 'none' | '1h' | '24h' | '7d';

/** GET /admin/applications/:id, and every answer of a change. Never holds the secret. */
export interface Application {
  id: string;
  type: ApplicationType;
  name: string;
  /** OIDC client ID, or the Duo integration key. */
  clientId: string;
  clientType: ClientType | null;
  tokenEndpointAuthMethod: SecretAuthMethod | 'none' | null;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  /** null: every user of the firm. */
  allowedKinds: Kind[] | null;
  newUserPolicy: NewUserPolicy | null;
  status: 'active' | 'disabled';
  hasSecret: boolean;
  secretRotatedAt: number | null;
  previousSecretExpiresAt: number | null;
  createdAt: number;
  updatedAt: number;
  createdBy: { id: string; name: string } | null;
  discoveryUrl: string | null;
  apiHostname: string | null;
}

/** POST /admin/applications and POST /admin/applications/:id/rotate-secret: the one time the secret is shown. */
export interface ApplicationWithSecret {
  application: Application;
  secret: string | null;
}

/** The fields a superuser sets (POST takes them all; PATCH the ones that may change). */
export interface ApplicationInput {
  type: ApplicationType;
  name: string;
  clientType?: ClientType;
  tokenEndpointAuthMethod?: SecretAuthMethod;
  redirectUris?: string[];
  postLogoutRedirectUris?: string[];
  allowedKinds?: Kind[] | null;
  newUserPolicy?: NewUserPolicy;
}

/** An operator in the console's Operators list, with the state of their second factor. */
export interface OperatorSummary {
  id: string;
  email: string;
  name: string;
  status: 'active' | 'disabled';
  enrolled: boolean;
  authenticators: number;
  lockedUntil: number | null;
  createdAt: number;
}

export interface OutboxItem {
  id: string;
  to: string;
  subject: string;
  status: string;
  link: string | null;
  textBody: string;
  createdAt: number;
}

export type SubscriptionState = 'not_subscribed' | 'requested' | 'active' | 'suspended' | 'cancelled';

export interface SubscriptionFeature {
  key: string;
  name: string;
  description: string;
  state: SubscriptionState;
}

export interface SubscriptionCatalogue {
  categories: { name: string; features: SubscriptionFeature[] }[];
}

export type CorporationScope = 'all' | 'specific';

export interface MfaConfiguration {
  caseManagers: boolean;
  vendorCaseManagers: boolean;
  corporationScope: CorporationScope;
  allCorpUsers: boolean;
  allForeignNationals: boolean;
}

export interface MfaCorporation {
  id: string;
  name: string;
  corpUsers: boolean;
  foreignNationals: boolean;
}

/** Everything the MFA page shows, as GET /admin/mfa and every MFA change answer it. */
export interface MfaOverview {
  subscription: {
    state: SubscriptionState;
    planName: string | null;
    licenceCount: number;
    startsAt: number | null;
    endsAt: number | null;
    requestedAt: number | null;
    activatedAt: number | null;
    requestedLicences: number | null;
    live: boolean;
  };
  configuration: MfaConfiguration & { corporations: MfaCorporation[] };
  counters: { caseManagers: number; vendorCaseManagers: number; corpUsers: number; foreignNationals: number };
  usage: { licenceCount: number; enrolled: number; unutilised: number; percent: number; bypassLogins: number };
}

export type AuthenticatorMethod = 'totp' | 'push' | 'webauthn';

export interface EnrolledUser {
  userId: string;
  name: string;
  email: string;
  kind: Kind;
  organisation: string;
  methods: AuthenticatorMethod[];
  /** E.164 phone numbers of the user's active authenticators that have one, sorted. */
  phones: string[];
  enrolledAt: number;
  lastUsedAt: number | null;
}

/** GET /admin/mfa/fraud-reports: a push the user denied as "It seemed fraudulent". */
export interface FraudReport {
  id: string;
  userId: string;
  userName: string;
  email: string;
  reportedAt: number;
  ip: string | null;
  browser: string;
  os: string;
}

// --- MFA at login --------------------------------------------------------------------

/** What POST /login answers for a firm user: where the login goes next. */
export interface LoginResult {
  principal: 'user' | 'operator';
  next: 'home' | 'second_factor' | 'enroll';
  notice?: LoginNotice;
}

export type LoginNotice = 'mfa_bypassed_no_seat';

export type SecondFactorMethod = 'push' | 'totp' | 'backup_code' | 'webauthn';

/** GET /mfa/challenge: the pending second-factor step of a login. */
export interface MfaChallenge {
  user: { name: string; email: string };
  firmName: string;
  methods: SecondFactorMethod[];
  /** "webauthn" when the user has a security key and no phone (reference 2.2.c), else "totp". */
  defaultMethod?: SecondFactorMethod;
  lockedUntil: number | null;
  /** 0: the firm does not let browsers be remembered. */
  rememberDays: number;
}

/** GET /mfa/enrollment. */
export interface EnrollmentInfo {
  firmName: string;
  user: { name: string; email: string; kind: Kind | 'operator' };
  methods: { kind: AuthenticatorMethod; label: string }[];
  seatAvailable: boolean;
  enrolled: boolean;
}

/** POST /mfa/enrollment/totp: a pending authenticator to confirm with a code. */
export interface TotpEnrollment {
  authenticatorId: string;
  otpauthUri: string;
  secret: string;
  qrSvg: string;
}

/** POST /mfa/enrollment/push: a pending Tessera Authenticator, activated by opening the link (or scanning the QR code). */
export interface PushEnrollment {
  authenticatorId: string;
  activationUrl: string;
  qrSvg: string;
  expiresAt: number;
}

/** POST /mfa/push: the request sent to the user's devices, and the number to type there. */
export interface PushStart {
  transactionId: string;
  number: string;
  expiresAt: number;
}

export type PushStatus = 'pending' | 'approved' | 'denied' | 'fraud' | 'expired';

/** Where a finished login step goes; backup codes only after a first enrollment. */
export interface StepResult {
  next: 'home';
  notice?: LoginNotice;
  backupCodes?: string[] | null;
}

export interface MyAuthenticator {
  id: string;
  kind: AuthenticatorMethod;
  label: string;
  phone: string | null;
  createdAt: number;
  lastUsedAt: number | null;
}

/** GET /me/security. */
export interface MySecurity {
  mfaEnabled: boolean;
  enrolled: boolean;
  secondFactorThisSession: boolean;
  authenticators: MyAuthenticator[];
  backupCodesRemaining: number;
  rememberedBrowsers: number;
}

/** GET/PUT /admin/mfa/policy. */
export interface MfaLoginPolicy {
  lockoutThreshold: number;
  lockoutMinutes: number;
  rememberDays: number;
  /** Enrolled users may sign in with a passkey instead of a password (off by default). */
  passkeysEnabled: boolean;
}

/** One firm's subscription, as the operator console lists it. */
export interface SubscriptionItem {
  firmId: string;
  firmName: string;
  firmSlug: string;
  state: Exclude<SubscriptionState, 'not_subscribed'>;
  planName: string | null;
  licenceCount: number;
  seatsUsed: number;
  startsAt: number | null;
  endsAt: number | null;
  requestedAt: number | null;
  activatedAt: number | null;
  requestedLicences: number | null;
}

export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  pageSize: number;
}

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

/** Builds `?a=1&b=x`, leaving out empty values. */
export function query(params: Record<string, string | number | undefined | null>): string {
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
    const pending = request<{ token: string }>('GET', '/csrf').then((body) => body.token);
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

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

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

async function request<T>(method: Method, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const changesState = method !== 'GET';
  for (let attempt = 0; ; attempt++) {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (changesState) headers['x-csrf-token'] = await getCsrfToken();

    let response: Response;
    try {
      response = await fetch(BASE + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'same-origin',
        signal,
      });
    } catch (error) {
      if (isAbort(error)) throw error;
      throw new ApiError(0, 'NETWORK_ERROR', 'Could not reach the server. Check your connection and try again.');
    }

    if (response.ok) {
      const text = response.status === 204 ? '' : await response.text();
      return (text ? JSON.parse(text) : undefined) as T;
    }

    const error = await toApiError(response);
    if (changesState && attempt === 0 && response.status === 403 && error.code === 'CSRF_INVALID') {
      resetCsrfToken();
      continue;
    }
    if (response.status === 401 && error.code === 'UNAUTHENTICATED') {
      for (const listener of sessionEndedListeners) listener();
    }
    throw error;
  }
}

export const api = {
  get: <T>(path: string, signal?: AbortSignal) => request<T>('GET', path, undefined, signal),
  post: <T = void>(path: string, body?: unknown) => request<T>('POST', path, body),
  put: <T = void>(path: string, body: unknown) => request<T>('PUT', path, body),
  patch: <T = void>(path: string, body: unknown) => request<T>('PATCH', path, body),
  delete: <T = void>(path: string) => request<T>('DELETE', path),
};
