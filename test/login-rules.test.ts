import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.js';
import { hashPassword } from '../src/core/passwords.js';
import { DOORS_ENV, DRIVERS, type DoorDriver, type Login, type Refused } from './support/doors.js';
import { freshCode, pushUser, totpUser, wrongCode } from './support/factors.js';
import { LOGIN_POLICY, api, mailsTo, mfaFirm, person, type MfaFirmOptions } from './support/fixtures.js';
import { PASSWORD, auditEvents, enrolledOperator, startHarness, type Harness, type TestFirm } from './support/harness.js';

/**
 * The reference's login rules (A.2.x, sections 1-2) as one table, run against the core (no HTTP)
 * and then through each front door (test/support/doors.ts): the same row, the same outcome,
 * whichever way the login comes in. The audit entries are the core's, so each row also checks
 * that the door reached the core's decision rather than a copy of it (the Duo door's preauth is
 * audited as `duo.preauth` with the core's reason; its /auth ends in the core's completion). Rows
 * a door cannot express are left out of its table by its `supports` (`needs` below), never
 * skipped, each for a reason:
 *   operators          the OIDC and Duo doors sign a firm's users in to the firm's applications;
 *                      an operator belongs to no firm;
 *   rememberedBrowser  the Duo door has no browser to remember (its caller is an application);
 *   password           the Duo door checks no password: the application did its own primary
 *                      authentication before preauth, so the rows of a wrong password, and of
 *                      a disabled user refused exactly like one, are not its rows (its answer to
 *                      a disabled user, `deny`, is in test/duo/auth-api.test.ts).
 * Where a door answers differently by design, the row asks the door (test/support/doors.ts): what
 * it answers for a user it does not know (`unknownUser`), whether a refused code counts the
 * attempts left (`supports.attemptsLeft`), where a locked second factor is refused
 * (`lockRefusedAt`), and which audit event records the decision after the password (`audited`).
 * Each firm is made with `firmFor(door)`: what the door needs of it (the OIDC door: the firm's
 * application), set up before the firm enables MFA.
 * Runs on SQLite, or on PostgreSQL with TESSERA_TEST_DATABASE_URL.
 */

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: DOORS_ENV, clock: new ManualClock(Date.UTC(2026, 10, 2, 9, 0, 0)) });
});
afterAll(() => h?.close());

/** A firm that uses MFA, with what the door needs of it (the OIDC door: the firm's application). */
const firmFor = (door: DoorDriver, o: MfaFirmOptions = {}) => mfaFirm(h, { ...o, setUp: door.setUpFirm && ((f) => door.setUpFirm!(h, f)) });

const at = (f: TestFirm, user: { email: string }, password = PASSWORD): Login => ({ realm: 'firm', email: user.email, firmSlug: f.firm.slug, password });

/** The last login decision audited for this subject: the core's (password step or completion), or the Duo door's preauth. */
async function lastLogin(subjectId: string) {
  const events = (await auditEvents(h, { subjectId })).filter((e) => e.event.startsWith('login.') || e.event === 'duo.preauth');
  return events.at(-1)!;
}

/** A refused code, with the attempts left where the door says them. */
const invalidCode = (door: DoorDriver, attemptsLeft: number): Refused => ({ result: 'refused', code: 'INVALID_CODE', ...(door.supports.attemptsLeft ? { attemptsLeft } : {}) });

interface Rule {
  rule: string;
  needs?: (keyof DoorDriver['supports'])[];
  run(door: DoorDriver): Promise<void>;
}

const RULES: Rule[] = [
  {
    rule: 'A.2.1-A.2.3: a user the configuration does not cover signs in with the password alone',
    async run(door) {
      const f = await firmFor(door);
      const vendor = await person(h, f, { kind: 'vendor_case_manager' });
      expect(await door.client(h).signIn(at(f, vendor))).toEqual({ result: 'signed_in', subjectId: vendor.id, bypassed: false });
      expect(await lastLogin(vendor.id)).toMatchObject(door.audited({ next: 'signed_in', reason: 'not_covered' }));
    },
  },
  {
    rule: 'section 1-2: covered and enrolled, the second factor is asked; a right code signs in',
    async run(door) {
      const f = await firmFor(door);
      const { user, secret } = await totpUser(h, f);
      const client = door.client(h);
      expect(await client.signIn(at(f, user))).toEqual({ result: 'second_factor', methods: ['totp', 'backup_code'] });
      expect(await lastLogin(user.id)).toMatchObject(door.audited({ next: 'second_factor', reason: 'enrolled' }));
      expect(await client.answer({ method: 'totp', code: freshCode(h, secret) })).toEqual({ result: 'signed_in', subjectId: user.id });
      expect(await lastLogin(user.id)).toMatchObject({ event: 'login.succeeded', details: { factors: ['password', 'totp'] } });
    },
  },
  {
    rule: 'section 1-2: a wrong code is refused with the attempts left; the login still waits for a right one',
    async run(door) {
      const f = await firmFor(door);
      const { user, secret } = await totpUser(h, f);
      const client = door.client(h);
      await client.signIn(at(f, user));
      expect(await client.answer({ method: 'totp', code: wrongCode(h, secret) })).toEqual(invalidCode(door, LOGIN_POLICY.lockoutThreshold - 1));
      expect(await client.answer({ method: 'totp', code: freshCode(h, secret) })).toEqual({ result: 'signed_in', subjectId: user.id });
    },
  },
  {
    rule: 'A.2.5 / "Enrolling users": covered, not enrolled, a seat free: enrol at this login',
    async run(door) {
      const f = await firmFor(door);
      const user = await person(h, f);
      expect(await door.client(h).signIn(at(f, user))).toEqual({ result: 'enroll' });
      expect(await lastLogin(user.id)).toMatchObject(door.audited({ next: 'enroll', reason: 'seat_free' }));
    },
  },
  {
    rule: 'A.2.7: covered, not enrolled, no seat free: the password alone, counted and audited; an enrolled user still needs the second factor',
    async run(door) {
      const f = await firmFor(door, { licences: 1 });
      const holder = await totpUser(h, f);
      const late = await person(h, f);
      const bypassesBefore = await bypassLogins(f.firm.id);
      const mailsBefore = await mailsTo(h, late.email);
      expect(await door.client(h).signIn(at(f, late))).toEqual({ result: 'signed_in', subjectId: late.id, bypassed: true });
      expect(await bypassLogins(f.firm.id)).toBe(bypassesBefore + 1);
      expect(await auditEvents(h, { event: 'login.mfa_bypassed_no_seat', subjectId: late.id })).toHaveLength(1);
      expect(await lastLogin(late.id)).toMatchObject(door.audited({ next: 'signed_in', reason: 'no_seat_bypass' }));
      // The reference mails the firm's admins at 80% and 100% of the licences (A.2.8), not the user who bypasses.
      expect(await mailsTo(h, late.email)).toEqual(mailsBefore);
      expect(await door.client(h).signIn(at(f, holder.user))).toEqual({ result: 'second_factor', methods: ['totp', 'backup_code'] });
    },
  },
  {
    rule: 'lockout: wrong codes up to the firm threshold lock the second factor; a right code is then refused, in this login and the next',
    async run(door) {
      const f = await firmFor(door);
      const { user, secret } = await totpUser(h, f);
      const succeeded = (await auditEvents(h, { event: 'login.succeeded', subjectId: user.id })).length;
      const client = door.client(h);
      await client.signIn(at(f, user));
      for (let left = LOGIN_POLICY.lockoutThreshold - 1; left > 0; left--) {
        expect(await client.answer({ method: 'totp', code: wrongCode(h, secret) })).toEqual(invalidCode(door, left));
      }
      expect(await client.answer({ method: 'totp', code: wrongCode(h, secret) })).toEqual({ result: 'refused', code: 'MFA_LOCKED' });
      expect(await client.answer({ method: 'totp', code: freshCode(h, secret) })).toEqual({ result: 'refused', code: 'MFA_LOCKED' });
      const again = door.client(h);
      if (door.lockRefusedAt === 'answer') {
        expect(await again.signIn(at(f, user))).toMatchObject({ result: 'second_factor' });
        expect(await again.answer({ method: 'totp', code: freshCode(h, secret) })).toEqual({ result: 'refused', code: 'MFA_LOCKED' });
      } else {
        expect(await again.signIn(at(f, user))).toEqual({ result: 'refused', code: 'MFA_LOCKED' });
      }
      expect(await auditEvents(h, { event: 'login.succeeded', subjectId: user.id })).toHaveLength(succeeded);
    },
  },
  {
    rule: 'section 1-2 / A.1: the Tessera Authenticator: a push denied on the phone is refused; one approved with the number shown signs in',
    async run(door) {
      const f = await firmFor(door);
      const { user, device } = await pushUser(h, f);
      const client = door.client(h);
      expect(await client.signIn(at(f, user))).toEqual({ result: 'second_factor', methods: ['push', 'totp', 'backup_code'] });
      expect(await client.answer({ method: 'push', device, approve: false })).toEqual({ result: 'refused', code: 'PUSH_DENIED' });
      const again = door.client(h);
      expect(await again.signIn(at(f, user))).toMatchObject({ result: 'second_factor' });
      expect(await again.answer({ method: 'push', device, approve: true })).toEqual({ result: 'signed_in', subjectId: user.id });
      expect(await lastLogin(user.id)).toMatchObject({ event: 'login.succeeded', details: { factors: ['password', 'push'] } });
    },
  },
  {
    rule: 'remembered browser: no second factor from the browser that passed one and asked to be remembered; another browser is asked',
    needs: ['rememberedBrowser'],
    async run(door) {
      const { f, user, browser } = await rememberedBrowser(door);
      expect(await browser.signIn(at(f, user))).toEqual({ result: 'signed_in', subjectId: user.id, bypassed: false });
      expect(await lastLogin(user.id)).toMatchObject({ event: 'login.succeeded', details: { factors: ['password'], rememberedBrowser: true, reason: 'remembered_browser' } });
      expect(await door.client(h).signIn(at(f, user))).toMatchObject({ result: 'second_factor' });
    },
  },
  {
    rule: 'remembered browser, but the second factor is locked: refused at the password (the lock is never skipped)',
    needs: ['rememberedBrowser'],
    async run(door) {
      const { f, user, secret, browser } = await rememberedBrowser(door);
      const guesser = door.client(h);
      await guesser.signIn(at(f, user));
      for (let i = 0; i < LOGIN_POLICY.lockoutThreshold; i++) await guesser.answer({ method: 'totp', code: wrongCode(h, secret) });
      expect(await browser.signIn(at(f, user))).toEqual({ result: 'refused', code: 'MFA_LOCKED' });
      expect(await lastLogin(user.id)).toMatchObject({ event: 'login.refused_locked', details: { reason: 'locked' } });
    },
  },
  {
    rule: 'a disabled user is refused exactly like a wrong password (no enumeration)',
    needs: ['password'],
    async run(door) {
      const f = await firmFor(door);
      const disabled = await person(h, f);
      const other = await person(h, f);
      await h.ctx.db.updateTable('users').set({ status: 'disabled' }).where('id', '=', disabled.id).execute();
      const refusal = await door.client(h).signIn(at(f, disabled));
      expect(refusal).toEqual({ result: 'refused', code: 'INVALID_CREDENTIALS' });
      expect(await door.client(h).signIn(at(f, other, 'not the password'))).toEqual(refusal);
      expect(await lastLogin(disabled.id)).toMatchObject({ event: 'login.failed', details: { reason: 'account_inactive' } });
    },
  },
  {
    rule: 'a wrong password is refused; nothing of the second factor is reached',
    needs: ['password'],
    async run(door) {
      const f = await firmFor(door);
      const { user } = await totpUser(h, f);
      expect(await door.client(h).signIn(at(f, user, 'not the password'))).toEqual({ result: 'refused', code: 'INVALID_CREDENTIALS' });
      expect(await lastLogin(user.id)).toMatchObject({ event: 'login.failed', details: { reason: 'bad_credentials' } });
    },
  },
  {
    rule: "an unknown address is refused (the core's doors: like a wrong password; Duo: by the application's new user policy)",
    async run(door) {
      const f = await firmFor(door);
      expect(await door.client(h).signIn(at(f, { email: `nobody-${randomUUID().slice(0, 6)}@example.com` }))).toEqual(door.unknownUser);
    },
  },
  {
    rule: "another firm's user, at this firm's short name (or through this firm's application), is refused like an unknown address; at their own firm they sign in",
    async run(door) {
      const [here, there] = [await firmFor(door), await firmFor(door)];
      const stranger = await totpUser(h, there);
      expect(await door.client(h).signIn(at(here, stranger.user))).toEqual(door.unknownUser);
      expect(await door.client(h).signIn(at(there, stranger.user))).toMatchObject({ result: 'second_factor' });
    },
  },
  {
    rule: 'an enrolled operator is asked for their second factor, and signs in with it',
    needs: ['operators'],
    async run(door) {
      const op = await enrolledOperator(h);
      const client = door.client(h);
      expect(await client.signIn({ realm: 'operator', email: op.email, password: PASSWORD })).toEqual({ result: 'second_factor', methods: ['totp', 'backup_code'] });
      expect(await client.answer({ method: 'totp', code: freshCode(h, op.secret) })).toEqual({ result: 'signed_in', subjectId: op.id });
    },
  },
  {
    rule: 'an operator not enrolled enrols at this login (operators always need a second factor, no seat)',
    needs: ['operators'],
    async run(door) {
      const id = randomUUID();
      const email = `op-${id.slice(0, 8)}@platform.example`;
      await h.ctx.db.insertInto('operators').values({ id, email, name: 'Otto Operator', password_hash: await hashPassword(PASSWORD), status: 'active', created_at: h.clock.now() }).execute();
      expect(await door.client(h).signIn({ realm: 'operator', email, password: PASSWORD })).toEqual({ result: 'enroll' });
      expect(await lastLogin(id)).toMatchObject({ event: 'login.password_accepted', details: { realm: 'operator', reason: 'not_enrolled' } });
    },
  },
];

const bypassLogins = async (firmId: string) =>
  (await h.ctx.db.selectFrom('subscriptions').select('bypass_logins').where('firm_id', '=', firmId).executeTakeFirstOrThrow()).bypass_logins;

/** In a firm whose policy offers "remember this browser" for 30 days, a user who passed the second factor in `browser` and asked to be remembered. */
async function rememberedBrowser(door: DoorDriver) {
  const f = await firmFor(door, { adminEnrolled: true });
  const res = await f.admin.raw('PUT', api('/admin/mfa/policy'), { body: { ...LOGIN_POLICY, rememberDays: 30 } });
  expect(res.statusCode, res.body).toBe(200);
  const { user, secret } = await totpUser(h, f);
  const browser = door.client(h);
  await browser.signIn(at(f, user));
  expect(await browser.answer({ method: 'totp', code: freshCode(h, secret), remember: true })).toEqual({ result: 'signed_in', subjectId: user.id });
  return { f, user, secret, browser };
}

describe.each(DRIVERS)('the login rules through the $name door', (door) => {
  const rows = RULES.filter((r) => (r.needs ?? []).every((n) => door.supports[n]));
  it.each(rows)('$rule', ({ run }) => run(door));
});
