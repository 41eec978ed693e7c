import { useEffect } from 'react';
import { Link } from '../router';
import { useApiGet } from '../useApi';
import { plural } from '../words';

export interface NavItem {
  to: string;
  label: string;
  /** A count beside the label (requests waiting), with the words a screen reader says for it. */
  count?: { value: number; words: string };
}

export function SectionNav({ label, items }: { label: string; items: readonly NavItem[] }) {
  return (
    <nav className="section-nav" aria-label={label}>
      <ul>
        {items.map((item) => (
          <li key={item.to}>
            <Link to={item.to}>
              {item.label}
              {item.count && item.count.value > 0 ? (
                <>
                  {' '}
                  <span className="badge badge-attention nav-count" aria-hidden="true">
                    {item.count.value}
                  </span>
                  <span className="visually-hidden">({item.count.words})</span>
                </>
              ) : null}
            </Link>
          </li>
        ))}
      </ul>
    </nav>
  );
}

export function FirmAdminNav() {
  return (
    <SectionNav
      label="Firm administration"
      items={[
        { to: '/admin/users', label: 'Users' },
        { to: '/admin/corporations', label: 'Corporations' },
        { to: '/admin/applications', label: 'Applications' },
        { to: '/admin/subscriptions', label: 'Subscriptions' },
        { to: '/admin/mfa', label: 'MFA' },
        { to: '/admin/audit', label: 'Audit log' },
      ]}
    />
  );
}

/** The operator console's sections; Subscriptions shows how many requests wait for an answer (issue 16.5). */
export function OperatorNav({ version = 0 }: { version?: number }) {
  const pending = useApiGet('/operator/subscriptions/pending');
  const { reload } = pending;
  // A page that answered a request bumps `version`: the count is asked again.
  useEffect(() => {
    if (version > 0) reload();
  }, [version, reload]);
  const waiting = pending.data ? pending.data.subscriptions + pending.data.licences : 0;
  return (
    <SectionNav
      label="Operator console"
      items={[
        { to: '/operator', label: 'Firms' },
        { to: '/operator/subscriptions', label: 'Subscriptions', count: { value: waiting, words: `${plural(waiting, 'request')} waiting` } },
        { to: '/operator/outbox', label: 'Outbox' },
        { to: '/operator/operators', label: 'Operators' },
        { to: '/operator/security', label: 'Security' },
        { to: '/operator/audit', label: 'Platform events' },
      ]}
    />
  );
}
