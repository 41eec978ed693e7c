import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemActor, type Actor } from '../../src/audit/audit.service.js';
import { MINUTE, ManualClock } from '../../src/clock.js';
import { activateAuthenticator } from '../../src/core/activation.js';
import {
  OPERATOR_CHECKS,
  USER_CHECKS,
  amrOf,
  decideAfterPassword,
  decideOperatorAfterPassword,
  reasonMeaning,
  walkChecks,
  type Facts,
  type LoginReason,
} from '../../src/core/decision.js';
import { enrolledSql, isEnrolled } from '../../src/core/enrolled.js';
import { resetEnrollment } from '../../src/core/enrollment-reset.js';
import { recordBypass, seatAvailable } from '../../src/core/seats.js';
import type { User } from '../../src/directory/user.table.js';
import { FACTORS } from '../../src/factors/registry.js';
import { createFirm } from '../../src/firms/firm.service.js';
import { rememberBrowser } from '../../src/core/remembered-browsers.js';
import { hashPassword } from '../../src/core/passwords.js';
import { activateSubscription, addUser, auditEvents, enableMfaForStaff, enrollForTest, startHarness, type Harness } from '../support/harness.js';

/**
 * The login decision of src/core/ with no HTTP at all: each check of the declared list and its
 * reason, the one "enrolled" and its SQL twin, the seat, the one activation of every factor kind
 * and the one enrollment reset. Runs on SQLite, or on PostgreSQL with TESSERA_TEST_DATABASE_URL.
 */

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ clock: new ManualClock(Date.UTC(2026, 9, 5, 9, 0, 0)) });
});
afterAll(() => h?.close());

const actor: Actor = { ...systemActor, ip: '203.0.113.9', userAgent: 'core-test' };

/** A firm (no HTTP), MFA on for staff unless `mfa` is false, with `licences` seats. */
async function firm(o: { mfa?: boolean; licences?: number } = {}) {
  const slug = `core-${randomUUID().slice(0, 8)}`;
  const { firm } = await h.ctx.db.transaction().execute((tx) => createFirm(h.ctx, tx, systemActor, { name: `Firm ${slug}`, slug, superuser: { name: 'Sam', email: `sam@${slug}.example` } }));
  if (o.mfa !== false) {
    await activateSubscription(h, firm.id, o.licences ?? 5);
    await enableMfaForStaff(h, firm.id);
  }
  return firm;
}

async function caseManager(firmId: string): Promise<User> {
  const view = await addUser(h, firmId, { name: 'Casey Manager', email: `casey-${randomUUID().slice(0, 8)}@example.com`, kind: 'case_manager' }, null);
  return h.ctx.db.selectFrom('users').selectAll().where('id', '=', view.id).executeTakeFirstOrThrow();
}

async function operator(): Promise<{ id: string; firm_id: null; name: string; email: string }> {
  const id = randomUUID();
  const email = `op-${id.slice(0, 8)}@platform.example`;
  await h.ctx.db.insertInto('operators').values({ id, email, name: 'Olga', password_hash: await hashPassword('x'), status: 'active', created_at: h.clock.now() }).execute();
  return { id, firm_id: null, name: 'Olga', email };
}

const decide = (user: User, rememberToken?: string) => h.ctx.db.transaction().execute((tx) => decideAfterPassword(h.ctx, tx, user, rememberToken));

describe('the decision after the password, one reason per check (no HTTP)', () => {
  it('not_covered: the firm has MFA for nobody, or not for this kind of user', async () => {
    const f = await firm({ mfa: false });
    expect(await decide(await caseManager(f.id))).toEqual({ verdict: 'full', reason: 'not_covered' });
    const on = await firm();
    const corp = await addUser(h, on.id, { name: 'Cora Corp', email: `cora-${randomUUID().slice(0, 8)}@example.com`, kind: 'vendor_case_manager' }, null);
    await h.ctx.db.updateTable('mfa_settings').set({ vendor_case_managers: 0 }).where('firm_id', '=', on.id).execute();
    const row = await h.ctx.db.selectFrom('users').selectAll().where('id', '=', corp.id).executeTakeFirstOrThrow();
    expect(await decide(row)).toEqual({ verdict: 'full', reason: 'not_covered' });
  });

  it('seat_free: covered, not enrolled, a seat is free: enrol now', async () => {
    const f = await firm({ licences: 1 });
    const u = await caseManager(f.id);
    expect(await seatAvailable(h.ctx.db, f.id)).toBe(true);
    expect(await decide(u)).toEqual({ verdict: 'enroll', reason: 'seat_free' });
  });

  it('no_seat_bypass: covered, not enrolled, no seat free: the password alone, and recordBypass counts and audits it', async () => {
    const f = await firm({ licences: 1 });
    const [taker, late] = [await caseManager(f.id), await caseManager(f.id)];
    expect(await enrollForTest(h, f.id, taker.id)).toBe('taken');
    expect(await seatAvailable(h.ctx.db, f.id)).toBe(false);
    expect(await decide(late)).toEqual({ verdict: 'full', reason: 'no_seat_bypass' });
    await recordBypass(h.ctx, h.ctx.db, actor, late.id, f.id);
    expect((await h.ctx.db.selectFrom('subscriptions').select('bypass_logins').where('firm_id', '=', f.id).executeTakeFirstOrThrow()).bypass_logins).toBe(1);
    expect(await auditEvents(h, { event: 'login.mfa_bypassed_no_seat', subjectId: late.id })).toHaveLength(1);
  });

  it('enrolled: the second factor, whatever the seat count (an enrolled user is never let through on the password)', async () => {
    const f = await firm({ licences: 1 });
    const u = await caseManager(f.id);
    await enrollForTest(h, f.id, u.id);
    expect(await seatAvailable(h.ctx.db, f.id)).toBe(false);
    expect(await decide(u)).toEqual({ verdict: 'second_factor', reason: 'enrolled' });
    // A token that is not a live remembered browser of this user changes nothing.
    expect(await decide(u, 'not-a-token')).toEqual({ verdict: 'second_factor', reason: 'enrolled' });
  });

  it('remembered_browser: enrolled, and the browser is remembered; locked: the same browser while the second factor is locked is refused', async () => {
    const f = await firm();
    const u = await caseManager(f.id);
    const other = await caseManager(f.id);
    await enrollForTest(h, f.id, u.id);
    await enrollForTest(h, f.id, other.id);
    const token = await rememberBrowser(h.ctx, h.ctx.db, u, 30, 'core-test');
    expect(await decide(u, token)).toEqual({ verdict: 'full', reason: 'remembered_browser' });
    // Another user's remembered browser is not this user's.
    expect(await decide(other, token)).toEqual({ verdict: 'second_factor', reason: 'enrolled' });
    await h.ctx.db.updateTable('users').set({ mfa_locked_until: h.clock.now() + 10 * MINUTE }).where('id', '=', u.id).execute();
    expect(await decide(u, token)).toEqual({ verdict: 'refused', reason: 'locked' });
    // Without the remembered browser the lock is the second-factor screen's to show.
    expect(await decide(u)).toEqual({ verdict: 'second_factor', reason: 'enrolled' });
    h.clock.advance(11 * MINUTE);
    expect(await decide(u, token)).toEqual({ verdict: 'full', reason: 'remembered_browser' });
  });

  it('operators: always covered, no seat: enrolled -> second factor, else enrol', async () => {
    const op = await operator();
    const run = () => h.ctx.db.transaction().execute((tx) => decideOperatorAfterPassword(h.ctx, tx, op.id));
    expect(await run()).toEqual({ verdict: 'enroll', reason: 'not_enrolled' });
    await h.ctx.db
      .insertInto('authenticators')
      .values({ id: randomUUID(), firm_id: null, user_id: null, operator_id: op.id, kind: 'totp', label: 'app', status: 'active', created_at: h.clock.now(), confirmed_at: h.clock.now(), last_used_at: null })
      .execute();
    expect(await run()).toEqual({ verdict: 'second_factor', reason: 'enrolled' });
  });

  it('paused: after a fraud report push is not among the factors a user can answer with; the others are', async () => {
    const f = await firm();
    const u = await caseManager(f.id);
    await enrollForTest(h, f.id, u.id, 'push');
    const authenticator = await h.ctx.db.selectFrom('authenticators').select('id').where('user_id', '=', u.id).executeTakeFirstOrThrow();
    await h.ctx.db
      .insertInto('push_devices')
      .values({ authenticator_id: authenticator.id, public_key: '{}', platform: null, web_push: null, created_at: h.clock.now(), last_seen_at: h.clock.now() })
      .execute();
    const push = FACTORS.find((x) => x.method === 'push')!;
    expect(await push.available(h.ctx.db, u, h.clock.now())).toBe(true);
    await h.ctx.db.updateTable('users').set({ push_paused_until: h.clock.now() + 20 * MINUTE }).where('id', '=', u.id).execute();
    expect(await push.available(h.ctx.db, u, h.clock.now())).toBe(false);
    expect(reasonMeaning('push_paused').duoStatusMsg).toMatch(/paused/);
  });

  it('the checks are walked in order, the first that applies decides, and a fact is read only when a check needs it', async () => {
    const read: string[] = [];
    const fact = (name: string, value: boolean) => async () => (read.push(name), value);
    const facts = (o: Partial<Record<keyof Facts, boolean>>): Facts => ({
      covered: fact('covered', o.covered ?? true),
      enrolled: fact('enrolled', o.enrolled ?? true),
      seatFree: fact('seatFree', o.seatFree ?? true),
      remembered: fact('remembered', o.remembered ?? false),
      unlocked: fact('unlocked', o.unlocked ?? true),
    });
    expect(await walkChecks(USER_CHECKS, facts({ covered: false }))).toEqual({ verdict: 'full', reason: 'not_covered' });
    expect(read).toEqual(['covered']);
    const table: [Partial<Record<keyof Facts, boolean>>, string][] = [
      [{ enrolled: false, seatFree: false }, 'no_seat_bypass'],
      [{ enrolled: false, seatFree: true }, 'seat_free'],
      [{ enrolled: true, seatFree: false, remembered: true, unlocked: false }, 'locked'],
      [{ enrolled: true, remembered: true }, 'remembered_browser'],
      [{ enrolled: true, seatFree: false }, 'enrolled'],
    ];
    for (const [given, reason] of table) expect((await walkChecks(USER_CHECKS, facts(given))).reason, JSON.stringify(given)).toBe(reason);
    expect(USER_CHECKS.map((c) => c.reason)).toEqual(['not_covered', 'no_seat_bypass', 'seat_free', 'locked', 'remembered_browser', 'enrolled']);
    expect(OPERATOR_CHECKS.map((c) => c.reason)).toEqual(['enrolled', 'not_enrolled']);
  });

  it('each reason means something to every door: the audit reason, a Duo status_msg, and the amr of a login it lets through', () => {
    const reasons: LoginReason[] = ['not_covered', 'no_seat_bypass', 'seat_free', 'not_enrolled', 'locked', 'remembered_browser', 'enrolled', 'push_paused'];
    for (const r of reasons) {
      const m = reasonMeaning(r);
      expect(m.audit).toBe(r);
      expect(m.duoStatusMsg.length).toBeGreaterThan(10);
    }
    expect(reasonMeaning('not_covered').amr).toEqual(['pwd']);
    expect(reasonMeaning('enrolled').amr).toBeNull();
    expect(amrOf(['password', 'totp'])).toEqual(['pwd', 'otp', 'mfa']);
    expect(amrOf(['password', 'webauthn'])).toEqual(['pwd', 'hwk', 'mfa']);
    expect(amrOf(['password', 'push'])).toEqual(['pwd', 'swk', 'mfa']);
    expect(amrOf(['password'])).toEqual(['pwd']);
  });
});

describe('enrolled: one definition and its SQL twin agree', () => {
  it('a firm user is enrolled while they hold a seat; an operator while they have an active authenticator', async () => {
    const f = await firm();
    const [a, b] = [await caseManager(f.id), await caseManager(f.id)];
    await enrollForTest(h, f.id, a.id);
    const sqlSays = async (id: string) =>
      Boolean((await h.ctx.db.selectFrom('users').select((eb) => enrolledSql(eb).as('e')).where('id', '=', id).executeTakeFirstOrThrow()).e);
    expect([await isEnrolled(h.ctx.db, a), await sqlSays(a.id)]).toEqual([true, true]);
    expect([await isEnrolled(h.ctx.db, b), await sqlSays(b.id)]).toEqual([false, false]);
    // The seat belongs to the user's own firm: the same id under another firm is not enrolled.
    expect(await isEnrolled(h.ctx.db, { id: a.id, firm_id: (await firm()).id })).toBe(false);
    const op = await operator();
    expect(await isEnrolled(h.ctx.db, op)).toBe(false);
  });
});

describe('one activateAuthenticator for every kind', () => {
  const pending = async (owner: { id: string; firm_id: string | null }, kind: 'totp' | 'webauthn' | 'push') => {
    const id = randomUUID();
    await h.ctx.db
      .insertInto('authenticators')
      .values({
        id,
        firm_id: owner.firm_id,
        user_id: owner.firm_id === null ? null : owner.id,
        operator_id: owner.firm_id === null ? owner.id : null,
        kind,
        label: kind,
        status: 'pending',
        created_at: h.clock.now(),
        confirmed_at: null,
        last_used_at: null,
      })
      .execute();
    return id;
  };

  it.each(['totp', 'webauthn', 'push'] as const)('%s: active, the seat taken, audited, the owner mailed; backup codes at the first enrollment unless the login completes later', async (kind) => {
    const f = await firm();
    const u = await caseManager(f.id);
    const id = await pending(u, kind);
    const completion = kind === 'push' ? 'at_completion' : 'now';
    const result = await h.ctx.db.transaction().execute((tx) => activateAuthenticator(h.ctx, tx, { user: u, firm: f }, actor, { authenticatorId: id, kind, completion }));
    expect(result.firstEnrollment).toBe(true);
    expect(result.backupCodes === null).toBe(kind === 'push');
    expect(await isEnrolled(h.ctx.db, u)).toBe(true);
    expect((await h.ctx.db.selectFrom('authenticators').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status).toBe('active');
    expect((await auditEvents(h, { event: 'mfa.enrolled', subjectId: u.id })).at(-1)?.details).toMatchObject({ kind, authenticatorId: id, firstEnrollment: true });
    // A second confirmation finds nothing to activate.
    await expect(h.ctx.db.transaction().execute((tx) => activateAuthenticator(h.ctx, tx, { user: u, firm: f }, actor, { authenticatorId: id, kind }))).rejects.toMatchObject({ code: 'ALREADY_CONFIRMED' });
    // A second authenticator is not a first enrollment and takes no second seat.
    const second = await pending(u, 'totp');
    const again = await h.ctx.db.transaction().execute((tx) => activateAuthenticator(h.ctx, tx, { user: u, firm: f }, actor, { authenticatorId: second, kind: 'totp' }));
    expect(again).toEqual({ firstEnrollment: false, backupCodes: null });
    expect((await h.ctx.db.selectFrom('subscriptions').select('seats_used').where('firm_id', '=', f.id).executeTakeFirstOrThrow()).seats_used).toBe(1);
  });

  it('no seat free: NO_SEAT and nothing activated; an operator takes no seat', async () => {
    const f = await firm({ licences: 1 });
    const [taker, late] = [await caseManager(f.id), await caseManager(f.id)];
    await enrollForTest(h, f.id, taker.id);
    const id = await pending(late, 'totp');
    await expect(h.ctx.db.transaction().execute((tx) => activateAuthenticator(h.ctx, tx, { user: late, firm: f }, actor, { authenticatorId: id, kind: 'totp' }))).rejects.toMatchObject({ code: 'NO_SEAT' });
    expect((await h.ctx.db.selectFrom('authenticators').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status).toBe('pending');
    const op = await operator();
    const opKey = await pending(op, 'webauthn');
    const done = await h.ctx.db.transaction().execute((tx) => activateAuthenticator(h.ctx, tx, { user: op, firm: null }, actor, { authenticatorId: opKey, kind: 'webauthn' }));
    expect(done.firstEnrollment).toBe(true);
    expect(done.backupCodes).toHaveLength(10);
    expect(await isEnrolled(h.ctx.db, op)).toBe(true);
  });
});

describe('one enrollment reset for users and operators', () => {
  it('a user: authenticators, backup codes, remembered browsers, the seat and the sessions go; audited and (an admin reset) mailed', async () => {
    const f = await firm();
    const u = await caseManager(f.id);
    await enrollForTest(h, f.id, u.id);
    await rememberBrowser(h.ctx, h.ctx.db, u, 30, null);
    expect(await h.ctx.db.transaction().execute((tx) => resetEnrollment(h.ctx, tx, actor, u, 'admin_reset'))).toBe(true);
    expect(await isEnrolled(h.ctx.db, u)).toBe(false);
    expect(await h.ctx.db.selectFrom('authenticators').select('id').where('user_id', '=', u.id).execute()).toEqual([]);
    expect(await h.ctx.db.selectFrom('remembered_browsers').select('id').where('user_id', '=', u.id).execute()).toEqual([]);
    expect((await auditEvents(h, { event: 'mfa.enrollment_reset', subjectId: u.id })).at(-1)?.details).toEqual({ reason: 'admin_reset', seatFreed: true, authenticatorsRemoved: 1 });
    // Nothing enrolled: nothing to do, nothing audited.
    expect(await h.ctx.db.transaction().execute((tx) => resetEnrollment(h.ctx, tx, actor, u, 'admin_reset'))).toBe(false);
    expect(await auditEvents(h, { event: 'mfa.enrollment_reset', subjectId: u.id })).toHaveLength(1);
    expect(await decide(u)).toEqual({ verdict: 'enroll', reason: 'seat_free' });
  });

  it('an operator: authenticators go, the lock is lifted, audited and mailed; the next login enrols', async () => {
    const op = await operator();
    await h.ctx.db
      .insertInto('authenticators')
      .values({ id: randomUUID(), firm_id: null, user_id: null, operator_id: op.id, kind: 'totp', label: 'app', status: 'active', created_at: h.clock.now(), confirmed_at: h.clock.now(), last_used_at: null })
      .execute();
    await h.ctx.db.updateTable('operators').set({ mfa_failed_count: 3, mfa_locked_until: h.clock.now() + MINUTE }).where('id', '=', op.id).execute();
    await h.ctx.db.transaction().execute((tx) => resetEnrollment(h.ctx, tx, actor, op, 'operator_reset'));
    expect(await h.ctx.db.selectFrom('operators').select(['mfa_failed_count', 'mfa_locked_until']).where('id', '=', op.id).executeTakeFirstOrThrow()).toEqual({ mfa_failed_count: 0, mfa_locked_until: null });
    expect((await auditEvents(h, { event: 'mfa.enrollment_reset', subjectId: op.id })).at(-1)?.details).toEqual({ reason: 'operator_reset', authenticatorsRemoved: 1 });
    expect(await h.ctx.db.transaction().execute((tx) => decideOperatorAfterPassword(h.ctx, tx, op.id))).toEqual({ verdict: 'enroll', reason: 'not_enrolled' });
  });
});
