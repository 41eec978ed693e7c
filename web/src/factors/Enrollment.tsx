import { useEffect, useId, useState, type FormEvent } from 'react';
import { api, ApiError, errorMessage, resetCsrfToken, type AuthenticatorMethod, type EnrollmentInfo, type EnrollmentState, type LoginNotice } from '../api';
import { ErrorAlert } from '../components/Notice';
import { Card } from '../components/Page';
import { useAction } from '../useApi';
import { BackupCodes } from './backup-codes/BackupCodes';
import { CancelButton } from './CancelButton';
import type { AddedKind, ChoiceValues, EnrollmentSetup } from './factor';
import { ENROLLMENTS } from './registry';

/**
 * "first": the mandatory enrollment of a login (/enroll), which explains what is
 * happening (reference "Enrolling users"). "add": another authenticator from My security.
 */
export type EnrollmentMode = 'first' | 'add';

interface EnrollmentProps {
  mode: EnrollmentMode;
  /** Straight to a setup, without the choice of method (My security's "Add security key", "Add a passkey"). */
  start?: EnrollmentSetup;
  /**
   * Enrolled (or, at first login with no licence free, skipped): where to go is the caller's
   * choice. `application`: the enrollment an application's link opened ended with no Tessera
   * session; the user goes back to that application and signs in there again.
   */
  onFinished(result: { notice?: LoginNotice; added?: AddedKind; application?: string }): void;
  /** The pending login is gone (401): the caller sends the user to sign in again. */
  onSignedOut?(): void;
  onCancel?(): void;
  /** The authenticator is set up (the backup codes may still be on screen): nothing left to cancel. */
  onEnrolled?(): void;
}

/**
 * The choices for this user: the methods the server lists, in the server's order, whose first
 * is the default (the Tessera Authenticator where the firm offers it, issue 16 item 7).
 */
function offeredMethods(info: EnrollmentInfo) {
  return info.methods.flatMap((m) => ENROLLMENTS.filter((choice) => choice.kind === m.kind));
}

type Step = { name: 'choose' } | { name: 'setup'; setup: EnrollmentSetup } | { name: 'codes'; codes: string[]; added: AddedKind };

/** The step to continue at, from where the server says this login's enrollment stands. */
function stepOf(state: EnrollmentState): Step {
  for (const choice of ENROLLMENTS) {
    const setup = choice.resume?.(state);
    if (setup) return { name: 'setup', setup };
  }
  return { name: 'choose' };
}

/**
 * The enrollment screen: the method picker, then the chosen factor's own setup screen (from
 * its folder), then the backup codes of a first enrollment. It knows no factor by name.
 */
export function Enrollment({ mode, start, onFinished, onSignedOut, onCancel, onEnrolled }: EnrollmentProps) {
  const [info, setInfo] = useState<EnrollmentInfo | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [step, setStep] = useState<Step>(start ? { name: 'setup', setup: start } : { name: 'choose' });
  // NO_SEAT at confirmation: the last licence went to someone else meanwhile.
  const [noSeat, setNoSeat] = useState<string | null>(null);
  // Asked again when a setup screen finds its enrollment finished elsewhere (another tab).
  const [asked, setAsked] = useState(0);
  // The first enrollment of a login continues where the server says it stands (issue 16 item 1).
  const resumes = mode === 'first' && !start;

  useEffect(() => {
    const controller = new AbortController();
    const signal = controller.signal;
    Promise.all([api.get('/mfa/enrollment', { signal }), resumes ? api.get('/mfa/enrollment/state', { signal }) : null])
      .then(([loaded, state]) => {
        if (state?.step === 'done') {
          onFinished({});
          return;
        }
        if (state) setStep(stepOf(state));
        setInfo(loaded);
      })
      .catch((cause: unknown) => {
        if (signal.aborted) return;
        if (cause instanceof ApiError && cause.status === 401) onSignedOut?.();
        else setLoadError(errorMessage(cause));
      });
    return () => controller.abort();
    // onFinished is the caller's (a new function each render): asked again for `asked` only.
  }, [onSignedOut, resumes, asked]);

  if (loadError) return <ErrorAlert message={loadError} />;
  if (!info) return <p className="muted">Loading…</p>;

  // (Never once the user holds a seat: the phone that activated took it, and the login finishes.)
  const canSkip = mode === 'first' && !info.enrolled && (noSeat !== null || !info.seatAvailable);
  // No seat, no enrollment (reference A.2.7): a user without a seat (signed in on the no-seat
  // bypass) is told so instead of being shown a QR code that could not be confirmed.
  const seatless = mode === 'add' && (noSeat !== null || (!info.enrolled && !info.seatAvailable));

  // Opened by an application's enroll link: it ends with no Tessera session, back to the application.
  const returnTo = info.application ? { application: info.application.name } : {};

  if (step.name === 'codes') {
    return (
      <Card title="Your backup codes">
        <BackupCodes
          codes={step.codes}
          lost={step.added === 'webauthn' || step.added === 'passkey' ? 'your security key' : 'your phone'}
          owner={`${info.user.name} (${info.user.email}) at ${info.firmName}`}
          onContinue={() => onFinished({ added: step.added, ...returnTo })}
        />
      </Card>
    );
  }

  return (
    <>
      {mode === 'first' && step.name === 'choose' ? <Explanation info={info} /> : null}
      {canSkip && info.application ? (
        <ReturnNotice application={info.application.name} />
      ) : canSkip ? (
        <SkipNotice message={noSeat} onSkipped={onFinished} />
      ) : seatless ? (
        <NoSeatNotice message={noSeat} onCancel={onCancel} />
      ) : step.name === 'choose' ? (
        <MethodChoice info={info} mode={mode} onStarted={(setup) => setStep({ name: 'setup', setup })} onNoSeat={setNoSeat} onCancel={onCancel} />
      ) : (
        step.setup.render({
          info,
          onCancel,
          onNoSeat: setNoSeat,
          onSignedOut,
          onStale: () => setAsked((n) => n + 1),
          onConfirmed: (codes) => {
            const { added } = step.setup;
            onEnrolled?.();
            if (codes && codes.length > 0) setStep({ name: 'codes', codes, added });
            else onFinished({ added, ...returnTo });
          },
        })
      )}
    </>
  );
}

/**
 * What is happening, once, above the choice of method (not above each later step): the methods
 * themselves, only those this user is offered, are described in the choice below it.
 */
function Explanation({ info }: { info: EnrollmentInfo }) {
  const count = offeredMethods(info).length;
  const key = info.methods.some((m) => m.kind === 'webauthn');
  const phone = info.methods.some((m) => m.kind !== 'webauthn');
  const what = phone && key ? 'your phone or a security key' : key ? 'a security key' : 'your phone';
  return (
    <Card>
      <p className="lead">
        Hello {info.user.name}. {info.firmName} requires a second factor when you sign in: after your password, {what} proves it is
        really you.
      </p>
      <p>
        This is a one-time setup. It takes about two minutes.
        {count > 1 ? ` Choose one of the ${count} ways your firm offers below.` : ''}
      </p>
    </Card>
  );
}

function SkipNotice({ message, onSkipped }: { message: string | null; onSkipped(result: { notice?: LoginNotice }): void }) {
  const { pending, error, run } = useAction();

  async function skip() {
    const result = await run(() => api.post('/mfa/enrollment/skip'));
    if (!result.ok) return;
    // The session became a full one: its CSRF token is fetched again.
    resetCsrfToken();
    onSkipped({ notice: result.value.notice ?? 'mfa_bypassed_no_seat' });
  }

  return (
    <Card>
      {message ? (
        <p role="alert" className="notice notice-error">
          {message}
        </p>
      ) : (
        <p role="status" className="notice notice-info">
          Your firm has no free licence for multi-factor authentication right now, so you cannot set it up today. You can sign
          in with your password only, and you will be asked to enrol once a licence is available.
        </p>
      )}
      <ErrorAlert message={error} />
      <div className="form-actions">
        <button type="button" disabled={pending} onClick={() => void skip()}>
          Continue without MFA
        </button>
      </div>
    </Card>
  );
}

/** No licence free in an enrollment an application's link opened: no skip into Tessera, the application decides. */
function ReturnNotice({ application }: { application: string }) {
  return (
    <Card>
      <p role="alert" className="notice notice-error">
        No MFA licence is free in your firm right now, so you cannot set up multi-factor authentication today. Go back to {application} and
        sign in again.
      </p>
    </Card>
  );
}

function NoSeatNotice({ message, onCancel }: { message: string | null; onCancel?(): void }) {
  return (
    <Card>
      <p role="alert" className="notice notice-error">
        {message ??
          'No MFA licence is free in your firm right now, so the authenticator cannot be added. Ask your administrator for more licences.'}
      </p>
      <div className="form-actions">
        <CancelButton onCancel={onCancel} />
      </div>
    </Card>
  );
}

function MethodChoice({
  info,
  mode,
  onStarted,
  onNoSeat,
  onCancel,
}: {
  info: EnrollmentInfo;
  mode: EnrollmentMode;
  onStarted(setup: EnrollmentSetup): void;
  onNoSeat(message: string): void;
  onCancel?(): void;
}) {
  const offered = offeredMethods(info);
  const [method, setMethod] = useState<AuthenticatorMethod | ''>(offered[0]?.kind ?? '');
  const { pending, error, setError, run } = useAction();
  const headingId = useId();
  const radioName = useId();
  // What each method's own fields hold (the phone of the Tessera Authenticator), kept while
  // another method is chosen.
  const [values, setValues] = useState<Partial<Record<AuthenticatorMethod, ChoiceValues>>>(() =>
    Object.fromEntries(offered.map((f) => [f.kind, f.initialValues?.() ?? {}])),
  );
  const chosen = offered.find((f) => f.kind === method);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!chosen) {
      setError('Choose how you want to sign in.');
      return;
    }
    setFieldErrors({});
    const result = await run(async () => {
      try {
        return await chosen.start(values[chosen.kind] ?? {});
      } catch (cause) {
        // A refusal about one field (the phone number) is shown at that field.
        if (cause instanceof ApiError && typeof cause.details.field === 'string') return { field: cause.details.field, message: cause.message };
        // No seat for this user (the no-seat bypass, or the last licence just went): no setup screen.
        if (cause instanceof ApiError && cause.code === 'NO_SEAT') return { noSeat: cause.message };
        throw cause;
      }
    });
    if (!result.ok) return;
    if ('noSeat' in result.value) onNoSeat(result.value.noSeat);
    else if ('field' in result.value) setFieldErrors({ [result.value.field]: result.value.message });
    else onStarted(result.value);
  }

  return (
    <Card title={mode === 'first' ? 'Choose how you sign in' : 'Add an authenticator'}>
      <form className="form" aria-labelledby={headingId} onSubmit={submit} noValidate>
        <ErrorAlert message={error} />
        <p id={headingId} className="muted">
          {mode === 'first' ? 'Choose what you will use as your second factor.' : 'Choose what to add.'}
        </p>
        {offered.length === 0 ? (
          <p className="muted">No method is available for you yet. Ask your firm administrator.</p>
        ) : (
          <div role="radiogroup" aria-label="Method" className="method-list">
            {offered.map((choice) => (
              <label key={choice.kind} className="method">
                <input
                  type="radio"
                  name={radioName}
                  value={choice.kind}
                  checked={method === choice.kind}
                  onChange={() => setMethod(choice.kind)}
                />
                <span>
                  <span className="method-name">{choice.label}</span>
                  <span className="method-description">{choice.description}</span>
                </span>
              </label>
            ))}
          </div>
        )}
        {chosen?.ChoiceFields ? (
          <chosen.ChoiceFields
            values={values[chosen.kind] ?? {}}
            errors={fieldErrors}
            onChange={(next) => {
              setFieldErrors({});
              setValues((all) => ({ ...all, [chosen.kind]: next }));
            }}
          />
        ) : null}
        <div className="form-actions">
          <button type="submit" disabled={pending || offered.length === 0}>
            Continue
          </button>
          <CancelButton onCancel={onCancel} />
        </div>
      </form>
    </Card>
  );
}
