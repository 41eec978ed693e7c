import { useCallback, useState, type FormEvent } from 'react';
import { api, type Corporation } from '../api';
import { DataTable, type Column } from '../components/DataTable';
import { TextField } from '../components/Field';
import { ErrorAlert, StatusNotice } from '../components/Notice';
import { Card, Page } from '../components/Page';
import { SearchBox } from '../components/SearchBox';
import { FirmAdminNav } from '../components/SectionNav';
import { useAction, usePagedList } from '../useApi';
import { useConfirm } from '../components/Dialog';


export function AdminCorporations() {
  const [confirm, confirmDialog] = useConfirm();
  const { filters, refine, list, paging } = usePagedList('/admin/corporations', { q: '' });
  const [newName, setNewName] = useState('');
  const [renaming, setRenaming] = useState<Corporation | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const create = useAction();
  const rowAction = useAction();

  const onSearch = useCallback((q: string) => refine({ q }), [refine]);

  function done(message: string) {
    setNotice(message);
    list.reload();
  }

  async function add(event: FormEvent) {
    event.preventDefault();
    setNotice(null);
    const name = newName.trim();
    const result = await create.run(() => api.post('/admin/corporations', { body: { name } }));
    if (result.ok) {
      setNewName('');
      done(`${result.value.name} was added.`);
    }
  }

  async function remove(corporation: Corporation) {
    setNotice(null);
    if (!(await confirm({ title: `Delete ${corporation.name}?`, body: 'This cannot be undone.', confirmLabel: 'Delete corporation', danger: true }))) return;
    const result = await rowAction.run(() => api.delete('/admin/corporations/{id}', { params: { path: { id: corporation.id } } }));
    if (result.ok) done(`${corporation.name} was deleted.`);
  }

  const columns: Column<Corporation>[] = [
    {
      header: 'Name',
      cell: (c) =>
        renaming?.id === c.id ? (
          <RenameForm
            corporation={c}
            onCancel={() => setRenaming(null)}
            onRenamed={(renamed) => {
              setRenaming(null);
              done(`${c.name} was renamed to ${renamed.name}.`);
            }}
          />
        ) : (
          c.name
        ),
    },
    { header: 'Users', className: 'numeric', cell: (c) => c.userCount },
    {
      header: 'Actions',
      className: 'actions',
      cell: (c) => (
        <div className="row-actions">
          <button
            type="button"
            className="button-secondary button-small"
            aria-label={`Rename ${c.name}`}
            onClick={() => {
              setNotice(null);
              rowAction.setError(null);
              setRenaming(c);
            }}
          >
            Rename
          </button>
          <button
            type="button"
            className="button-danger button-small"
            aria-label={`Delete ${c.name}`}
            disabled={rowAction.pending}
            onClick={() => void remove(c)}
          >
            Delete
          </button>
        </div>
      ),
    },
  ];

  return (
    <Page title="Corporations" wide>
      <FirmAdminNav />
      {confirmDialog}
      <StatusNotice message={notice} />
      <ErrorAlert message={rowAction.error ?? list.error} />

      <Card title="New corporation">
        <form className="form form-inline" aria-label="New corporation" onSubmit={add} noValidate>
          <ErrorAlert message={create.error} />
          <TextField label="Corporation name" value={newName} onChange={setNewName} autoComplete="off" required />
          <div className="form-actions">
            <button type="submit" disabled={create.pending}>
              Add corporation
            </button>
          </div>
        </form>
      </Card>

      <Card>
        <SearchBox label="Search corporations" value={filters.q} onSearch={onSearch} />
        <DataTable
          label="Corporations"
          columns={columns}
          rows={list.data?.items}
          rowKey={(c) => c.id}
          emptyText={filters.q ? 'No corporations match.' : 'No corporations yet.'}
          loading={list.loading}
          paging={paging}
        />
      </Card>
    </Page>
  );
}

function RenameForm({
  corporation,
  onRenamed,
  onCancel,
}: {
  corporation: Corporation;
  onRenamed(corporation: Corporation): void;
  onCancel(): void;
}) {
  const [name, setName] = useState(corporation.name);
  const { pending, error, run } = useAction();

  async function submit(event: FormEvent) {
    event.preventDefault();
    const result = await run(() =>
      api.patch('/admin/corporations/{id}', { params: { path: { id: corporation.id } }, body: { name: name.trim() } }),
    );
    if (result.ok) onRenamed(result.value);
  }

  return (
    <form className="form form-compact" aria-label={`Rename corporation ${corporation.name}`} onSubmit={submit} noValidate>
      <ErrorAlert message={error} />
      <TextField label="New name" value={name} onChange={setName} autoComplete="off" autoFocus required />
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
