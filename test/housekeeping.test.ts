import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOUR, ManualClock } from '../src/clock.js';
import { runHousekeeping } from '../src/housekeeping.js';
import { createApplication } from '../src/applications/application.service.js';
import { systemActor } from '../src/audit/audit.service.js';
import { rememberBrowser } from '../src/core/remembered-browsers.js';
import { enqueueJob, runDueJobs } from '../src/jobs/job.service.js';
import { PASSWORD, addUser, firmWithAdmin, startHarness, type Harness, type TestFirm } from './support/harness.js';

const DAY = 24 * HOUR;

describe('housekeeping', () => {
  let h: Harness;
  let f: TestFirm;
  const clock = new ManualClock(Date.UTC(2026, 5, 1));
  beforeAll(async () => {
    h = await startHarness({ clock });
    f = await firmWithAdmin(h, 'tidy-firm');
  });
  afterAll(() => h.close());

  it('removes what outlived its use and keeps the rest', async () => {
    const db = h.ctx.db;
    const user = await addUser(h, f.firm.id, { name: 'Tia Tidy', email: 'tia@tidy.example', kind: 'case_manager' }, PASSWORD);
    const authenticator = (id: string, status: 'pending' | 'active', created: number) =>
      db.insertInto('authenticators').values({ id, firm_id: f.firm.id, user_id: user.id, kind: 'totp', label: 'x', status, created_at: created, confirmed_at: null, last_used_at: null, phone_e164: null }).execute();
    const challenge = (id: string, expires: number) =>
      db.insertInto('webauthn_challenges').values({ id, purpose: 'passkey', session_id: null, user_id: null, firm_id: null, challenge: randomUUID(), created_at: clock.now(), expires_at: expires, used_at: null }).execute();

    const push = (id: string, status: 'approved' | 'fraud') =>
      db.insertInto('push_transactions').values({ id, firm_id: f.firm.id, user_id: user.id, session_id: 'gone', status, number: '123456', created_at: clock.now(), expires_at: clock.now() + 60_000, answered_at: clock.now(), answered_by: null, completed_at: null, ip: null, user_agent: null, context: '{}' }).execute();
    await push('old-approved', 'approved');
    await push('old-fraud', 'fraud');
    await authenticator('old-pending', 'pending', clock.now());
    await authenticator('old-active', 'active', clock.now());
    await challenge('expiring', clock.now() + 5 * 60_000);
    await rememberBrowser(h.ctx, db, { id: user.id, firm_id: f.firm.id }, 1, 'ua');
    await enqueueJob(h.ctx, db, 'unknown.kind', null);
    await runDueJobs(h.ctx); // fails (no handler): stays, retried later
    await h.ctx.mail.deliverDue();

    clock.advance(2 * DAY);
    await authenticator('new-pending', 'pending', clock.now());
    await challenge('live', clock.now() + 5 * 60_000);
    await runHousekeeping(h.ctx);

    const ids = async (table: 'authenticators' | 'webauthn_challenges') => (await db.selectFrom(table).select('id').execute()).map((r) => r.id).sort();
    expect(await ids('authenticators')).toEqual(['new-pending', 'old-active']);
    expect(await ids('webauthn_challenges')).toEqual(['live']);
    expect(await db.selectFrom('remembered_browsers').select('id').execute()).toHaveLength(0);
    expect(await db.selectFrom('jobs').select('id').execute()).toHaveLength(1); // a failing job is not "done"

    // Push requests go after a month, except fraud reports (a year).
    expect((await db.selectFrom('push_transactions').select('id').execute()).map((r) => r.id).sort()).toEqual(['old-approved', 'old-fraud']);

    // Mails and one-time links are kept for months, the audit log for good.
    const mails = (await db.selectFrom('mail_outbox').select('id').execute()).length;
    const audit = (await db.selectFrom('audit_events').select('id').execute()).length;
    expect(mails).toBeGreaterThan(0);
    clock.advance(91 * DAY);
    await runHousekeeping(h.ctx);
    expect(await db.selectFrom('mail_outbox').select('id').execute()).toHaveLength(0);
    expect(await db.selectFrom('one_time_tokens').select('id').execute()).toHaveLength(0);
    expect((await db.selectFrom('audit_events').select('id').execute()).length).toBe(audit);
    expect((await db.selectFrom('push_transactions').select('id').execute()).map((r) => r.id)).toEqual(['old-fraud']);
  });

  it("removes the Duo door's transactions past their expiry, whatever their kind, and keeps the live ones", async () => {
    const db = h.ctx.db;
    const user = await addUser(h, f.firm.id, { name: 'Dora Duo', email: 'dora@tidy.example', kind: 'case_manager' }, PASSWORD);
    const applicationId = (await createApplication(h.ctx, db, systemActor, f.firm.id, { type: 'duo_auth_api', name: 'VPN gateway' })).application.id;
    const transaction = (id: string, kind: 'verified_push' | 'auth' | 'enroll_portal', expiresIn: number) =>
      db
        .insertInto('duo_transactions')
        .values({ id, firm_id: f.firm.id, application_id: applicationId, user_id: user.id, kind, attempt_id: null, push_id: null, number: null, result: 'waiting', status: 'pending', status_msg: '', used_at: null, created_at: clock.now(), expires_at: clock.now() + expiresIn })
        .execute();
    await transaction('push-expired', 'verified_push', 60_000);
    await transaction('auth-expired', 'auth', 5 * 60_000);
    await transaction('link-expired', 'enroll_portal', 10 * 60_000);
    await transaction('auth-live', 'auth', 30 * 60_000);
    await transaction('link-live', 'enroll_portal', 30 * 60_000);
    clock.advance(10 * 60_000);
    await runHousekeeping(h.ctx);
    expect((await db.selectFrom('duo_transactions').select('id').execute()).map((r) => r.id).sort()).toEqual(['auth-live', 'link-live']);
    clock.advance(20 * 60_000);
    await runHousekeeping(h.ctx);
    expect(await db.selectFrom('duo_transactions').select('id').execute()).toEqual([]);
  });
});
