import { useRef, useState, type FormEvent, type InputHTMLAttributes } from 'react';
import { api, ApiError, type RequestBody } from '../api';
import { TextField } from '../components/Field';
import { ErrorAlert } from '../components/Notice';
import { codeErrorMessage, lockMessage } from '../words';
import { secondsLocked, type StepFormProps } from './factor';
import { RememberField } from './RememberField';

/** What a typed-code factor (a passcode, a backup code) tells the shared form. */
export interface CodeWords {
  method: RequestBody<'post', '/mfa/verify'>['method'];
  /** The form's accessible name and the field's label. */
  name: string;
  intro: string;
  /** The code as the server takes it. */
  normalise(typed: string): string;
  /** The field's input attributes (keyboard, autocomplete, length). */
  input: Omit<InputHTMLAttributes<HTMLInputElement>, 'onChange' | 'value' | 'id'>;
}

/** A code typed at the second-factor step: checked by POST /mfa/verify, and a wrong one counts toward the lock. */
export function CodeForm({ words, challenge, onVerified, onExpired }: StepFormProps & { words: CodeWords }) {
  const [code, setCode] = useState('');
  const [remember, setRemember] = useState(false);
  const [pending, setPending] = useState(false);
  const lockedFor = secondsLocked(challenge);
  const [error, setError] = useState<string | null>(lockedFor > 0 ? lockMessage(lockedFor) : null);
  const field = useRef<HTMLDivElement>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const typed = words.normalise(code);
    if (!typed) {
      setError(`Enter your ${words.name.toLowerCase()}.`);
      return;
    }
    setPending(true);
    setError(null);
    try {
      await api.post('/mfa/verify', {
        body: {
          method: words.method,
          code: typed,
          ...(challenge.rememberDays > 0 ? { remember } : {}),
        },
      });
      onVerified();
    } catch (cause) {
      setPending(false);
      if (cause instanceof ApiError && cause.status === 401 && cause.code === 'UNAUTHENTICATED') {
        onExpired();
        return;
      }
      setError(codeErrorMessage(cause));
      setCode('');
      field.current?.querySelector('input')?.focus();
    }
  }

  return (
    <form className="form" aria-label={words.name} onSubmit={submit} noValidate>
      <ErrorAlert message={error} />
      <p className="muted">{words.intro}</p>
      <div ref={field}>
        <TextField label={words.name} value={code} onChange={setCode} {...words.input} autoFocus required />
      </div>
      <RememberField days={challenge.rememberDays} checked={remember} onChange={setRemember} />
      <div className="form-actions">
        <button type="submit" disabled={pending}>
          Verify
        </button>
      </div>
    </form>
  );
}
