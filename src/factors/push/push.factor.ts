import type { DbOrTx } from '../../db/database.js';
import { AppError } from '../../core/errors.js';
import type { FactorUser, LoginFactor } from '../factor.js';

export const PUSH_LABEL = 'Tessera Authenticator';
/** A push must be answered within this (issue 5.3). */
export const PUSH_TTL_MS = 60_000;
/** An activation code (QR code, link) works once, within this (issue 5.2). */
export const ACTIVATION_TTL_MS = 10 * 60_000;
/** Pushes pause this long after "It seemed fraudulent" (issue 5.6). */
export const FRAUD_PAUSE_MS = 20 * 60_000;

/** The user's active, activated devices (an authenticator of kind 'push' with a key). */
export function activeDevices(db: DbOrTx, user: FactorUser) {
  return db
    .selectFrom('authenticators')
    .innerJoin('push_devices', 'push_devices.authenticator_id', 'authenticators.id')
    .select(['authenticators.id', 'push_devices.web_push'])
    .where('authenticators.user_id', '=', user.id)
    .where('authenticators.firm_id', '=', user.firm_id)
    .where('authenticators.kind', '=', 'push')
    .where('authenticators.status', '=', 'active')
    .execute();
}

export async function pushPausedUntil(db: DbOrTx, user: FactorUser, now: number): Promise<number | null> {
  const row = await db.selectFrom('users').select('push_paused_until').where('id', '=', user.id).executeTakeFirst();
  const until = row?.push_paused_until ?? null;
  return until !== null && Number(until) > now ? Number(until) : null;
}

export const pushRefused = (attemptsLeft: number) =>
  new AppError('PUSH_NOT_APPROVED', undefined, { attemptsLeft });

/**
 * Push approvals from the Tessera Authenticator (reference 1.4.1). The answer itself comes
 * from the device (src/factors/push/device.service.ts); what the login "verifies" here is the id
 * of a push transaction of this very session that the device approved and no login took
 * yet, taken by one conditional UPDATE: an approval finishes exactly one login, once.
 * The device's offline passcodes (1.4.2) are the TOTP factor's (a totp_authenticators row
 * per push authenticator).
 */
export const pushFactor: LoginFactor = {
  method: 'push',
  async available(db, user, now = Date.now()) {
    // Operators have no Tessera Authenticator (a device belongs to firm accounts): no push.
    if (user.firm_id === null) return false;
    return (await activeDevices(db, user)).length > 0 && (await pushPausedUntil(db, user, now)) === null;
  },
  async verify(ctx, db, user, answer, attempt) {
    if (typeof answer !== 'string' || !attempt || user.firm_id === null) return { ok: false, reason: 'malformed' };
    const taken = await db
      .updateTable('push_transactions')
      .set({ completed_at: ctx.clock.now() })
      .where('id', '=', answer)
      .where('user_id', '=', user.id)
      .where('firm_id', '=', user.firm_id)
      .where('session_id', '=', attempt.sessionId)
      .where('status', '=', 'approved')
      .where('completed_at', 'is', null)
      .returning('answered_by')
      .executeTakeFirst();
    if (!taken) return { ok: false, reason: 'replay' };
    if (taken.answered_by) await db.updateTable('authenticators').set({ last_used_at: ctx.clock.now() }).where('id', '=', taken.answered_by).execute();
    return { ok: true, authenticatorId: taken.answered_by };
  },
  refusal: pushRefused,
  // push_devices (and the device's passcode secret) go with their authenticators (ON DELETE CASCADE);
  // a pending push of a reset user must not be approvable any more.
  async reset(db, { id: userId, firm_id: firmId }) {
    if (firmId === null) return;
    await db
      .updateTable('push_transactions')
      .set({ status: 'expired' })
      .where('firm_id', '=', firmId)
      .where('user_id', '=', userId)
      .where('status', '=', 'pending')
      .execute();
    await db.deleteFrom('device_activations').where('firm_id', '=', firmId).where('user_id', '=', userId).execute();
  },
};
