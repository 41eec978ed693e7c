import type { Generated, Insertable, Selectable } from 'kysely';

/** The platform's own staff. They belong to no firm. */
export interface OperatorTable {
  id: string;
  email: string;
  name: string;
  password_hash: string | null;
  status: 'active' | 'disabled';
  created_at: number;
  /** Consecutive failed second-factor attempts, and the lock they led to (as users, issue 4.5). */
  mfa_failed_count: Generated<number>;
  mfa_locked_until: number | null;
  /** The address before the latest change and when it changed, as for users (src/notify/security-notice.ts). */
  previous_email: string | null;
  email_changed_at: number | null;
}
export type Operator = Selectable<OperatorTable>;
export type NewOperator = Insertable<OperatorTable>;
