import { AuditLog } from '../components/AuditLog';
import { Page } from '../components/Page';
import { FirmAdminNav } from '../components/SectionNav';

/** The firm's authentication and admin events (issue 8.1), for its superusers. */
export function AdminAudit() {
  return (
    <Page title="Audit log" wide>
      <FirmAdminNav />
      <AuditLog base="/admin/audit-events" label="Audit log" />
    </Page>
  );
}
