import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemActor, type Actor } from '../../src/audit/audit.service.js';
import { MINUTE, ManualClock } from '../../src/clock.js';
import { completeAttempt } from '../../src/core/completion.js';
import { isEnrolled } from '../../src/core/enrolled.js';
import { openAttempt, pruneLoginAttempts } from '../../src/core/login-attempt.js';
import type { User } from '../../src/directory/user.table.js';
import { issueBackupCodes } from '../../src/factors/backup-codes/backup-codes.factor.js';
import { beginAuthentication } from '../../src/factors/webauthn/webauthn.ceremony.js';
import type { AuthenticationResponse, RegistrationResponse } from '../../src/factors/webauthn/webauthn.schemas.js';
import { createFirm } from '../../src/firms/firm.service.js';
import type { PendingLogin } from '../../src/http/auth.js';
import { beginTotp, confirmTotp } from '../../src/factors/totp/totp-enrollment.service.js';
import { verifySecondFactor } from '../../src/mfa/second-factor.service.js';
import { coreLogin, sessionHold } from '../../src/mfa/pending-login.js';
import { beginWebAuthn, confirmWebAuthn } from '../../src/factors/webauthn/webauthn-enrollment.service.js';
import { createSession, hashToken } from '../../src/sessions/session.service.js';
import { activateSubscription, addUser, auditEvents, enableMfaForStaff, startHarness, totpCode, type Harness } from '../support/harness.js';
import { SoftAuthenticator } from '../support/soft-authenticator.js';

/**
 * Login attempts (src/core/login-attempt.ts) and each factor's verification and enrollment
 * through the services, with no HTTP: the attempt a login binds to, its completion as an
 * Authentication (amr, auth time, how the second factor was satisfied), and that ending it voids
 * what was bound. Runs on SQLite, or on PostgreSQL with TESSERA_TEST_DATABASE_URL.
 */

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ clock: new ManualClock(Date.UTC(2026, 9, 6, 9, 0, 0)) });
});
afterAll(() => h?.close());

const actor: Actor = { ...systemActor, ip: '203.0.113.10', userAgent: 'core-test' };

async function covered(): Promise<{ user: User; firm: { id: string; slug: string; name: string; created_at: number } }> {
  const slug = `att-${randomUUID().slice(0, 8)}`;
  const { firm } = await h.ctx.db.transaction().execute((tx) => createFirm(h.ctx, tx, systemActor, { name: `Firm ${slug}`, slug, superuser: { name: 'Sam', email: `sam@${slug}.example` } }));
  await activateSubscription(h, firm.id, 5);
  await enableMfaForStaff(h, firm.id);
  const view = await addUser(h, firm.id, { name: 'Casey', email: `casey-${slug}@example.com`, kind: 'case_manager' }, null);
  const user = await h.ctx.db.selectFrom('users').selectAll().where('id', '=', view.id).executeTakeFirstOrThrow();
  const f = await h.ctx.db.selectFrom('firms').selectAll().where('id', '=', firm.id).executeTakeFirstOrThrow();
  return { user, firm: f };
}

/** A web door's pending login made directly: the pending session and the attempt opened with it, as the password step does. */
async function pendingLogin(who: { user: User; firm: PendingLogin['firm'] }, stage: 'second_factor' | 'enroll'): Promise<PendingLogin> {
  return h.ctx.db.transaction().execute(async (tx) => {
    const token = await createSession(h.ctx, tx, { principal: 'user', userId: who.user.id, firmId: who.firm.id, stage, lifetimeMs: 10 * MINUTE, ip: actor.ip, userAgent: actor.userAgent });
    const session = await tx.selectFrom('sessions').selectAll().where('id', '=', hashToken(token)).executeTakeFirstOrThrow();
    const attempt = await openAttempt(h.ctx, tx, { owner: who.user, stage, door: 'web', sessionId: session.id, expiresAt: Number(session.expires_at) });
    const user = await tx.selectFrom('users').selectAll().where('id', '=', who.user.id).executeTakeFirstOrThrow();
    return { session, attempt, user, firm: who.firm };
  });
}

const attemptRow = (id: string) => h.ctx.db.selectFrom('login_attempts').selectAll().where('id', '=', id).executeTakeFirst();

describe('a login attempt', () => {
  it('is a row of the core with who, stage, door, application and expiry; it ends with its web session', async () => {
    const who = await covered();
    const pending = await pendingLogin(who, 'second_factor');
    expect(pending.attempt).toMatchObject({ subject: { type: 'user', id: who.user.id }, firmId: who.firm.id, stage: 'second_factor', door: 'web', applicationId: null, sessionId: pending.session.id });
    await h.ctx.db.deleteFrom('sessions').where('id', '=', pending.session.id).execute();
    expect(await attemptRow(pending.attempt.id)).toBeUndefined();
  });

  it('a door without a browser opens one with no session; it lives until its expiry and housekeeping prunes it', async () => {
    const who = await covered();
    const attempt = await openAttempt(h.ctx, h.ctx.db, { owner: who.user, stage: 'second_factor', door: 'duo', expiresAt: h.clock.now() + 5 * MINUTE });
    expect(attempt).toMatchObject({ door: 'duo', sessionId: null });
    await pruneLoginAttempts(h.ctx.db, h.clock.now());
    expect(await attemptRow(attempt.id)).toBeDefined();
    await pruneLoginAttempts(h.ctx.db, h.clock.now() + 5 * MINUTE);
    expect(await attemptRow(attempt.id)).toBeUndefined();
  });

  it('completes once, into an Authentication; a second completion of the same attempt is refused', async () => {
    const who = await covered();
    const attempt = await openAttempt(h.ctx, h.ctx.db, { owner: who.user, stage: 'second_factor', door: 'oidc', expiresAt: h.clock.now() + 5 * MINUTE });
    const auth = await completeAttempt(h.ctx, h.ctx.db, attempt, actor, { satisfied: 'verified', method: 'webauthn' });
    expect(auth).toEqual({
      subject: { type: 'user', id: who.user.id },
      firmId: who.firm.id,
      amr: ['pwd', 'hwk', 'mfa'],
      authTime: h.clock.now(),
      secondFactor: { satisfied: 'verified', method: 'webauthn' },
      stepUp: false,
      door: 'oidc',
      applicationId: null,
      signsIn: true,
    });
    await expect(completeAttempt(h.ctx, h.ctx.db, attempt, actor, { satisfied: 'verified', method: 'webauthn' })).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    const bypass = await openAttempt(h.ctx, h.ctx.db, { owner: who.user, stage: 'enroll', door: 'oidc', expiresAt: h.clock.now() + 5 * MINUTE });
    expect(await completeAttempt(h.ctx, h.ctx.db, bypass, actor, { satisfied: 'not_needed', reason: 'no_seat_bypass' })).toMatchObject({ amr: ['pwd'], secondFactor: { satisfied: 'not_needed', reason: 'no_seat_bypass' }, signsIn: true });
    expect((await auditEvents(h, { event: 'login.succeeded', subjectId: who.user.id })).at(-1)?.details).toMatchObject({ factors: ['password'], reason: 'no_seat_bypass' });
    // An enrollment the Duo door opened (an application's enroll link) signs in nowhere: not a login.succeeded.
    const signedIn = (await auditEvents(h, { event: 'login.succeeded', subjectId: who.user.id })).length;
    const portal = await openAttempt(h.ctx, h.ctx.db, { owner: who.user, stage: 'enroll', door: 'duo', expiresAt: h.clock.now() + 5 * MINUTE });
    expect(await completeAttempt(h.ctx, h.ctx.db, portal, actor, { satisfied: 'enrolled', method: 'totp' })).toMatchObject({ door: 'duo', signsIn: false });
    expect(await auditEvents(h, { event: 'login.succeeded', subjectId: who.user.id })).toHaveLength(signedIn);
    expect((await auditEvents(h, { event: 'duo.enrollment_completed', subjectId: who.user.id })).at(-1)?.details).toMatchObject({ method: 'totp', signedIn: false });
  });
});

describe('each factor, enrolled and verified through the services, bound to the attempt', () => {
  it('authenticator app: begin and confirm finish the enrollment login; a passcode and a backup code finish the next', async () => {
    const who = await covered();
    const enrolling = await pendingLogin(who, 'enroll');
    const begun = await beginTotp(h.ctx, coreLogin(enrolling));
    const confirmed = await confirmTotp(h.ctx, coreLogin(enrolling), actor, begun.authenticatorId, { code: totpCode(h, begun.secret) }, sessionHold(h.ctx, enrolling, actor));
    expect(confirmed.backupCodes).toHaveLength(10);
    expect(await isEnrolled(h.ctx.db, who.user)).toBe(true);
    // The enrollment login is over: its attempt is gone.
    expect(await attemptRow(enrolling.attempt.id)).toBeUndefined();

    h.clock.advance(MINUTE);
    const next = await pendingLogin(who, 'second_factor');
    const wrong = verifySecondFactor(h.ctx, next, actor, { method: 'totp', answer: '000000' });
    await expect(wrong).rejects.toMatchObject({ code: 'INVALID_CODE' });
    const ok = await verifySecondFactor(h.ctx, next, actor, { method: 'totp', answer: totpCode(h, begun.secret) });
    expect(typeof ok.token).toBe('string');
    expect(await attemptRow(next.attempt.id)).toBeUndefined();

    const third = await pendingLogin(who, 'second_factor');
    await verifySecondFactor(h.ctx, third, actor, { method: 'backup_code', answer: confirmed.backupCodes![0] });
    expect((await auditEvents(h, { event: 'login.succeeded', subjectId: who.user.id })).at(-1)?.details).toMatchObject({ factors: ['password', 'backup_code'] });
  });

  it("security key: the registration and the assertion answer only the attempt's own challenge", async () => {
    const who = await covered();
    const key = new SoftAuthenticator({ origin: h.ctx.config.publicUrl.origin });
    const enrolling = await pendingLogin(who, 'enroll');
    const begun = await beginWebAuthn(h.ctx, coreLogin(enrolling), { label: 'YubiKey' });
    const { response, credential } = key.register(begun.options as never);
    // Another attempt of the same user cannot use this ceremony.
    const other = await pendingLogin(who, 'enroll');
    await expect(confirmWebAuthn(h.ctx, coreLogin(other), actor, begun.authenticatorId, response as unknown as RegistrationResponse, sessionHold(h.ctx, other, actor))).rejects.toMatchObject({ code: 'CHALLENGE_INVALID' });
    const confirmed = await confirmWebAuthn(h.ctx, coreLogin(enrolling), actor, begun.authenticatorId, response as unknown as RegistrationResponse, sessionHold(h.ctx, enrolling, actor));
    expect(confirmed.backupCodes).toHaveLength(10);

    const login = await pendingLogin(who, 'second_factor');
    const started = await h.ctx.db.transaction().execute((tx) => beginAuthentication(h.ctx, tx, { owner: who.user, attempt: { attemptId: login.attempt.id, sessionId: login.session.id } }));
    const assertion = key.assert(started.options as never, credential) as unknown as AuthenticationResponse;
    const elsewhere = await pendingLogin(who, 'second_factor');
    await expect(verifySecondFactor(h.ctx, elsewhere, actor, { method: 'webauthn', answer: assertion })).rejects.toMatchObject({ code: 'WEBAUTHN_FAILED' });
    await verifySecondFactor(h.ctx, login, actor, { method: 'webauthn', answer: assertion });
    expect((await auditEvents(h, { event: 'login.succeeded', subjectId: who.user.id })).at(-1)?.details).toMatchObject({ factors: ['password', 'webauthn'] });
  });

  it("push: an approved push finishes only the attempt that sent it, once; ending the attempt voids it", async () => {
    const who = await covered();
    await issueBackupCodes(h.ctx, h.ctx.db, who.user);
    const login = await pendingLogin(who, 'second_factor');
    const approved = async (attemptId: string) => {
      const id = randomUUID();
      await h.ctx.db
        .insertInto('push_transactions')
        .values({ id, firm_id: who.firm.id, user_id: who.user.id, session_id: login.session.id, attempt_id: attemptId, status: 'approved', number: '123', created_at: h.clock.now(), expires_at: h.clock.now() + MINUTE, answered_at: h.clock.now(), answered_by: null, completed_at: null, ip: null, user_agent: null, context: '{}' })
        .execute();
      return id;
    };
    const push = await approved(login.attempt.id);
    const elsewhere = await pendingLogin(who, 'second_factor');
    await expect(verifySecondFactor(h.ctx, elsewhere, actor, { method: 'push', answer: push })).rejects.toMatchObject({ code: 'PUSH_NOT_APPROVED' });
    await verifySecondFactor(h.ctx, login, actor, { method: 'push', answer: push });
    expect((await auditEvents(h, { event: 'login.succeeded', subjectId: who.user.id })).at(-1)?.details).toMatchObject({ factors: ['password', 'push'] });
    // An approval for an attempt that ended (its session logged out) finishes nothing.
    const later = await pendingLogin(who, 'second_factor');
    const orphan = await approved(later.attempt.id);
    await h.ctx.db.deleteFrom('sessions').where('id', '=', later.session.id).execute();
    const retry = await pendingLogin(who, 'second_factor');
    await expect(verifySecondFactor(h.ctx, retry, actor, { method: 'push', answer: orphan })).rejects.toMatchObject({ code: 'PUSH_NOT_APPROVED' });
  });
});
