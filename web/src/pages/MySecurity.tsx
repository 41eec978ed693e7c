import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { api, ApiError, type MyAuthenticator, type MySecurity as Security, } from '../api';
import { DataTable, type Column } from '../components/DataTable';
import { CheckboxField, TextField } from '../components/Field';
import { ErrorAlert, StatusNotice } from '../components/Notice';
import { Card, Page } from '../components/Page';
import { OperatorNav } from '../components/SectionNav';
import { BackupCodes } from '../factors/backup-codes/BackupCodes';
import { Enrollment } from '../factors/Enrollment';
import type { AddedKind } from '../factors/factor';
import { keySetup } from '../factors/webauthn/webauthn.factor';
import { useAction, useApiGet } from '../useApi';
import { Link } from '../router';
import { formatDate, METHOD_LABELS, plural } from '../words';
import { useConfirm } from '../components/Dialog';

/** What "Add …" opened: the choice of method (from "Add authenticator app"), or a key's setup straight away. */
type Adding = null | 'choose' | 'webauthn' | 'passkey';

const ADDED_NOTICE: Record<AddedKind, string> = {
  totp: 'Your authenticator app was added.',
  push: 'Your Tessera Authenticator was added.',
  webauthn: 'Your security key was added.',
  passkey: 'Your passkey was added.',
};

const LAST_ONE_WARNING = 'This is your only authenticator. You will have to set up MFA again at your next login.';

/** Where the API of these settings is: /me for a firm user, /operator for an operator's own second factor. */
type SecurityBase = '/me' | '/operator';

/** Whose settings: for the notices and the backup-codes download. */
export interface SecurityOwner {
  name: string;
  email: string;
  /** The firm, or "Tessera operators". */
  orgName: string;
}

/**
 * A change request that, refused with 403 SECOND_FACTOR_REQUIRED (the step-up aged while the
 * page stayed open), also reloads the page's data, which then shows the way to a new step-up.
 */
function stepUpAware<T>(request: Promise<T>, onStepUpNeeded: () => void): Promise<T> {
  return request.catch((cause: unknown) => {
    if (cause instanceof ApiError && cause.code === 'SECOND_FACTOR_REQUIRED') onStepUpNeeded();
    throw cause;
  });
}

/**
 * My security (/me/security): the signed-in user's authenticators and backup codes. The
 * server refuses changes (403 SECOND_FACTOR_REQUIRED) unless this session passed a second
 * factor in the last 15 minutes (STEP_UP_MAX_AGE_MS), and mails the user about every change;
 * the page then links to /mfa for a step-up, which brings the user back here. The operator
 * console's Security page (/operator/security) is the same screen over /api/v1/operator (no
 * passkeys: operators always sign in with password and second factor).
 */
export function MySecurity({ owner, base }: { owner: SecurityOwner; base: SecurityBase }) {
  const security = useApiGet(`${base}/security`);
  const [adding, setAdding] = useState<Adding>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const data = security.data;

  return (
    <Page title="My security" wide>
      {base === '/operator' ? <OperatorNav /> : null}
      <StatusNotice message={notice} />
      <ErrorAlert message={security.error} />
      {data ? (
        <>
          {data.mfaEnabled && !data.enrolled ? (
            <p role="status" className="notice notice-info">
              {owner.orgName} requires multi-factor authentication for you. You will be asked to set it up at your next login,
              or you can add an authenticator now.
            </p>
          ) : null}
          {data.stepUpRequired ? (
            <p className="notice notice-info">
              {data.secondFactorThisSession
                ? 'You verified your second factor more than 15 minutes ago. Changes here need a recent one:'
                : 'This browser is remembered, so you signed in without a second factor. Changes here need one:'}{' '}
              <Link to={`/mfa?next=${encodeURIComponent(`${base}/security`)}`}>verify with a code</Link>.
            </p>
          ) : null}
          <Card title="Authenticators">
            <AuthenticatorTable
              base={base}
              security={data}
              onStepUpNeeded={security.reload}
              onChanged={(message) => {
                setNotice(message);
                security.reload();
              }}
              onBeforeChange={() => setNotice(null)}
            />
            {adding ? null : (
              <div className="form-actions">
                <button
                  type="button"
                  onClick={() => {
                    setNotice(null);
                    setAdding('choose');
                  }}
                >
                  Add authenticator app
                </button>
                <button
                  type="button"
                  className="button-secondary"
                  onClick={() => {
                    setNotice(null);
                    setAdding('webauthn');
                  }}
                >
                  Add security key
                </button>
                {/* Only where the firm allows passkey sign-in: the server refuses a passkey elsewhere (issue 12). */}
                {base === '/me' && data.passkeysAllowed ? (
                  <button
                    type="button"
                    className="button-secondary"
                    onClick={() => {
                      setNotice(null);
                      setAdding('passkey');
                    }}
                  >
                    Add a passkey
                  </button>
                ) : null}
              </div>
            )}
          </Card>
          {adding ? (
            <Enrollment
              key={adding}
              mode="add"
              start={adding === 'choose' ? undefined : keySetup(adding === 'passkey')}
              onCancel={() => setAdding(null)}
              onFinished={({ added }) => {
                setAdding(null);
                setNotice(ADDED_NOTICE[added ?? 'totp']);
                security.reload();
              }}
            />
          ) : null}
          <BackupCodeSection
            base={base}
            onStepUpNeeded={security.reload}
            remaining={data.backupCodesRemaining}
            owner={`${owner.name} (${owner.email}) at ${owner.orgName}`}
            onChanged={() => {
              setNotice(null);
              security.reload();
            }}
          />
          {/* Operators are never remembered. */}
          {base === '/me' ? (
            <RememberedBrowsersSection
              security={data}
              onBeforeChange={() => setNotice(null)}
              onChanged={(message) => {
                setNotice(message);
                security.reload();
              }}
            />
          ) : null}
        </>
      ) : security.error ? null : (
        <p className="muted">Loading…</p>
      )}
    </Page>
  );
}

function AuthenticatorTable({
  base,
  security,
  onStepUpNeeded,
  onChanged,
  onBeforeChange,
}: {
  base: SecurityBase;
  security: Security;
  onStepUpNeeded(): void;
  onChanged(message: string): void;
  onBeforeChange(): void;
}) {
  const [renaming, setRenaming] = useState<string | null>(null);
  const [removing, setRemoving] = useState<MyAuthenticator | null>(null);
  const action = useAction();
  const active = security.authenticators;
  // Removing the last one while MFA is enforced frees the seat: the next login enrols again.
  const last = security.mfaEnabled && active.length === 1;

  async function remove(item: MyAuthenticator, forgetBrowsers: boolean) {
    const result = await action.run(() => stepUpAware(api.delete(`${base}/authenticators/{id}`, { params: { path: { id: item.id }, query: { ...(last ? { confirm: true } : {}), ...(forgetBrowsers ? { forgetBrowsers: true } : {}) } } }), onStepUpNeeded));
    setRemoving(null);
    if (result.ok) onChanged(forgetBrowsers ? `${item.label} was removed, and your remembered browsers were forgotten.` : `${item.label} was removed.`);
  }

  const columns: Column<MyAuthenticator>[] = [
    { header: 'Type', cell: (a) => METHOD_LABELS[a.kind] ?? a.kind },
    {
      header: 'Name',
      cell: (a) =>
        renaming === a.id ? (
          <RenameForm
            base={base}
            item={a}
            onStepUpNeeded={onStepUpNeeded}
            onCancel={() => setRenaming(null)}
            onSaved={(label) => {
              setRenaming(null);
              onChanged(`${a.label} is now called ${label}.`);
            }}
          />
        ) : (
          <>
            {a.label}
            {a.phone ? <span className="cell-detail">{a.phone}</span> : null}
          </>
        ),
    },
    { header: 'Added', cell: (a) => formatDate(a.createdAt) },
    { header: 'Last used', cell: (a) => (a.lastUsedAt === null ? 'Never' : formatDate(a.lastUsedAt)) },
    {
      header: 'Actions',
      className: 'actions',
      cell: (a) => (
        <div className="row-actions">
          <button
            type="button"
            className="button-secondary button-small"
            aria-label={`Rename ${a.label}`}
            disabled={renaming === a.id}
            onClick={() => {
              onBeforeChange();
              action.setError(null);
              setRenaming(a.id);
            }}
          >
            Rename
          </button>
          <button
            type="button"
            className="button-danger button-small"
            aria-label={`Remove ${a.label}`}
            disabled={action.pending}
            onClick={() => {
              onBeforeChange();
              action.setError(null);
              setRemoving(a);
            }}
          >
            Remove
          </button>
        </div>
      ),
    },
  ];

  return (
    <>
      <ErrorAlert message={action.error} />
      <DataTable
        label="My authenticators"
        columns={columns}
        rows={active}
        rowKey={(a) => a.id}
        emptyText="You have no authenticator yet."
      />
      {removing ? (
        <RemoveDialog
          item={removing}
          warning={last ? LAST_ONE_WARNING : 'It will no longer work for signing in.'}
          // The last one resets the enrollment, which forgets the remembered browsers anyway.
          remembered={base === '/me' && active.length > 1 ? security.rememberedBrowsers : 0}
          pending={action.pending}
          onConfirm={(forget) => void remove(removing, forget)}
          onCancel={() => setRemoving(null)}
        />
      ) : null}
    </>
  );
}

/**
 * The confirmation of "Remove": a modal dialog (the browser's own <dialog>: focus kept inside,
 * Escape cancels). Where the user has remembered browsers it offers to forget them too, ticked
 * by default: an authenticator is often removed because the phone or key is lost, and a
 * browser that skips the second factor is then the next thing to take back.
 */
function RemoveDialog({
  item,
  warning,
  remembered,
  pending,
  onConfirm,
  onCancel,
}: {
  item: MyAuthenticator;
  warning: string;
  remembered: number;
  pending: boolean;
  onConfirm(forgetBrowsers: boolean): void;
  onCancel(): void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const textId = useId();
  const [forget, setForget] = useState(true);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);
  return (
    <dialog
      ref={ref}
      className="dialog"
      aria-labelledby={titleId}
      aria-describedby={textId}
      onCancel={(event) => {
        event.preventDefault();
        onCancel();
      }}
    >
      <h2 id={titleId}>Remove {item.label}?</h2>
      <p id={textId}>{warning}</p>
      {remembered > 0 ? (
        <CheckboxField
          label="Also forget remembered browsers"
          checked={forget}
          onChange={setForget}
          hint={`${plural(remembered, 'browser')} now sign${remembered === 1 ? 's' : ''} you in without a second factor. Forgotten, each asks for one at its next sign-in.`}
        />
      ) : null}
      <div className="form-actions">
        <button type="button" className="button-danger" disabled={pending} onClick={() => onConfirm(remembered > 0 && forget)}>
          Remove
        </button>
        <button type="button" className="button-secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </dialog>
  );
}

/**
 * Remembered browsers (issue 12): how many browsers skip the second factor, which (the newest
 * 20), and one button to forget them all. Forgetting needs no second factor in this session
 * (it only takes access away); the server audits it and mails the user.
 */
function RememberedBrowsersSection({
  security,
  onBeforeChange,
  onChanged,
}: {
  security: Security;
  onBeforeChange(): void;
  onChanged(message: string): void;
}) {
  const { pending, error, run } = useAction();
  const count = security.rememberedBrowsers;

  async function forgetAll() {
    onBeforeChange();
    const result = await run(() => api.delete('/me/remembered-browsers'));
    if (result.ok) onChanged(`${plural(result.value.forgotten, 'remembered browser')} forgotten. Each asks for a second factor at its next sign-in.`);
  }

  const columns: Column<Security['rememberedBrowserList'][number]>[] = [
    { header: 'Browser', cell: (b) => `${b.browser} on ${b.os}` },
    { header: 'Remembered', cell: (b) => formatDate(b.createdAt) },
    { header: 'Until', cell: (b) => formatDate(b.expiresAt) },
  ];

  return (
    <Card title="Remembered browsers">
      <ErrorAlert message={error} />
      <p className="stat-value">{plural(count, 'remembered browser')}</p>
      <p className="muted">
        A remembered browser signs you in without a second factor until the date shown. If one may be in someone else’s hands, forget
        them all: each asks for a second factor at its next sign-in, this one too.
      </p>
      {count > 0 ? (
        <DataTable
          label="Remembered browsers"
          columns={columns}
          rows={security.rememberedBrowserList}
          rowKey={(b) => `${b.createdAt}-${b.expiresAt}-${b.browser}-${b.os}`}
          emptyText="No browser is remembered."
        />
      ) : null}
      <div className="form-actions">
        <button type="button" className="button-secondary" disabled={pending || count === 0} onClick={() => void forgetAll()}>
          Forget all remembered browsers
        </button>
      </div>
    </Card>
  );
}

function RenameForm({
  base,
  item,
  onStepUpNeeded,
  onSaved,
  onCancel,
}: {
  base: SecurityBase;
  item: MyAuthenticator;
  onStepUpNeeded(): void;
  onSaved(label: string): void;
  onCancel(): void;
}) {
  const [label, setLabel] = useState(item.label);
  const { pending, error, setError, run } = useAction();

  async function submit(event: FormEvent) {
    event.preventDefault();
    const next = label.trim();
    if (!next) {
      setError('Enter a name.');
      return;
    }
    const result = await run(() => stepUpAware(api.patch(`${base}/authenticators/{id}`, { params: { path: { id: item.id } }, body: { label: next } }), onStepUpNeeded));
    if (result.ok) onSaved(result.value?.label ?? next);
  }

  return (
    <form className="form form-compact" onSubmit={submit} noValidate>
      <ErrorAlert message={error} />
      <TextField label="New name" value={label} onChange={setLabel} maxLength={60} autoFocus required />
      <div className="form-actions">
        <button type="submit" className="button-small" disabled={pending}>
          Save
        </button>
        <button type="button" className="button-secondary button-small" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function BackupCodeSection({
  base,
  remaining,
  owner,
  onStepUpNeeded,
  onChanged,
}: {
  base: SecurityBase;
  remaining: number;
  owner: string;
  onStepUpNeeded(): void;
  onChanged(): void;
}) {
  const [confirm, confirmDialog] = useConfirm();
  const [codes, setCodes] = useState<string[] | null>(null);
  const { pending, error, run } = useAction();

  async function generate() {
    if (!(await confirm({ title: 'Generate new backup codes?', body: 'The codes you have now stop working.', confirmLabel: 'Generate new codes' }))) return;
    const result = await run(() => stepUpAware(api.post(`${base}/backup-codes`), onStepUpNeeded));
    if (result.ok) setCodes(result.value.backupCodes);
  }

  return (
    <Card title="Backup codes">
      <ErrorAlert message={error} />
      {confirmDialog}
      {codes ? (
        <>
          <h3>Your new backup codes</h3>
          <BackupCodes
            codes={codes}
            owner={owner}
            continueLabel="Done"
            onContinue={() => {
              setCodes(null);
              onChanged();
            }}
          />
        </>
      ) : (
        <>
          <p className="stat-value">{plural(remaining, 'unused backup code')}</p>
          <p className="muted">Each one signs you in once when your phone is not at hand.</p>
          <div className="form-actions">
            <button type="button" className="button-secondary" disabled={pending} onClick={() => void generate()}>
              Generate new backup codes
            </button>
          </div>
        </>
      )}
    </Card>
  );
}
