import { useCallback, useMemo } from 'react';
import { query, type Answer } from '../api';
import { useApiGet, usePagedList } from '../useApi';
import { DataTable, type Column } from './DataTable';
import { SelectField, TextField } from './Field';
import { ErrorAlert } from './Notice';
import { Card } from './Page';
import { SearchBox } from './SearchBox';

/** One event of GET .../audit-events (the firm's and the platform's logs have the same shape). */
type AuditEvent = Answer<'get', '/admin/audit-events'>['items'][number];
/** A person or thing an audit event names. */
type AuditParty = AuditEvent['actor'];

type Filters = { from: string; to: string; user: string; event: string; result: string; factor: string; attention: string };
const NO_FILTERS: Filters = { from: '', to: '', user: '', event: '', result: '', factor: '', attention: '' };

/** Audit logs are read in UTC, the time they are kept in: "2026-11-29 11:16:40 UTC". */
function formatUtc(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** What a party without a name is called. */
const PARTY_TYPES: Record<string, string> = {
  system: 'Tessera',
  anonymous: 'Not signed in',
  operator: 'Operator',
  user: 'User',
  firm: 'The firm',
  subscription: 'The subscription',
  corporation: 'Corporation',
  application: 'Application',
  authenticator: 'Authenticator',
};

function Party({ party }: { party: AuditParty | null }) {
  if (!party) return <>—</>;
  if (!party.name && !party.email) return <>{PARTY_TYPES[party.type] ?? party.type}</>;
  return (
    <>
      {party.name ?? party.email}
      {party.email && party.name ? <span className="cell-detail break">{party.email}</span> : null}
    </>
  );
}

/** The details worth a glance (reason, method, attempts left...): plain values, not ids. */
function detailLine(details: Record<string, unknown>): string {
  return Object.entries(details)
    .filter(([key, value]) => !/id$/i.test(key) && ['string', 'number', 'boolean'].includes(typeof value))
    .slice(0, 4)
    .map(([key, value]) => `${key}: ${String(value)}`)
    .join(' · ');
}

/**
 * An audit log with its filters, shared by the firm administration ("Audit log") and the
 * operator console ("Platform events"). The filters live in the list's state, the CSV link
 * carries the same ones, and "Needs attention" is one click. Rows that need attention carry
 * a text badge ("Needs attention: Replay") as well as a marked background.
 */
export function AuditLog({ base, label, platform }: { base: '/admin/audit-events' | '/operator/audit-events'; label: string; platform?: boolean }) {
  const { filters, refine, list, paging } = usePagedList(base, NO_FILTERS);
  const catalogue = useApiGet(`${base}/catalogue`);
  const onSearch = useCallback((user: string) => refine({ user }), [refine]);
  const { page: _page, ...chosen } = filters;
  const attentionOnly = chosen.attention === 'true';
  const filtered = Object.values(chosen).some((v) => v !== '');

  const eventOptions = useMemo(() => {
    const data = catalogue.data;
    if (!data) return [];
    const category = new Map(data.categories.map((c) => [c.category, c.label]));
    return data.events.map((e) => ({ value: e.event, label: `${category.get(e.category) ?? e.category}: ${e.label}` }));
  }, [catalogue.data]);

  const columns: Column<AuditEvent>[] = [
    { header: 'Time (UTC)', cell: (e) => <span className="nowrap">{formatUtc(e.at)}</span> },
    {
      header: 'Event',
      cell: (e) => (
        <>
          {e.attention ? <span className="badge badge-attention">Needs attention: {e.flag}</span> : null} {e.label}
          {detailLine(e.details) ? <span className="cell-detail">{detailLine(e.details)}</span> : null}
        </>
      ),
    },
    ...(platform ? [{ header: 'Firm', cell: (e: AuditEvent) => e.firm?.name ?? '—' }] : []),
    { header: 'By', cell: (e) => <Party party={e.actor} /> },
    { header: 'Concerning', cell: (e) => <Party party={e.subject} /> },
    { header: 'Factor', cell: (e) => (e.factor ? (catalogue.data?.factors.find((f) => f.factor === e.factor)?.label ?? e.factor) : '—') },
    { header: 'Result', cell: (e) => (e.result === 'failure' ? 'Failure' : 'Success') },
    { header: 'From', cell: (e) => <span className="break">{e.ip ?? '—'}</span> },
  ];

  const total = list.data?.total ?? 0;

  return (
    <>
      <ErrorAlert message={list.error ?? catalogue.error} />
      <Card>
        <div className="toolbar-row">
          <div className="row-actions" role="group" aria-label="Quick filters">
            <button type="button" className={attentionOnly ? undefined : 'button-secondary'} aria-pressed={attentionOnly} onClick={() => refine({ attention: attentionOnly ? '' : 'true' })}>
              Needs attention
            </button>
            {filtered ? (
              <button type="button" className="button-secondary" onClick={() => refine(NO_FILTERS)}>
                Show all events
              </button>
            ) : null}
          </div>
          <a className="button-link button-secondary" href={`/api/v1${base}.csv${query(chosen)}`} download>
            Export CSV
          </a>
        </div>
        <SearchBox label="User (email or name)" value={filters.user} onSearch={onSearch}>
          <TextField label="From (UTC)" type="date" value={filters.from} onChange={(from) => refine({ from })} />
          <TextField label="To (UTC)" type="date" value={filters.to} onChange={(to) => refine({ to })} />
          <SelectField label="Event type" value={filters.event} options={[{ value: '', label: 'All events' }, ...eventOptions]} onChange={(event) => refine({ event })} />
          <SelectField
            label="Result"
            value={filters.result}
            options={[
              { value: '', label: 'Any result' },
              { value: 'success', label: 'Success' },
              { value: 'failure', label: 'Failure' },
            ]}
            onChange={(result) => refine({ result })}
          />
          <SelectField
            label="Factor"
            value={filters.factor}
            options={[{ value: '', label: 'Any factor' }, ...(catalogue.data?.factors ?? []).map((f) => ({ value: f.factor, label: f.label }))]}
            onChange={(factor) => refine({ factor })}
          />
        </SearchBox>
        {list.data?.totalCapped ? (
          <p className="muted">
            More than {total.toLocaleString()} events match: the pages show the newest {total.toLocaleString()}. Narrow the time range, or export CSV (up to
            100,000 events).
          </p>
        ) : null}
        <DataTable
          label={label}
          columns={columns}
          rows={list.data?.items}
          rowKey={(e) => String(e.id)}
          rowClassName={(e) => (e.attention ? 'row-attention' : undefined)}
          emptyText={filtered ? 'No events match.' : 'No events yet.'}
          loading={list.loading}
          paging={paging}
        />
      </Card>
    </>
  );
}
