import { useEffect, useRef, useState } from 'react';
import { api, ApiError, errorMessage, resetCsrfToken, type Answer } from '../../api';
import { CopyButton } from '../../components/CopyButton';
import { ErrorAlert, StatusNotice } from '../../components/Notice';
import { plural } from '../../words';
import { timeOfDay } from './push-words';
import { Card } from '../../components/Page';
import { useAction } from '../../useApi';
import { CancelButton } from '../CancelButton';
import type { SetupProps } from '../factor';
import { QrCode } from '../QrCode';

/** POST /mfa/enrollment/push: a pending Tessera Authenticator, activated by opening the link (or scanning the QR code). */
export type PushEnrollment = Answer<'post', '/mfa/enrollment/push'>;
export type Phone = { number: string; country?: string };

/** How long an activation code lasts (the server's ACTIVATION_TTL_MS), for the sentence under the QR code. */
const ACTIVATION_MINUTES = 10;

/** How often the enrollment screen asks whether the phone activated. */
const ACTIVATION_POLL_MS = 2000;

/**
 * The Tessera Authenticator (push): a QR code and a link carrying a single-use activation
 * code. The screen notices the activation by itself (it polls), then finishes the login.
 * "Start again" after the code expired makes a new one: a new screen, as at the first start.
 * `activated`: the server says the phone activated already (a reload after it): the login is
 * finished at once, no QR code shown.
 */
export function PushSetup({ enrollment: first, phone, activated, ...props }: SetupProps & { enrollment: PushEnrollment; phone: Phone; activated?: boolean }) {
  const [enrollment, setEnrollment] = useState(first);
  return (
    <PushActivation
      key={enrollment.authenticatorId}
      {...props}
      enrollment={enrollment}
      phone={phone}
      activated={activated === true && enrollment === first}
      onRestarted={setEnrollment}
    />
  );
}

function PushActivation({
  enrollment,
  phone,
  activated,
  onRestarted,
  onConfirmed,
  onNoSeat,
  onSignedOut,
  onStale,
  onCancel,
}: SetupProps & { enrollment: PushEnrollment; phone: Phone; activated: boolean; onRestarted(enrollment: PushEnrollment): void }) {
  const [status, setStatus] = useState<'pending' | 'active' | 'expired'>(activated ? 'active' : 'pending');
  const [error, setError] = useState<string | null>(null);
  const { pending: restarting, error: restartError, run } = useAction();
  const done = useRef(false);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const params = { path: { authenticatorId: enrollment.authenticatorId } };

    async function complete() {
      try {
        const result = await api.post('/mfa/enrollment/push/{authenticatorId}/complete', { params });
        // From a pending login the server issued a new session: its CSRF token is fetched again.
        resetCsrfToken();
        if (!stopped) onConfirmed(result.backupCodes);
      } catch (cause) {
        if (stopped) return;
        if (cause instanceof ApiError && cause.code === 'NO_SEAT') onNoSeat(cause.message);
        else if (cause instanceof ApiError && cause.status === 401 && onSignedOut) onSignedOut();
        // Finished in another tab (this login is over): where does the enrollment stand now?
        else if (cause instanceof ApiError && (cause.status === 404 || cause.code === 'ALREADY_CONFIRMED') && onStale) onStale();
        else setError(errorMessage(cause));
      }
    }

    async function poll() {
      if (stopped) return;
      try {
        const result = await api.get('/mfa/enrollment/push/{authenticatorId}', { params });
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
        if (cause instanceof ApiError && cause.status === 404 && onStale) {
          onStale();
          return;
        }
        setError(errorMessage(cause));
      }
      timer = setTimeout(() => void poll(), ACTIVATION_POLL_MS);
    }

    // Activated already (a reload after the phone): finish at once.
    timer = setTimeout(() => void poll(), activated ? 0 : ACTIVATION_POLL_MS);
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [enrollment.authenticatorId]);

  async function startAgain() {
    const result = await run(() => api.post('/mfa/enrollment/push', { body: { phone } }));
    if (result.ok) onRestarted(result.value);
  }

  return (
    <Card title="Set up the Tessera Authenticator">
      <ol className="steps">
        <li>
          <h3>Open the Tessera Authenticator</h3>
          <p>Scan this code with the Tessera Authenticator, or open the link on your phone.</p>
          {status === 'active' ? null : status === 'expired' ? (
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
              <QrCode svg={enrollment.qrSvg} alt="QR code for the Tessera Authenticator" />
              <p className="muted">
                The code works once, until {timeOfDay(enrollment.expiresAt)} ({plural(Math.round(ACTIVATION_MINUTES), 'minute')} from when it
                was made).
              </p>
              <p>
                <a href={enrollment.activationUrl} target="_blank" rel="noopener noreferrer">
                  Open on this device
                </a>
              </p>
              <ActivationLinkActions authenticatorId={enrollment.authenticatorId} url={enrollment.activationUrl} />
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
              <CancelButton onCancel={onCancel} />
            </div>
          ) : null}
        </li>
      </ol>
    </Card>
  );
}

/**
 * The activation link for a phone that cannot scan: copied (to paste into a message to oneself)
 * or mailed by the server to the user's own address.
 */
function ActivationLinkActions({ authenticatorId, url }: { authenticatorId: string; url: string }) {
  const { pending, error, run } = useAction();
  const [sentTo, setSentTo] = useState<string | null>(null);

  async function mail() {
    setSentTo(null);
    const result = await run(() => api.post('/mfa/enrollment/push/{authenticatorId}/mail', { params: { path: { authenticatorId } } }));
    if (result.ok) setSentTo(result.value.sentTo);
  }

  return (
    <div className="activation-link">
      <p className="muted">Cannot scan? Copy the link, or have it mailed to you, and open it on your phone.</p>
      <div className="form-actions">
        <CopyButton value={url} label="Activation link" />
        <button type="button" className="button-secondary button-small" disabled={pending} onClick={() => void mail()}>
          Send the link to my email
        </button>
      </div>
      <StatusNotice message={sentTo ? `The link was sent to ${sentTo}. Open the mail on your phone.` : null} />
      <ErrorAlert message={error} />
    </div>
  );
}
