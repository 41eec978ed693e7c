import { useState, type FormEvent } from 'react';
import { api, ApiError, errorMessage, resetCsrfToken, type LoginResult } from '../api';
import { TextField } from '../components/Field';
import { ErrorAlert } from '../components/Notice';
import { Card, Page } from '../components/Page';
import { historyState, Link, navigate } from '../router';
import { nextParam, safeNext, withNext } from '../safe-next';
import { useSession } from '../session';
import { keyErrorMessage, signInWithPasskey } from '../factors/webauthn/ceremonies';

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

  async function submit(event: FormEvent) {
    event.preventDefault();
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
          <TextField label="Email" type="email" value={email} onChange={setEmail} autoComplete="username" required />
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
        {audience === 'user' ? <PasskeySignIn disabled={pending} onError={setError} /> : null}
      </Card>
      <p className="page-footer">
        {audience === 'operator' ? (
          <Link to="/login">Firm user sign-in</Link>
        ) : (
          <Link to="/operator/login">Operator sign-in</Link>
        )}
      </p>
    </Page>
  );
}

/**
 * "Sign in with a passkey" (issue 6): no email, no password; the browser offers the passkeys
 * it has for this site, and the server decides. Always shown: a firm that does not allow
 * passkeys gets the same refusal as an unknown passkey, so the page tells nobody which
 * firms allow them.
 */
function PasskeySignIn({ disabled, onError }: { disabled: boolean; onError(message: string | null): void }) {
  const { refresh } = useSession();
  const [waiting, setWaiting] = useState(false);

  async function signIn() {
    onError(null);
    setWaiting(true);
    try {
      const result = await signInWithPasskey();
      // A new full session: its CSRF token is fetched again.
      resetCsrfToken();
      await refresh();
      const target = afterPassword(result);
      navigate(target.to, { state: target.state });
    } catch (cause) {
      setWaiting(false);
      onError(keyErrorMessage(cause, 'passkey'));
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
