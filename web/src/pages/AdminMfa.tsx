import { useCallback, useId, useState, type FormEvent } from 'react';
import {
  api,
  type ApplicationLoginsRow,
  type EnrolledUser,
  type LoginPeriod,
  type FraudReport,
  type MfaConfiguration,
  type MfaCorporation,
  type MfaLoginPolicy,
  type MfaOverview,
} from '../api';
import { DataTable, type Column } from '../components/DataTable';
import { ConfirmDialog } from '../components/Dialog';
import { usePhone } from '../phone-loader';
import { CheckboxField, SelectField, TextField } from '../components/Field';
import { ErrorAlert, StatusNotice } from '../components/Notice';
import { Card, Page } from '../components/Page';
import { SearchBox } from '../components/SearchBox';
import { FirmAdminNav } from '../components/SectionNav';
import { Link } from '../router';
import { useAction, useApiGet, usePagedList } from '../useApi';
import { useMfaChange, type ProposedChange } from './MfaChangeDialog';
import { APPLICATION_TYPE_LABELS, formatDate, formatDay, KIND_LABELS, LOGIN_PERIOD_LABELS, METHOD_LABELS, plural, SUBSCRIPTION_STATE_LABELS } from '../words';


/**
 * The MFA page (reference A.1, last paragraph): Subscription Plan, Configuration,
 * Enrolled Users and Usage, and the fraud reports of push requests (issue 5.6). Every MFA change answers with the whole overview, and the
 * page re-renders from it, so the counters and usage always match what the server did.
 */
export function AdminMfa() {
  const overview = useApiGet('/admin/mfa');
  const data = overview.data;

  return (
    <Page title="Multi-factor authentication" wide>
      <FirmAdminNav />
      <ErrorAlert message={overview.error} />
      {data ? (
        <>
          <PlanSection overview={data} onChanged={overview.replace} />
          <ConfigurationSection overview={data} onChanged={overview.replace} onResync={overview.reload} />
          <LoginPolicySection />
          <EnrolledSection onReset={overview.reload} />
          <UsageSection usage={data.usage} />
          <FraudReportsSection />
        </>
      ) : overview.error ? null : (
        <p className="muted">Loading…</p>
      )}
    </Page>
  );
}

// --- Subscription Plan -------------------------------------------------------------

function PlanSection({ overview, onChanged }: { overview: MfaOverview; onChanged(next: MfaOverview): void }) {
  const sub = overview.subscription;
  return (
    <Card title="Subscription Plan">
      <dl className="facts">
        <div>
          <dt>State</dt>
          <dd>
            <span className={`state state-${sub.state}`}>{SUBSCRIPTION_STATE_LABELS[sub.state]}</span>
          </dd>
        </div>
        <div>
          <dt>Plan</dt>
          <dd>{sub.planName ?? '—'}</dd>
        </div>
        <div>
          <dt>Licences</dt>
          <dd>{sub.licenceCount}</dd>
        </div>
        <div>
          <dt>Starts on</dt>
          <dd>{sub.startsAt === null ? 'Not set' : formatDay(sub.startsAt)}</dd>
        </div>
        <div>
          <dt>Ends on</dt>
          <dd>{sub.endsAt === null ? 'Not set' : formatDay(sub.endsAt)}</dd>
        </div>
      </dl>
      <PlanNote overview={overview} />
      {sub.state !== 'active' ? null : sub.requestedLicences !== null ? (
        <p role="status" className="notice notice-info">
          Requested: {plural(sub.requestedLicences, 'licence')}, waiting for the accounts team.
        </p>
      ) : (
        <LicenceRequestForm licenceCount={sub.licenceCount} onChanged={onChanged} />
      )}
    </Card>
  );
}

function PlanNote({ overview }: { overview: MfaOverview }) {
  const sub = overview.subscription;
  switch (sub.state) {
    case 'not_subscribed':
      return (
        <p className="muted">
          Your firm has not subscribed to MFA yet. <Link to="/admin/subscriptions">Subscribe on the Subscriptions page</Link>.
        </p>
      );
    case 'requested':
      return <p className="muted">Your subscription request is with the accounts team. They will get in touch to activate it.</p>;
    case 'suspended':
      return <p className="muted">The accounts team has suspended the subscription: MFA is off for everyone until it is active again.</p>;
    case 'cancelled':
      return (
        <p className="muted">
          The subscription was cancelled. <Link to="/admin/subscriptions">You can subscribe again</Link>.
        </p>
      );
    case 'active':
      if (sub.live) return null;
      return (
        <p className="muted">
          {sub.startsAt !== null && sub.startsAt > Date.now()
            ? `The plan starts on ${formatDay(sub.startsAt)}: MFA is off until then.`
            : 'The plan has ended: MFA is off. Ask the accounts team to renew it.'}
        </p>
      );
  }
}

function LicenceRequestForm({ licenceCount, onChanged }: { licenceCount: number; onChanged(next: MfaOverview): void }) {
  const [wanted, setWanted] = useState('');
  const { pending, error, setError, run } = useAction();

  async function submit(event: FormEvent) {
    event.preventDefault();
    const licences = Number(wanted);
    if (!Number.isInteger(licences) || licences <= licenceCount) {
      setError(`Enter a whole number above your current ${plural(licenceCount, 'licence')}.`);
      return;
    }
    const result = await run(() => api.post('/admin/mfa/licence-request', { body: { licences } }));
    if (result.ok) {
      setWanted('');
      onChanged(result.value);
    }
  }

  return (
    <form className="form form-inline" aria-label="Request more licences" onSubmit={submit} noValidate>
      <ErrorAlert message={error} />
      <TextField
        label="Licences wanted"
        type="number"
        inputMode="numeric"
        min={licenceCount + 1}
        step={1}
        value={wanted}
        onChange={setWanted}
        hint="The new total your firm needs. The accounts team confirms it."
        required
      />
      <div className="form-actions">
        <button type="submit" disabled={pending}>
          Request licences
        </button>
      </div>
    </form>
  );
}

// --- Configuration -----------------------------------------------------------------

type Switch = 'caseManagers' | 'vendorCaseManagers' | 'allCorpUsers' | 'allForeignNationals';

/** What each switch is called in the confirmation and the saved notice. */
const SWITCH_WORDS: Record<Switch, string> = {
  caseManagers: 'all case managers',
  vendorCaseManagers: 'all vendor case managers',
  allCorpUsers: 'the corp users of all corporations',
  allForeignNationals: 'the foreign nationals of all corporations',
};

function ConfigurationSection({
  overview,
  onChanged,
  onResync,
}: {
  overview: MfaOverview;
  onChanged(next: MfaOverview): void;
  onResync(): void;
}) {
  const { propose, dialog, saved, error } = useMfaChange(onChanged);
  const config = overview.configuration;
  const active = overview.subscription.state === 'active';
  const corporationsHeading = useId();
  const radioName = useId();

  function proposeConfiguration(patch: Partial<MfaConfiguration>, words: Pick<ProposedChange, 'title' | 'confirmLabel' | 'saved' | 'note'>) {
    const next = { ...config, ...patch };
    const body: MfaConfiguration = {
      caseManagers: next.caseManagers,
      vendorCaseManagers: next.vendorCaseManagers,
      corporationScope: next.corporationScope,
      allCorpUsers: next.allCorpUsers,
      allForeignNationals: next.allForeignNationals,
    };
    void propose({
      ...words,
      change: { change: 'configuration', configuration: body },
      run: async () => {
        try {
          return await api.put('/admin/mfa/configuration', { body });
        } catch (cause) {
          onResync(); // show what the server has now
          throw cause;
        }
      },
    });
  }

  function setSwitch(key: Switch, on: boolean) {
    const who = SWITCH_WORDS[key];
    proposeConfiguration(
      { [key]: on },
      on
        ? { title: `Enable MFA for ${who}?`, confirmLabel: 'Enable MFA', saved: `Saved: MFA is on for ${who}.` }
        : { title: `Turn off MFA for ${who}?`, confirmLabel: 'Turn off MFA', saved: `Saved: MFA is off for ${who}.` },
    );
  }

  function setScope(scope: MfaConfiguration['corporationScope']) {
    const listed = config.corporations.length;
    proposeConfiguration(
      { corporationScope: scope },
      scope === 'all'
        ? {
            title: 'Apply MFA by the switches for all corporations?',
            confirmLabel: 'Use all corporations',
            saved: 'Saved: MFA for corp users and foreign nationals now follows the switches for all corporations.',
            note: listed > 0 ? `The list of ${plural(listed, 'corporation')} is kept for when you switch back to specific corporations.` : undefined,
          }
        : {
            title: 'Apply MFA to specific corporations only?',
            confirmLabel: 'Use specific corporations',
            saved: 'Saved: MFA for corp users and foreign nationals now applies to the listed corporations only.',
            note: listed === 0 ? 'No corporation is listed yet: add the corporations whose users must use MFA.' : undefined,
          },
    );
  }

  return (
    <Card title="Configuration">
      {active ? null : (
        <p className="notice notice-info">
          MFA can be configured once the subscription is active.{' '}
          {overview.subscription.state === 'not_subscribed' || overview.subscription.state === 'cancelled' ? (
            <Link to="/admin/subscriptions">Go to Subscriptions</Link>
          ) : null}
        </p>
      )}
      <StatusNotice message={saved} />
      <ErrorAlert message={error} />
      {dialog}
      <fieldset className="plain-fieldset config" disabled={!active}>
        <div className="config-group">
          <CheckboxField
            label="Enable for All Case Managers"
            checked={config.caseManagers}
            onChange={(on) => setSwitch('caseManagers', on)}
            hint="Each case manager who has not enrolled is mailed an invitation to enrol."
          />
          <CheckboxField
            label="Enable for All Vendor Case Managers"
            checked={config.vendorCaseManagers}
            onChange={(on) => setSwitch('vendorCaseManagers', on)}
          />
        </div>

        <h3 id={corporationsHeading}>Corporations</h3>
        <div role="radiogroup" aria-labelledby={corporationsHeading} className="choice-group">
          <label className="choice">
            <input type="radio" name={radioName} value="all" checked={config.corporationScope === 'all'} onChange={() => setScope('all')} />
            All corporations
          </label>
          <label className="choice">
            <input
              type="radio"
              name={radioName}
              value="specific"
              checked={config.corporationScope === 'specific'}
              onChange={() => setScope('specific')}
            />
            Specific corporations
          </label>
        </div>

        {config.corporationScope === 'all' ? (
          <div className="config-group config-nested">
            <CheckboxField label="Enable for All Corp Users" checked={config.allCorpUsers} onChange={(on) => setSwitch('allCorpUsers', on)} />
            <CheckboxField
              label="Enable for All Foreign Nationals"
              checked={config.allForeignNationals}
              onChange={(on) => setSwitch('allForeignNationals', on)}
            />
          </div>
        ) : (
          <SpecificCorporations overview={overview} active={active} propose={propose} onResync={onResync} />
        )}
      </fieldset>

      <Counters counters={overview.counters} />
    </Card>
  );
}

function SpecificCorporations({
  overview,
  active,
  propose,
  onResync,
}: {
  overview: MfaOverview;
  active: boolean;
  propose(change: ProposedChange): Promise<void>;
  onResync(): void;
}) {
  const added = overview.configuration.corporations;
  const choices = useApiGet(active ? '/admin/corporations' : null, { query: { pageSize: 100 } });
  const [chosen, setChosen] = useState('');
  const [formError, setFormError] = useState<string | null>(null);
  const addedIds = new Set(added.map((c) => c.id));
  const available = (choices.data?.items ?? []).filter((c) => !addedIds.has(c.id));

  /** The request, resynchronising the page when it is refused (another administrator changed it meanwhile). */
  const resyncing = (request: () => Promise<MfaOverview>) => async () => {
    try {
      return await request();
    } catch (cause) {
      onResync();
      throw cause;
    }
  };

  async function add(event: FormEvent) {
    event.preventDefault();
    setFormError(null);
    const corporation = available.find((c) => c.id === chosen);
    if (!corporation) {
      setFormError('Choose a corporation to add.');
      return;
    }
    const corporationId = corporation.id;
    await propose({
      title: `Enable MFA for ${corporation.name}?`,
      confirmLabel: 'Add to the list',
      saved: `Saved: ${corporation.name} is in the list, for its corp users and foreign nationals.`,
      change: { change: 'addCorporation', corporationId },
      run: resyncing(async () => {
        const next = await api.post('/admin/mfa/corporations', { body: { corporationId } });
        setChosen('');
        return next;
      }),
    });
  }

  function toggle(corporation: MfaCorporation, key: 'corpUsers' | 'foreignNationals', on: boolean) {
    const who = `the ${key === 'corpUsers' ? 'corp users' : 'foreign nationals'} of ${corporation.name}`;
    const patch = key === 'corpUsers' ? { corpUsers: on } : { foreignNationals: on };
    const path = { corporationId: corporation.id };
    void propose({
      ...(on
        ? { title: `Enable MFA for ${who}?`, confirmLabel: 'Enable MFA', saved: `Saved: MFA is on for ${who}.` }
        : { title: `Turn off MFA for ${who}?`, confirmLabel: 'Turn off MFA', saved: `Saved: MFA is off for ${who}.` }),
      change: { change: 'corporationSwitches', corporationId: corporation.id, ...patch },
      run: resyncing(() => api.patch('/admin/mfa/corporations/{corporationId}', { params: { path }, body: patch })),
    });
  }

  function remove(corporation: MfaCorporation) {
    const path = { corporationId: corporation.id };
    void propose({
      title: `Remove ${corporation.name} from the list?`,
      confirmLabel: 'Remove corporation',
      saved: `Saved: ${corporation.name} was removed from the list.`,
      change: { change: 'removeCorporation', corporationId: corporation.id },
      run: resyncing(() => api.delete('/admin/mfa/corporations/{corporationId}', { params: { path } })),
    });
  }

  const hint = choices.error
    ? choices.error
    : choices.data && choices.data.items.length === 0
      ? (
          <>
            There are no corporations yet. <Link to="/admin/corporations">Add one first</Link>.
          </>
        )
      : choices.data && available.length === 0
        ? 'Every corporation is in the list.'
        : undefined;

  const columns: Column<MfaCorporation>[] = [
    { header: 'Corporation', cell: (c) => c.name },
    {
      header: 'Corp users',
      cell: (c) => (
        <input
          type="checkbox"
          className="table-checkbox"
          aria-label={`Corp users of ${c.name}`}
          checked={c.corpUsers}
          onChange={(event) => toggle(c, 'corpUsers', event.target.checked)}
        />
      ),
    },
    {
      header: 'Foreign nationals',
      cell: (c) => (
        <input
          type="checkbox"
          className="table-checkbox"
          aria-label={`Foreign nationals of ${c.name}`}
          checked={c.foreignNationals}
          onChange={(event) => toggle(c, 'foreignNationals', event.target.checked)}
        />
      ),
    },
    {
      header: 'Actions',
      className: 'actions',
      cell: (c) => (
        <button type="button" className="button-danger button-small" aria-label={`Remove ${c.name}`} onClick={() => remove(c)}>
          Remove
        </button>
      ),
    },
  ];

  return (
    <div className="config-nested">
      <form className="form form-inline" aria-label="Add a corporation" onSubmit={add} noValidate>
        <ErrorAlert message={formError} />
        <SelectField
          label="Corporation"
          value={chosen}
          options={[{ value: '', label: 'Choose a corporation' }, ...available.map((c) => ({ value: c.id, label: c.name }))]}
          onChange={setChosen}
          hint={hint}
        />
        <div className="form-actions">
          <button type="submit">Add corporation</button>
        </div>
      </form>
      <DataTable
        label="MFA corporations"
        columns={columns}
        rows={added}
        rowKey={(c) => c.id}
        emptyText="No corporations yet: MFA is off for all corp users and foreign nationals."
      />
    </div>
  );
}

function Counters({ counters }: { counters: MfaOverview['counters'] }) {
  const headingId = useId();
  const items: [string, number][] = [
    ['Case managers', counters.caseManagers],
    ['Vendor case managers', counters.vendorCaseManagers],
    ['Corp users', counters.corpUsers],
    ['Foreign nationals', counters.foreignNationals],
  ];
  return (
    <div className="counters">
      <h3 id={headingId}>MFA-enabled users</h3>
      <ul className="stat-list" aria-labelledby={headingId}>
        {items.map(([label, count]) => (
          <li key={label}>
            <span className="stat-label">{label}:</span> <span className="stat-value">{count}</span>
          </li>
        ))}
      </ul>
    </div>
  );
}

// --- Login policy ------------------------------------------------------------------

/** Lockout after wrong codes, remembered browsers (issue 4) and passkey sign-in (issue 6): the firm's own settings. */
function LoginPolicySection() {
  const policy = useApiGet('/admin/mfa/policy');
  return (
    <Card title="Login policy">
      <ErrorAlert message={policy.error} />
      {policy.data ? (
        <LoginPolicyForm policy={policy.data} onSaved={policy.replace} />
      ) : policy.error ? null : (
        <p className="muted">Loading…</p>
      )}
    </Card>
  );
}

/** The numbers this form edits (the push settings are not sent, so the server keeps them). */
type NumericPolicyKey = 'lockoutThreshold' | 'lockoutMinutes' | 'rememberDays';

const POLICY_LIMITS: Record<NumericPolicyKey, { min: number; max: number; name: string }> = {
  lockoutThreshold: { min: 3, max: 50, name: 'Lock after failed codes' },
  lockoutMinutes: { min: 1, max: 1440, name: 'Lock for minutes' },
  rememberDays: { min: 0, max: 30, name: 'Remember browsers for days' },
};

function LoginPolicyForm({ policy, onSaved }: { policy: MfaLoginPolicy; onSaved(next: MfaLoginPolicy): void }) {
  const [values, setValues] = useState<Record<NumericPolicyKey, string>>({
    lockoutThreshold: String(policy.lockoutThreshold),
    lockoutMinutes: String(policy.lockoutMinutes),
    rememberDays: String(policy.rememberDays),
  });
  const [passkeysEnabled, setPasskeysEnabled] = useState(policy.passkeysEnabled === true);
  const [saved, setSaved] = useState<string | null>(null);
  const { pending, error, setError, run } = useAction();
  const set = (key: NumericPolicyKey) => (value: string) => setValues((v) => ({ ...v, [key]: value }));

  async function submit(event: FormEvent) {
    event.preventDefault();
    setSaved(null);
    const numbers = {} as Record<NumericPolicyKey, number>;
    for (const key of Object.keys(POLICY_LIMITS) as NumericPolicyKey[]) {
      const { min, max, name } = POLICY_LIMITS[key];
      const n = Number(values[key]);
      if (values[key].trim() === '' || !Number.isInteger(n) || n < min || n > max) {
        setError(`${name}: enter a whole number from ${min} to ${max}.`);
        return;
      }
      numbers[key] = n;
    }
    const result = await run(() => api.put('/admin/mfa/policy', { body: { ...numbers, passkeysEnabled } }));
    if (result.ok) {
      onSaved(result.value);
      setSaved('The login policy was saved.');
    }
  }

  return (
    <form className="form" aria-label="Login policy" onSubmit={submit} noValidate>
      <ErrorAlert message={error} />
      <StatusNotice message={saved} />
      <div className="form-row">
        <TextField
          label="Lock after failed codes"
          type="number"
          inputMode="numeric"
          min={3}
          max={50}
          step={1}
          value={values.lockoutThreshold}
          onChange={set('lockoutThreshold')}
          hint="Wrong codes in a row before a user's second factor is locked (3 to 50)."
          required
        />
        <TextField
          label="Lock for minutes"
          type="number"
          inputMode="numeric"
          min={1}
          max={1440}
          step={1}
          value={values.lockoutMinutes}
          onChange={set('lockoutMinutes')}
          hint="How long the lock lasts (1 to 1440). You can unlock a user sooner from Users."
          required
        />
        <TextField
          label="Remember browsers for days (0 = off)"
          type="number"
          inputMode="numeric"
          min={0}
          max={30}
          step={1}
          value={values.rememberDays}
          onChange={set('rememberDays')}
          hint="Users may skip the code on a browser they trust for this many days (up to 30)."
          required
        />
      </div>
      <CheckboxField
        label="Allow passkey sign-in"
        checked={passkeysEnabled}
        onChange={setPasskeysEnabled}
        hint="Enrolled users who add a passkey in My security can sign in with it alone, without their password. A passkey is a security key (or device) credential protected by a PIN, fingerprint or face."
      />
      <div className="form-actions">
        <button type="submit" disabled={pending}>
          Save policy
        </button>
      </div>
    </form>
  );
}

// --- Enrolled Users ----------------------------------------------------------------

function EnrolledSection({ onReset }: { onReset(): void }) {
  const { filters, refine, setPage, list, paging } = usePagedList('/admin/mfa/enrolled', { q: '' });
  const [notice, setNotice] = useState<string | null>(null);
  const [resetting, setResetting] = useState<EnrolledUser | null>(null);
  const phone = usePhone();

  const onSearch = useCallback((q: string) => refine({ q }), [refine]);

  async function reset(user: EnrolledUser) {
    await api.post('/admin/mfa/enrolled/{userId}/reset', { params: { path: { userId: user.userId } } });
    setResetting(null);
    setNotice(`MFA enrollment of ${user.name} was reset.`);
    // The last row of a later page: go back a page rather than show an empty one.
    if (list.data?.items.length === 1 && filters.page > 1) setPage(filters.page - 1);
    else list.reload();
    onReset();
  }

  const columns: Column<EnrolledUser>[] = [
    {
      header: 'Name',
      cell: (u) => (
        <>
          {u.name}
          <span className="cell-detail break">{u.email}</span>
        </>
      ),
    },
    { header: 'Kind', cell: (u) => KIND_LABELS[u.kind] },
    { header: 'Organisation', cell: (u) => u.organisation },
    { header: 'Methods', cell: (u) => u.methods.map((m) => METHOD_LABELS[m]).join(', ') || '—' },
    { header: 'Phone', cell: (u) => u.phones.map((p) => phone?.formatPhone(p) ?? p).join(', ') || '—' },
    { header: 'Enrolled on', cell: (u) => formatDate(u.enrolledAt) },
    { header: 'Last MFA use', cell: (u) => (u.lastUsedAt === null ? 'Never' : formatDate(u.lastUsedAt)) },
    {
      header: 'Actions',
      className: 'actions',
      cell: (u) => (
        <button
          type="button"
          className="button-danger button-small"
          aria-label={`Reset MFA enrollment of ${u.name}`}
          onClick={() => {
            setNotice(null);
            setResetting(u);
          }}
        >
          Reset MFA enrollment
        </button>
      ),
    },
  ];

  return (
    <Card title="Enrolled Users">
      <StatusNotice message={notice} />
      <ErrorAlert message={list.error} />
      {resetting ? (
        <ConfirmDialog
          title={`Reset the MFA enrollment of ${resetting.name}?`}
          confirmLabel="Reset MFA enrollment"
          danger
          onCancel={() => setResetting(null)}
          onConfirm={() => reset(resetting)}
        >
          <p>
            Their authenticators and backup codes stop working and their licence is freed. They are mailed, and set up a second factor again at
            their next login.
          </p>
        </ConfirmDialog>
      ) : null}
      <SearchBox label="Search enrolled users" value={filters.q} onSearch={onSearch} />
      <p className="field-hint search-hint">Search by name or organisation.</p>
      <DataTable
        label="Enrolled users"
        columns={columns}
        rows={list.data?.items}
        rowKey={(u) => u.userId}
        emptyText={filters.q ? 'No enrolled users match.' : 'Nobody has enrolled yet.'}
        loading={list.loading}
        paging={paging}
      />
    </Card>
  );
}

// --- Fraud reports -----------------------------------------------------------------

/** Push requests the firm's users denied as "It seemed fraudulent" (issue 5.6), newest first: the facts the superusers were mailed. */
function FraudReportsSection() {
  const { list, paging } = usePagedList('/admin/mfa/fraud-reports', {});

  const columns: Column<FraudReport>[] = [
    {
      header: 'User',
      cell: (r) => (
        <>
          {r.userName}
          <span className="cell-detail break">{r.email}</span>
        </>
      ),
    },
    { header: 'Reported', cell: (r) => formatDate(r.reportedAt) },
    { header: 'IP address', cell: (r) => r.ip ?? '—' },
    { header: 'Browser', cell: (r) => `${r.browser} on ${r.os}` },
  ];

  return (
    <Card title="Fraud reports">
      <ErrorAlert message={list.error} />
      <DataTable
        label="Fraud reports"
        columns={columns}
        rows={list.data?.items}
        rowKey={(r) => r.id}
        emptyText="No fraud reports."
        loading={list.loading}
        paging={paging}
      />
    </Card>
  );
}

// --- Usage -------------------------------------------------------------------------

function UsageSection({ usage }: { usage: MfaOverview['usage'] }) {
  const level = usage.percent >= 100 ? 'full' : usage.percent >= 80 ? 'high' : 'normal';
  return (
    <Card title="Usage">
      <ul className="stat-list">
        <li>
          <span className="stat-label">Licences:</span> <span className="stat-value">{usage.licenceCount}</span>
        </li>
        <li>
          <span className="stat-label">Enrolled users:</span> <span className="stat-value">{usage.enrolled}</span>
        </li>
        <li>
          <span className="stat-label">Unutilised licences:</span> <span className="stat-value">{usage.unutilised}</span>
        </li>
      </ul>
      <div className="meter-row">
        <div
          role="meter"
          aria-label="Licence usage"
          aria-valuemin={0}
          aria-valuemax={usage.licenceCount}
          aria-valuenow={usage.enrolled}
          aria-valuetext={`${usage.percent}% (${usage.enrolled} of ${plural(usage.licenceCount, 'licence')} in use)`}
          className={`meter meter-${level}`}
        >
          <div className="meter-fill" style={{ width: `${Math.min(100, usage.percent)}%` }} />
        </div>
        <span className="meter-text">{usage.percent}%</span>
      </div>
      <p>
        <span className="stat-label">Logins without MFA (no free licence):</span>{' '}
        <span className="stat-value">{usage.bypassLogins}</span>
      </p>
      {level === 'full' ? (
        <p className="muted">
          Every licence is in use: MFA-enabled users who have not enrolled sign in without MFA. Request more licences under
          Subscription Plan to enrol them.
        </p>
      ) : null}
      <LoginsPerApplication />
    </Card>
  );
}

const PERIODS = Object.keys(LOGIN_PERIOD_LABELS).map(Number) as LoginPeriod[];

/**
 * "Logins per application" (issue 15 item 6): for the chosen period, how many logins each of the
 * firm's applications completed, and Tessera's own sign-in, with how many by second factor and
 * how many on the no-seat bypass.
 */
function LoginsPerApplication() {
  const headingId = useId();
  const [days, setDays] = useState<LoginPeriod>(30);
  const logins = useApiGet('/admin/mfa/logins', { query: { days } });
  const columns: Column<ApplicationLoginsRow>[] = [
    {
      header: 'Application',
      cell: (r) => (
        <>
          <span className="break">{r.name}</span>
          <span className="cell-detail">
            {r.type === 'tessera' ? "Tessera's own sign-in pages" : APPLICATION_TYPE_LABELS[r.type]}
            {r.status === 'disabled' ? ' · disabled' : ''}
          </span>
        </>
      ),
    },
    { header: 'Logins', className: 'numeric', cell: (r) => r.logins },
    { header: 'With a second factor', className: 'numeric', cell: (r) => r.secondFactor },
    { header: 'No-seat bypass', className: 'numeric', cell: (r) => r.bypass },
  ];
  return (
    <section className="logins-per-application" aria-labelledby={headingId}>
      <h3 id={headingId}>Logins per application</h3>
      <div className="toolbar-row">
        <SelectField
          label="Period"
          value={String(days)}
          options={PERIODS.map((d) => ({ value: String(d), label: LOGIN_PERIOD_LABELS[d] }))}
          onChange={(value) => setDays(Number(value) as LoginPeriod)}
        />
      </div>
      <ErrorAlert message={logins.error} />
      <DataTable
        label="Logins per application"
        columns={columns}
        rows={logins.data?.rows}
        rowKey={(r) => r.applicationId ?? 'tessera'}
        emptyText="No applications yet."
        loading={logins.loading}
      />
      <p className="field-hint">
        {logins.data ? `Since ${formatDay(logins.data.from)} (days in UTC). ` : ''}A sign-in to an OpenID Connect application through
        Tessera's sign-in page counts for both; single sign-on to another application counts for that application only. Logins without a
        second factor or the bypass are users the configuration does not cover, remembered browsers, and unknown users a Duo application
        lets in.
      </p>
    </section>
  );
}
