// Security keys and passkeys (issue 6, reference section 2): the three WebAuthn
// ceremonies of the browser app, and the words for everything that can go wrong in them.
// The server makes every challenge and checks every answer; this file only carries the
// options to the browser (`@simplewebauthn/browser` turns base64url into bytes and back)
// and the answer back to the server.
import { browserSupportsWebAuthn, browserSupportsWebAuthnAutofill, startAuthentication, startRegistration, WebAuthnAbortService } from '@simplewebauthn/browser';
import { api, ApiError, type Answer, type LoginResult } from '../../api';
import { codeErrorMessage } from '../../words';

export const KEY_WORDS = {
  cancelled: 'The request was cancelled or timed out. Try again.',
  alreadyRegistered: 'This key is already registered.',
  notSupported:
    'This browser cannot use security keys. Use a current version of Chrome, Edge, Firefox or Safari, or choose another method.',
  noSuitableKey: 'This key is not supported: it offers none of the signature methods Tessera accepts. Try another key.',
  noPasskeySupport:
    'This key cannot hold a passkey: a passkey is stored on the key and needs a PIN, fingerprint or face check. Try another key, or add this one as a security key.',
  wrongAddress:
    'The browser refused to use a security key at this address. Open Tessera at the address your administrator gave you and try again.',
  keyError: 'The security key could not answer. Take it out, insert it again, and try again.',
  expired: 'This request expired. Try again.',
  passkeyRefused: 'This passkey cannot sign you in here. Sign in with your email and password instead.',
} as const;

/** Which ceremony failed: the same browser error means different things in each. */
export type Ceremony = 'register' | 'passkey-register' | 'authenticate' | 'passkey';

/** A WebAuthn ceremony cannot start in this browser (no `PublicKeyCredential`, or not a secure context). */
class NotSupported extends Error {
  override name = 'NotSupported';
}

function ensureSupported(): void {
  if (!browserSupportsWebAuthn()) throw new NotSupported('WebAuthn is not available');
}

/**
 * The words for a failed ceremony. The browser's errors arrive as DOMExceptions, or as
 * @simplewebauthn's WebAuthnError, which keeps the DOMException's `name` (WebAuthn L2
 * §5.1.3, §5.1.4): NotAllowedError covers cancel, time-out and "no key answered" (the spec
 * makes them indistinguishable on purpose), InvalidStateError a key in excludeCredentials.
 */
export function keyErrorMessage(cause: unknown, ceremony: Ceremony): string {
  if (cause instanceof ApiError) {
    switch (cause.code) {
      case 'CREDENTIAL_EXISTS':
        return KEY_WORDS.alreadyRegistered;
      case 'CHALLENGE_INVALID':
        return KEY_WORDS.expired;
      case 'INVALID_CREDENTIALS':
        return ceremony === 'passkey' ? KEY_WORDS.passkeyRefused : cause.message;
      default:
        // WEBAUTHN_FAILED (with attempts left), MFA_LOCKED (with the wait), or the server's words.
        return codeErrorMessage(cause);
    }
  }
  if (cause instanceof NotSupported) return KEY_WORDS.notSupported;
  const name = cause instanceof Error ? cause.name : '';
  switch (name) {
    case 'NotAllowedError':
    case 'AbortError':
      return KEY_WORDS.cancelled;
    case 'InvalidStateError':
      return KEY_WORDS.alreadyRegistered;
    case 'NotSupportedError':
      return ceremony === 'register' || ceremony === 'passkey-register' ? KEY_WORDS.noSuitableKey : KEY_WORDS.notSupported;
    case 'ConstraintError':
      return ceremony === 'passkey-register' ? KEY_WORDS.noPasskeySupport : KEY_WORDS.noSuitableKey;
    case 'SecurityError':
      return KEY_WORDS.wrongAddress;
    default:
      return KEY_WORDS.keyError;
  }
}

/** True when the server's answer ends the pending login (the caller signs in again). */
export function isSignedOut(cause: unknown): boolean {
  return cause instanceof ApiError && cause.status === 401 && cause.code === 'UNAUTHENTICATED';
}

/**
 * A ceremony's answer as the API takes it. The API's schema lets the extension outputs be any
 * object (browsers add new ones; the spec keeps them open), which its generated type says with
 * an index signature; @simplewebauthn names the outputs it knows in an interface, which
 * TypeScript does not match to an index signature. A plain copy of the same keys does.
 */
function forApi<T extends { clientExtensionResults: object }>(answer: T) {
  const { clientExtensionResults, ...rest } = answer;
  return { ...rest, clientExtensionResults: { ...clientExtensionResults } };
}

// --- Enrollment: a security key, or a passkey, from /enroll or My security -----------------

/**
 * Registers a key: the server makes the options (and a pending authenticator named
 * `label`), the key makes a credential, the server checks and activates it. A first
 * enrollment answers backup codes.
 */
export async function registerKey(label: string, passkey: boolean): Promise<{ backupCodes: string[] | null }> {
  ensureSupported();
  const start = await api.post('/mfa/enrollment/webauthn/options', { body: { label, ...(passkey ? { passkey: true } : {}) } });
  const response = await startRegistration({ optionsJSON: start.options });
  const result = await api.post('/mfa/enrollment/webauthn/{authenticatorId}/verify', {
    params: { path: { authenticatorId: start.authenticatorId } },
    body: { response: forApi(response) },
  });
  return { backupCodes: result.backupCodes ?? null };
}

// --- The second factor of a login (/mfa) ---------------------------------------------------

export async function verifyWithKey(remember: boolean | undefined): Promise<Answer<'post', '/mfa/webauthn/verify'>> {
  ensureSupported();
  const { options } = await api.post('/mfa/webauthn/options');
  const response = await startAuthentication({ optionsJSON: options });
  return api.post('/mfa/webauthn/verify', { body: { response: forApi(response), ...(remember === undefined ? {} : { remember }) } });
}

// --- Passkey sign-in (/login): no email, no password ---------------------------------------

/**
 * A passkey sign-in. `autofill`: WebAuthn conditional mediation, a request that waits unseen
 * until the user picks a passkey among the email field's suggestions (the field's autocomplete
 * ends in "webauthn"); it needs `passkeyAutofillAvailable()`. Either kind rejects with an
 * AbortError once `cancelPasskeyRequest()` or a newer ceremony cancels it (WebAuthnAbortService
 * lets one ceremony run at a time); `signal` also stops it before the browser is asked.
 * `onAnswered` is told when the browser has answered, before the server checks the answer.
 */
export async function signInWithPasskey(
  opts: { autofill?: boolean; signal?: AbortSignal; onAnswered?(): void } = {},
): Promise<LoginResult> {
  ensureSupported();
  const { challengeId, options } = await api.post('/passkey/options', { signal: opts.signal });
  opts.signal?.throwIfAborted();
  const response = await startAuthentication({ optionsJSON: options, useBrowserAutofill: opts.autofill ?? false });
  opts.onAnswered?.();
  return api.post('/passkey/verify', { body: { challengeId, response: forApi(response) } });
}

/** The browser can offer passkeys in a field's autofill (`PublicKeyCredential.isConditionalMediationAvailable()`). */
export function passkeyAutofillAvailable(): Promise<boolean> {
  return browserSupportsWebAuthnAutofill().catch(() => false);
}

/** Cancels the passkey request in progress, if any (before a password submit, or when the page is left). */
export function cancelPasskeyRequest(): void {
  WebAuthnAbortService.cancelCeremony();
}

/** The ceremony was cancelled by the page itself (AbortError), not by the user or a failure. */
export function isCancelledCeremony(cause: unknown): boolean {
  return cause instanceof Error && cause.name === 'AbortError';
}
