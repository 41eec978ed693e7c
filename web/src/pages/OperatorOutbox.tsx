import type { OutboxItem } from '../api';
import { DataTable, type Column } from '../components/DataTable';
import { ErrorAlert } from '../components/Notice';
import { Card, Page } from '../components/Page';
import { OperatorNav } from '../components/SectionNav';
import { usePagedList } from '../useApi';
import { formatDate } from '../words';


const columns: Column<OutboxItem>[] = [
  { header: 'To', cell: (m) => <span className="break">{m.to}</span> },
  { header: 'Subject', cell: (m) => m.subject },
  { header: 'Status', cell: (m) => <span className="badge badge-muted">{m.status}</span> },
  {
    header: 'Link',
    cell: (m) =>
      m.link ? (
        <a href={m.link} className="break">
          {m.link}
        </a>
      ) : (
        '—'
      ),
  },
  { header: 'Created', cell: (m) => formatDate(m.createdAt) },
];

/** Mail the platform has sent or queued; lets an operator hand on a link when mail is not set up. */
export function OperatorOutbox() {
  const { list, paging } = usePagedList('/operator/outbox', {});

  return (
    <Page title="Outbox" wide>
      <OperatorNav />
      <ErrorAlert message={list.error} />
      <Card>
        <DataTable
          label="Outbox"
          columns={columns}
          rows={list.data?.items}
          rowKey={(m) => m.id}
          emptyText="No mail yet."
          loading={list.loading}
          paging={paging}
        />
      </Card>
    </Page>
  );
}
