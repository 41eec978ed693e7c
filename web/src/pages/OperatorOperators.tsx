import { useState } from 'react';
import { api, type OperatorSummary } from '../api';
import { DataTable, type Column } from '../components/DataTable';
import { ErrorAlert, StatusNotice } from '../components/Notice';
import { Card, Page } from '../components/Page';
import { OperatorNav } from '../components/SectionNav';
import { useAction, useApiGet } from '../useApi';
import { formatDate } from '../words';
import { useConfirm } from '../components/Dialog';

/**
 * The operators and their second factors (issue 8.6). One operator resets another's lost
 * phone or key here; their own factors are under Security.
 */
export function OperatorOperators({ selfId }: { selfId: string }) {
  const [confirm, confirmDialog] = useConfirm();
  const list = useApiGet('/operator/operators');
  const action = useAction();
  const [notice, setNotice] = useState<string | null>(null);

  async function reset(op: OperatorSummary) {
    setNotice(null);
    if (!(await confirm({ title: `Reset the second factor of ${op.name}?`, body: 'Their authenticators and backup codes stop working, they are signed out, and they set up a new one at their next sign-in.', confirmLabel: 'Reset second factor', danger: true }))) return;
    const result = await action.run(() => api.post('/operator/operators/{id}/mfa-reset', { params: { path: { id: op.id } } }));
    if (result.ok) {
      setNotice(`The second factor of ${op.name} was reset.`);
      list.reload();
    }
  }

  const columns: Column<OperatorSummary>[] = [
    { header: 'Name', cell: (o) => o.name },
    { header: 'Email', cell: (o) => <span className="break">{o.email}</span> },
    {
      header: 'Second factor',
      cell: (o) =>
        o.lockedUntil !== null
          ? `Locked until ${formatDate(o.lockedUntil)}`
          : o.enrolled
            ? `${o.authenticators} authenticator${o.authenticators === 1 ? '' : 's'}`
            : 'Set up at next sign-in',
    },
    {
      header: 'Actions',
      cell: (o) =>
        o.id === selfId ? (
          <span className="muted">You</span>
        ) : (
          <button type="button" className="button-secondary" disabled={action.pending} onClick={() => void reset(o)}>
            Reset second factor
          </button>
        ),
    },
  ];

  return (
    <Page title="Operators" wide>
      <OperatorNav />
      {confirmDialog}
      <StatusNotice message={notice} />
      <ErrorAlert message={list.error ?? action.error} />
      <Card>
        <DataTable label="Operators" columns={columns} rows={list.data?.items} rowKey={(o) => o.id} emptyText="No operators." loading={list.loading} />
      </Card>
    </Page>
  );
}
