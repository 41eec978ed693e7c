import { useEffect, useRef, useState, type FormEvent } from 'react';
import { api, ApiError, errorMessage, type MfaChallenge, type PushStart, type PushStatus, type SecondFactorMethod, type StepResult } from '../api';
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
  return methods.find((m) => m === 'totp') ?? methods.find((m) => m === 'webauthn') ?? methods.find((m) => m === 'push') ?? 'backup_code';
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
  // "Send me a push" from another method's screen sends it at once.
  const [pushNow, setPushNow] = useState(false);
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
            {method === 'push' ? (
              <PushForm challenge={challenge} sendNow={pushNow} onVerified={() => void finishSignIn()} onExpired={signInAgain} />
            ) : method === 'webauthn' ? (
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
            {method !== 'push' && challenge.methods.includes('push') ? (
              <div className="form-actions switch-method">
                <button
                  type="button"
                  className="button-secondary"
                  onClick={() => {
                    setPushNow(true);
                    setMethod('push');
                  }}
                >
                  Send me a push
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
  push: {
    name: 'Push',
    field: 'Push',
    intro: 'We send a request to the Tessera Authenticator on your phone. Type the number shown here into the app, then tap Approve.',
  },
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

/** What the login screen says after the phone's answer (or the lack of one). */
const PUSH_OUTCOME: Record<Exclude<PushStatus, 'pending' | 'approved'>, string> = {
  denied: 'The request was denied on your phone. Try again, or use a passcode instead.',
  fraud: 'The request was reported as fraudulent on your phone. Your firm’s administrators were told, and this sign-in was ended. Sign in again to use a passcode or a security key.',
  expired: 'The request expired before it was answered. Try again, or use a passcode instead.',
};

/**
 * "Send me a push": the request goes to the user's Tessera Authenticator, this screen shows
 * the number to type there and long-polls for the answer; an approval finishes the login.
 */
function PushForm({
  challenge,
  sendNow,
  onVerified,
  onExpired,
}: {
  challenge: MfaChallenge;
  sendNow: boolean;
  onVerified(): void;
  onExpired(): void;
}) {
  const sent = useRef(false);
  const [push, setPush] = useState<PushStart | null>(null);
  const [sending, setSending] = useState(false);
  const lockedFor = challenge.lockedUntil === null ? 0 : (challenge.lockedUntil - Date.now()) / 1000;
  const [error, setError] = useState<string | null>(lockedFor > 0 ? lockMessage(lockedFor) : null);
  const [outcome, setOutcome] = useState<string | null>(null);
  const [ended, setEnded] = useState(false);

  useEffect(() => {
    if (!push) return;
    const controller = new AbortController();
    const id = encodeURIComponent(push.transactionId);
    void (async () => {
      while (!controller.signal.aborted) {
        try {
          const { status } = await api.get<{ status: PushStatus }>(`/mfa/push/${id}/wait`, controller.signal);
          if (controller.signal.aborted) return;
          if (status === 'pending') continue;
          if (status === 'approved') {
            onVerified();
            return;
          }
          setPush(null);
          setOutcome(PUSH_OUTCOME[status]);
          // A fraud report ends the pending login on the server: only a new sign-in goes on.
          setEnded(status === 'fraud');
          return;
        } catch (cause) {
          if (controller.signal.aborted) return;
          if (cause instanceof ApiError && cause.status === 401 && cause.code === 'UNAUTHENTICATED') {
            onExpired();
            return;
          }
          if (cause instanceof ApiError && cause.code === 'NETWORK_ERROR') {
            await new Promise((resolve) => setTimeout(resolve, 2000));
            continue;
          }
          setPush(null);
          setError(errorMessage(cause));
          return;
        }
      }
    })();
    return () => controller.abort();
  }, [push]);

  useEffect(() => {
    if (sendNow && !sent.current && lockedFor <= 0) {
      sent.current = true;
      void send();
    }
  }, [sendNow]);

  async function send(event?: FormEvent) {
    event?.preventDefault();
    setSending(true);
    setError(null);
    setOutcome(null);
    try {
      setPush(await api.post<PushStart>('/mfa/push'));
    } catch (cause) {
      if (cause instanceof ApiError && cause.status === 401 && cause.code === 'UNAUTHENTICATED') {
        onExpired();
        return;
      }
      // PUSH_LIMIT, PUSH_PAUSED, a lock: as the server words them.
      setError(errorMessage(cause));
    } finally {
      setSending(false);
    }
  }

  return (
    <form className="form" aria-label="Push" onSubmit={(event) => void send(event)} noValidate>
      <ErrorAlert message={error} />
      {outcome ? (
        <p role="alert" className="notice notice-error">
          {outcome}
        </p>
      ) : null}
      {push ? (
        <>
          <p role="status" aria-label="Verification number" className="notice notice-info push-number">
            Type this number in the Tessera Authenticator: <strong>{push.number}</strong>
          </p>
          <p className="muted">Waiting for your answer on your phone…</p>
        </>
      ) : (
        <>
          {ended ? null : <p className="muted">{FORM_WORDS.push.intro}</p>}
          <div className="form-actions">
            {ended ? (
              <button type="button" onClick={onExpired}>
                Sign in again
              </button>
            ) : (
              <button type="submit" disabled={sending}>
                {outcome ? 'Try again' : 'Send me a push'}
              </button>
            )}
          </div>
        </>
      )}
    </form>
  );
}

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
