import { Link } from '../router';

export interface NavItem {
  to: string;
  label: string;
}

export function SectionNav({ label, items }: { label: string; items: readonly NavItem[] }) {
  return (
    <nav className="section-nav" aria-label={label}>
      <ul>
        {items.map((item) => (
          <li key={item.to}>
            <Link to={item.to}>{item.label}</Link>
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

export function OperatorNav() {
  return (
    <SectionNav
      label="Operator console"
      items={[
        { to: '/operator', label: 'Firms' },
        { to: '/operator/subscriptions', label: 'Subscriptions' },
        { to: '/operator/outbox', label: 'Outbox' },
        { to: '/operator/operators', label: 'Operators' },
        { to: '/operator/security', label: 'Security' },
        { to: '/operator/audit', label: 'Platform events' },
      ]}
    />
  );
}
