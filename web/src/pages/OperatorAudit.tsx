import { AuditLog } from '../components/AuditLog';
import { Page } from '../components/Page';
import { OperatorNav } from '../components/SectionNav';

/** Platform events (issue 8.1): those of no firm (operator sign-ins, unknown addresses) and every operator action. */
export function OperatorAudit() {
  return (
    <Page title="Platform events" wide>
      <OperatorNav />
      <AuditLog base="/operator/audit-events" label="Platform events" platform />
    </Page>
  );
}
