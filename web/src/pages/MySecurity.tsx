import { useState, type FormEvent } from 'react';
import { api, type MyAuthenticator, type MySecurity as Security } from '../api';
import { DataTable, type Column } from '../components/DataTable';
import { TextField } from '../components/Field';
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
 * My security (/me/security): the signed-in user's authenticators and backup codes. The
 * server refuses changes (403 SECOND_FACTOR_REQUIRED) unless this session passed a second
 * factor, and mails the user about every change. The operator console's Security page
 * (/operator/security) is the same screen over /api/v1/operator (no passkeys: operators
 * always sign in with password and second factor).
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
          {data.enrolled && !data.secondFactorThisSession ? (
            <p className="notice notice-info">
              This browser is remembered, so you signed in without a second factor. Changes here need one:{' '}
              <Link to="/mfa?next=%2Fme%2Fsecurity">verify with a code</Link>.
            </p>
          ) : null}
          <Card title="Authenticators">
            <AuthenticatorTable
              base={base}
              security={data}
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
                {base === '/me' ? (
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
            remaining={data.backupCodesRemaining}
            owner={`${owner.name} (${owner.email}) at ${owner.orgName}`}
            onChanged={() => {
              setNotice(null);
              security.reload();
            }}
          />
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
  onChanged,
  onBeforeChange,
}: {
  base: SecurityBase;
  security: Security;
  onChanged(message: string): void;
  onBeforeChange(): void;
}) {
  const [renaming, setRenaming] = useState<string | null>(null);
  const action = useAction();
  const active = security.authenticators;

  async function remove(item: MyAuthenticator) {
    onBeforeChange();
    // Removing the last one while MFA is enforced frees the seat: the next login enrols again.
    const last = security.mfaEnabled && active.length === 1;
    const question = last ? LAST_ONE_WARNING : `Remove ${item.label}? It will no longer work for signing in.`;
    if (!window.confirm(question)) return;
    const result = await action.run(() =>
      api.delete(`${base}/authenticators/{id}`, { params: { path: { id: item.id }, query: last ? { confirm: true } : {} } }),
    );
    if (result.ok) onChanged(`${item.label} was removed.`);
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
            onClick={() => void remove(a)}
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
    </>
  );
}

function RenameForm({ base, item, onSaved, onCancel }: { base: SecurityBase; item: MyAuthenticator; onSaved(label: string): void; onCancel(): void }) {
  const [label, setLabel] = useState(item.label);
  const { pending, error, setError, run } = useAction();

  async function submit(event: FormEvent) {
    event.preventDefault();
    const next = label.trim();
    if (!next) {
      setError('Enter a name.');
      return;
    }
    const result = await run(() => api.patch(`${base}/authenticators/{id}`, { params: { path: { id: item.id } }, body: { label: next } }));
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

function BackupCodeSection({ base, remaining, owner, onChanged }: { base: SecurityBase; remaining: number; owner: string; onChanged(): void }) {
  const [codes, setCodes] = useState<string[] | null>(null);
  const { pending, error, run } = useAction();

  async function generate() {
    if (!window.confirm('Generate new backup codes? The codes you have now stop working.')) return;
    const result = await run(() => api.post(`${base}/backup-codes`));
    if (result.ok) setCodes(result.value.backupCodes);
  }

  return (
    <Card title="Backup codes">
      <ErrorAlert message={error} />
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
