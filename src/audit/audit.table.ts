import type { Generated, Insertable, Selectable } from 'kysely';

/** Append-only: rows are inserted, never updated or deleted. Never holds a secret. */
export interface AuditEventTable {
  id: Generated<number>;
  at: number;
  firm_id: string | null;
  actor_type: 'operator' | 'user' | 'system' | 'anonymous';
  actor_id: string | null;
  subject_type: string | null;
  subject_id: string | null;
  ip: string | null;
  user_agent: string | null;
  event: string;
  /** JSON object. */
  details: string;
}
export type AuditEvent = Selectable<AuditEventTable>;
export type NewAuditEvent = Insertable<AuditEventTable>;
