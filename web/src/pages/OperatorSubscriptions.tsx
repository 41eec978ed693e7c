import { useState, type FormEvent } from 'react';
import { api, type SubscriptionItem } from '../api';
import { DataTable, type Column } from '../components/DataTable';
import { ConfirmDialog } from '../components/Dialog';
import { SelectField, TextField } from '../components/Field';
import { ErrorAlert, StatusNotice } from '../components/Notice';
import { Card, Page } from '../components/Page';
import { OperatorNav } from '../components/SectionNav';
import { useAction, usePagedList } from '../useApi';
import { dayToEpoch, epochToDay, formatDate, formatDay, plural, SUBSCRIPTION_STATE_SHORT } from '../words';


/** The one-click actions on a firm's subscription: the routes below /operator/subscriptions/{firmId}/. */
type SubscriptionAction = 'decline' | 'licence-request/decline' | 'suspend';

const STATE_OPTIONS = [
  { value: '', label: 'All states' },
  { value: 'requested', label: 'Requested' },
  { value: 'active', label: 'Active' },
  { value: 'suspended', label: 'Suspended' },
  { value: 'cancelled', label: 'Cancelled' },
];

/**
 * The accounts team's view of every firm's MFA subscription (reference A.1): pending
 * requests first; activate with a plan and licence count, decline, suspend, cancel, and
 * answer requests for more licences.
 */
export function OperatorSubscriptions() {
  const { filters, refine, list, paging } = usePagedList('/operator/subscriptions', { state: '' });
  const [activating, setActivating] = useState<SubscriptionItem | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [ending, setEnding] = useState<SubscriptionItem | null>(null);
  const rowAction = useAction();

  function open(item: SubscriptionItem | null) {
    setNotice(null);
    rowAction.setError(null);
    setActivating(item);
  }

  const [answered, setAnswered] = useState(0);

  function done(message: string) {
    setNotice(message);
    list.reload();
    setAnswered((n) => n + 1);
  }

  async function act(item: SubscriptionItem, action: SubscriptionAction, message: string) {
    setNotice(null);
    const result = await rowAction.run(() => api.post(`/operator/subscriptions/{firmId}/${action}`, { params: { path: { firmId: item.firmId } } }));
    if (result.ok) {
      if (activating?.firmId === item.firmId) setActivating(null);
      done(message);
    } else {
      // The row may be out of date (another operator acted): show what is there now.
      list.reload();
    }
  }

  const columns: Column<SubscriptionItem>[] = [
    {
      header: 'Firm',
      cell: (s) => (
        <>
          {s.firmName}
          <span className="cell-detail">
            <code>{s.firmSlug}</code>
          </span>
        </>
      ),
    },
    { header: 'State', cell: (s) => <span className={`state state-${s.state}`}>{SUBSCRIPTION_STATE_SHORT[s.state]}</span> },
    {
      header: 'Plan',
      cell: (s) => (
        <>
          {s.planName ?? '—'}
          {s.startsAt !== null || s.endsAt !== null ? (
            <span className="cell-detail">
              {s.startsAt !== null ? `from ${formatDay(s.startsAt)}` : ''}
              {s.startsAt !== null && s.endsAt !== null ? ' ' : ''}
              {s.endsAt !== null ? `until ${formatDay(s.endsAt)}` : ''}
            </span>
          ) : null}
        </>
      ),
    },
    { header: 'Licences', className: 'numeric', cell: (s) => s.licenceCount },
    { header: 'In use', className: 'numeric', cell: (s) => s.seatsUsed },
    {
      header: 'Requested',
      cell: (s) => (
        <>
          {s.state === 'requested' && s.requestedAt !== null ? formatDate(s.requestedAt) : null}
          {s.requestedLicences !== null ? <span className="badge badge-attention">Wants {s.requestedLicences}</span> : null}
          {s.state !== 'requested' && s.requestedLicences === null ? '—' : null}
        </>
      ),
    },
    {
      header: 'Actions',
      className: 'actions',
      cell: (s) => (
        <div className="row-actions">
          {/* An active subscription is changed (plan, licences, dates), not activated again. */}
          <button type="button" className="button-small" aria-label={`${s.state === 'active' ? 'Change' : 'Activate'} ${s.firmName}`} onClick={() => open(s)}>
            {s.state === 'active' ? 'Change' : 'Activate'}
          </button>
          {s.requestedLicences !== null ? (
            <button
              type="button"
              className="button-secondary button-small"
              aria-label={`Decline licence request of ${s.firmName}`}
              disabled={rowAction.pending}
              onClick={() =>
                void act(s, 'licence-request/decline', `The licence request of ${s.firmName} was declined.`)
              }
            >
              Decline licence request
            </button>
          ) : null}
          {s.state === 'requested' ? (
            <button
              type="button"
              className="button-secondary button-small"
              aria-label={`Decline ${s.firmName}`}
              disabled={rowAction.pending}
              onClick={() => void act(s, 'decline', `The subscription request of ${s.firmName} was declined.`)}
            >
              Decline
            </button>
          ) : null}
          {s.state === 'active' ? (
            <button
              type="button"
              className="button-secondary button-small"
              aria-label={`Suspend ${s.firmName}`}
              disabled={rowAction.pending}
              onClick={() => void act(s, 'suspend', `The subscription of ${s.firmName} was suspended.`)}
            >
              Suspend
            </button>
          ) : null}
          {s.state === 'active' || s.state === 'suspended' ? (
            // Not a red "Cancel" beside "Change": ending a plan is its own, confirmed step.
            <button
              type="button"
              className="button-secondary button-small"
              aria-label={`End subscription of ${s.firmName}`}
              disabled={rowAction.pending}
              onClick={() => {
                setNotice(null);
                setEnding(s);
              }}
            >
              End subscription
            </button>
          ) : null}
        </div>
      ),
    },
  ];

  return (
    <Page title="Subscriptions" wide>
      <OperatorNav version={answered} />
      <StatusNotice message={notice} />
      <ErrorAlert message={rowAction.error ?? list.error} />

      {ending ? (
        <ConfirmDialog
          title={`End the MFA subscription of ${ending.firmName}?`}
          confirmLabel="End subscription"
          danger
          onCancel={() => setEnding(null)}
          onConfirm={async () => {
            await api.post('/operator/subscriptions/{firmId}/cancel', { params: { path: { firmId: ending.firmId } } });
            if (activating?.firmId === ending.firmId) setActivating(null);
            setEnding(null);
            done(`The subscription of ${ending.firmName} was ended.`);
          }}
        >
          <p>
            MFA stops for all of its users. Enrollments and licences in use ({ending.seatsUsed}) are kept, so the firm finds everyone still
            enrolled if it subscribes again.
          </p>
        </ConfirmDialog>
      ) : null}
      {activating ? (
        <Card title={`${activating.state === 'active' ? 'Change' : 'Activate'} ${activating.firmName}`}>
          <ActivateForm
            key={activating.firmId}
            item={activating}
            onCancel={() => open(null)}
            onActivated={(item) => {
              setActivating(null);
              done(`${item.firmName} is active on ${item.planName ?? 'its plan'} with ${plural(item.licenceCount, 'licence')}.`);
            }}
          />
        </Card>
      ) : null}

      <Card>
        <div className="toolbar">
          <SelectField
            label="State"
            value={filters.state}
            options={STATE_OPTIONS}
            onChange={(state) => refine({ state })}
          />
        </div>
        <DataTable
          label="Subscriptions"
          columns={columns}
          rows={list.data?.items}
          rowKey={(s) => s.firmId}
          emptyText={filters.state ? 'No subscriptions in this state.' : 'No firm has subscribed yet.'}
          loading={list.loading}
          paging={paging}
        />
      </Card>
    </Page>
  );
}

function ActivateForm({
  item,
  onActivated,
  onCancel,
}: {
  item: SubscriptionItem;
  onActivated(item: SubscriptionItem): void;
  onCancel(): void;
}) {
  const [planName, setPlanName] = useState(item.planName ?? '');
  // A pending licence request is what the operator is most likely answering.
  const [licences, setLicences] = useState(String(item.requestedLicences ?? (item.licenceCount || '')));
  const [startsOn, setStartsOn] = useState(epochToDay(item.startsAt));
  const [endsOn, setEndsOn] = useState(epochToDay(item.endsAt));
  const { pending, error, setError, run } = useAction();

  async function submit(event: FormEvent) {
    event.preventDefault();
    const licenceCount = Number(licences);
    if (!planName.trim()) {
      setError('Enter the plan name.');
      return;
    }
    if (licences.trim() === '' || !Number.isInteger(licenceCount) || licenceCount < 1) {
      setError('Enter the number of licences: a whole number of at least 1.');
      return;
    }
    const startsAt = dayToEpoch(startsOn);
    const endsAt = dayToEpoch(endsOn);
    if (startsAt !== null && endsAt !== null && endsAt <= startsAt) {
      setError('The end date must be after the start date.');
      return;
    }
    const body = { planName: planName.trim(), licenceCount, startsAt, endsAt };
    const result = await run(() =>
      api.post('/operator/subscriptions/{firmId}/activate', { params: { path: { firmId: item.firmId } }, body }),
    );
    if (result.ok) onActivated(result.value);
  }

  return (
    <form className="form" aria-label={`${item.state === 'active' ? 'Change' : 'Activate'} ${item.firmName}`} onSubmit={submit} noValidate>
      <ErrorAlert message={error} />
      {item.state === 'active' ? (
        <p className="muted">
          Already active with {plural(item.licenceCount, 'licence')} ({item.seatsUsed} in use): saving changes the plan,
          licences or dates.
        </p>
      ) : null}
      {item.requestedLicences !== null ? (
        <p className="muted">The firm asks for {plural(item.requestedLicences, 'licence')} in total.</p>
      ) : null}
      <TextField label="Plan name" value={planName} onChange={setPlanName} autoComplete="off" maxLength={100} required />
      <TextField
        label="Licences"
        type="number"
        inputMode="numeric"
        min={Math.max(1, item.seatsUsed)}
        step={1}
        value={licences}
        onChange={setLicences}
        hint={item.seatsUsed > 0 ? `At least ${item.seatsUsed}: that many users are enrolled.` : undefined}
        required
      />
      <div className="form-row">
        <TextField label="Starts on" type="date" value={startsOn} onChange={setStartsOn} hint="Optional (UTC)." />
        <TextField label="Ends on" type="date" value={endsOn} onChange={setEndsOn} hint="Optional. MFA stops at the start of this day (UTC)." />
      </div>
      <div className="form-actions">
        <button type="submit" disabled={pending}>
          {item.state === 'active' ? 'Save changes' : 'Activate'}
        </button>
        <button type="button" className="button-secondary" onClick={onCancel}>
          Close
        </button>
      </div>
    </form>
  );
}
