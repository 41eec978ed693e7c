import { useCallback, useState, type FormEvent } from 'react';
import { api, type Firm } from '../api';
import { DataTable, type Column } from '../components/DataTable';
import { TextField } from '../components/Field';
import { StatusNotice, ErrorAlert } from '../components/Notice';
import { Card, Page } from '../components/Page';
import { SearchBox } from '../components/SearchBox';
import { OperatorNav } from '../components/SectionNav';
import { useAction, usePagedList } from '../useApi';
import { formatDate, suggestSlug } from '../words';


const columns: Column<Firm>[] = [
  { header: 'Name', cell: (f) => f.name },
  { header: 'Short name', cell: (f) => <code>{f.slug}</code> },
  { header: 'Users', className: 'numeric', cell: (f) => f.userCount },
  { header: 'Applications', className: 'numeric', cell: (f) => f.applicationCount },
  { header: 'Created', cell: (f) => formatDate(f.createdAt) },
];

export function OperatorFirms() {
  const { filters, refine, list, paging } = usePagedList('/operator/firms', { q: '' });
  const [notice, setNotice] = useState<string | null>(null);

  const onSearch = useCallback((q: string) => refine({ q }), [refine]);

  return (
    <Page title="Firms" wide>
      <OperatorNav />
      <StatusNotice message={notice} />
      <ErrorAlert message={list.error} />

      <Card>
        <SearchBox label="Search firms" value={filters.q} onSearch={onSearch} />
        <DataTable
          label="Firms"
          columns={columns}
          rows={list.data?.items}
          rowKey={(f) => f.id}
          emptyText={filters.q ? 'No firms match.' : 'No firms yet.'}
          loading={list.loading}
          paging={paging}
        />
      </Card>

      <Card title="New firm">
        <NewFirmForm
          onStart={() => setNotice(null)}
          onCreated={(email) => {
            setNotice(`Firm created. A set-password link was mailed to ${email}.`);
            list.reload();
          }}
        />
      </Card>
    </Page>
  );
}

function NewFirmForm({ onStart, onCreated }: { onStart(): void; onCreated(superuserEmail: string): void }) {
  const [name, setName] = useState('');
  const [slug, setSlug] = useState('');
  // The short name follows the firm name until the operator types one of their own.
  const [slugEdited, setSlugEdited] = useState(false);
  const [superuserName, setSuperuserName] = useState('');
  const [superuserEmail, setSuperuserEmail] = useState('');
  const { pending, error, run } = useAction();

  function changeName(value: string) {
    setName(value);
    if (!slugEdited) setSlug(suggestSlug(value));
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    onStart();
    const email = superuserEmail.trim();
    const body = { name: name.trim(), slug: slug.trim(), superuser: { name: superuserName.trim(), email } };
    const result = await run(() => api.post('/operator/firms', { body }));
    if (result.ok) {
      setName('');
      setSlug('');
      setSlugEdited(false);
      setSuperuserName('');
      setSuperuserEmail('');
      onCreated(email);
    }
  }

  return (
    <form className="form" aria-label="New firm" onSubmit={submit} noValidate>
      <ErrorAlert message={error} />
      <TextField label="Firm name" value={name} onChange={changeName} autoComplete="off" required />
      <TextField
        label="Short name"
        value={slug}
        onChange={(value) => {
          setSlug(value);
          setSlugEdited(value !== '');
        }}
        autoComplete="off"
        autoCapitalize="none"
        spellCheck={false}
        pattern="[a-z0-9-]+"
        required
        hint="Lower-case letters, digits and dashes. Users type it to pick the firm when signing in."
      />
      <TextField label="Superuser name" value={superuserName} onChange={setSuperuserName} autoComplete="off" required />
      <TextField
        label="Superuser email"
        type="email"
        value={superuserEmail}
        onChange={setSuperuserEmail}
        autoComplete="off"
        required
        hint="The firm's first administrator. A link to choose a password is mailed to this address."
      />
      <div className="form-actions">
        <button type="submit" disabled={pending}>
          Create firm
        </button>
      </div>
    </form>
  );
}
