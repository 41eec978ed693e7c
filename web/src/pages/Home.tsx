import { useState } from 'react';
import { FirmAdminNav } from '../components/SectionNav';
import { Card, Page } from '../components/Page';
import type { SessionUser } from '../api';
import { historyState, Link } from '../router';
import { KIND_LABELS } from '../words';

const NOTICES: Record<string, string> = {
  // Reference A.2.7: no licence free, so this login went through on the password alone.
  mfa_bypassed_no_seat:
    'Your firm requires multi-factor authentication, but no licence is free right now, so you signed in with your password only. You will be asked to enrol once a licence is available.',
};

/** The portal homepage of a signed-in firm user. */
export function Home({ user }: { user: SessionUser }) {
  // Passed by the login in the history entry (not the URL), so a copied link never shows it.
  const [notice] = useState(() => {
    const key = historyState('notice');
    return typeof key === 'string' ? (NOTICES[key] ?? null) : null;
  });
  return (
    <Page title={`Welcome, ${user.name}`}>
      {notice ? (
        <p role="status" className="notice notice-info">
          {notice}
        </p>
      ) : null}
      <Card>
        <p>
          You are signed in as {user.email} ({KIND_LABELS[user.kind]}) at {user.firm.name}.
        </p>
        <p>
          <Link to="/me/security">My security</Link>: your authenticators and backup codes.
        </p>
      </Card>
      {user.isSuperuser ? (
        <Card title="Firm administration">
          <p className="muted">As a superuser you manage the people, corporations, applications and MFA subscription of {user.firm.name}.</p>
          <FirmAdminNav />
        </Card>
      ) : null}
    </Page>
  );
}
