import { useState, type FormEvent } from 'react';
import { api, ApiError, errorMessage, resetCsrfToken, type LoginResult } from '../api';
import { TextField } from '../components/Field';
import { ErrorAlert } from '../components/Notice';
import { Card, Page } from '../components/Page';
import { historyState, Link, navigate } from '../router';
import { nextParam, safeNext, withNext } from '../safe-next';
import { useSession } from '../session';
import { keyErrorMessage, signInWithPasskey } from '../factors/webauthn/ceremonies';
import { useFirmAllowsPasskeys, usePasskeyAutofill, type PasskeyAutofill } from '../factors/webauthn/passkey-login';

/** Where a firm user's login goes after the password (the server decides the step). */
function afterPassword(result: LoginResult): { to: string; state?: Record<string, unknown> } {
  // `?next=` rides along through /mfa and /enroll, and is checked before it is followed.
  const next = nextParam();
  switch (result.next) {
    case 'second_factor':
      return { to: withNext('/mfa', next) };
    case 'enroll':
      return { to: withNext('/enroll', next) };
    default:
      return { to: safeNext(next), state: result.notice ? { notice: result.notice } : undefined };
  }
}

/** A passkey sign-in is a full session at once (the key is both factors). */
function useFinishPasskeySignIn() {
  const { refresh } = useSession();
  return async (result: LoginResult) => {
    // A new full session: its CSRF token is fetched again.
    resetCsrfToken();
    await refresh();
    const target = afterPassword(result);
    navigate(target.to, { state: target.state });
  };
}

interface LoginProps {
  audience: 'user' | 'operator';
}

/** Sign-in for firm users (/login) and for operators (/operator/login). */
export function Login({ audience }: LoginProps) {
  const { refresh } = useSession();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  // A link such as /login?firm=acme names the firm up front.
  const [firm, setFirm] = useState(() => new URLSearchParams(window.location.search).get('firm') ?? '');
  const [askFirm, setAskFirm] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  // Sent back here by a pending login that expired (or a page that needs a login).
  const [notice] = useState(() =>
    historyState('notice') === 'sign_in_again' ? 'Your sign-in ended before it was finished. Please sign in again.' : null,
  );

  // Passkeys are for firm users only (an operator's key is never a passkey).
  const firmUsers = audience === 'user';
  const finishPasskey = useFinishPasskeySignIn();
  // Whoever has a passkey for this site is offered it in the email field's suggestions ...
  const autofill = usePasskeyAutofill(firmUsers, {
    onPicked() {
      setError(null);
      setPending(true);
    },
    onSignedIn: (result) => void finishPasskey(result),
    onError(cause) {
      setPending(false);
      setError(keyErrorMessage(cause, 'passkey'));
    },
  });
  // ... and the button is shown only where the page knows the firm and the firm allows passkeys.
  const passkeyButton = useFirmAllowsPasskeys(firm, firmUsers);

  async function submit(event: FormEvent) {
    event.preventDefault();
    // The password was chosen: the passkey request waiting in the email field's autofill ends.
    autofill.stop();
    setPending(true);
    setError(null);
    try {
      let target: { to: string; state?: Record<string, unknown> };
      if (audience === 'operator') {
        // Operators always pass their own second factor next (enrolling one at the first login).
        const result = await api.post('/operator/login', { body: { email, password } });
        target = result.next === 'home' ? { to: '/operator' } : { to: withNext(result.next === 'enroll' ? '/enroll' : '/mfa', '/operator') };
      } else {
        const result = await api.post('/login', { body: { email, password, ...(firm.trim() ? { firm: firm.trim() } : {}) } });
        target = afterPassword(result);
      }
      // The session changed, and the CSRF token is bound to it. (A login still waiting
      // for its second factor is no session yet: /me answers 401 and nothing is shown.)
      resetCsrfToken();
      await refresh();
      navigate(target.to, { state: target.state });
    } catch (cause) {
      setError(errorMessage(cause));
      if (cause instanceof ApiError && cause.code === 'FIRM_REQUIRED') {
        setAskFirm(true);
      }
      setPending(false);
      autofill.start();
    }
  }

  return (
    <Page title={audience === 'operator' ? 'Operator sign-in' : 'Sign in'}>
      <Card>
        <form className="form" onSubmit={submit} noValidate>
          {notice && !error ? (
            <p role="status" className="notice notice-info">
              {notice}
            </p>
          ) : null}
          <ErrorAlert message={error} />
          <TextField
            label="Email"
            type="email"
            value={email}
            onChange={setEmail}
            // "webauthn" last: the browser may offer this site's passkeys among the suggestions.
            autoComplete={firmUsers ? 'username webauthn' : 'username'}
            required
          />
          <TextField
            label="Password"
            type="password"
            value={password}
            onChange={setPassword}
            autoComplete="current-password"
            required
          />
          {askFirm ? (
            <TextField
              autoFocus
              label="Firm"
              value={firm}
              onChange={setFirm}
              autoCapitalize="none"
              spellCheck={false}
              hint="This address is registered with more than one firm. Type your firm's short name (for example, acme) and sign in again."
            />
          ) : null}
          <div className="form-actions">
            <button type="submit" disabled={pending}>
              Sign in
            </button>
          </div>
        </form>
        {passkeyButton ? <PasskeySignIn disabled={pending} onError={setError} autofill={autofill} onSignedIn={finishPasskey} /> : null}
      </Card>
      {/* The customers' page does not point at the operators' console; an operator who came to
          the wrong page is shown the way to the firm users' one. */}
      {audience === 'operator' ? (
        <p className="page-footer">
          <Link to="/login">Firm user sign-in</Link>
        </p>
      ) : null}
    </Page>
  );
}

/**
 * "Sign in with a passkey" (issue 6): no email, no password; the browser offers the passkeys
 * it has for this site, and the server decides. Shown only where the page knows the firm (a
 * ?firm= link, or the firm field) and the firm allows passkeys (issue 16.9); elsewhere the
 * email field's autofill offers a passkey to those who have one. The server still refuses a
 * passkey of a firm that does not allow them with the same answer as an unknown passkey.
 */
function PasskeySignIn({
  disabled,
  onError,
  autofill,
  onSignedIn,
}: {
  disabled: boolean;
  onError(message: string | null): void;
  autofill: PasskeyAutofill;
  onSignedIn(result: LoginResult): Promise<void>;
}) {
  const [waiting, setWaiting] = useState(false);

  async function signIn() {
    onError(null);
    setWaiting(true);
    // One WebAuthn request at a time: the one waiting in the email field's autofill ends first.
    autofill.stop();
    try {
      await onSignedIn(await signInWithPasskey());
    } catch (cause) {
      setWaiting(false);
      onError(keyErrorMessage(cause, 'passkey'));
      autofill.start();
    }
  }

  return (
    <div className="passkey-sign-in">
      <p className="muted">Or, without your password:</p>
      {waiting ? (
        <p role="status" className="notice notice-info">
          Waiting for your passkey. Follow your browser’s instructions.
        </p>
      ) : null}
      <button type="button" className="button-secondary" disabled={disabled || waiting} onClick={() => void signIn()}>
        Sign in with a passkey
      </button>
    </div>
  );
}
