import { FirmAdminNav } from '../components/SectionNav';
import { Card, Page } from '../components/Page';
import type { SessionUser } from '../api';
import { KIND_LABELS } from '../words';

/** The portal homepage of a signed-in firm user. */
export function Home({ user }: { user: SessionUser }) {
  return (
    <Page title={`Welcome, ${user.name}`}>
      <Card>
        <p>
          You are signed in as {user.email} ({KIND_LABELS[user.kind]}) at {user.firm.name}.
        </p>
      </Card>
      {user.isSuperuser ? (
        <Card title="Firm administration">
          <p className="muted">As a superuser you manage the people, corporations and MFA subscription of {user.firm.name}.</p>
          <FirmAdminNav />
        </Card>
      ) : null}
    </Page>
  );
}
