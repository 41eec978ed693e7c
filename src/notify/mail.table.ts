import type { Insertable, Selectable } from 'kysely';

/**
 * Every mail goes through this table. With SMTP configured, a worker on any node claims
 * 'pending' rows and sends them; without SMTP they are 'kept' and shown in the operator console.
 */
export interface MailOutboxTable {
  id: string;
  firm_id: string | null;
  to_address: string;
  subject: string;
  text_body: string;
  html_body: string;
  /** The link the mail carries, if any: printed to the console in embedded mode. */
  link: string | null;
  status: 'kept' | 'pending' | 'sending' | 'sent' | 'failed';
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  created_at: number;
  sent_at: number | null;
}
export type OutboxMail = Selectable<MailOutboxTable>;
export type NewOutboxMail = Insertable<MailOutboxTable>;
