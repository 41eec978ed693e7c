import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.js';
import { totpUser } from './support/factors.js';
import { MFA_OFF, api, mfaFirm, seatOf, seatsUsed } from './support/fixtures.js';
import { activateSubscription, auditEvents, dbState, expectRefused, firmWithAdmin, startHarness, totpCode, type Harness, type TestFirm } from './support/harness.js';

/**
 * Issue 16 item 4: a superuser whose own account becomes covered is asked for enrollment at their
 * next admin request, not only at their next login. The admin guard (requireSuperuser) walks the
 * core's decision (core/decision.ts enrollmentDue): covered, no seat held, a seat free -> 403
 * MFA_ENROLLMENT_REQUIRED; no seat free -> the bypass goes on, as at login; not covered -> nothing.
 * Runs on SQLite, or on PostgreSQL with TESSERA_TEST_DATABASE_URL.
 */

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ clock: new ManualClock(Date.UTC(2026, 10, 3, 10, 0, 0)) });
});
afterAll(() => h?.close());

/** A firm on an active subscription of `licences`, its superuser signed in before MFA covers anybody. */
async function firm(licences = 10): Promise<TestFirm> {
  const f = await firmWithAdmin(h);
  await activateSubscription(h, f.firm.id, licences);
  return f;
}

const configure = (f: TestFirm, change: Record<string, unknown>) =>
  f.admin.raw('PUT', api('/admin/mfa/configuration'), { body: { ...MFA_OFF, ...change } });

describe("a superuser whose own kind is enabled", () => {
  it('is asked to enrol at the next admin request after the enablement, whatever the route; /me still answers', async () => {
    const f = await firm();
    const enabled = await configure(f, { caseManagers: true });
    expect(enabled.statusCode, enabled.body).toBe(200);
    for (const path of ['/admin/mfa', '/admin/users', '/admin/mfa/enrolled', '/admin/audit-events']) {
      const res = await f.admin.get(api(path));
      expect(res.statusCode, `${path}: ${res.body}`).toBe(403);
      expect(res.json()).toEqual({ error: 'MFA_ENROLLMENT_REQUIRED', message: 'Your firm now requires a second factor for your account: set one up to continue.' });
    }
    const me = await f.admin.get(api('/me'));
    expect(me.statusCode).toBe(200);
    expect(me.json().user).toMatchObject({ id: f.superuser.id, isSuperuser: true });
  });

  it('a refused admin change writes nothing', async () => {
    const f = await firm();
    expect((await configure(f, { caseManagers: true })).statusCode).toBe(200);
    const before = await dbState(h);
    await expectRefused(h, await configure(f, { caseManagers: false }), 403, 'MFA_ENROLLMENT_REQUIRED', before);
  });

  it('after enrolling an authenticator app from the same session, the admin pages work again', async () => {
    const f = await firm();
    expect((await configure(f, { caseManagers: true })).statusCode).toBe(200);
    expect((await f.admin.get(api('/admin/mfa'))).statusCode).toBe(403);
    const info = await f.admin.get(api('/mfa/enrollment'));
    expect(info.json()).toMatchObject({ seatAvailable: true, enrolled: false });
    const begun = await f.admin.post(api('/mfa/enrollment/totp'), {});
    expect(begun.statusCode, begun.body).toBe(201);
    const { authenticatorId, secret } = begun.json() as { authenticatorId: string; secret: string };
    const confirmed = await f.admin.post(api(`/mfa/enrollment/totp/${authenticatorId}/confirm`), { code: totpCode(h, secret) });
    expect(confirmed.statusCode, confirmed.body).toBe(200);
    expect(confirmed.json().backupCodes).toHaveLength(10);
    const overview = await f.admin.get(api('/admin/mfa'));
    expect(overview.statusCode, overview.body).toBe(200);
    expect(await seatOf(h, f.superuser.id)).toBeDefined();
    expect(await seatsUsed(h, f.firm.id)).toBe(1);
    expect((await auditEvents(h, { event: 'mfa.enrolled', subjectId: f.superuser.id })).at(-1)?.details).toMatchObject({ kind: 'totp', firstEnrollment: true });
  });

  it('is not asked while no seat is free (the no-seat bypass goes on, as at login)', async () => {
    const f = await firm(1);
    expect((await configure(f, { caseManagers: true })).statusCode).toBe(200);
    // A case manager takes the only seat at their first login (the superuser, not enrolled yet, is asked until then).
    await totpUser(h, f);
    expect(await seatsUsed(h, f.firm.id)).toBe(1);
    const res = await f.admin.get(api('/admin/mfa'));
    expect(res.statusCode, res.body).toBe(200);
    expect(await seatOf(h, f.superuser.id)).toBeUndefined();
  });

  it('is not asked when the change does not cover them, nor once the subscription is cancelled', async () => {
    const f = await firm();
    expect((await configure(f, { vendorCaseManagers: true, allCorpUsers: true })).statusCode).toBe(200);
    expect((await f.admin.get(api('/admin/mfa'))).statusCode).toBe(200);
    expect((await configure(f, { caseManagers: true })).statusCode).toBe(200);
    expect((await f.admin.get(api('/admin/mfa'))).statusCode).toBe(403);
    await h.ctx.db.updateTable('subscriptions').set({ state: 'cancelled' }).where('firm_id', '=', f.firm.id).execute();
    expect((await f.admin.get(api('/admin/mfa'))).statusCode).toBe(200);
  });

  it('an enrolled superuser (the fixture option) administers on after the enablement', async () => {
    const f = await mfaFirm(h, { adminEnrolled: true });
    expect((await f.admin.get(api('/admin/mfa'))).statusCode).toBe(200);
    expect(await seatOf(h, f.superuser.id)).toBeDefined();
  });
});
