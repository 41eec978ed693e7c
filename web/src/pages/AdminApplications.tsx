import { useCallback, useId, useState, type FormEvent } from 'react';
import {
  api,
  type Application,
  type ApplicationCall,
  type ApplicationInput,
  type ApplicationType,
  type ApplicationWithSecret,
  type ClientType,
  type GracePeriod,
  type Kind,
  type NewUserPolicy,
  type SecretAuthMethod,
} from '../api';
import { CopyButton } from '../components/CopyButton';
import { DataTable, type Column } from '../components/DataTable';
import { ConfirmDialog, Dialog } from '../components/Dialog';
import { CheckboxField, SelectField, TextAreaField, TextField } from '../components/Field';
import { ErrorAlert, StatusNotice } from '../components/Notice';
import { Card, Page } from '../components/Page';
import { SearchBox } from '../components/SearchBox';
import { FirmAdminNav } from '../components/SectionNav';
import { useAction, useApiGet, usePagedList } from '../useApi';
import {
  APPLICATION_TYPE_LABELS,
  AUTH_METHOD_LABELS,
  credentialNames,
  formatDate,
  GRACE_LABELS,
  KIND_LABELS,
  KINDS,
  inSentence,
  NEW_USER_POLICY_LABELS,
  plural,
} from '../words';

/**
 * Firm administration > Applications (issues 14 and 15): the firm's own applications that sign
 * their users in through Tessera, as OpenID Connect clients or Duo-compatible integrations.
 * A secret is shown once, in a dialog, when the application is created and when it is rotated.
 */

const TYPE_DESCRIPTIONS: Record<ApplicationType, string> = {
  oidc: 'A web or mobile application that signs users in with any OpenID Connect library.',
  duo_auth_api: 'An application integrated with Duo’s Auth API (VPN gateways, admin consoles): it calls Tessera from its server.',
  duo_web_sdk: 'An application integrated with Duo’s Web SDK (Universal Prompt): its users are sent to Tessera’s prompt and back.',
};

/** The path parameters of a call about one application. */
const about = (app: { id: string }) => ({ params: { path: { id: app.id } } });

/** The application open above the list is the one the server last answered: every change answers it. */
type Panel = { mode: 'closed' } | { mode: 'new' } | { mode: 'view'; app: Application } | { mode: 'edit'; app: Application };
type Modal =
  | { kind: 'none' }
  | { kind: 'secret'; result: ApplicationWithSecret; rotated: boolean }
  | { kind: 'rotate'; app: Application }
  | { kind: 'delete'; app: Application }
  | { kind: 'disable'; app: Application };

export function AdminApplications() {
  const { filters, refine, list, paging } = usePagedList('/admin/applications', { q: '', type: '' });
  const [panel, setPanel] = useState<Panel>({ mode: 'closed' });
  const [modal, setModal] = useState<Modal>({ kind: 'none' });
  const [notice, setNotice] = useState<string | null>(null);
  const rowAction = useAction();

  const onSearch = useCallback((q: string) => refine({ q }), [refine]);

  function open(next: Panel) {
    setNotice(null);
    rowAction.setError(null);
    setPanel(next);
  }

  function changed(message: string, next: Panel = panel) {
    setModal({ kind: 'none' });
    setPanel(next);
    setNotice(message);
    list.reload();
  }

  async function enable(app: Application) {
    setNotice(null);
    const result = await rowAction.run(() => api.post('/admin/applications/{id}/enable', about(app)));
    if (result.ok) changed(`${app.name} is enabled: its users can sign in through it again.`, { mode: 'view', app: result.value });
  }

  const columns: Column<Application>[] = [
    {
      header: 'Name',
      cell: (a) => (
        <button type="button" className="link-button" aria-label={`Open ${a.name}`} onClick={() => open({ mode: 'view', app: a })}>
          {a.name}
        </button>
      ),
    },
    { header: 'Type', cell: (a) => APPLICATION_TYPE_LABELS[a.type] },
    {
      header: 'Client ID / integration key',
      cell: (a) => <code className="break">{a.clientId}</code>,
    },
    { header: 'Status', cell: (a) => <StatusBadge status={a.status} /> },
  ];

  const selected = panel.mode === 'view' || panel.mode === 'edit' ? panel.app : null;

  return (
    <Page title="Applications" wide>
      <FirmAdminNav />
      <p className="lead">Your firm’s own applications that sign their users in through Tessera, with every rule of your MFA configuration.</p>
      <StatusNotice message={notice} />
      <ErrorAlert message={rowAction.error ?? list.error} />

      {panel.mode === 'new' ? (
        <Card title="New application">
          <ApplicationForm
            onCancel={() => open({ mode: 'closed' })}
            onSaved={(result) => {
              const created = result as ApplicationWithSecret;
              changed(`${created.application.name} was added.`, { mode: 'view', app: created.application });
              if (created.secret) setModal({ kind: 'secret', result: created, rotated: false });
            }}
          />
        </Card>
      ) : null}

      {selected ? (
        <ApplicationPanel
          key={selected.id}
          app={selected}
          editing={panel.mode === 'edit'}
          onEdit={() => open({ mode: 'edit', app: selected })}
          onView={() => open({ mode: 'view', app: selected })}
          onClose={() => open({ mode: 'closed' })}
          onSaved={(app) => changed(`Changes to ${app.name} were saved.`, { mode: 'view', app })}
          onRotate={(app) => setModal({ kind: 'rotate', app })}
          onDisable={(app) => setModal({ kind: 'disable', app })}
          onEnable={(app) => void enable(app)}
          onDelete={(app) => setModal({ kind: 'delete', app })}
          busy={rowAction.pending}
        />
      ) : null}

      <Card>
        <div className="toolbar-row">
          <SearchBox label="Search applications" value={filters.q} onSearch={onSearch}>
            <SelectField
              label="Type"
              value={filters.type}
              options={[{ value: '', label: 'All types' }, ...(Object.keys(APPLICATION_TYPE_LABELS) as ApplicationType[]).map((t) => ({ value: t, label: APPLICATION_TYPE_LABELS[t] }))]}
              onChange={(type) => refine({ type })}
            />
          </SearchBox>
          {panel.mode === 'new' ? null : (
            <button type="button" onClick={() => open({ mode: 'new' })}>
              New application
            </button>
          )}
        </div>
        <DataTable
          label="Applications"
          columns={columns}
          rows={list.data?.items}
          rowKey={(a) => a.id}
          emptyText={filters.q || filters.type ? 'No applications match.' : 'No applications yet. Add one to sign its users in through Tessera.'}
          loading={list.loading}
          paging={paging}
          rowClassName={(a) => (a.id === selected?.id ? 'row-selected' : undefined)}
        />
      </Card>

      {modal.kind === 'secret' ? <SecretDialog result={modal.result} rotated={modal.rotated} onDone={() => setModal({ kind: 'none' })} /> : null}
      {modal.kind === 'rotate' ? (
        <RotateDialog
          app={modal.app}
          onCancel={() => setModal({ kind: 'none' })}
          onRotated={(result) => {
            changed(`${result.application.name} has a new ${inSentence(credentialNames(result.application.type).secret)}.`, { mode: 'view', app: result.application });
            setModal({ kind: 'secret', result, rotated: true });
          }}
        />
      ) : null}
      {modal.kind === 'disable' ? (
        <ConfirmDialog
          title={`Disable ${modal.app.name}?`}
          confirmLabel="Disable application"
          danger
          onCancel={() => setModal({ kind: 'none' })}
          onConfirm={async () => {
            const app = await api.post('/admin/applications/{id}/disable', about(modal.app));
            changed(`${app.name} is disabled: nobody can sign in through it until you enable it again.`, { mode: 'view', app });
          }}
        >
          <p>Nobody can sign in through {modal.app.name} until you enable it again. Its keys stay as they are.</p>
        </ConfirmDialog>
      ) : null}
      {modal.kind === 'delete' ? (
        <ConfirmDialog
          title={`Delete ${modal.app.name}?`}
          confirmLabel="Delete application"
          danger
          onCancel={() => setModal({ kind: 'none' })}
          onConfirm={async () => {
            await api.delete('/admin/applications/{id}', about(modal.app));
            changed(`${modal.app.name} was deleted.`, { mode: 'closed' });
          }}
        >
          <p>
            {modal.app.name} and its {inSentence(credentialNames(modal.app.type).secret)} are deleted for good: nobody can sign in through it, and its{' '}
            {inSentence(credentialNames(modal.app.type).id)} stops working. This cannot be undone; the audit log keeps a record.
          </p>
        </ConfirmDialog>
      ) : null}
    </Page>
  );
}

function StatusBadge({ status }: { status: Application['status'] }) {
  return status === 'active' ? <span className="state state-active">Active</span> : <span className="state state-cancelled">Disabled</span>;
}

// --- One application --------------------------------------------------------------------

interface PanelProps {
  app: Application;
  editing: boolean;
  busy: boolean;
  onEdit(): void;
  onView(): void;
  onClose(): void;
  onSaved(app: Application): void;
  onRotate(app: Application): void;
  onDisable(app: Application): void;
  onEnable(app: Application): void;
  onDelete(app: Application): void;
}

function ApplicationPanel(props: PanelProps) {
  const { app } = props;
  if (props.editing) {
    return (
      <Card title={`Edit ${app.name}`}>
        <ApplicationForm app={app} onCancel={props.onView} onSaved={(saved) => props.onSaved(saved as Application)} />
      </Card>
    );
  }

  const names = credentialNames(app.type);
  return (
    <Card title={app.name} className="application">
      <dl className="facts">
        <div>
          <dt>Type</dt>
          <dd>{APPLICATION_TYPE_LABELS[app.type]}</dd>
        </div>
        <div>
          <dt>Status</dt>
          <dd>
            <StatusBadge status={app.status} />
          </dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>
            {formatDate(app.createdAt)}
            {app.createdBy ? ` by ${app.createdBy.name}` : ''}
          </dd>
        </div>
        <LoginCount app={app} />
      </dl>

      <h3>Keys</h3>
      <dl className="facts facts-wide">
        <div>
          <dt>{names.id}</dt>
          <dd className="copy-row">
            <code>{app.clientId}</code>
            <CopyButton value={app.clientId} label={names.id} />
          </dd>
        </div>
        <div>
          <dt>{names.secret}</dt>
          <dd>
            {app.hasSecret ? (
              <>
                <code aria-label={`${names.secret}, hidden`}>••••••••••••••••</code>
                <span className="cell-detail">
                  Shown only when created or rotated{app.secretRotatedAt ? `; last rotated ${formatDate(app.secretRotatedAt)}` : ''}.
                  {app.previousSecretExpiresAt ? ` The previous one works until ${formatDate(app.previousSecretExpiresAt)}.` : ''}
                </span>
              </>
            ) : (
              'None: a public client proves itself with PKCE.'
            )}
          </dd>
        </div>
        {app.apiHostname ? (
          <div>
            <dt>API hostname</dt>
            <dd className="copy-row">
              <code>{app.apiHostname}</code>
              <CopyButton value={app.apiHostname} label="API hostname" />
            </dd>
          </div>
        ) : null}
        {app.discoveryUrl ? (
          <div>
            <dt>Discovery URL</dt>
            <dd className="copy-row">
              <code className="break">{app.discoveryUrl}</code>
              <CopyButton value={app.discoveryUrl} label="Discovery URL" />
            </dd>
          </div>
        ) : null}
        {app.type === 'oidc' ? (
          <div>
            <dt>Client type</dt>
            <dd>
              {app.clientType === 'public' ? 'Public (no secret, PKCE)' : 'Confidential'}
              {app.tokenEndpointAuthMethod && app.tokenEndpointAuthMethod !== 'none' ? (
                <span className="cell-detail">Token endpoint: {app.tokenEndpointAuthMethod}</span>
              ) : null}
            </dd>
          </div>
        ) : null}
      </dl>

      <h3>Sign-in</h3>
      <dl className="facts facts-wide">
        <div>
          <dt>Who may sign in</dt>
          <dd>{app.allowedKinds ? app.allowedKinds.map((k) => KIND_LABELS[k]).join(', ') : 'All users of the firm'}</dd>
        </div>
        {app.newUserPolicy ? (
          <div>
            <dt>New user policy</dt>
            <dd>
              <span>{NEW_USER_POLICY_LABELS[app.newUserPolicy]}</span>
              <span className="cell-detail">For usernames Tessera does not know.</span>
            </dd>
          </div>
        ) : null}
        {app.type !== 'duo_auth_api' ? (
          <div>
            <dt>Redirect URIs</dt>
            <dd>
              <UriList uris={app.redirectUris} />
            </dd>
          </div>
        ) : null}
        {app.type === 'oidc' ? (
          <div>
            <dt>Post-logout redirect URIs</dt>
            <dd>
              <UriList uris={app.postLogoutRedirectUris} />
            </dd>
          </div>
        ) : null}
      </dl>

      <div className="form-actions application-actions">
        <button type="button" className="button-secondary" onClick={props.onEdit}>
          Edit
        </button>
        {app.hasSecret ? (
          <button type="button" className="button-secondary" onClick={() => props.onRotate(app)}>
            Rotate {inSentence(names.secret)}
          </button>
        ) : null}
        {app.status === 'active' ? (
          <button type="button" className="button-secondary" onClick={() => props.onDisable(app)}>
            Disable
          </button>
        ) : (
          <button type="button" className="button-secondary" disabled={props.busy} onClick={() => props.onEnable(app)}>
            Enable
          </button>
        )}
        <button type="button" className="button-danger" onClick={() => props.onDelete(app)}>
          Delete
        </button>
        <button type="button" className="button-secondary push-right" onClick={props.onClose}>
          Close
        </button>
      </div>

      <LastCalls app={app} />
    </Card>
  );
}

function UriList({ uris }: { uris: string[] }) {
  if (uris.length === 0) return <>None</>;
  return (
    <ul className="uri-list">
      {uris.map((u) => (
        <li key={u}>
          <code className="break">{u}</code>
        </li>
      ))}
    </ul>
  );
}

/** How many logins the application completed in the last 30 days (the Usage section of the MFA page has every application, by period). */
function LoginCount({ app }: { app: Application }) {
  const logins = useApiGet('/admin/applications/{id}/logins', { path: { id: app.id }, query: { days: 30 } });
  const l = logins.data;
  return (
    <div>
      <dt>Logins, last 30 days</dt>
      <dd aria-busy={logins.loading || undefined}>
        {logins.error ? (
          <span role="alert">{logins.error}</span>
        ) : l ? (
          <>
            {plural(l.logins, 'login')}
            <span className="cell-detail">
              <span className="visually-hidden">: </span>
              {l.secondFactor} with a second factor, {l.bypass} on the no-seat bypass
            </span>
          </>
        ) : (
          '…'
        )}
      </dd>
    </div>
  );
}

/** What a Duo call answered (its `result`, or `status` for /auth), in words; else the audit's success or failure. */
const DUO_RESULTS: Record<string, string> = {
  allow: 'Allowed',
  bypass: 'Allowed (no-seat bypass)',
  deny: 'Denied',
  auth: 'Second factor asked',
  enroll: 'Enrollment asked',
  waiting: 'Push sent, waiting',
  activation_issued: 'Activation issued',
  refused: 'Refused',
  fraud: 'Denied: reported as fraud',
  timeout: 'Denied: timed out',
  locked_out: 'Denied: locked out',
};
/** Why, where the call says it (the core's decision reasons, the gate's refusals). */
const DUO_REASONS: Record<string, string> = {
  not_covered: 'MFA not required for this user',
  no_seat_bypass: 'no licence free',
  unknown_user_allow: 'not a Tessera user; the new user policy allows',
  unknown_user_deny: 'not a Tessera user; the new user policy denies',
  unknown_user_enroll: 'not a Tessera user; cannot enroll here',
  user_inactive: 'account disabled',
  kind_not_allowed: 'not allowed to use this application',
  locked: 'second factor locked',
  enrolled: 'enrolled',
  seat_free: 'not enrolled yet',
};

function callResult(e: ApplicationCall) {
  const outcome = typeof e.details.status === 'string' && e.details.status in DUO_RESULTS && e.details.status !== 'deny' ? e.details.status : e.details.result;
  const text = typeof outcome === 'string' && outcome in DUO_RESULTS ? DUO_RESULTS[outcome] : e.result === 'failure' ? 'Failure' : 'Success';
  const reason = typeof e.details.reason === 'string' ? DUO_REASONS[e.details.reason] : undefined;
  return (
    <>
      {text}
      {reason ? <span className="cell-detail">{reason}</span> : null}
    </>
  );
}

/** The user a call named: the Tessera user, or the username the application sent that Tessera does not know. */
function callUser(e: ApplicationCall) {
  if (e.subject) return <span className="break">{e.subject.name ?? e.subject.email ?? '—'}</span>;
  if (typeof e.details.username === 'string') {
    return (
      <>
        <span className="break">{e.details.username}</span>
        <span className="cell-detail">Unknown to Tessera</span>
      </>
    );
  }
  return '—';
}

/** The newest sign-ins and calls through the application, from the audit log. */
function LastCalls({ app }: { app: Application }) {
  const headingId = useId();
  const calls = useApiGet('/admin/applications/{id}/calls', about(app).params);
  const columns: Column<ApplicationCall>[] = [
    { header: 'Time', cell: (e) => <span className="nowrap">{formatDate(e.at)}</span> },
    { header: 'Event', cell: (e) => (typeof e.details.endpoint === 'string' ? `${e.label}: ${e.details.endpoint}` : e.label) },
    { header: 'User', cell: callUser },
    { header: 'Result', cell: callResult },
    { header: 'From', cell: (e) => <span className="break">{e.ip ?? '—'}</span> },
  ];
  return (
    <section className="last-calls" aria-labelledby={headingId}>
      <h3 id={headingId}>Last calls</h3>
      <ErrorAlert message={calls.error} />
      <DataTable
        label={`Last calls of ${app.name}`}
        columns={columns}
        rows={calls.data?.items}
        rowKey={(e) => String(e.id)}
        emptyText="No sign-ins through this application yet. They appear here once it signs users in through Tessera."
        loading={calls.loading}
      />
    </section>
  );
}

// --- The form (new and edit) ------------------------------------------------------------

const lines = (text: string) =>
  text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');

function ApplicationForm({ app, onSaved, onCancel }: { app?: Application; onSaved(result: ApplicationWithSecret | Application): void; onCancel(): void }) {
  const [type, setType] = useState<ApplicationType>(app?.type ?? 'oidc');
  const [name, setName] = useState(app?.name ?? '');
  const [clientType, setClientType] = useState<ClientType>(app?.clientType ?? 'confidential');
  const [authMethod, setAuthMethod] = useState<SecretAuthMethod>(app?.tokenEndpointAuthMethod && app.tokenEndpointAuthMethod !== 'none' ? app.tokenEndpointAuthMethod : 'client_secret_basic');
  const [redirectUris, setRedirectUris] = useState((app?.redirectUris ?? []).join('\n'));
  const [postLogout, setPostLogout] = useState((app?.postLogoutRedirectUris ?? []).join('\n'));
  const [everyone, setEveryone] = useState(app ? app.allowedKinds === null : true);
  const [kinds, setKinds] = useState<Kind[]>(app?.allowedKinds ?? []);
  const [policy, setPolicy] = useState<NewUserPolicy>(app?.newUserPolicy ?? 'enroll');
  const [formError, setFormError] = useState<string | null>(null);
  const { pending, error, run } = useAction();
  const typeName = useId();
  const whoName = useId();

  const duo = type !== 'oidc';
  const secretHolder = type !== 'oidc' || clientType === 'confidential';

  async function submit(event: FormEvent) {
    event.preventDefault();
    setFormError(null);
    if (!everyone && kinds.length === 0) {
      setFormError('Choose at least one kind of user, or let all users of the firm sign in.');
      return;
    }
    const body: Omit<ApplicationInput, 'type' | 'clientType'> = {
      name: name.trim(),
      allowedKinds: everyone ? null : KINDS.filter((k) => kinds.includes(k)),
      ...(type !== 'duo_auth_api' ? { redirectUris: lines(redirectUris) } : {}),
      ...(type === 'oidc' ? { postLogoutRedirectUris: lines(postLogout) } : {}),
      ...(type === 'oidc' && clientType === 'confidential' ? { tokenEndpointAuthMethod: authMethod } : {}),
      ...(duo ? { newUserPolicy: policy } : {}),
    };
    const result = app
      ? await run(() => api.patch('/admin/applications/{id}', { ...about(app), body }))
      : await run(() => api.post('/admin/applications', { body: { ...body, type, ...(type === 'oidc' ? { clientType } : {}) } }));
    if (result.ok) onSaved(result.value);
  }

  return (
    <form className="form" aria-label={app ? `Edit application ${app.name}` : 'New application'} onSubmit={submit} noValidate>
      <ErrorAlert message={formError ?? error} />
      {app ? null : (
        <fieldset className="plain-fieldset">
          <legend className="field-legend">Type</legend>
          <div className="method-list">
            {(Object.keys(APPLICATION_TYPE_LABELS) as ApplicationType[]).map((t) => (
              <label key={t} className="method">
                <input type="radio" name={typeName} value={t} checked={type === t} onChange={() => setType(t)} />
                <span>
                  <span className="method-name">{APPLICATION_TYPE_LABELS[t]}</span>
                  <span className="method-description">{TYPE_DESCRIPTIONS[t]}</span>
                </span>
              </label>
            ))}
          </div>
        </fieldset>
      )}

      <TextField label="Name" value={name} onChange={setName} autoComplete="off" required hint="Shown to your users when they sign in, and in the audit log." />

      {type === 'oidc' ? (
        <div className="form-row">
          {app ? null : (
            <SelectField
              label="Client type"
              value={clientType}
              options={[
                { value: 'confidential', label: 'Confidential: a server-side app that keeps a secret' },
                { value: 'public', label: 'Public: a single-page or native app (no secret, PKCE)' },
              ]}
              onChange={(v) => setClientType(v as ClientType)}
            />
          )}
          {clientType === 'confidential' ? (
            <SelectField
              label="Token endpoint authentication"
              value={authMethod}
              options={(Object.keys(AUTH_METHOD_LABELS) as SecretAuthMethod[]).map((m) => ({ value: m, label: AUTH_METHOD_LABELS[m] }))}
              onChange={(v) => setAuthMethod(v as SecretAuthMethod)}
              hint="How your application proves itself when it collects tokens. Keep the default unless its library needs another."
            />
          ) : null}
        </div>
      ) : null}

      {type !== 'duo_auth_api' ? (
        <TextAreaField
          label="Redirect URIs"
          value={redirectUris}
          onChange={setRedirectUris}
          rows={3}
          spellCheck={false}
          autoCapitalize="off"
          hint={
            <>
              One per line, exactly as your application sends it. <code>https://</code>, or <code>http://</code> to localhost while developing; no <code>#</code> fragment.
              {type === 'duo_web_sdk' ? ' Tessera sends users back only to one of these.' : ''}
            </>
          }
        />
      ) : null}
      {type === 'oidc' ? (
        <TextAreaField
          label="Post-logout redirect URIs"
          value={postLogout}
          onChange={setPostLogout}
          rows={2}
          spellCheck={false}
          autoCapitalize="off"
          hint="Optional. Where users may be sent after signing out from your application."
        />
      ) : null}

      <fieldset className="plain-fieldset">
        <legend className="field-legend">Who may sign in</legend>
        <div className="choice-group">
          <label className="choice">
            <input type="radio" name={whoName} checked={everyone} onChange={() => setEveryone(true)} />
            All users of the firm
          </label>
          <label className="choice">
            <input type="radio" name={whoName} checked={!everyone} onChange={() => setEveryone(false)} />
            Chosen kinds of users
          </label>
        </div>
        {everyone ? null : (
          <div className="config-group config-nested">
            {KINDS.map((k) => (
              <CheckboxField
                key={k}
                label={KIND_LABELS[k]}
                checked={kinds.includes(k)}
                onChange={(on) => setKinds((now) => (on ? [...now, k] : now.filter((x) => x !== k)))}
              />
            ))}
          </div>
        )}
      </fieldset>

      {duo ? (
        <SelectField
          label="New user policy"
          value={policy}
          options={(Object.keys(NEW_USER_POLICY_LABELS) as NewUserPolicy[]).map((p) => ({ value: p, label: NEW_USER_POLICY_LABELS[p] }))}
          onChange={(v) => setPolicy(v as NewUserPolicy)}
          hint="What happens to a username Tessera does not know, as in Duo."
        />
      ) : null}

      {app || !secretHolder ? null : (
        <p className="muted">
          Tessera creates the {inSentence(credentialNames(type).id)} and the {inSentence(credentialNames(type).secret)}. The secret is shown once, when you add the application.
        </p>
      )}

      <div className="form-actions">
        <button type="submit" disabled={pending}>
          {app ? 'Save changes' : 'Add application'}
        </button>
        <button type="button" className="button-secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

// --- Dialogs ----------------------------------------------------------------------------

/** The new secret, once: copy it, then close. Escape does not close it, so it is not lost by a stray key. */
function SecretDialog({ result, rotated, onDone }: { result: ApplicationWithSecret; rotated: boolean; onDone(): void }) {
  const { application, secret } = result;
  const names = credentialNames(application.type);
  const secretId = useId();
  const idId = useId();
  if (!secret) return null;
  return (
    <Dialog title={rotated ? `New ${inSentence(names.secret)} for ${application.name}` : `${application.name} was added`} closeOnEscape={false}>
      <p className="notice notice-info">
        <strong>Copy the {inSentence(names.secret)} now: you will not see it again.</strong> Tessera keeps it sealed and never shows it after you close this
        dialog. If it is lost, rotate it.
      </p>
      <div className="field">
        <label htmlFor={idId}>{names.id}</label>
        <div className="copy-row">
          <input id={idId} type="text" readOnly value={application.clientId} className="secret-value" onFocus={(e) => e.currentTarget.select()} />
          <CopyButton value={application.clientId} label={names.id} />
        </div>
      </div>
      <div className="field">
        <label htmlFor={secretId}>{names.secret}</label>
        <div className="copy-row">
          <textarea
            id={secretId}
            readOnly
            rows={2}
            value={secret}
            className="secret-value"
            spellCheck={false}
            data-autofocus
            onFocus={(e) => e.currentTarget.select()}
          />
          <CopyButton value={secret} label={names.secret} />
        </div>
      </div>
      {application.apiHostname ? (
        <p>
          API hostname: <code>{application.apiHostname}</code>
        </p>
      ) : null}
      {application.discoveryUrl ? (
        <p>
          Discovery URL: <code className="break">{application.discoveryUrl}</code>
        </p>
      ) : null}
      {rotated && application.previousSecretExpiresAt ? (
        <p className="muted">The previous {inSentence(names.secret)} keeps working until {formatDate(application.previousSecretExpiresAt)}.</p>
      ) : null}
      <div className="form-actions dialog-actions">
        <button type="button" onClick={onDone}>
          I have copied it
        </button>
      </div>
    </Dialog>
  );
}

function RotateDialog({ app, onCancel, onRotated }: { app: Application; onCancel(): void; onRotated(result: ApplicationWithSecret): void }) {
  const [grace, setGrace] = useState<GracePeriod>('24h');
  const { pending, error, run } = useAction();
  const radioName = useId();
  const names = credentialNames(app.type);

  async function rotate(event: FormEvent) {
    event.preventDefault();
    const result = await run(() => api.post('/admin/applications/{id}/rotate-secret', { ...about(app), body: { grace } }));
    if (result.ok) onRotated(result.value);
  }

  return (
    <Dialog title={`Rotate the ${inSentence(names.secret)} of ${app.name}`} onClose={pending ? undefined : onCancel}>
      <form className="form" onSubmit={rotate} aria-label={`Rotate the ${inSentence(names.secret)}`}>
        <p>
          Tessera creates a new {inSentence(names.secret)}, shown once. The current one can keep working for a while, so that {app.name} can be given the new one
          without an outage.
        </p>
        <ErrorAlert message={error} />
        <fieldset className="plain-fieldset">
        <legend className="field-legend">The current {inSentence(names.secret)} stops working</legend>
        <div className="method-list">
          {(Object.keys(GRACE_LABELS) as GracePeriod[]).map((g) => (
            <label key={g} className="method">
              <input type="radio" name={radioName} value={g} checked={grace === g} onChange={() => setGrace(g)} />
              <span>
                <span className="method-name">{GRACE_LABELS[g]}</span>
                {g === 'none' ? <span className="method-description">For a secret that leaked: requests signed with it fail at once.</span> : null}
              </span>
            </label>
          ))}
        </div>
        </fieldset>
        <div className="form-actions dialog-actions">
          <button type="button" className="button-secondary" onClick={onCancel} disabled={pending}>
            Cancel
          </button>
          <button type="submit" disabled={pending}>
            Rotate {inSentence(names.secret)}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
