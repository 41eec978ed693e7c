import { useEffect, useState } from 'react';

/** What a push screen says before the request is sent (Tessera's login and the Universal Prompt). */
export const PUSH_INTRO =
  'We send a request to the Tessera Authenticator on your phone. Type the number shown here into the app, then tap Approve.';

/** Seconds until `deadline` (local clock), never below 0; ticks every second while `deadline` is set. */
function useSecondsLeft(deadline: number | null): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (deadline === null) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [deadline]);
  return deadline === null ? 0 : Math.max(0, Math.ceil((deadline - now) / 1000));
}

/**
 * A push on its way: the number to type in the Tessera Authenticator and the time left to answer,
 * counted on this browser's clock from `deadline` (which need not agree with the server's).
 */
export function PushNumber({ number, deadline, note }: { number: string; deadline: number; note?: string }) {
  const secondsLeft = useSecondsLeft(deadline);
  return (
    <>
      <p role="status" aria-label="Verification number" className="notice notice-info push-number">
        Type this number in the Tessera Authenticator: <strong>{number}</strong>
      </p>
      <p className="muted">
        Waiting for your answer on your phone…{note ? ` ${note}` : ''}{' '}
        <span role="timer" aria-label="Time left to answer">
          {secondsLeft > 0 ? `${secondsLeft} s left` : 'time is up'}
        </span>
      </p>
    </>
  );
}
