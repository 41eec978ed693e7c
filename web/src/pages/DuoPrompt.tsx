import { startAuthentication, type PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/browser';
import { useEffect, useState, type FormEvent } from 'react';
import { TextField } from '../components/Field';
import { ErrorAlert, StatusNotice } from '../components/Notice';
import { Card, Page } from '../components/Page';
import { PUSH_INTRO, PushNumber } from '../factors/push/PushNumber';
import { keyErrorMessage } from '../factors/webauthn/ceremonies';

/**
 * Tessera's Universal Prompt (Duo Web SDK v4, issue 15 item 4): an application that uses Duo's
 * `duo_universal` client sends the browser here after checking the password. Second factor only:
 * a push to the Tessera Authenticator, a passcode (authenticator app, Tessera Authenticator, or a
 * backup code), a security key; or, at first use, a link into Tessera's enrollment. The outcome
 * goes back to the application (its redirect_uri with duo_code and state); no Tessera session is
 * made. The calls go to /oauth/v1/prompt/<id> (the Duo door), authenticated by the cookie the
 * authorize step set for this browser; errors come in Duo's envelope.
 */

type Method = 'push' | 'totp' | 'webauthn' | 'backup_code';
type View =
  | { stage: 'second_factor'; application: { name: string }; username: string; methods: Method[]; defaultMethod: Method; expiresAt: number }
  | { stage: 'enroll'; application: { name: string }; username: string; expiresAt: number }
  | { stage: 'done'; redirect: string };

class PromptError extends Error {}

async function call<T>(id: string, path: string, body?: object): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`/oauth/v1/prompt/${encodeURIComponent(id)}${path}`, {
      method: body ? 'POST' : 'GET',
      credentials: 'same-origin',
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch {
    throw new PromptError('Tessera could not be reached. Check your connection and try again.');
  }
  const data = (await res.json().catch(() => null)) as (T & { stat?: string; message?: string; message_detail?: string }) | null;
  if (!res.ok || !data) throw new PromptError(data?.message_detail ?? data?.message ?? 'Something went wrong. Try again.');
  return data;
}

/** Leaves for the application (its redirect_uri carries the result). */
const goBack = (redirect: string) => window.location.assign(redirect);

export function DuoPrompt({ id }: { id: string }) {
  const [view, setView] = useState<View | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [method, setMethod] = useState<Method>('push');

  useEffect(() => {
    call<View>(id, '')
      .then((v) => {
        if (v.stage === 'done') return goBack(v.redirect);
        setView(v);
        if (v.stage === 'second_factor') setMethod(v.methods.includes(v.defaultMethod) ? v.defaultMethod : (v.methods[0] ?? 'totp'));
      })
      .catch((cause: unknown) => setLoadError(cause instanceof Error ? cause.message : String(cause)));
  }, [id]);

  if (loadError) {
    return (
      <Page title="Sign-in could not continue">
        <Card>
          <ErrorAlert message={loadError} />
          <p>Go back to the application and sign in again.</p>
        </Card>
      </Page>
    );
  }
  if (!view || view.stage === 'done') {
    return (
      <Page title="Confirm it’s you">
        <StatusNotice message="Loading…" />
      </Page>
    );
  }
  const appName = view.application.name;
  if (view.stage === 'enroll') return <EnrollOffer id={id} appName={appName} username={view.username} />;

  const passcode = view.methods.includes('totp') || view.methods.includes('backup_code');
  const options: { method: Method; label: string }[] = [
    ...(view.methods.includes('push') ? [{ method: 'push' as const, label: 'Send me a push' }] : []),
    ...(passcode ? [{ method: 'totp' as const, label: 'Enter a passcode' }] : []),
    ...(view.methods.includes('webauthn') ? [{ method: 'webauthn' as const, label: 'Use a security key' }] : []),
  ];
  const shown = method === 'backup_code' ? 'totp' : method;

  return (
    <Page title="Confirm it’s you">
      <p className="lead">
        Signing in to <strong>{appName}</strong> as <span className="break">{view.username}</span>.
      </p>
      <Card>
        {shown === 'push' ? <PushForm id={id} appName={appName} /> : shown === 'webauthn' ? <KeyForm id={id} /> : <PasscodeForm id={id} />}
        {options.length > 1 ? (
          <nav aria-label="Other ways to confirm" className="form-actions switch-method">
            {options
              .filter((o) => o.method !== shown)
              .map((o) => (
                <button key={o.method} type="button" className="button-secondary" onClick={() => setMethod(o.method)}>
                  {o.label}
                </button>
              ))}
          </nav>
        ) : null}
      </Card>
      <p className="muted">The result goes back to {appName}. Tessera keeps you signed in nowhere.</p>
    </Page>
  );
}

function EnrollOffer({ id, appName, username }: { id: string; appName: string; username: string }) {
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  async function start() {
    setPending(true);
    setError(null);
    try {
      const { url } = await call<{ url: string }>(id, '/enroll', {});
      window.location.assign(url);
    } catch (cause) {
      setPending(false);
      setError(cause instanceof Error ? cause.message : String(cause));
    }
  }
  return (
    <Page title="Set up multi-factor authentication">
      <p className="lead">
        <strong>{appName}</strong> asks <span className="break">{username}</span> to confirm sign-ins with a second factor, and you have none yet.
      </p>
      <Card>
        <ErrorAlert message={error} />
        <p>Set up the Tessera Authenticator, an authenticator app or a security key now. When you have finished, sign in to {appName} again.</p>
        <div className="form-actions">
          <button type="button" onClick={() => void start()} disabled={pending}>
            Set up now
          </button>
        </div>
      </Card>
    </Page>
  );
}

function PasscodeForm({ id }: { id: string }) {
  const [code, setCode] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  async function submit(event: FormEvent) {
    event.preventDefault();
    const typed = code.replace(/\s+/g, '');
    if (!typed) {
      setError('Enter your passcode.');
      return;
    }
    setPending(true);
    setError(null);
    try {
      goBack((await call<{ redirect: string }>(id, '/passcode', { passcode: typed })).redirect);
    } catch (cause) {
      setPending(false);
      setCode('');
      setError(cause instanceof Error ? cause.message : String(cause));
    }
  }
  return (
    <form className="form" aria-label="Passcode" onSubmit={(e) => void submit(e)} noValidate>
      <ErrorAlert message={error} />
      <p className="muted">Type the 6-digit code from the Tessera Authenticator or your authenticator app, or one of your backup codes.</p>
      <TextField label="Passcode" value={code} onChange={setCode} autoComplete="one-time-code" autoCapitalize="off" spellCheck={false} maxLength={32} autoFocus required />
      <div className="form-actions">
        <button type="submit" disabled={pending}>
          Verify
        </button>
      </div>
    </form>
  );
}

function PushForm({ id, appName }: { id: string; appName: string }) {
  const [push, setPush] = useState<{ number: string; deadline: number } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [sending, setSending] = useState(false);

  useEffect(() => {
    if (push === null) return;
    let live = true;
    void (async () => {
      while (live) {
        try {
          const answer = await call<{ status: 'pending' | 'expired' } | { status: 'done'; redirect: string }>(id, '/push/wait', {});
          if (!live) return;
          if (answer.status === 'pending') continue;
          if (answer.status === 'done') return goBack(answer.redirect);
          setPush(null);
          setError('The request expired before it was answered. Try again, or use another way.');
          return;
        } catch (cause) {
          if (!live) return;
          setPush(null);
          setError(cause instanceof Error ? cause.message : String(cause));
          return;
        }
      }
    })();
    return () => {
      live = false;
    };
  }, [push, id]);

  async function send(event: FormEvent) {
    event.preventDefault();
    setSending(true);
    setError(null);
    try {
      const started = await call<{ number: string; expiresInSeconds: number } | { redirect: string }>(id, '/push', {});
      if ('redirect' in started) return goBack(started.redirect);
      setPush({ number: started.number, deadline: Date.now() + started.expiresInSeconds * 1000 });
    } catch (cause) {
      setError(cause instanceof Error ? cause.message : String(cause));
    } finally {
      setSending(false);
    }
  }

  return (
    <form className="form" aria-label="Push" onSubmit={(e) => void send(e)} noValidate>
      <ErrorAlert message={error} />
      {push ? (
        <PushNumber number={push.number} deadline={push.deadline} note={`The request names ${appName}.`} />
      ) : (
        <>
          <p className="muted">{PUSH_INTRO}</p>
          <div className="form-actions">
            <button type="submit" disabled={sending}>
              Send me a push
            </button>
          </div>
        </>
      )}
    </form>
  );
}

function KeyForm({ id }: { id: string }) {
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  async function use(event: FormEvent) {
    event.preventDefault();
    setPending(true);
    setError(null);
    try {
      const { options } = await call<{ options: PublicKeyCredentialRequestOptionsJSON }>(id, '/webauthn/options', {});
      let response;
      try {
        response = await startAuthentication({ optionsJSON: options });
      } catch (cause) {
        throw new PromptError(keyErrorMessage(cause, 'authenticate'));
      }
      const { clientExtensionResults, ...rest } = response;
      goBack((await call<{ redirect: string }>(id, '/webauthn/verify', { response: { ...rest, clientExtensionResults: { ...clientExtensionResults } } })).redirect);
    } catch (cause) {
      setPending(false);
      setError(cause instanceof Error ? cause.message : String(cause));
    }
  }
  return (
    <form className="form" aria-label="Security key" onSubmit={(e) => void use(e)} noValidate>
      <ErrorAlert message={error} />
      <p className="muted">Insert or tap your security key when your browser asks.</p>
      <div className="form-actions">
        <button type="submit" disabled={pending}>
          Use security key
        </button>
      </div>
    </form>
  );
}
