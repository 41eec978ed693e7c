import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';
import type { AuditFactor, AuditResult } from './audit.catalogue.js';

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
  /** Derived from event and details by the catalogue (audit.catalogue.ts) when written; stored for the audit log's filters. */
  result: ColumnType<AuditResult, AuditResult | undefined, never>;
  factor: ColumnType<AuditFactor | null, AuditFactor | null | undefined, never>;
  /** 1 for failures and suspicious events ("Needs attention"), else 0. */
  attention: ColumnType<number, number | undefined, never>;
  /** The application the event concerns (its admin changes; later the logins and calls that came through it); null for Tessera itself. */
  application_id: ColumnType<string | null, string | null | undefined, never>;
}
export type AuditEvent = Selectable<AuditEventTable>;
export type NewAuditEvent = Insertable<AuditEventTable>;
