import { audit } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import { metrics } from '../ops/metrics.js';
import type { DuoIntegration } from './authenticated.js';
import type { AuthResult } from './signature.js';

/**
 * Refused signatures of a known integration key (issue 15, hardening): a wrong signature (a
 * leaked or guessed integration key tried with secret keys, a misconfigured application), a
 * date outside the window (a captured request replayed, a server with a drifting clock), a
 * missing date or signature. Each is audited `duo.signature_refused` with the application and
 * the reason, so a firm sees on the application's page that someone holds its key.
 *
 * Throttled, so that a flood of bad requests cannot flood the audit log: at most one row per
 * integration key and reason a minute (in each process), the ones in between counted in the
 * metric `tessera_duo_signature_refusals_total{reason,outcome="throttled"}` and summed in the
 * next row's `suppressed`. A stale or dateless request is refused before any look-up; to audit it
 * the door looks the key up once a minute per key and reason at most (a slot is taken for an
 * unknown key too), so such a flood still costs no database read per request.
 */
export type RefusalReason = 'wrong' | 'stale' | 'missing';

const WINDOW_MS = 60_000;
/** Slots kept at once: beyond it (a flood of made-up keys) the oldest go, then nothing more is looked up until they do. */
const MAX_SLOTS = 10_000;

export function refusalReason(result: Extract<AuthResult<unknown>, { ok: false }>): RefusalReason | null {
  if (!result.claimed) return null;
  if (result.failure === 'BAD_TIMESTAMP') return 'stale';
  if (result.failure === 'MISSING_TIMESTAMP') return 'missing';
  if (result.failure === 'INVALID_SIGNATURE') return result.claimed.signatureMissing ? 'missing' : 'wrong';
  return null;
}

/** One slot per integration key and reason: when its minute began, and how many were refused unaudited since. */
export class RefusalSlots {
  private readonly slots = new Map<string, { since: number; suppressed: number }>();

  /** A row may be written now (with how many were suppressed before it), or not (counted as suppressed). */
  take(ikey: string, reason: RefusalReason, now: number): { write: true; suppressed: number } | { write: false } {
    const id = `${reason}:${ikey}`;
    const slot = this.slots.get(id);
    if (slot && now - slot.since < WINDOW_MS) {
      slot.suppressed++;
      return { write: false };
    }
    if (!slot && this.slots.size >= MAX_SLOTS) {
      for (const [k, v] of this.slots) if (now - v.since >= WINDOW_MS) this.slots.delete(k);
      if (this.slots.size >= MAX_SLOTS) return { write: false };
    }
    this.slots.delete(id);
    this.slots.set(id, { since: now, suppressed: 0 });
    return { write: true, suppressed: slot?.suppressed ?? 0 };
  }
}

/** A registry integration (the test look-ups of the door's own tests have no application). */
const isApplication = (i: DuoIntegration): i is DuoIntegration & { applicationId: string; firmId: string; name: string } =>
  'applicationId' in i && 'firmId' in i && 'name' in i;

/**
 * Audits (or counts) one refused request whose integration key could be read. Never changes the
 * answer: a failing look-up or audit write is logged and the request refused as it would be.
 */
export async function recordRefusedSignature<I extends DuoIntegration>(
  ctx: AppContext,
  slots: RefusalSlots,
  result: Extract<AuthResult<I>, { ok: false }>,
  lookup: (ikey: string) => Promise<I | null>,
  request: { ip: string; userAgent: string | null },
): Promise<void> {
  const reason = refusalReason(result);
  if (!reason || !result.claimed) return;
  const now = ctx.clock.now();
  const slot = slots.take(result.claimed.ikey, reason, now);
  if (!slot.write) {
    metrics(ctx).duoSignatureRefusal(reason, 'throttled');
    return;
  }
  const integration = result.claimed.integration ?? (await lookup(result.claimed.ikey));
  if (!integration || !isApplication(integration)) return;
  await audit(ctx.db, now, { type: 'anonymous', id: null, firmId: integration.firmId, ip: request.ip, userAgent: request.userAgent }, {
    event: 'duo.signature_refused',
    firmId: integration.firmId,
    applicationId: integration.applicationId,
    details: { application: integration.name, reason, failure: result.failure, ...(slot.suppressed > 0 ? { suppressed: slot.suppressed } : {}) },
  });
  metrics(ctx).duoSignatureRefusal(reason, 'audited');
}
