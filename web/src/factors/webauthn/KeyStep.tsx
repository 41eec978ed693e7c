import { useEffect, useRef, useState, type FormEvent } from 'react';
import { ErrorAlert } from '../../components/Notice';
import { lockMessage } from '../../words';
import { secondsLocked, type StepFormProps } from '../factor';
import { RememberField } from '../RememberField';
import { isSignedOut, keyErrorMessage, verifyWithKey } from './ceremonies';

const INTRO = 'Insert your security key, select “Use security key”, and tap the key when it blinks.';

/**
 * A tap of a security key (reference 2.2.c-d): one button, the browser's window, the
 * homepage. A key the server refuses counts toward the lock like a wrong code.
 */
export function KeyStep({ challenge, startNow, onVerified, onExpired }: StepFormProps) {
  const [remember, setRemember] = useState(false);
  const [waiting, setWaiting] = useState(false);
  const lockedFor = secondsLocked(challenge);
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
    <form className="form" aria-label="Security key" onSubmit={submit} noValidate>
      <ErrorAlert message={error} />
      <p className="muted">{INTRO} Some keys ask you to tap more than once.</p>
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
