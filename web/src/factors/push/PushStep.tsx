import { useEffect, useRef, useState, type FormEvent } from 'react';
import { api, ApiError, errorMessage, type Answer } from '../../api';
import { ErrorAlert } from '../../components/Notice';
import { lockMessage } from '../../words';
import { secondsLocked, type StepFormProps } from '../factor';

type PushStart = Answer<'post', '/mfa/push'>;
type PushStatus = Answer<'get', '/mfa/push/{transactionId}/wait'>['status'];

const PUSH_INTRO =
  'We send a request to the Tessera Authenticator on your phone. Type the number shown here into the app, then tap Approve.';

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
export function PushStep({ challenge, startNow, onVerified, onExpired }: StepFormProps) {
  const sent = useRef(false);
  const [push, setPush] = useState<PushStart | null>(null);
  const [sending, setSending] = useState(false);
  const lockedFor = secondsLocked(challenge);
  const [error, setError] = useState<string | null>(lockedFor > 0 ? lockMessage(lockedFor) : null);
  const [outcome, setOutcome] = useState<string | null>(null);
  const [ended, setEnded] = useState(false);

  useEffect(() => {
    if (!push) return;
    const controller = new AbortController();
    const params = { path: { transactionId: push.transactionId } };
    void (async () => {
      while (!controller.signal.aborted) {
        try {
          const { status } = await api.get('/mfa/push/{transactionId}/wait', { params, signal: controller.signal });
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
    if (startNow && !sent.current && lockedFor <= 0) {
      sent.current = true;
      void send();
    }
  }, [startNow]);

  async function send(event?: FormEvent) {
    event?.preventDefault();
    setSending(true);
    setError(null);
    setOutcome(null);
    try {
      setPush(await api.post('/mfa/push'));
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
          {ended ? null : <p className="muted">{PUSH_INTRO}</p>}
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
