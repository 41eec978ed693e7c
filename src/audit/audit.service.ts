import type { DbOrTx } from '../db/database.js';
import { classify, type AuditEventName } from './audit.catalogue.js';
import type { AuditEventTable } from './audit.table.js';

/** Who did it and from where; routes build it from the request (see requestContext in http/auth.ts). */
export interface Actor {
  type: AuditEventTable['actor_type'];
  id: string | null;
  firmId: string | null;
  ip: string | null;
  userAgent: string | null;
}

export const systemActor: Actor = { type: 'system', id: null, firmId: null, ip: null, userAgent: null };

export interface AuditEntry {
  /** A name of the catalogue (audit.catalogue.ts): adding an event is adding it there. */
  event: AuditEventName;
  /** Defaults to the actor's firm. */
  firmId?: string | null;
  subjectType?: string;
  subjectId?: string | null;
  /** Never a secret: no passwords, tokens or codes. */
  details?: Record<string, unknown>;
  /** The application the event concerns (an admin change of it, or a login that came through it). */
  applicationId?: string | null;
}

/** Appends one event. Pass the transaction of the change it records, so both land or neither. */
export async function audit(db: DbOrTx, at: number, actor: Actor, entry: AuditEntry): Promise<void> {
  const details = entry.details ?? {};
  const { result, factor, attention } = classify(entry.event, details);
  await db
    .insertInto('audit_events')
    .values({
      at,
      firm_id: entry.firmId === undefined ? actor.firmId : entry.firmId,
      actor_type: actor.type,
      actor_id: actor.id,
      subject_type: entry.subjectType ?? null,
      subject_id: entry.subjectId ?? null,
      ip: actor.ip,
      user_agent: actor.userAgent ? actor.userAgent.slice(0, 512) : null,
      event: entry.event,
      details: JSON.stringify(details),
      result,
      factor,
      attention: attention ? 1 : 0,
      application_id: entry.applicationId ?? null,
    })
    .execute();
}
