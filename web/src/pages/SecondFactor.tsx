import { useEffect, useState } from 'react';
import { api, ApiError, errorMessage, type MfaChallenge, type SecondFactorMethod } from '../api';
import { ErrorAlert } from '../components/Notice';
import { Card, Page } from '../components/Page';
import { SECOND_FACTOR_STEPS, stepFor } from '../factors/registry';
import { pushPausedText } from '../factors/push/push-words';
import { signInAgain, useFinishSignIn, useSession } from '../session';

/** The method shown first: the server's default when the user has it, else a passcode, else a backup code. */
function firstMethod(challenge: MfaChallenge): SecondFactorMethod {
  const { methods, defaultMethod } = challenge;
  if (defaultMethod && methods.includes(defaultMethod)) return defaultMethod;
  return methods.find((m) => m === 'totp') ?? methods.find((m) => m === 'webauthn') ?? methods.find((m) => m === 'push') ?? 'backup_code';
}

/**
 * The second step of an MFA-enabled login (/mfa, reference 1.4.2, 2.2.c): a passcode from
 * the authenticator app, a push, a tap of a security key, or a backup code. Nothing but this
 * page works until it succeeds. Each method's form is its factor's (factors/registry.ts); this
 * page shows the one chosen and offers the others.
 */
export function SecondFactor() {
  const [challenge, setChallenge] = useState<MfaChallenge | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [method, setMethod] = useState<SecondFactorMethod>('totp');
  // A method chosen with its button ("Use security key", "Send me a push") starts at once: one click, not two.
  const [startNow, setStartNow] = useState<ReadonlySet<SecondFactorMethod>>(new Set());
  const finishSignIn = useFinishSignIn();
  const { logOut } = useSession();

  useEffect(() => {
    const controller = new AbortController();
    api
      .get('/mfa/challenge', { signal: controller.signal })
      .then((body) => {
        setChallenge(body);
        setMethod(firstMethod(body));
      })
      .catch((cause: unknown) => {
        if (controller.signal.aborted) return;
        // No pending login (expired after 10 minutes, or opened directly): sign in again.
        if (cause instanceof ApiError && cause.status === 401) signInAgain();
        else setLoadError(errorMessage(cause));
      });
    return () => controller.abort();
  }, []);

  const Step = stepFor(method).Form;
  // The other methods this user has, in the order the page offers them.
  const others = SECOND_FACTOR_STEPS.filter((other) => other.method !== method && challenge?.methods.includes(other.method));

  return (
    <Page title="Second factor">
      <ErrorAlert message={loadError} />
      {challenge ? (
        <>
          <p className="lead">
            Signing in as <strong>{challenge.user.name}</strong> <span className="break">({challenge.user.email})</span> at{' '}
            <strong>{challenge.firmName}</strong>.
          </p>
          {challenge.pushPausedUntil !== null ? (
            <p role="status" className="notice notice-info">
              {pushPausedText(challenge.pushPausedUntil, challenge.methods)}
            </p>
          ) : null}
          <Card>
            <Step key={method} challenge={challenge} startNow={startNow.has(method)} onVerified={() => void finishSignIn()} onExpired={signInAgain} />
            {others
              .filter((other) => other.offer.style === 'button')
              .map((other) => (
                <div key={other.method} className="form-actions switch-method">
                  <button
                    type="button"
                    className="button-secondary"
                    onClick={() => {
                      setStartNow((methods) => new Set(methods).add(other.method));
                      setMethod(other.method);
                    }}
                  >
                    {other.offer.label}
                  </button>
                </div>
              ))}
            <div className="switch-method">
              {others
                .filter((other) => other.offer.style === 'link')
                .map((other) => (
                  <button key={other.method} type="button" className="link-button" onClick={() => setMethod(other.method)}>
                    {other.offer.label}
                  </button>
                ))}
            </div>
          </Card>
          <p className="page-footer">
            <button type="button" className="link-button" onClick={() => void logOut()}>
              Cancel and sign out
            </button>
          </p>
        </>
      ) : loadError ? null : (
        <p className="muted">Loading…</p>
      )}
    </Page>
  );
}
