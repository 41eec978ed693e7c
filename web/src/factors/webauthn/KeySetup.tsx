import { useState, type FormEvent } from 'react';
import { ApiError, resetCsrfToken } from '../../api';
import { TextField } from '../../components/Field';
import { ErrorAlert } from '../../components/Notice';
import { Card } from '../../components/Page';
import { CancelButton } from '../CancelButton';
import type { SetupProps } from '../factor';
import { isSignedOut, keyErrorMessage, registerKey } from './ceremonies';

/**
 * Registering a security key (reference 2.2.a-b), or a passkey: insert it, name it, tap it.
 * The browser's own window takes over during the tap; this screen says what to expect
 * before, while it waits, and after a failure, with one button to try again.
 */
export function KeySetup({ info, passkey, onConfirmed, onNoSeat, onSignedOut, onCancel }: SetupProps & { passkey: boolean }) {
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
              <CancelButton onCancel={onCancel} />
            </div>
          </li>
        </ol>
      </form>
    </Card>
  );
}
