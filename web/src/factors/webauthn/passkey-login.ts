// Passkeys on the firm users' login page (issue 16.9): offered in the email field's autofill
// to whoever has one (conditional mediation), and as a button only where the page knows the
// firm and the firm allows passkeys.
import { useCallback, useEffect, useRef, useState } from 'react';
import { api, ApiError, type LoginResult } from '../../api';
import { cancelPasskeyRequest, isCancelledCeremony, passkeyAutofillAvailable, signInWithPasskey } from './ceremonies';

/** A firm's short name as the server takes it (the login's `firm`). */
const FIRM_SLUG = /^[A-Za-z0-9-]{1,63}$/;
/** A typed firm name is looked up once the typing pauses. */
const TYPING_PAUSE_MS = 400;
/**
 * The server's passkey challenge lasts 5 minutes (the options' `timeout`); an autofill request
 * that waits that long is renewed with a fresh challenge a little before, so a user who comes
 * back to an open login page later is not told "This request expired".
 */
const RENEW_AFTER_MS = 5 * 60_000 - 30_000;

/**
 * Whether the firm named `firm` allows passkey sign-in (GET /login/options). False while
 * unknown, for an empty or malformed name, and when the look-up fails (throttled, offline):
 * the button is a convenience, the password and the autofill passkey always remain.
 */
export function useFirmAllowsPasskeys(firm: string, enabled: boolean): boolean {
  const [allowed, setAllowed] = useState<{ firm: string; passkeys: boolean } | null>(null);
  // The firm of a link (?firm=acme) is looked up at once; a typed one when the typing pauses.
  const first = useRef(true);
  const slug = firm.trim();
  useEffect(() => {
    const immediate = first.current;
    first.current = false;
    if (!enabled || !FIRM_SLUG.test(slug)) return;
    const controller = new AbortController();
    const timer = window.setTimeout(
      () => {
        api
          .get('/login/options', { params: { query: { firm: slug } }, signal: controller.signal })
          .then((answer) => setAllowed({ firm: slug, passkeys: answer.passkeys }))
          .catch(() => setAllowed({ firm: slug, passkeys: false }));
      },
      immediate ? 0 : TYPING_PAUSE_MS,
    );
    return () => {
      window.clearTimeout(timer);
      controller.abort();
    };
  }, [slug, enabled]);
  // An answer counts only for the name now in the field.
  return enabled && allowed !== null && allowed.firm === slug && allowed.passkeys;
}

export interface PasskeyAutofill {
  /** Stops the waiting request (before a password submit, or before another passkey ceremony). */
  stop(): void;
  /** Starts it again (after a failed password submit or passkey ceremony); nothing where the browser cannot. */
  start(): void;
}

/**
 * The passkey in the email field's autofill: while the page is open, a conditional WebAuthn
 * request waits for the user to pick a passkey among the field's suggestions. Nobody sees
 * anything unless the browser holds a passkey for this site. Only the server's refusal is
 * reported (`onError`); a browser that fails on its own stays silent, as the request was
 * never something the user asked for. So does the server's 429 on the options (throttled per
 * address): the request starts again after the Retry-After it was told, not at once. Stopped
 * when the page is left.
 */
export function usePasskeyAutofill(
  enabled: boolean,
  handlers: { onPicked(): void; onSignedIn(result: LoginResult): void; onError(cause: unknown): void },
): PasskeyAutofill {
  const live = useRef<AbortController | null>(null);
  const retry = useRef<number | null>(null);
  const callbacks = useRef(handlers);
  callbacks.current = handlers;

  const stop = useCallback(() => {
    if (retry.current !== null) window.clearTimeout(retry.current);
    retry.current = null;
    const current = live.current;
    if (!current) return;
    live.current = null;
    current.abort();
    // Only this request is cancelled: the page's other ceremonies (the button) call stop() first.
    cancelPasskeyRequest();
  }, []);

  const start = useCallback(() => {
    stop();
    if (!enabled) return;
    const controller = new AbortController();
    live.current = controller;
    const renew = window.setTimeout(() => {
      if (live.current === controller) start();
    }, RENEW_AFTER_MS);
    const stillMine = () => !controller.signal.aborted;
    void (async () => {
      try {
        if (!(await passkeyAutofillAvailable()) || !stillMine()) return;
        const result = await signInWithPasskey({
          autofill: true,
          signal: controller.signal,
          onAnswered: () => {
            // The user picked a passkey: from here on it is a sign-in, not a waiting request.
            window.clearTimeout(renew);
            if (live.current === controller) live.current = null;
            if (stillMine()) callbacks.current.onPicked();
          },
        });
        if (stillMine()) callbacks.current.onSignedIn(result);
      } catch (cause) {
        if (!stillMine() || isCancelledCeremony(cause) || !(cause instanceof ApiError)) return;
        if (cause.status === 429) {
          // Nobody asked for this request: no message, and no retry before the server's wait is over.
          live.current = null;
          retry.current = window.setTimeout(() => {
            retry.current = null;
            start();
          }, (cause.count('retryAfterSeconds') ?? 60) * 1000);
          return;
        }
        callbacks.current.onError(cause);
        start();
      } finally {
        window.clearTimeout(renew);
        if (live.current === controller) live.current = null;
      }
    })();
  }, [enabled, stop]);

  useEffect(() => {
    start();
    return stop;
  }, [start, stop]);

  return { start, stop };
}
