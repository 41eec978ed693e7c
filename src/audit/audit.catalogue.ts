import type { LoginMethod } from '../factors/kinds.js';

/**
 * Every audit event Tessera writes, in ONE list: its category, a human label, whether it
 * records a success or a failure, which factor it concerns, and whether it needs an
 * administrator's attention. `audit()` takes only names from this list (the compiler checks
 * it), stores the derived result, factor and attention beside the event (for the audit log's
 * filters and indexes), and the audit log screens and CSV export read labels and flags from
 * here too. Adding an event is adding one line here.
 *
 * "Needs attention" is every failure (a wrong password or code, a refused key or device, a
 * throttled or limited attempt) and the suspicious events among them get a flag of their own
 * (a replayed code or answer, a lockout, a fraud report, a signature counter that went back);
 * one success needs attention too: a login let through on the password alone because no
 * licence was free.
 */

export const AUDIT_CATEGORIES = {
  sign_in: 'Sign-in',
  second_factor: 'Second factor',
  enrollment: 'Enrollment',
  administration: 'Administration',
  subscription: 'Subscription',
  platform: 'Platform',
} as const;
export type AuditCategory = keyof typeof AUDIT_CATEGORIES;

export const AUDIT_RESULTS = ['success', 'failure'] as const;
export type AuditResult = (typeof AUDIT_RESULTS)[number];

/** The factors an event can concern: the password and every kind of the factor registry. A passkey sign-in is a security key's (WebAuthn). */
export type AuditFactor = 'password' | LoginMethod;
export const AUDIT_FACTORS: Readonly<Record<AuditFactor, string>> = {
  password: 'Password',
  totp: 'Passcode (authenticator app)',
  push: 'Push (Tessera Authenticator)',
  webauthn: 'Security key or passkey',
  backup_code: 'Backup code',
};

type Details = Record<string, unknown>;

interface EventSpec {
  category: AuditCategory;
  label: string;
  result: AuditResult;
  /** A fixed factor, or one read from the details (the method or kind the event names). */
  factor?: AuditFactor | ((d: Details) => AuditFactor | null);
  /** The text of the row's badge when it needs attention (default for a failure: "Failed"). */
  flag?: string | ((d: Details) => string);
  /** A success that still needs attention. */
  attention?: true;
}

const asFactor = (value: unknown): AuditFactor | null => {
  if (value === 'passkey') return 'webauthn';
  return typeof value === 'string' && value in AUDIT_FACTORS ? (value as AuditFactor) : null;
};
/** A Duo /auth call's factor: push, or the passcode's kind. */
const duoFactor = (d: Details): AuditFactor | null => (d.factor === 'push' ? 'push' : d.method === 'backup_code' ? 'backup_code' : d.factor === 'passcode' ? 'totp' : null);
/** The factor named by `details.method` (second-factor attempts) or `details.kind` (authenticators). */
const method = (d: Details) => asFactor(d.method);
const kind = (d: Details) => asFactor(d.kind);
/** A login's last factor: ['password'] -> password, ['password', 'totp'] -> totp, ['passkey'] -> webauthn. */
const lastFactor = (d: Details) => (Array.isArray(d.factors) ? asFactor(d.factors[d.factors.length - 1]) : null);
/** A password login, or a passkey sign-in when `details.method` says so. */
const passwordOrPasskey = (d: Details): AuditFactor => (d.method === 'passkey' ? 'webauthn' : 'password');

/** Reasons of a refused second factor or answer that mean "this was used already". */
const REPLAY_REASONS = new Set(['replay', 'challenge_used', 'already_approved', 'already_denied', 'already_fraud', 'nonce_replayed']);
const replayOr = (otherwise: string) => (d: Details) =>
  REPLAY_REASONS.has(String(d.reason)) ? 'Replay' : d.reason === 'counter_regression' ? 'Counter regression' : otherwise;

export const AUDIT_EVENTS = {
  // Sign-in
  'login.succeeded': { category: 'sign_in', label: 'Signed in', result: 'success', factor: lastFactor },
  'login.password_accepted': { category: 'sign_in', label: 'Password accepted, second factor next', result: 'success', factor: 'password' },
  'login.enroll_link_used': { category: 'sign_in', label: "Enrollment opened from an application's link (Duo enroll_portal_url)", result: 'success' },
  // A passkey sign-in refused for a used challenge or a counter that went back says so.
  'login.failed': { category: 'sign_in', label: 'Sign-in failed', result: 'failure', factor: passwordOrPasskey, flag: replayOr('Failed') },
  'login.throttled': { category: 'sign_in', label: 'Sign-in throttled', result: 'failure', factor: passwordOrPasskey, flag: 'Throttled' },
  // A remembered browser (which skips the second factor) or a passkey (which is one) refused because the second factor is locked.
  'login.refused_locked': { category: 'sign_in', label: 'Sign-in refused: second factor locked', result: 'failure', factor: passwordOrPasskey, flag: 'Lockout' },
  'login.mfa_bypassed_no_seat': {
    category: 'sign_in',
    label: 'Signed in without MFA: no licence free',
    result: 'success',
    factor: 'password',
    attention: true,
    flag: 'MFA bypassed',
  },
  logout: { category: 'sign_in', label: 'Signed out', result: 'success' },
  'password.set': { category: 'sign_in', label: 'Password set', result: 'success', factor: 'password' },

  // Second factor
  'mfa.failed': { category: 'second_factor', label: 'Second factor refused', result: 'failure', factor: method, flag: replayOr('Failed') },
  'mfa.replay_refused': { category: 'second_factor', label: 'Used code refused (replay)', result: 'failure', factor: method, flag: 'Replay' },
  'mfa.locked': { category: 'second_factor', label: 'Second factor locked', result: 'failure', flag: 'Lockout' },
  'mfa.unlocked': { category: 'second_factor', label: 'Second factor unlocked', result: 'success' },
  // A full session (a remembered browser, or one whose step-up aged) passed a second factor again before a security change: new token.
  'login.step_up': { category: 'second_factor', label: 'Second factor passed again (step-up)', result: 'success', factor: method },
  'mfa.push_sent': { category: 'second_factor', label: 'Push sent', result: 'success', factor: 'push' },
  'mfa.push_limited': { category: 'second_factor', label: 'Push refused: too many', result: 'failure', factor: 'push', flag: 'Push limit' },
  'mfa.push_approved': { category: 'second_factor', label: 'Push approved', result: 'success', factor: 'push' },
  'mfa.push_denied': {
    category: 'second_factor',
    label: 'Push denied',
    result: 'failure',
    factor: 'push',
    flag: (d) => (d.reason === 'wrong_number' ? 'Wrong number' : 'Denied'),
  },
  'mfa.push_fraud': { category: 'second_factor', label: 'Push reported as fraudulent', result: 'failure', factor: 'push', flag: 'Fraud report' },
  'mfa.push_answer_refused': { category: 'second_factor', label: 'Push answer refused', result: 'failure', factor: 'push', flag: replayOr('Refused') },
  'mfa.webauthn_counter_regression': {
    category: 'second_factor',
    label: 'Security key counter went back (possible clone)',
    result: 'failure',
    factor: 'webauthn',
    flag: 'Counter regression',
  },

  // Enrollment and the user's own authenticators
  'mfa.enrolled': { category: 'enrollment', label: 'Authenticator enrolled', result: 'success', factor: kind },
  'mfa.enrollment_refused': { category: 'enrollment', label: 'Enrollment refused', result: 'failure', factor: kind, flag: replayOr('Refused') },
  'mfa.enrollment_reset': { category: 'enrollment', label: 'MFA enrollment reset', result: 'success' },
  'mfa.enrollment_recycled': { category: 'enrollment', label: 'Licence recycled', result: 'success' },
  'mfa.authenticator_renamed': { category: 'enrollment', label: 'Authenticator renamed', result: 'success', factor: kind },
  'mfa.authenticator_removed': { category: 'enrollment', label: 'Authenticator removed', result: 'success', factor: kind },
  'mfa.backup_codes_regenerated': { category: 'enrollment', label: 'New backup codes made', result: 'success', factor: 'backup_code' },
  'mfa.remembered_browsers_forgotten': { category: 'enrollment', label: 'Remembered browsers forgotten', result: 'success' },
  'device.activation_refused': { category: 'enrollment', label: 'Device activation refused', result: 'failure', factor: 'push', flag: 'Refused' },
  // A signed device request sent a second time (its nonce used) is a replay; anything else a bad signature.
  'device.auth_failed': { category: 'second_factor', label: 'Device request refused', result: 'failure', factor: 'push', flag: replayOr('Bad signature') },

  // The firm's administration
  'user.created': { category: 'administration', label: 'User created', result: 'success' },
  'user.updated': { category: 'administration', label: 'User changed', result: 'success' },
  'user.deactivated': { category: 'administration', label: 'User deactivated', result: 'success' },
  'user.deleted': { category: 'administration', label: 'User deleted', result: 'success' },
  'user.password_link_sent': { category: 'administration', label: 'Set-password link sent', result: 'success', factor: 'password' },
  'corporation.created': { category: 'administration', label: 'Corporation created', result: 'success' },
  'corporation.renamed': { category: 'administration', label: 'Corporation renamed', result: 'success' },
  'corporation.deleted': { category: 'administration', label: 'Corporation deleted', result: 'success' },
  'mfa.configuration_changed': { category: 'administration', label: 'MFA configuration changed', result: 'success' },
  'mfa.corporation_added': { category: 'administration', label: 'Corporation added to MFA', result: 'success' },
  'mfa.corporation_changed': { category: 'administration', label: 'MFA corporation changed', result: 'success' },
  'mfa.corporation_removed': { category: 'administration', label: 'Corporation removed from MFA', result: 'success' },
  'mfa.policy_changed': { category: 'administration', label: 'Login policy changed', result: 'success' },
  // Applications (issue 14 item 1, issue 15 item 1): details name the application, never its secret.
  'application.created': { category: 'administration', label: 'Application created', result: 'success' },
  'application.changed': { category: 'administration', label: 'Application changed', result: 'success' },
  'application.disabled': { category: 'administration', label: 'Application disabled', result: 'success' },
  'application.enabled': { category: 'administration', label: 'Application enabled', result: 'success' },
  'application.deleted': { category: 'administration', label: 'Application deleted', result: 'success' },
  'application.secret_rotated': { category: 'administration', label: 'Application secret rotated', result: 'success' },
  // The Duo-compatible Auth API (src/duo/): every call, with its application.
  'duo.preauth': { category: 'sign_in', label: 'Duo Auth API: preauth', result: 'success' },
  'duo.auth': { category: 'second_factor', label: 'Duo Auth API: auth allowed or pushed', result: 'success', factor: duoFactor },
  'duo.auth_denied': { category: 'second_factor', label: 'Duo Auth API: auth denied', result: 'failure', factor: duoFactor, flag: (d) => (d.status === 'fraud' ? 'Fraud' : d.status === 'locked_out' ? 'Lockout' : 'Denied') },
  'duo.enroll': { category: 'enrollment', label: 'Duo Auth API: activation issued', result: 'success' },
  'duo.enrollment_completed': { category: 'enrollment', label: "Enrollment from an application's link finished (no Tessera session: back to the application)", result: 'success', factor: method },
  'duo.enroll_refused': { category: 'enrollment', label: 'Duo Auth API: enroll refused', result: 'failure' },
  'duo.call': { category: 'sign_in', label: 'Duo Auth API call', result: 'success' },
  // A request with a known integration key and a wrong, stale or missing signature (src/duo/refused-signatures.ts): at most one a minute per key and reason.
  'duo.signature_refused': { category: 'sign_in', label: 'Duo API: request signature refused', result: 'failure' },

  // Subscriptions and licences
  'subscription.requested': { category: 'subscription', label: 'Subscription requested', result: 'success' },
  'subscription.licences_requested': { category: 'subscription', label: 'More licences requested', result: 'success' },
  'subscription.activated': { category: 'subscription', label: 'Subscription activated', result: 'success' },
  'subscription.changed': { category: 'subscription', label: 'Subscription changed', result: 'success' },
  'subscription.declined': { category: 'subscription', label: 'Subscription request declined', result: 'success' },
  'subscription.licence_request_declined': { category: 'subscription', label: 'Licence request declined', result: 'success' },
  'subscription.suspended': { category: 'subscription', label: 'Subscription suspended', result: 'success' },
  'subscription.cancelled': { category: 'subscription', label: 'Subscription cancelled', result: 'success' },

  // The platform
  'firm.created': { category: 'platform', label: 'Firm created', result: 'success' },
} as const satisfies Record<string, EventSpec>;

export type AuditEventName = keyof typeof AUDIT_EVENTS;
export const AUDIT_EVENT_NAMES = Object.keys(AUDIT_EVENTS) as AuditEventName[];

export interface AuditClassification {
  category: AuditCategory;
  label: string;
  result: AuditResult;
  factor: AuditFactor | null;
  attention: boolean;
  /** The badge text of a row that needs attention; null otherwise. */
  flag: string | null;
}

const isKnown = (event: string): event is AuditEventName => Object.prototype.hasOwnProperty.call(AUDIT_EVENTS, event);

/**
 * What an event means. Also answers for a name no longer written (rows outlive code): shown
 * as itself, a success, under Platform, never flagged.
 */
export function classify(event: string, details: Details): AuditClassification {
  if (!isKnown(event)) return { category: 'platform', label: event, result: 'success', factor: null, attention: false, flag: null };
  const spec: EventSpec = AUDIT_EVENTS[event];
  const factor = typeof spec.factor === 'function' ? spec.factor(details) : (spec.factor ?? null);
  const attention = spec.result === 'failure' || spec.attention === true;
  const flag = attention ? (typeof spec.flag === 'function' ? spec.flag(details) : (spec.flag ?? 'Failed')) : null;
  return { category: spec.category, label: spec.label, result: spec.result, factor, attention, flag };
}

/** The details column as an object; anything else (never written, but rows outlive code) as {}. */
export function parseDetails(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
