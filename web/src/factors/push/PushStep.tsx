import { useEffect, useRef, useState, type FormEvent } from 'react';
import { api, ApiError, errorMessage, type Answer } from '../../api';
import { ErrorAlert } from '../../components/Notice';
import { lockMessage } from '../../words';
import { secondsLocked, type StepFormProps } from '../factor';
import { PUSH_INTRO, PushNumber } from './PushNumber';
import { otherWays, pushPausedText } from './push-words';

type PushStart = Answer<'post', '/mfa/push'>;
type PushWait = Answer<'get', '/mfa/push/{transactionId}/wait'>;

/** What the login screen says after the phone's answer (or the lack of one); `ways` are the user's other methods. */
function outcomeText({ status, reason }: PushWait, ways: string | null): string {
  const instead = ways ? `, or use ${ways} instead` : '';
  if (status === 'denied' && reason === 'wrong_number') {
    return 'The number typed in the Tessera Authenticator did not match the one shown here, so the request was denied. Try again and type the number this screen shows.';
  }
  if (status === 'fraud') {
    return `The request was reported as fraudulent on your phone. Your firm’s administrators were told, and this sign-in was ended.${ways ? ` Sign in again to use ${ways}.` : ''}`;
  }
  if (status === 'expired') return `The request expired before it was answered. Try again${instead}.`;
  return `The request was denied on your phone. Try again${instead}.`;
}

/**
 * "Send me a push": the request goes to the user's Tessera Authenticator, this screen shows
 * the number to type there, counts down the time left and long-polls for the answer; an
 * approval finishes the login.
 */
export function PushStep({ challenge, startNow, onVerified, onExpired }: StepFormProps) {
  const sent = useRef(false);
  const [push, setPush] = useState<(PushStart & { deadline: number }) | null>(null);
  const [sending, setSending] = useState(false);
  const lockedFor = secondsLocked(challenge);
  const [error, setError] = useState<string | null>(lockedFor > 0 ? lockMessage(lockedFor) : null);
  const [outcome, setOutcome] = useState<string | null>(null);
  const [ended, setEnded] = useState(false);
  // PUSH_PAUSED (a fraud report from another sign-in meanwhile): no button until the pause ends.
  const [paused, setPaused] = useState(false);
  const ways = otherWays(challenge.methods);

  useEffect(() => {
    if (!push) return;
    const controller = new AbortController();
    const params = { path: { transactionId: push.transactionId } };
    void (async () => {
      while (!controller.signal.aborted) {
        try {
          const answer = await api.get('/mfa/push/{transactionId}/wait', { params, signal: controller.signal });
          if (controller.signal.aborted) return;
          if (answer.status === 'pending') continue;
          if (answer.status === 'approved') {
            onVerified();
            return;
          }
          setPush(null);
          setOutcome(outcomeText(answer, ways));
          // A fraud report ends the pending login on the server: only a new sign-in goes on.
          setEnded(answer.status === 'fraud');
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
      const started = await api.post('/mfa/push');
      // The countdown runs on this browser's clock, which need not agree with the server's: from now.
      setPush({ ...started, deadline: Date.now() + started.expiresInSeconds * 1000 });
    } catch (cause) {
      if (cause instanceof ApiError && cause.status === 401 && cause.code === 'UNAUTHENTICATED') {
        onExpired();
        return;
      }
      const until = cause instanceof ApiError && cause.code === 'PUSH_PAUSED' ? cause.count('pausedUntil') : null;
      if (until !== null) {
        setPaused(true);
        setError(pushPausedText(until, challenge.methods));
        return;
      }
      // PUSH_LIMIT, a lock: as the server words them.
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
        <PushNumber number={push.number} deadline={push.deadline} />
      ) : (
        <>
          {ended || paused ? null : <p className="muted">{PUSH_INTRO}</p>}
          <div className="form-actions">
            {ended ? (
              <button type="button" onClick={onExpired}>
                Sign in again
              </button>
            ) : paused ? null : (
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
