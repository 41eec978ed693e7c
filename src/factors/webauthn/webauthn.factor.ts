import { AppError } from '../../core/errors.js';
import { ownedBy, type LoginFactor } from '../factor.js';
import { checkAssertion, recordAssertion, reportCounterRegression } from './webauthn.ceremony.js';
import type { AuthenticationResponse } from './webauthn.schemas.js';

/** The one answer to every refused security key (forged, foreign, replayed, cloned): it never says which. */
export const webauthnFailed = (attemptsLeft: number) =>
  new AppError('WEBAUTHN_FAILED', undefined, { attemptsLeft });

/** The route validated the shape (AuthenticationResponseSchema); this only guards the registry's `unknown`. */
const isAssertion = (answer: unknown): answer is AuthenticationResponse =>
  typeof answer === 'object' && answer !== null && typeof (answer as { response?: unknown }).response === 'object';

/**
 * Security keys (WebAuthn / FIDO2, reference section 2) as a second factor. The ceremony
 * itself is in webauthn.ceremony.ts; this is its place in the registry: an assertion of one
 * of the user's own active keys, over a challenge of this very session, user presence
 * required, user verification preferred (not required: many keys have no PIN).
 */
export const webauthnFactor: LoginFactor = {
  method: 'webauthn',
  async available(db, user) {
    const row = await db
      .selectFrom('authenticators')
      .innerJoin('webauthn_credentials', 'webauthn_credentials.authenticator_id', 'authenticators.id')
      .select('authenticators.id')
      .where(ownedBy('authenticators', user))
      .where('authenticators.kind', '=', 'webauthn')
      .where('authenticators.status', '=', 'active')
      .executeTakeFirst();
    return row !== undefined;
  },
  async verify(ctx, db, user, answer, attempt) {
    if (!isAssertion(answer) || !attempt) return { ok: false, reason: 'malformed' };
    const checked = await checkAssertion(ctx, db, {
      response: answer,
      challenge: { sessionId: attempt.sessionId },
      owner: user,
      requireUserVerification: false,
    });
    if (!checked.ok) {
      if (checked.reason === 'counter_regression' && checked.credential) await reportCounterRegression(ctx, db, attempt.actor, checked.credential, checked.newCounter);
      return { ok: false, reason: checked.reason, ...(checked.detail ? { detail: checked.detail } : {}) };
    }
    const recorded = await recordAssertion(ctx, db, checked);
    if (recorded === 'counter_regression') await reportCounterRegression(ctx, db, attempt.actor, checked.credential, checked.newCounter);
    if (recorded !== 'ok') return { ok: false, reason: recorded };
    return { ok: true, authenticatorId: checked.credential.authenticator_id };
  },
  refusal: webauthnFailed,
  // webauthn_credentials rows go with their authenticators (ON DELETE CASCADE).
  async reset() {},
};
