import { useEffect, useState, type FormEvent } from 'react';
import { api, errorMessage, type Answer } from '../api';
import { TextField } from '../components/Field';
import { ErrorAlert, StatusNotice } from '../components/Notice';
import { Card, Page } from '../components/Page';
import { Link } from '../router';
import { useAction } from '../useApi';

type LinkInfo = Answer<'post', '/password/inspect'>;

/** The token travels in the URL fragment so it never reaches a server log or a Referer header. */
function tokenFromFragment(): string {
  const raw = window.location.hash.replace(/^#/, '');
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

export function SetPassword() {
  const [token, setToken] = useState(tokenFromFragment);
  useEffect(() => {
    const onHashChange = () => setToken(tokenFromFragment());
    window.addEventListener('hashchange', onHashChange);
    return () => window.removeEventListener('hashchange', onHashChange);
  }, []);
  // A new link starts over with fresh state.
  return <SetPasswordForm key={token} token={token} />;
}

function SetPasswordForm({ token }: { token: string }) {
  const [info, setInfo] = useState<LinkInfo | null>(null);
  const [linkError, setLinkError] = useState<string | null>(null);
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [repeat, setRepeat] = useState('');
  const [done, setDone] = useState(false);
  const { pending, error, setError, run } = useAction();

  useEffect(() => {
    if (!token) {
      setLinkError('This link is incomplete. Open the link from your email again.');
      return;
    }
    let current = true;
    api
      .post('/password/inspect', { body: { token } })
      .then((body) => {
        if (!current) return;
        setInfo(body);
        setName(body.name);
        setEmail(body.email);
      })
      .catch((cause: unknown) => {
        if (current) setLinkError(errorMessage(cause));
      });
    return () => {
      current = false;
    };
  }, [token]);

  const isOperatorSetup = info?.purpose === 'operator_setup';

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (password !== repeat) {
      setError('The passwords do not match.');
      return;
    }
    const body = isOperatorSetup ? { token, password, name, email } : { token, password };
    const result = await run(() => api.post('/password/set', { body }));
    if (result.ok) setDone(true);
  }

  return (
    <Page title="Choose your password">
      <Card>
        {linkError ? (
          <ErrorAlert message={linkError} />
        ) : !info ? (
          <p className="muted">Checking your link…</p>
        ) : done ? (
          <>
            <StatusNotice message="Your password is set." />
            <p>
              <Link to={isOperatorSetup ? '/operator/login' : '/login'} className="button-link">
                Sign in
              </Link>
            </p>
          </>
        ) : (
          <>
            <p className="lead">
              For <strong>{info.name}</strong> ({info.email})
              {info.firmName ? (
                <>
                  {' '}
                  at <strong>{info.firmName}</strong>
                </>
              ) : isOperatorSetup ? (
                ', operator account'
              ) : null}
              .
            </p>
            <form className="form" onSubmit={submit} noValidate>
              <ErrorAlert message={error} />
              {isOperatorSetup ? (
                <>
                  <TextField label="Your name" value={name} onChange={setName} autoComplete="name" required />
                  <TextField
                    label="Email"
                    type="email"
                    value={email}
                    onChange={setEmail}
                    autoComplete="email"
                    required
                  />
                </>
              ) : null}
              <TextField
                label="New password"
                type="password"
                value={password}
                onChange={setPassword}
                autoComplete="new-password"
                required
                hint="At least 8 characters. Long passphrases are good; common passwords are refused."
              />
              <TextField
                label="Repeat password"
                type="password"
                value={repeat}
                onChange={setRepeat}
                autoComplete="new-password"
                required
              />
              <div className="form-actions">
                <button type="submit" disabled={pending}>
                  Set password
                </button>
              </div>
            </form>
          </>
        )}
      </Card>
    </Page>
  );
}
