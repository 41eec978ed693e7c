import { useEffect, useRef, useState, type FormEvent } from 'react';
import { api, ApiError, errorMessage, type MfaChallenge, type SecondFactorMethod, type StepResult } from '../api';
import { CheckboxField, TextField } from '../components/Field';
import { ErrorAlert } from '../components/Notice';
import { Card, Page } from '../components/Page';
import { signInAgain, useFinishSignIn, useSession } from '../session';
import { isSignedOut, keyErrorMessage, verifyWithKey } from '../webauthn';
import { codeErrorMessage, lockMessage, plural } from '../words';

/** The method shown first: the server's default when the user has it, else a passcode, else a backup code. */
function firstMethod(challenge: MfaChallenge): SecondFactorMethod {
  const { methods, defaultMethod } = challenge;
  if (defaultMethod && methods.includes(defaultMethod)) return defaultMethod;
  return methods.find((m) => m === 'totp') ?? methods.find((m) => m === 'webauthn') ?? 'backup_code';
}

/**
 * The second step of an MFA-enabled login (/mfa, reference 1.4.2, 2.2.c): a passcode from
 * the authenticator app, a tap of a security key, or a backup code. Nothing but this page
 * works until it succeeds.
 */
export function SecondFactor() {
  const [challenge, setChallenge] = useState<MfaChallenge | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [method, setMethod] = useState<SecondFactorMethod>('totp');
  // "Use security key" from the passcode screen starts the tap at once: one click, not two.
  const [keyNow, setKeyNow] = useState(false);
  const finishSignIn = useFinishSignIn();
  const { logOut } = useSession();

  useEffect(() => {
    const controller = new AbortController();
    api
      .get<MfaChallenge>('/mfa/challenge', controller.signal)
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

  return (
    <Page title="Second factor">
      <ErrorAlert message={loadError} />
      {challenge ? (
        <>
          <p className="lead">
            Signing in as <strong>{challenge.user.name}</strong> <span className="break">({challenge.user.email})</span> at{' '}
            <strong>{challenge.firmName}</strong>.
          </p>
          <Card>
            {method === 'webauthn' ? (
              <KeyForm challenge={challenge} startNow={keyNow} onVerified={() => void finishSignIn()} onExpired={signInAgain} />
            ) : (
              <CodeForm
                key={method}
                method={method}
                challenge={challenge}
                onVerified={() => void finishSignIn()}
                onExpired={signInAgain}
              />
            )}
            {method !== 'webauthn' && challenge.methods.includes('webauthn') ? (
              <div className="form-actions switch-method">
                <button
                  type="button"
                  className="button-secondary"
                  onClick={() => {
                    setKeyNow(true);
                    setMethod('webauthn');
                  }}
                >
                  Use security key
                </button>
              </div>
            ) : null}
            <div className="switch-method">
              {method !== 'totp' && challenge.methods.includes('totp') ? (
                <button type="button" className="link-button" onClick={() => setMethod('totp')}>
                  Use a passcode from your app instead
                </button>
              ) : null}
              {method !== 'backup_code' && challenge.methods.includes('backup_code') ? (
                <button type="button" className="link-button" onClick={() => setMethod('backup_code')}>
                  Use a backup code instead
                </button>
              ) : null}
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

const FORM_WORDS: Record<SecondFactorMethod, { name: string; field: string; intro: string }> = {
  totp: {
    name: 'Passcode',
    field: 'Passcode',
    intro: 'Open your authenticator app and type the 6-digit code it shows for this account.',
  },
  backup_code: {
    name: 'Backup code',
    field: 'Backup code',
    intro: 'Type one of the backup codes you saved when you set up MFA. Each code works once.',
  },
  webauthn: {
    name: 'Security key',
    field: 'Security key',
    intro: 'Insert your security key, select “Use security key”, and tap the key when it blinks.',
  },
};

/** The remember-this-browser choice, shared by every method (absent when the firm allows none). */
function RememberField({ days, checked, onChange }: { days: number; checked: boolean; onChange(checked: boolean): void }) {
  if (days <= 0) return null;
  return (
    <CheckboxField
      label={`Remember this browser for ${plural(days, 'day')}`}
      checked={checked}
      onChange={onChange}
      hint="Only on a computer that is yours alone. You will not be asked for a code here during that time."
    />
  );
}

/**
 * A tap of a security key (reference 2.2.c-d): one button, the browser's window, the
 * homepage. A key the server refuses counts toward the lock like a wrong code.
 */
function KeyForm({
  challenge,
  startNow,
  onVerified,
  onExpired,
}: {
  challenge: MfaChallenge;
  startNow: boolean;
  onVerified(): void;
  onExpired(): void;
}) {
  const words = FORM_WORDS.webauthn;
  const [remember, setRemember] = useState(false);
  const [waiting, setWaiting] = useState(false);
  const lockedFor = challenge.lockedUntil === null ? 0 : (challenge.lockedUntil - Date.now()) / 1000;
  const [error, setError] = useState<string | null>(lockedFor > 0 ? lockMessage(lockedFor) : null);
  const [failed, setFailed] = useState(false);
  const started = useRef(false);

  async function verify() {
    setWaiting(true);
    setError(null);
    try {
      await verifyWithKey(challenge.rememberDays > 0 ? remember : undefined);
      onVerified();
    } catch (cause) {
      setWaiting(false);
      if (isSignedOut(cause)) {
        onExpired();
        return;
      }
      setError(keyErrorMessage(cause, 'authenticate'));
      setFailed(true);
    }
  }

  useEffect(() => {
    // Only after a click on "Use security key" (a user gesture), never on page load.
    if (startNow && !started.current && lockedFor <= 0) {
      started.current = true;
      void verify();
    }
  }, [startNow]);

  function submit(event: FormEvent) {
    event.preventDefault();
    void verify();
  }

  return (
    <form className="form" aria-label={words.name} onSubmit={submit} noValidate>
      <ErrorAlert message={error} />
      <p className="muted">{words.intro} Some keys ask you to tap more than once.</p>
      {waiting ? (
        <p role="status" className="notice notice-info">
          Waiting for your security key. Tap it now.
        </p>
      ) : null}
      <RememberField days={challenge.rememberDays} checked={remember} onChange={setRemember} />
      <div className="form-actions">
        <button type="submit" disabled={waiting}>
          {failed ? 'Try again' : 'Use security key'}
        </button>
      </div>
    </form>
  );
}

function CodeForm({
  method,
  challenge,
  onVerified,
  onExpired,
}: {
  method: SecondFactorMethod;
  challenge: MfaChallenge;
  onVerified(): void;
  onExpired(): void;
}) {
  const words = FORM_WORDS[method];
  const [code, setCode] = useState('');
  const [remember, setRemember] = useState(false);
  const [pending, setPending] = useState(false);
  const lockedFor = challenge.lockedUntil === null ? 0 : (challenge.lockedUntil - Date.now()) / 1000;
  const [error, setError] = useState<string | null>(lockedFor > 0 ? lockMessage(lockedFor) : null);
  const field = useRef<HTMLDivElement>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    // Passcodes are often typed as "123 456"; backup codes go as typed (the server
    // normalises case, dashes and look-alike characters).
    const typed = method === 'totp' ? code.replace(/\s+/g, '') : code.trim();
    if (!typed) {
      setError(`Enter your ${words.field.toLowerCase()}.`);
      return;
    }
    setPending(true);
    setError(null);
    try {
      await api.post<StepResult>('/mfa/verify', {
        method,
        code: typed,
        ...(challenge.rememberDays > 0 ? { remember } : {}),
      });
      onVerified();
    } catch (cause) {
      setPending(false);
      if (cause instanceof ApiError && cause.status === 401 && cause.code === 'UNAUTHENTICATED') {
        onExpired();
        return;
      }
      setError(codeErrorMessage(cause));
      setCode('');
      field.current?.querySelector('input')?.focus();
    }
  }

  return (
    <form className="form" aria-label={words.name} onSubmit={submit} noValidate>
      <ErrorAlert message={error} />
      <p className="muted">{words.intro}</p>
      <div ref={field}>
        {method === 'totp' ? (
          <TextField
            label={words.field}
            value={code}
            onChange={setCode}
            inputMode="numeric"
            autoComplete="one-time-code"
            spellCheck={false}
            maxLength={12}
            autoFocus
            required
          />
        ) : (
          <TextField
            label={words.field}
            value={code}
            onChange={setCode}
            autoComplete="off"
            autoCapitalize="none"
            spellCheck={false}
            maxLength={40}
            autoFocus
            required
          />
        )}
      </div>
      <RememberField days={challenge.rememberDays} checked={remember} onChange={setRemember} />
      <div className="form-actions">
        <button type="submit" disabled={pending}>
          Verify
        </button>
      </div>
    </form>
  );
}
