import { audit, type Actor } from '../../audit/audit.service.js';
import type { AppContext } from '../../context.js';
import { AppError, notFound } from '../../core/errors.js';
import { consumeChallenge } from './webauthn.challenges.js';
import {
  beginRegistration,
  checkRegistration,
  isChallengeProblem,
  storeCredential,
  type CeremonyReason,
  type RegistrationStart,
} from './webauthn.ceremony.js';
import type { RegistrationResponse } from './webauthn.schemas.js';
import { ownedBy, type FactorUser } from '../factor.js';
import { activateAuthenticator, alreadyConfirmed } from '../../core/activation.js';
import {
  activationSubject,
  assertMayBeginEnrollment,
  assertMayEnroll,
  completeEnrollment,
  firmNameOf,
  noteEnrollment,
  type EnrollmentConfirmed,
  type EnrollmentLogin,
  type Hold,
} from '../../core/enrollment.js';
import { assertNotLocked } from '../../core/lockout.js';
import { loadLoginPolicy } from '../../mfa-policy/mfa-login-policy.service.js';

export const webauthnInvalid = () =>
  new AppError('WEBAUTHN_INVALID');
export const challengeInvalid = () =>
  new AppError('CHALLENGE_INVALID');
export const credentialExists = () => new AppError('CREDENTIAL_EXISTS');
export const passkeysNotAllowed = () =>
  new AppError('PASSKEYS_NOT_ALLOWED');

/**
 * Which registrations may become passkeys (credentials that sign in without the password):
 * only one asked for explicitly as a passkey (its challenge says so; user verification is then
 * required), by a firm user whose firm allows passkey sign-in. An operator's key never is one.
 * Checked when the ceremony starts and again when it ends (the setting may change meanwhile).
 */
async function assertMayRegisterPasskey(ctx: AppContext, subject: FactorUser): Promise<void> {
  if (subject.firm_id === null || !(await loadLoginPolicy(ctx.db, subject.firm_id)).passkeysEnabled) throw passkeysNotAllowed();
}

/** What a refused registration answers: a stale challenge, a key registered already, or anything else "not verified". */
function refusalOf(reason: CeremonyReason): AppError {
  if (isChallengeProblem(reason)) return challengeInvalid();
  if (reason === 'credential_exists') return credentialExists();
  return webauthnInvalid();
}

/**
 * Starts a security-key (or passkey) enrollment, at first login or from My security: the
 * same rules as an authenticator app (a full session of an enrolled user must have passed a
 * second factor in this session).
 */
export async function beginWebAuthn(ctx: AppContext, login: EnrollmentLogin, input: { label: string; passkey?: boolean }): Promise<RegistrationStart> {
  const { subject, attempt } = login;
  await assertMayBeginEnrollment(ctx, login);
  assertNotLocked(subject, ctx.clock.now());
  if (input.passkey === true) await assertMayRegisterPasskey(ctx, subject);
  const firmName = await firmNameOf(ctx.db, subject);
  return ctx.db.transaction().execute(async (tx) => {
    const started = await beginRegistration(ctx, tx, {
      user: subject,
      firmName,
      attempt: { attemptId: attempt.id, sessionId: attempt.sessionId },
      label: input.label.trim(),
      passkey: input.passkey === true,
    });
    await noteEnrollment(tx, attempt.id, started.authenticatorId);
    return started;
  });
}

/**
 * Finishes a security-key enrollment, as a declared list of steps:
 *   1. may enrol        - as for an authenticator app; the pending key of this user, not confirmed yet;
 *   2. check            - the registration response against the live challenge of this session
 *                         (webauthn.ceremony.ts); a refusal is audited and changes nothing else;
 *   3. one transaction  - the challenge used up (conditional UPDATE), the credential stored
 *                         (unique id, else 409), the key activated (pending -> active), the seat
 *                         taken (none free: everything rolls back, 409 NO_SEAT), backup codes at the
 *                         first enrollment, the attempt completed and held by the door, audited `mfa.enrolled`.
 * A refused registration does not count toward the lockout: it guesses nothing.
 */
export async function confirmWebAuthn<T>(
  ctx: AppContext,
  login: EnrollmentLogin,
  actor: Actor,
  authenticatorId: string,
  response: RegistrationResponse,
  hold: Hold<T>,
): Promise<EnrollmentConfirmed<T>> {
  const { subject: user } = login;
  const firmId = user.firm_id;
  await assertMayEnroll(ctx, login);
  const authenticator = await ctx.db
    .selectFrom('authenticators')
    .select(['id', 'status', 'label'])
    .where('id', '=', authenticatorId)
    .where(ownedBy('authenticators', user))
    .where('kind', '=', 'webauthn')
    .executeTakeFirst();
  if (!authenticator) throw notFound('The security key');
  if (authenticator.status === 'active') throw alreadyConfirmed();
  assertNotLocked(user, ctx.clock.now());

  const checked = await checkRegistration(ctx, ctx.db, login.attempt.id, response);
  if (!checked.ok) {
    await audit(ctx.db, ctx.clock.now(), actor, {
      event: 'mfa.enrollment_refused',
      firmId,
      subjectType: firmId !== null ? 'user' : 'operator',
      subjectId: user.id,
      details: { kind: 'webauthn', authenticatorId, reason: checked.reason, ...(checked.detail ? { detail: checked.detail } : {}) },
    });
    throw refusalOf(checked.reason);
  }
  if (checked.passkey) await assertMayRegisterPasskey(ctx, user);

  return ctx.db.transaction().execute(async (tx) => {
    const now = ctx.clock.now();
    if (!(await consumeChallenge(tx, now, checked.challenge))) throw challengeInvalid();
    if (!(await storeCredential(ctx, tx, authenticatorId, checked))) throw credentialExists();
    const { backupCodes } = await activateAuthenticator(ctx, tx, activationSubject(user), actor, {
      authenticatorId,
      kind: 'webauthn',
      details: { passkey: checked.passkey, discoverable: checked.discoverable, userVerified: checked.userVerified, aaguid: checked.aaguid },
    });
    const { authentication, held } = await completeEnrollment(ctx, tx, login, actor, 'webauthn', hold);
    return { authentication, held, backupCodes };
  });
}
