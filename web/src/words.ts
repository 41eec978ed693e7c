import { ApiError, errorMessage, type ApplicationType, type AuthenticatorMethod, type GracePeriod, type Kind, type LoginPeriod, type NewUserPolicy, type SecretAuthMethod, type SubscriptionState, type UserView } from './api';

export const KIND_LABELS: Record<Kind, string> = {
  case_manager: 'Case manager',
  vendor_case_manager: 'Vendor case manager',
  corp_user: 'Corp user',
  foreign_national: 'Foreign national',
};

export const KINDS = Object.keys(KIND_LABELS) as Kind[];

export const KIND_OPTIONS = KINDS.map((kind) => ({ value: kind, label: KIND_LABELS[kind] }));

/** Corp users and foreign nationals belong to a corporation; staff kinds do not. */
export function belongsToCorporation(kind: Kind): boolean {
  return kind === 'corp_user' || kind === 'foreign_national';
}

export function formatDate(epochMs: number): string {
  return new Date(epochMs).toLocaleString();
}

/** A calendar day stored as UTC midnight (plan start and end dates). */
export function formatDay(epochMs: number): string {
  return new Date(epochMs).toLocaleDateString(undefined, { timeZone: 'UTC' });
}

/** "2025-03-01" (an <input type="date"> value) -> epoch ms of that day's UTC midnight; '' -> null. */
export function dayToEpoch(value: string): number | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!match) return null;
  return Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
}

/** The reverse of dayToEpoch, for prefilling a date field. */
export function epochToDay(epochMs: number | null): string {
  return epochMs === null ? '' : new Date(epochMs).toISOString().slice(0, 10);
}

export const SUBSCRIPTION_STATE_LABELS: Record<SubscriptionState, string> = {
  not_subscribed: 'Not subscribed',
  requested: 'Requested — the accounts team will contact you',
  active: 'Active',
  suspended: 'Suspended',
  cancelled: 'Cancelled',
};

/** The operator's shorter words for the same states. */
export const SUBSCRIPTION_STATE_SHORT: Record<SubscriptionState, string> = {
  not_subscribed: 'Not subscribed',
  requested: 'Requested',
  active: 'Active',
  suspended: 'Suspended',
  cancelled: 'Cancelled',
};

export const METHOD_LABELS: Record<AuthenticatorMethod, string> = {
  push: 'Tessera Authenticator',
  totp: 'Authenticator app',
  webauthn: 'Security key',
};

import { plural } from './plural';
export { plural };

export function describeState(user: UserView): string {
  if (!belongsToCorporation(user.kind)) return user.status === 'disabled' ? 'Disabled' : 'Active';
  const portal = user.portalAccess === 'disabled' ? 'Portal access disabled' : 'Portal access enabled';
  const record = user.recordState === 'inactive' ? 'record inactive' : 'record active';
  return `${portal}, ${record}`;
}

/** A URL-safe short name suggested from a display name: "Smith & Co." -> "smith-co". */
export function suggestSlug(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/** "Try again in 15 minutes." from a wait in seconds (never "0 minutes"). */
export function lockMessage(retryAfterSeconds: number): string {
  const minutes = Math.max(1, Math.ceil(retryAfterSeconds / 60));
  return `Too many wrong codes. Try again in ${plural(minutes, 'minute')}.`;
}

/**
 * The text for a refused passcode, backup code or security key: how many tries are left
 * after a wrong one, how long to wait when the second factor is locked, else the server's message.
 */
export function codeErrorMessage(cause: unknown): string {
  if (cause instanceof ApiError) {
    // A wrong passcode or backup code, or a security key the server did not accept: both count toward the lock.
    if (cause.code === 'INVALID_CODE' || cause.code === 'WEBAUTHN_FAILED') {
      const left = cause.count('attemptsLeft');
      return left === null ? cause.message : `${cause.message} ${plural(left, 'attempt')} left.`;
    }
    if (cause.code === 'MFA_LOCKED') {
      const wait = cause.count('retryAfterSeconds');
      return wait === null ? cause.message : lockMessage(wait);
    }
  }
  return errorMessage(cause);
}

/** Groups a setup key in fours for reading it off the screen: "JBSW Y3DP EHPK 3PXP". */
export function groupKey(secret: string): string {
  return secret.replace(/\s+/g, '').replace(/(.{4})(?=.)/g, '$1 ');
}

export const APPLICATION_TYPE_LABELS: Record<ApplicationType, string> = {
  oidc: 'OpenID Connect',
  duo_auth_api: 'Duo Auth API',
  duo_web_sdk: 'Duo Web SDK',
};

/** The periods of "Logins per application" (GET /admin/mfa/logins?days=), today (UTC) included. */
export const LOGIN_PERIOD_LABELS: Record<LoginPeriod, string> = {
  7: 'Last 7 days',
  30: 'Last 30 days',
  90: 'Last 90 days',
};

export const NEW_USER_POLICY_LABELS: Record<NewUserPolicy, string> = {
  enroll: 'Require enrollment',
  allow: 'Allow access',
  deny: 'Deny access',
};

export const AUTH_METHOD_LABELS: Record<SecretAuthMethod, string> = {
  client_secret_basic: 'client_secret_basic (HTTP Basic, the default)',
  client_secret_post: 'client_secret_post (in the request body)',
  client_secret_jwt: 'client_secret_jwt (a JWT signed with the secret)',
};

/** When the current secret stops working after a rotation. */
export const GRACE_LABELS: Record<GracePeriod, string> = {
  none: 'Now',
  '1h': 'In 1 hour',
  '24h': 'In 24 hours',
  '7d': 'In 7 days',
};

/** "Client secret" -> "client secret", "Client ID" -> "client ID": the word inside a sentence. */
export const inSentence = (name: string) => name.charAt(0).toLowerCase() + name.slice(1);

/** What an application calls its id and its secret: OIDC says client ID / client secret, Duo integration key / secret key. */
export function credentialNames(type: ApplicationType): { id: string; secret: string } {
  return type === 'oidc' ? { id: 'Client ID', secret: 'Client secret' } : { id: 'Integration key', secret: 'Secret key' };
}
