import { useState, type FormEvent } from 'react';
import { api, ApiError, resetCsrfToken, type Answer } from '../../api';
import { browserCountry } from '../../countries';
import { TextField } from '../../components/Field';
import { ErrorAlert, StatusNotice } from '../../components/Notice';
import { Card } from '../../components/Page';
import { codeErrorMessage, groupKey } from '../../words';
import { CancelButton } from '../CancelButton';
import type { SetupProps } from '../factor';
import { loadPhone } from '../../phone-loader';
import { PhoneFields, phoneBody } from '../PhoneFields';
import { QrCode } from '../QrCode';

/** POST /mfa/enrollment/totp: a pending authenticator to confirm with a code. */
export type TotpEnrollment = Answer<'post', '/mfa/enrollment/totp'>;

/**
 * An authenticator app (reference "Enrolling users"): install, scan the QR code (or type the
 * key), and confirm with the first code, which takes the seat.
 */
export function TotpSetup({ info, enrollment, onConfirmed, onNoSeat, onStale, onCancel }: SetupProps & { enrollment: TotpEnrollment }) {
  const [phone, setPhone] = useState('');
  const [country, setCountry] = useState(browserCountry);
  const [label, setLabel] = useState(info.methods.find((m) => m.kind === 'totp')?.label ?? 'Authenticator app');
  const [code, setCode] = useState('');
  const [copied, setCopied] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [phoneError, setPhoneError] = useState<string | null>(null);

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
    const problem = (await loadPhone()).phoneProblem(phone, country);
    setPhoneError(problem);
    if (problem) return;
    const body = {
      code: digits,
      label: label.trim(),
      ...(phone.trim() ? { phone: phoneBody(phone, country) } : {}),
    };
    setError(null);
    setPending(true);
    try {
      const result = await api.post('/mfa/enrollment/totp/{authenticatorId}/confirm', {
        params: { path: { authenticatorId: enrollment.authenticatorId } },
        body,
      });
      // From a pending login the server issued a new session: its CSRF token is fetched again.
      resetCsrfToken();
      onConfirmed(result.backupCodes);
    } catch (cause) {
      if (cause instanceof ApiError && cause.code === 'NO_SEAT') {
        onNoSeat(cause.message);
        return;
      }
      // Confirmed in another tab meanwhile: where does the enrollment stand now?
      if (cause instanceof ApiError && cause.code === 'ALREADY_CONFIRMED' && onStale) {
        onStale();
        return;
      }
      if (cause instanceof ApiError && cause.details.field === 'phone') {
        setPhoneError(cause.message);
        return;
      }
      setError(codeErrorMessage(cause));
      setCode('');
    } finally {
      setPending(false);
    }
  }

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
          <QrCode svg={enrollment.qrSvg} alt="QR code for your authenticator app" />
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
            <PhoneFields
              number={phone}
              country={country}
              onNumber={(value) => {
                setPhone(value);
                setPhoneError(null);
              }}
              onCountry={(value) => {
                setCountry(value);
                setPhoneError(null);
              }}
              error={phoneError}
              hint="Optional: the phone this app is on, so your administrator can identify it"
            />
            <div className="form-actions">
              <button type="submit" disabled={pending}>
                Confirm
              </button>
              <CancelButton onCancel={onCancel} />
            </div>
          </form>
        </li>
      </ol>
    </Card>
  );
}
