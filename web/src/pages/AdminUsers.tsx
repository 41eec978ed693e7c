import { useCallback, useState, type FormEvent } from 'react';
import { api, type Corporation, type Kind, type RequestBody, type UserView } from '../api';
import { DataTable, type Column } from '../components/DataTable';
import { CheckboxField, SelectField, TextField, type Option } from '../components/Field';
import { ErrorAlert, StatusNotice } from '../components/Notice';
import { Card, Page } from '../components/Page';
import { SearchBox } from '../components/SearchBox';
import { FirmAdminNav } from '../components/SectionNav';
import { Link } from '../router';
import { useAction, useApiGet, usePagedList } from '../useApi';
import { belongsToCorporation, describeState, formatDate, KIND_LABELS, KIND_OPTIONS, plural } from '../words';
import { useConfirm } from '../components/Dialog';


type Editor = { mode: 'closed' } | { mode: 'new' } | { mode: 'edit'; user: UserView };

export function AdminUsers() {
  const [confirm, confirmDialog] = useConfirm();
  const { filters, refine, list, paging } = usePagedList('/admin/users', { q: '', kind: '' });
  const [editor, setEditor] = useState<Editor>({ mode: 'closed' });
  // Corporation choices are only needed while a form is open.
  const corporations = useApiGet(editor.mode === 'closed' ? null : '/admin/corporations', { query: { pageSize: 100 } });
  const [notice, setNotice] = useState<string | null>(null);
  const rowAction = useAction();

  const onSearch = useCallback((q: string) => refine({ q }), [refine]);

  function open(next: Editor) {
    setNotice(null);
    rowAction.setError(null);
    setEditor(next);
  }

  function finish(message: string) {
    setEditor({ mode: 'closed' });
    setNotice(message);
    list.reload();
  }

  async function sendLink(user: UserView) {
    setNotice(null);
    const result = await rowAction.run(() => api.post('/admin/users/{id}/password-link', { params: { path: { id: user.id } } }));
    if (result.ok) setNotice(`A new set-password link was mailed to ${user.email}.`);
  }

  async function remove(user: UserView) {
    setNotice(null);
    if (!(await confirm({ title: `Delete ${user.name}?`, body: `${user.name} (${user.email}) is deleted for good, with their enrollment and sessions. This cannot be undone.`, confirmLabel: 'Delete user', danger: true }))) return;
    const result = await rowAction.run(() => api.delete('/admin/users/{id}', { params: { path: { id: user.id } } }));
    if (result.ok) {
      if (editor.mode === 'edit' && editor.user.id === user.id) setEditor({ mode: 'closed' });
      setNotice(`${user.name} was deleted.`);
      list.reload();
    }
  }

  const columns: Column<UserView>[] = [
    { header: 'Name', cell: (u) => u.name },
    { header: 'Email', cell: (u) => <span className="break">{u.email}</span> },
    {
      header: 'Kind',
      cell: (u) => (
        <>
          {KIND_LABELS[u.kind]}
          {u.isSuperuser ? <span className="badge">Superuser</span> : null}
        </>
      ),
    },
    { header: 'Corporation', cell: (u) => u.corporation?.name ?? '—' },
    {
      header: 'State',
      cell: (u) => (
        <>
          {describeState(u)}
          {u.hasPassword ? null : <span className="badge badge-muted">No password yet</span>}
        </>
      ),
    },
    {
      header: 'Actions',
      className: 'actions',
      cell: (u) => (
        <div className="row-actions">
          <button
            type="button"
            className="button-secondary button-small"
            aria-label={`Edit ${u.name}`}
            onClick={() => open({ mode: 'edit', user: u })}
          >
            Edit
          </button>
          <button
            type="button"
            className="button-secondary button-small"
            aria-label={`Send password link to ${u.name}`}
            disabled={rowAction.pending}
            onClick={() => void sendLink(u)}
          >
            Send password link
          </button>
          <button
            type="button"
            className="button-danger button-small"
            aria-label={`Delete ${u.name}`}
            disabled={rowAction.pending}
            onClick={() => void remove(u)}
          >
            Delete
          </button>
        </div>
      ),
    },
  ];

  const corporationList = corporations.data?.items ?? [];

  return (
    <Page title="Users" wide>
      <FirmAdminNav />
      {confirmDialog}
      <StatusNotice message={notice} />
      <ErrorAlert message={rowAction.error ?? list.error} />

      {editor.mode === 'new' ? (
        <Card title="New user">
          <NewUserForm
            corporations={corporationList}
            corporationsError={corporations.error}
            onCancel={() => open({ mode: 'closed' })}
            onCreated={(user) => finish(`${user.name} was added. A set-password link was mailed to ${user.email}.`)}
          />
        </Card>
      ) : null}
      {editor.mode === 'edit' ? (
        <Card title={`Edit ${editor.user.name}`}>
          <EditUserForm
            key={editor.user.id}
            user={editor.user}
            corporations={corporationList}
            corporationsError={corporations.error}
            onCancel={() => open({ mode: 'closed' })}
            onSaved={(user) => finish(`Changes to ${user.name} were saved.`)}
          />
        </Card>
      ) : null}

      <Card>
        <div className="toolbar-row">
          <SearchBox label="Search users" value={filters.q} onSearch={onSearch}>
            <SelectField
              label="Kind"
              value={filters.kind}
              options={[{ value: '', label: 'All kinds' }, ...KIND_OPTIONS]}
              onChange={(kind) => refine({ kind })}
            />
          </SearchBox>
          {editor.mode === 'new' ? null : (
            <button type="button" onClick={() => open({ mode: 'new' })}>
              New user
            </button>
          )}
        </div>
        <DataTable
          label="Users"
          columns={columns}
          rows={list.data?.items}
          rowKey={(u) => u.id}
          emptyText={filters.q || filters.kind ? 'No users match.' : 'No users yet.'}
          loading={list.loading}
          paging={paging}
        />
      </Card>
    </Page>
  );
}

type CorporationRef = Pick<Corporation, 'id' | 'name'>;

interface CorporationChoice {
  corporations: readonly CorporationRef[];
  corporationsError: string | null;
}

function corporationOptions(corporations: readonly CorporationRef[]): Option[] {
  return [{ value: '', label: 'Choose a corporation' }, ...corporations.map((c) => ({ value: c.id, label: c.name }))];
}

function CorporationField({
  corporations,
  corporationsError,
  value,
  onChange,
}: CorporationChoice & { value: string; onChange(value: string): void }) {
  const hint = corporationsError ? (
    corporationsError
  ) : corporations.length === 0 ? (
    <>
      There are no corporations yet. <Link to="/admin/corporations">Add one first</Link>.
    </>
  ) : undefined;
  return (
    <SelectField
      label="Corporation"
      value={value}
      options={corporationOptions(corporations)}
      onChange={onChange}
      hint={hint}
      required
    />
  );
}

function NewUserForm({
  onCreated,
  onCancel,
  ...choice
}: CorporationChoice & { onCreated(user: UserView): void; onCancel(): void }) {
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [kind, setKind] = useState<Kind>('case_manager');
  const [corporationId, setCorporationId] = useState('');
  const [isSuperuser, setIsSuperuser] = useState(false);
  const { pending, error, setError, run } = useAction();
  const needsCorporation = belongsToCorporation(kind);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (needsCorporation && !corporationId) {
      setError(`Choose the corporation this ${KIND_LABELS[kind].toLowerCase()} belongs to.`);
      return;
    }
    const body = {
      name,
      email,
      kind,
      ...(kind === 'case_manager' ? { isSuperuser } : {}),
      ...(needsCorporation ? { corporationId } : {}),
    };
    const result = await run(() => api.post('/admin/users', { body }));
    if (result.ok) onCreated(result.value);
  }

  return (
    <form className="form" aria-label="New user" onSubmit={submit} noValidate>
      <ErrorAlert message={error} />
      <TextField label="Name" value={name} onChange={setName} autoComplete="off" required />
      <TextField label="Email" type="email" value={email} onChange={setEmail} autoComplete="off" required />
      <SelectField label="Kind" value={kind} options={KIND_OPTIONS} onChange={(v) => setKind(v as Kind)} />
      {needsCorporation ? <CorporationField {...choice} value={corporationId} onChange={setCorporationId} /> : null}
      {kind === 'case_manager' ? (
        <CheckboxField
          label="Superuser"
          checked={isSuperuser}
          onChange={setIsSuperuser}
          hint="Superusers administer this firm's users and corporations."
        />
      ) : null}
      <p className="field-hint">A link to choose a password is mailed to the new user.</p>
      <div className="form-actions">
        <button type="submit" disabled={pending}>
          Create user
        </button>
        <button type="button" className="button-secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

type UserPatch = RequestBody<'patch', '/admin/users/{id}'>;

function EditUserForm({
  user,
  onSaved,
  onCancel,
  ...choice
}: CorporationChoice & { user: UserView; onSaved(user: UserView): void; onCancel(): void }) {
  const [name, setName] = useState(user.name);
  const [email, setEmail] = useState(user.email);
  const [isSuperuser, setIsSuperuser] = useState(user.isSuperuser);
  const [status, setStatus] = useState(user.status ?? 'active');
  const [portalAccess, setPortalAccess] = useState(user.portalAccess ?? 'enabled');
  const [recordState, setRecordState] = useState(user.recordState ?? 'active');
  const [corporationId, setCorporationId] = useState(user.corporation?.id ?? '');
  const [alias, setAlias] = useState(user.usernameAlias ?? '');
  const { pending, error, run } = useAction();
  const inCorporation = belongsToCorporation(user.kind);
  // The user's own corporation stays selectable even when it is not among the first page of choices.
  const current = user.corporation;
  const corporations =
    current && !choice.corporations.some((c) => c.id === current.id) ? [...choice.corporations, current] : choice.corporations;

  async function submit(event: FormEvent) {
    event.preventDefault();
    // Only what changed is sent, so an unrelated edit never trips a rule such as
    // "you cannot demote yourself".
    const patch: UserPatch = {};
    if (name !== user.name) patch.name = name;
    if (email !== user.email) patch.email = email;
    if (alias.trim() !== (user.usernameAlias ?? '')) patch.usernameAlias = alias.trim() === '' ? null : alias.trim();
    if (inCorporation) {
      if (portalAccess !== user.portalAccess) patch.portalAccess = portalAccess;
      if (recordState !== user.recordState) patch.recordState = recordState;
      if (corporationId !== (user.corporation?.id ?? '')) patch.corporationId = corporationId;
    } else {
      if (status !== user.status) patch.status = status;
      if (user.kind === 'case_manager' && isSuperuser !== user.isSuperuser) patch.isSuperuser = isSuperuser;
    }
    if (Object.keys(patch).length === 0) {
      onSaved(user);
      return;
    }
    const result = await run(() => api.patch('/admin/users/{id}', { params: { path: { id: user.id } }, body: patch }));
    if (result.ok) onSaved(result.value);
  }

  return (
    <form className="form" aria-label="Edit user" onSubmit={submit} noValidate>
      <ErrorAlert message={error} />
      <p className="muted">Kind: {KIND_LABELS[user.kind]}</p>
      <TextField label="Name" value={name} onChange={setName} autoComplete="off" required />
      <TextField
        label="Email"
        type="email"
        value={email}
        onChange={setEmail}
        autoComplete="off"
        required
        hint="A new address voids the user's unused set-password links; the old address is told of the change, and of security changes for 7 days."
      />
      <TextField
        label="Username alias (Duo applications)"
        value={alias}
        onChange={setAlias}
        autoComplete="off"
        hint="Optional. The username an application integrated through Duo's Auth API knows this user by, besides the email address. No spaces and no @."
      />
      {inCorporation ? (
        <>
          <SelectField
            label="Portal access"
            value={portalAccess}
            options={[
              { value: 'enabled', label: 'Enabled' },
              { value: 'disabled', label: 'Disabled' },
            ]}
            onChange={(v) => setPortalAccess(v as 'enabled' | 'disabled')}
          />
          <SelectField
            label="Record"
            value={recordState}
            options={[
              { value: 'active', label: 'Active' },
              { value: 'inactive', label: 'Inactive' },
            ]}
            onChange={(v) => setRecordState(v as 'active' | 'inactive')}
          />
          <CorporationField
            corporations={corporations}
            corporationsError={choice.corporationsError}
            value={corporationId}
            onChange={setCorporationId}
          />
        </>
      ) : (
        <SelectField
          label="Status"
          value={status}
          options={[
            { value: 'active', label: 'Active' },
            { value: 'disabled', label: 'Disabled' },
          ]}
          onChange={(v) => setStatus(v as 'active' | 'disabled')}
        />
      )}
      {user.kind === 'case_manager' ? (
        <CheckboxField label="Superuser" checked={isSuperuser} onChange={setIsSuperuser} />
      ) : null}
      <MfaLock user={user} />
      <div className="form-actions">
        <button type="submit" disabled={pending}>
          Save changes
        </button>
        <button type="button" className="button-secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/**
 * The user's second-factor lock (issue 4, lockout): after too many wrong codes the user
 * waits, or a superuser unlocks them here. The list does not carry MFA state, so the
 * user's own record is loaded.
 */
function MfaLock({ user }: { user: UserView }) {
  const detail = useApiGet('/admin/users/{id}', { path: { id: user.id } });
  const { pending, error, run } = useAction();
  const [unlocked, setUnlocked] = useState(false);
  const mfa = detail.data?.mfa;
  if (!mfa) return null;
  const locked = !unlocked && mfa.lockedUntil !== null && mfa.lockedUntil > Date.now();

  async function unlock() {
    const result = await run(() => api.post('/admin/users/{id}/mfa-unlock', { params: { path: { id: user.id } } }));
    if (result.ok) {
      setUnlocked(true);
      detail.reload();
    }
  }

  return (
    <div className="mfa-state">
      <h3>Multi-factor authentication</h3>
      <ErrorAlert message={error} />
      <p className="muted">
        {mfa.enrolled ? 'Enrolled.' : 'Not enrolled.'}
        {!locked && mfa.failedAttempts > 0 ? ` ${plural(mfa.failedAttempts, 'wrong code')} in a row.` : ''}
      </p>
      {locked ? (
        <>
          <p className="notice notice-error">MFA locked until {formatDate(mfa.lockedUntil!)}</p>
          <div className="form-actions">
            <button type="button" className="button-secondary" disabled={pending} onClick={() => void unlock()}>
              Unlock MFA of {user.name}
            </button>
          </div>
        </>
      ) : unlocked ? (
        <StatusNotice message={`MFA of ${user.name} was unlocked.`} />
      ) : null}
    </div>
  );
}
