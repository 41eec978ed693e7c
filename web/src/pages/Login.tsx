import { useState, type FormEvent } from 'react';
import { api, ApiError, errorMessage, resetCsrfToken } from '../api';
import { TextField } from '../components/Field';
import { ErrorAlert } from '../components/Notice';
import { Card, Page } from '../components/Page';
import { Link, navigate } from '../router';
import { useSession } from '../session';

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

  async function submit(event: FormEvent) {
    event.preventDefault();
    setPending(true);
    setError(null);
    try {
      if (audience === 'operator') {
        await api.post('/operator/login', { email, password });
      } else {
        await api.post('/login', { email, password, ...(firm.trim() ? { firm: firm.trim() } : {}) });
      }
      // The session changed, and the CSRF token is bound to it.
      resetCsrfToken();
      await refresh();
      navigate(audience === 'operator' ? '/operator' : '/home');
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
