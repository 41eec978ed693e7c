import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import {
  api,
  ApiError,
  errorMessage,
  resetCsrfToken,
  type AuthenticatorMethod,
  type EnrollmentInfo,
  type LoginNotice,
  type PushEnrollment,
  type TotpEnrollment,
} from '../api';
import { browserCountry, countries } from '../countries';
import { useAction } from '../useApi';
import { isSignedOut, keyErrorMessage, registerKey } from '../webauthn';
import { codeErrorMessage, groupKey } from '../words';
import { BackupCodes } from './BackupCodes';
import { SelectField, TextField } from './Field';
import { ErrorAlert, StatusNotice } from './Notice';
import { Card } from './Page';

/**
 * "first": the mandatory enrollment of a login (/enroll), which explains what is
 * happening (reference "Enrolling users"). "add": another authenticator from My security.
 */
export type EnrollmentMode = 'first' | 'add';

/** What was set up: an authenticator app, a security key, or a passkey (a key that signs in alone). */
export type AddedKind = 'totp' | 'push' | 'webauthn' | 'passkey';

interface EnrollmentProps {
  mode: EnrollmentMode;
  /** Straight to a key's setup, without the choice of method (My security's "Add security key", "Add a passkey"). */
  start?: 'webauthn' | 'passkey';
  /** Enrolled (or, at first login with no licence free, skipped): where to go is the caller's choice. */
  onFinished(result: { notice?: LoginNotice; added?: AddedKind }): void;
  /** The pending login is gone (401): the caller sends the user to sign in again. */
  onSignedOut?(): void;
  onCancel?(): void;
}

/**
 * The methods this browser app can enrol, in the order offered. The server lists which of
 * them the firm allows; the Tessera Authenticator (push) joins this list when its issue
 * lands, with a setup step of its own.
 */
const METHOD_CHOICES: { kind: AuthenticatorMethod; label: string; description: string }[] = [
  {
    kind: 'totp',
    label: 'Authenticator app',
    description:
      'A 6-digit code from an app on your phone: Tessera Authenticator, Google Authenticator, Microsoft Authenticator, Duo Mobile, 1Password and others.',
  },
  {
    kind: 'push',
    label: 'Mobile (Tessera Authenticator)',
    description:
      'Approve each sign-in on your phone with the Tessera Authenticator: it asks you to type the number shown here, then to tap Approve. It also shows passcodes when you are offline.',
  },
  {
    kind: 'webauthn',
    label: 'Security key',
    description:
      'A USB security key, such as a YubiKey or a Feitian key, instead of a phone: insert it and tap it when it blinks. Some keys ask more than once.',
  },
];

/** The choices for this user: the ones the server lists, in this app's order. */
function offeredMethods(info: EnrollmentInfo) {
  return METHOD_CHOICES.filter((choice) => info.methods.some((m) => m.kind === choice.kind));
}

type Step =
  | { name: 'choose' }
  | { name: 'totp'; enrollment: TotpEnrollment }
  | { name: 'push'; enrollment: PushEnrollment; phone: { number: string; country?: string } }
  | { name: 'key'; passkey: boolean }
  | { name: 'codes'; codes: string[]; added: AddedKind };

export function Enrollment({ mode, start, onFinished, onSignedOut, onCancel }: EnrollmentProps) {
  const [info, setInfo] = useState<EnrollmentInfo | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [step, setStep] = useState<Step>(start ? { name: 'key', passkey: start === 'passkey' } : { name: 'choose' });
  // NO_SEAT at confirmation: the last licence went to someone else meanwhile.
  const [noSeat, setNoSeat] = useState<string | null>(null);

  useEffect(() => {
    const controller = new AbortController();
    api
      .get<EnrollmentInfo>('/mfa/enrollment', controller.signal)
      .then(setInfo)
      .catch((cause: unknown) => {
        if (controller.signal.aborted) return;
        if (cause instanceof ApiError && cause.status === 401) onSignedOut?.();
        else setLoadError(errorMessage(cause));
      });
    return () => controller.abort();
  }, [onSignedOut]);

  if (loadError) return <ErrorAlert message={loadError} />;
  if (!info) return <p className="muted">Loading…</p>;

  const canSkip = mode === 'first' && (noSeat !== null || !info.seatAvailable);

  if (step.name === 'codes') {
    return (
      <Card title="Your backup codes">
        <BackupCodes
          codes={step.codes}
          owner={`${info.user.name} (${info.user.email}) at ${info.firmName}`}
          onContinue={() => onFinished({ added: step.added })}
        />
      </Card>
    );
  }

  return (
    <>
      {mode === 'first' && step.name === 'choose' ? <Explanation info={info} /> : null}
      {canSkip ? (
        <SkipNotice message={noSeat} onSkipped={onFinished} />
      ) : step.name === 'choose' ? (
        <MethodChoice info={info} mode={mode} onStarted={setStep} onCancel={onCancel} />
      ) : step.name === 'key' ? (
        <KeySetup
          info={info}
          passkey={step.passkey}
          onCancel={onCancel}
          onNoSeat={setNoSeat}
          onSignedOut={onSignedOut}
          onConfirmed={(codes) => {
            const added = step.passkey ? 'passkey' : 'webauthn';
            if (codes && codes.length > 0) setStep({ name: 'codes', codes, added });
            else onFinished({ added });
          }}
        />
      ) : step.name === 'push' ? (
        <PushSetup
          key={step.enrollment.authenticatorId}
          enrollment={step.enrollment}
          phone={step.phone}
          onRestarted={(enrollment) => setStep({ ...step, enrollment })}
          onCancel={onCancel}
          onNoSeat={setNoSeat}
          onSignedOut={onSignedOut}
          onConfirmed={(codes) =>
            codes && codes.length > 0 ? setStep({ name: 'codes', codes, added: 'push' }) : onFinished({ added: 'push' })
          }
        />
      ) : (
        <TotpSetup
          info={info}
          enrollment={step.enrollment}
          onCancel={onCancel}
          onNoSeat={setNoSeat}
          onConfirmed={(codes) =>
            codes && codes.length > 0 ? setStep({ name: 'codes', codes, added: 'totp' }) : onFinished({ added: 'totp' })
          }
        />
      )}
    </>
  );
}

function Explanation({ info }: { info: EnrollmentInfo }) {
  return (
    <Card>
      <p className="lead">
        Hello {info.user.name}. {info.firmName} requires a second factor when you sign in: after your password, your phone or a
        security key proves it is really you.
      </p>
      <p>This is a one-time setup. It takes about two minutes. You can use one of three ways:</p>
      <ul>
        <li>
          <strong>The Tessera Authenticator app</strong> on your phone: approve each sign-in with a tap (a push), or read a passcode
          from it, even offline. Nothing to install from a store: you open it from the QR code or link shown in the next step.
        </li>
        <li>
          <strong>Any authenticator app</strong> you already have, such as Google Authenticator, Microsoft Authenticator, Duo
          Mobile or 1Password: it shows a 6-digit passcode to type here.
        </li>
        <li>
          <strong>A security key</strong>, such as a YubiKey or a Feitian key, instead of a phone: insert it and tap it when it
          blinks.
        </li>
      </ul>
      <p className="muted">Your firm decides which of them you can choose below.</p>
    </Card>
  );
}

function SkipNotice({ message, onSkipped }: { message: string | null; onSkipped(result: { notice?: LoginNotice }): void }) {
  const { pending, error, run } = useAction();

  async function skip() {
    const result = await run(() => api.post<{ next: 'home'; notice?: LoginNotice }>('/mfa/enrollment/skip'));
    if (!result.ok) return;
    // The session became a full one: its CSRF token is fetched again.
    resetCsrfToken();
    onSkipped({ notice: result.value.notice ?? 'mfa_bypassed_no_seat' });
  }

  return (
    <Card>
      {message ? (
        <p role="alert" className="notice notice-error">
          {message}
        </p>
      ) : (
        <p role="status" className="notice notice-info">
          Your firm has no free licence for multi-factor authentication right now, so you cannot set it up today. You can sign
          in with your password only, and you will be asked to enrol once a licence is available.
        </p>
      )}
      <ErrorAlert message={error} />
      <div className="form-actions">
        <button type="button" disabled={pending} onClick={() => void skip()}>
          Continue without MFA
        </button>
      </div>
    </Card>
  );
}

function MethodChoice({
  info,
  mode,
  onStarted,
  onCancel,
}: {
  info: EnrollmentInfo;
  mode: EnrollmentMode;
  onStarted(step: Step): void;
  onCancel?(): void;
}) {
  const offered = offeredMethods(info);
  const [method, setMethod] = useState<AuthenticatorMethod | ''>(offered[0]?.kind ?? '');
  const { pending, error, setError, run } = useAction();
  const headingId = useId();
  const radioName = useId();
  const [phone, setPhone] = useState('');
  const [country, setCountry] = useState(browserCountry);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (method === 'webauthn') {
      // The key's name comes first; the server is asked when the key is ready.
      onStarted({ name: 'key', passkey: false });
      return;
    }
    if (method === 'push') {
      if (!phone.trim()) {
        setError('Enter the number of the phone the Tessera Authenticator will be on.');
        return;
      }
      const body = { phone: { number: phone.trim(), ...(country ? { country } : {}) } };
      const started = await run(() => api.post<PushEnrollment>('/mfa/enrollment/push', body));
      if (started.ok) onStarted({ name: 'push', enrollment: started.value, phone: body.phone });
      return;
    }
    if (method !== 'totp') {
      setError('Choose how you want to sign in.');
      return;
    }
    const result = await run(() => api.post<TotpEnrollment>('/mfa/enrollment/totp', {}));
    if (result.ok) onStarted({ name: 'totp', enrollment: result.value });
  }

  return (
    <Card title={mode === 'first' ? 'Choose how you sign in' : 'Add an authenticator'}>
      <form className="form" aria-labelledby={headingId} onSubmit={submit} noValidate>
        <ErrorAlert message={error} />
        <p id={headingId} className="muted">
          {mode === 'first' ? 'Choose what you will use as your second factor.' : 'Choose what to add.'}
        </p>
        {offered.length === 0 ? (
          <p className="muted">No method is available for you yet. Ask your firm administrator.</p>
        ) : (
          <div role="radiogroup" aria-label="Method" className="method-list">
            {offered.map((choice) => (
              <label key={choice.kind} className="method">
                <input
                  type="radio"
                  name={radioName}
                  value={choice.kind}
                  checked={method === choice.kind}
                  onChange={() => setMethod(choice.kind)}
                />
                <span>
                  <span className="method-name">{choice.label}</span>
                  <span className="method-description">{choice.description}</span>
                </span>
              </label>
            ))}
          </div>
        )}
        {method === 'push' ? (
          <div className="form-row">
            <TextField
              label="Phone number"
              type="tel"
              value={phone}
              onChange={setPhone}
              autoComplete="tel"
              hint="The phone the Tessera Authenticator will be on"
              required
            />
            <SelectField label="Country" value={country} options={countryOptions()} onChange={setCountry} />
          </div>
        ) : null}
        <div className="form-actions">
          <button type="submit" disabled={pending || offered.length === 0}>
            Continue
          </button>
          {onCancel ? (
            <button type="button" className="button-secondary" onClick={onCancel}>
              Cancel
            </button>
          ) : null}
        </div>
      </form>
    </Card>
  );
}

function TotpSetup({
  info,
  enrollment,
  onConfirmed,
  onNoSeat,
  onCancel,
}: {
  info: EnrollmentInfo;
  enrollment: TotpEnrollment;
  onConfirmed(backupCodes: string[] | null | undefined): void;
  onNoSeat(message: string): void;
  onCancel?(): void;
}) {
  const [phone, setPhone] = useState('');
  const [country, setCountry] = useState(browserCountry);
  const [label, setLabel] = useState(info.methods.find((m) => m.kind === 'totp')?.label ?? 'Authenticator app');
  const [code, setCode] = useState('');
  const [copied, setCopied] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function copyKey() {
    setCopied(null);
    try {
      await navigator.clipboard.writeText(enrollment.secret);
      setCopied('The key was copied.');
    } catch {
      setError('This browser did not let the page copy. Select the key and copy it.');
    }
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    const digits = code.replace(/\s+/g, '');
    if (!/^\d{6}$/.test(digits)) {
      setError('Enter the 6-digit code your app shows.');
      return;
    }
    if (!label.trim()) {
      setError('Give this authenticator a name.');
      return;
    }
    const body = {
      code: digits,
      label: label.trim(),
      ...(phone.trim() ? { phone: { number: phone.trim(), ...(country ? { country } : {}) } } : {}),
    };
    setError(null);
    setPending(true);
    try {
      const result = await api.post<{ next: 'home'; backupCodes: string[] | null }>(
        `/mfa/enrollment/totp/${encodeURIComponent(enrollment.authenticatorId)}/confirm`,
        body,
      );
      // From a pending login the server issued a new session: its CSRF token is fetched again.
      resetCsrfToken();
      onConfirmed(result.backupCodes);
    } catch (cause) {
      if (cause instanceof ApiError && cause.code === 'NO_SEAT') {
        onNoSeat(cause.message);
        return;
      }
      setError(codeErrorMessage(cause));
      setCode('');
    } finally {
      setPending(false);
    }
  }

  const countryOptions = countryChoices();

  return (
    <Card title="Set up your authenticator app">
      <ol className="steps">
        <li>
          <h3>Install an app</h3>
          <p>
            On your phone, install an authenticator app if you do not have one: Tessera Authenticator, Google Authenticator,
            Microsoft Authenticator, Duo Mobile or 1Password, from Google Play or the App Store.
          </p>
        </li>
        <li>
          <h3>Scan the QR code</h3>
          <p>In the app, add an account (often a “+” button), choose to scan a QR code, and point the camera at this code.</p>
          <div className="qr">
            <img
              src={svgDataUrl(enrollment.qrSvg)}
              alt="QR code for your authenticator app"
              width={224}
              height={224}
            />
          </div>
          <p>
            Cannot scan it? Add the account by hand with this key (time-based, 6 digits), for {info.user.email} at{' '}
            {info.firmName}:
          </p>
          <p className="setup-key">
            <code aria-label="Setup key">{groupKey(enrollment.secret)}</code>
            <button type="button" className="button-secondary button-small" onClick={() => void copyKey()}>
              Copy key
            </button>
          </p>
          <StatusNotice message={copied} />
        </li>
        <li>
          <h3>Enter the 6-digit code</h3>
          <p>The app now shows a 6-digit code for {info.firmName} that changes every 30 seconds. Type the current one.</p>
          <form className="form" aria-label="Confirm authenticator app" onSubmit={submit} noValidate>
            <ErrorAlert message={error} />
            <TextField
              label="Code from the app"
              value={code}
              onChange={setCode}
              inputMode="numeric"
              autoComplete="one-time-code"
              spellCheck={false}
              maxLength={12}
              required
            />
            <TextField label="Name for this authenticator" value={label} onChange={setLabel} maxLength={60} required />
            <div className="form-row">
              <TextField
                label="Phone number"
                type="tel"
                value={phone}
                onChange={setPhone}
                autoComplete="tel"
                hint="Optional: the phone this app is on, so your administrator can identify it"
              />
              <SelectField label="Country" value={country} options={countryOptions} onChange={setCountry} />
            </div>
            <div className="form-actions">
              <button type="submit" disabled={pending}>
                Confirm
              </button>
              {onCancel ? (
                <button type="button" className="button-secondary" onClick={onCancel}>
                  Cancel
                </button>
              ) : null}
            </div>
          </form>
        </li>
      </ol>
    </Card>
  );
}

function countryChoices() {
  return [{ value: '', label: 'Choose a country' }, ...countries().map((c) => ({ value: c.code, label: `${c.name} (${c.code})` }))];
}
const countryOptions = countryChoices;

/** How often the enrollment screen asks whether the phone activated. */
const ACTIVATION_POLL_MS = 2000;

/**
 * The Tessera Authenticator (push): a QR code and a link carrying a single-use activation
 * code. The screen notices the activation by itself (it polls), then finishes the login.
 */
function PushSetup({
  enrollment,
  phone,
  onRestarted,
  onConfirmed,
  onNoSeat,
  onSignedOut,
  onCancel,
}: {
  enrollment: PushEnrollment;
  phone: { number: string; country?: string };
  onRestarted(enrollment: PushEnrollment): void;
  onConfirmed(backupCodes: string[] | null | undefined): void;
  onNoSeat(message: string): void;
  onSignedOut?(): void;
  onCancel?(): void;
}) {
  const [status, setStatus] = useState<'pending' | 'active' | 'expired'>('pending');
  const [error, setError] = useState<string | null>(null);
  const { pending: restarting, error: restartError, run } = useAction();
  const done = useRef(false);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const id = encodeURIComponent(enrollment.authenticatorId);

    async function complete() {
      try {
        const result = await api.post<{ next: 'home'; backupCodes: string[] | null }>(`/mfa/enrollment/push/${id}/complete`);
        // From a pending login the server issued a new session: its CSRF token is fetched again.
        resetCsrfToken();
        if (!stopped) onConfirmed(result.backupCodes);
      } catch (cause) {
        if (stopped) return;
        if (cause instanceof ApiError && cause.code === 'NO_SEAT') onNoSeat(cause.message);
        else if (cause instanceof ApiError && cause.status === 401 && onSignedOut) onSignedOut();
        else setError(errorMessage(cause));
      }
    }

    async function poll() {
      if (stopped) return;
      try {
        const result = await api.get<{ status: 'pending' | 'active' | 'expired' }>(`/mfa/enrollment/push/${id}`);
        if (stopped) return;
        setStatus(result.status);
        setError(null);
        if (result.status === 'active') {
          if (!done.current) {
            done.current = true;
            await complete();
          }
          return;
        }
        if (result.status === 'expired') return;
      } catch (cause) {
        if (stopped) return;
        if (cause instanceof ApiError && cause.status === 401 && onSignedOut) {
          onSignedOut();
          return;
        }
        setError(errorMessage(cause));
      }
      timer = setTimeout(() => void poll(), ACTIVATION_POLL_MS);
    }

    timer = setTimeout(() => void poll(), ACTIVATION_POLL_MS);
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [enrollment.authenticatorId]);

  async function startAgain() {
    const result = await run(() => api.post<PushEnrollment>('/mfa/enrollment/push', { phone }));
    if (result.ok) onRestarted(result.value);
  }

  return (
    <Card title="Set up the Tessera Authenticator">
      <ol className="steps">
        <li>
          <h3>Open the Tessera Authenticator</h3>
          <p>Scan this code with the Tessera Authenticator, or open the link on your phone.</p>
          {status === 'expired' ? (
            <>
              <p role="alert" className="notice notice-error">
                This code has expired. Start again for a new one.
              </p>
              <ErrorAlert message={restartError} />
              <div className="form-actions">
                <button type="button" disabled={restarting} onClick={() => void startAgain()}>
                  Start again
                </button>
              </div>
            </>
          ) : (
            <>
              <div className="qr">
                <img
                  src={svgDataUrl(enrollment.qrSvg)}
                  alt="QR code for the Tessera Authenticator"
                  width={224}
                  height={224}
                />
              </div>
              <p>
                <a href={enrollment.activationUrl} target="_blank" rel="noopener noreferrer">
                  Open on this device
                </a>
              </p>
            </>
          )}
        </li>
        <li>
          <h3>Wait for the phone</h3>
          {status === 'pending' ? (
            <p role="status" className="notice notice-info">
              Waiting for the Tessera Authenticator to activate. This page continues by itself.
            </p>
          ) : status === 'active' ? (
            <p role="status" className="notice notice-info">
              Your phone is set up.
            </p>
          ) : null}
          <ErrorAlert message={error} />
          {onCancel ? (
            <div className="form-actions">
              <button type="button" className="button-secondary" onClick={onCancel}>
                Cancel
              </button>
            </div>
          ) : null}
        </li>
      </ol>
    </Card>
  );
}

/** The server-made QR code as an image (an <img> never runs script, unlike inline SVG). */
function svgDataUrl(svg: string): string {
  const bytes = new TextEncoder().encode(svg);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return `data:image/svg+xml;base64,${btoa(binary)}`;
}

/**
 * Registering a security key (reference 2.2.a-b), or a passkey: insert it, name it, tap it.
 * The browser's own window takes over during the tap; this screen says what to expect
 * before, while it waits, and after a failure, with one button to try again.
 */
function KeySetup({
  info,
  passkey,
  onConfirmed,
  onNoSeat,
  onSignedOut,
  onCancel,
}: {
  info: EnrollmentInfo;
  passkey: boolean;
  onConfirmed(backupCodes: string[] | null): void;
  onNoSeat(message: string): void;
  onSignedOut?(): void;
  onCancel?(): void;
}) {
  const [label, setLabel] = useState(
    passkey ? 'Passkey' : (info.methods.find((m) => m.kind === 'webauthn')?.label ?? 'Security key'),
  );
  const [waiting, setWaiting] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [failed, setFailed] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const name = label.trim();
    if (!name) {
      setError(passkey ? 'Give this passkey a name.' : 'Give this key a name.');
      return;
    }
    setError(null);
    setWaiting(true);
    try {
      const result = await registerKey(name, passkey);
      // From a pending login the server issued a new session: its CSRF token is fetched again.
      resetCsrfToken();
      onConfirmed(result.backupCodes);
    } catch (cause) {
      setWaiting(false);
      if (cause instanceof ApiError && cause.code === 'NO_SEAT') {
        onNoSeat(cause.message);
        return;
      }
      if (isSignedOut(cause) && onSignedOut) {
        onSignedOut();
        return;
      }
      setError(keyErrorMessage(cause, passkey ? 'passkey-register' : 'register'));
      setFailed(true);
    }
  }

  const action = passkey ? 'Create passkey' : 'Register security key';

  return (
    <Card title={passkey ? 'Add a passkey' : 'Register your security key'}>
      <form className="form" aria-label={passkey ? 'Add a passkey' : 'Register security key'} onSubmit={submit} noValidate>
        <ol className="steps">
          <li>
            <h3>{passkey ? 'Have your key ready' : 'Insert your key'}</h3>
            {passkey ? (
              <p>
                A passkey lets you sign in to {info.firmName} without your password, when your firm allows it. It is kept on
                your security key (or on this device) and unlocked with its PIN, your fingerprint or your face. Insert your
                security key now if you use one.
              </p>
            ) : (
              <p>
                Plug your security key into a USB port of this computer. Allow pop-up windows for this site: your browser
                shows its own window for the key.
              </p>
            )}
          </li>
          <li>
            <h3>Name it</h3>
            <TextField
              label={passkey ? 'Name for this passkey' : 'Name for this key'}
              value={label}
              onChange={setLabel}
              maxLength={60}
              hint="So you can tell your keys apart later, for example “Blue YubiKey”."
              required
            />
          </li>
          <li>
            <h3>Tap it when it blinks</h3>
            <p>
              Select “{action}”. When your browser asks, touch the button or the gold contact of your key; many keys blink
              while they wait. Some keys ask you to tap more than once, and your browser may ask whether this site may see
              the key’s make and model: choose Allow.
              {passkey ? ' Your key may ask for its PIN first.' : ''}
            </p>
            {waiting ? (
              <p role="status" className="notice notice-info">
                Waiting for your security key. Tap it now.
              </p>
            ) : null}
            <ErrorAlert message={error} />
            <div className="form-actions">
              <button type="submit" disabled={waiting}>
                {failed ? 'Try again' : action}
              </button>
              {onCancel ? (
                <button type="button" className="button-secondary" onClick={onCancel}>
                  Cancel
                </button>
              ) : null}
            </div>
          </li>
        </ol>
      </form>
    </Card>
  );
}
