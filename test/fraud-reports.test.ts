import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MINUTE, ManualClock } from '../src/clock.js';
import type { EnrolledUserView } from '../src/enrollment/enrolled-users.service.js';
import type { FraudReportView } from '../src/factors/push/fraud-reports.service.js';
import { Agent, activateSubscription, addUser, firmWithAdmin, operatorAgent, startHarness, userAgent, type Harness, type TestFirm } from './support/harness.js';
import { itRefusesOutsiders, notSuperusers } from './support/access.js';
import { api, MFA_OFF, FIREFOX_MAC, loginAs, browserOf } from './support/fixtures.js';
import { pushUser, type PushUser, sendPush } from './support/factors.js';

/**
 * Fraud reports on the MFA page (issue 5.6): /api/v1/admin/mfa/fraud-reports lists the push
 * requests a firm's users denied as "It seemed fraudulent", newest first, to that firm's
 * superusers only. The answers come from a device simulator, as in test/push.test.ts.
 */

const REPORTS = '/api/v1/admin/mfa/fraud-reports';

const clock = new ManualClock(Date.UTC(2026, 6, 1, 8, 0, 0));
let h: Harness;
let A: TestFirm;
let B: TestFirm;
let member: Agent; // a firm A vendor case manager (MFA is off for them) who is not a superuser
let operator: Agent;
let seq = 0;

beforeAll(async () => {
  h = await startHarness({ clock });
  A = await firmWithAdmin(h, undefined, { enrolled: true });
  B = await firmWithAdmin(h, undefined, { enrolled: true });
  for (const f of [A, B]) {
    await activateSubscription(h, f.firm.id, 10);
    const res = await f.admin.raw('PUT', api('/admin/mfa/configuration'), { body: { ...MFA_OFF, caseManagers: true } });
    expect(res.statusCode, res.body).toBe(200);
  }
  const memberUser = await addUser(h, A.firm.id, { name: 'Mick Member', email: `mick-${++seq}@example.com`, kind: 'vendor_case_manager' });
  member = await userAgent(h, memberUser.email, A.firm.slug);
  operator = await operatorAgent(h);
});
afterAll(() => h.close());

/** Logs `u` in from this browser and IP, sends a push and denies it with `reason`; returns the transaction id. */
async function denyPush(f: TestFirm, u: PushUser, reason: 'fraud' | 'mistake', userAgent?: string, ip?: string): Promise<string> {
  const agent = await loginAs(h, f, u.user, 'second_factor', browserOf(h, { userAgent, ip }));
  const id = (await sendPush(agent)).transactionId;
  const answer = await u.device.answer(id, 'deny', { reason });
  expect(answer.json()).toEqual({ status: reason === 'fraud' ? 'fraud' : 'denied' });
  return id;
}

type ReportPage = { items: FraudReportView[]; total: number; page: number; pageSize: number };
const list = async (agent: Agent, query = ''): Promise<ReportPage> => {
  const res = await agent.get(`${REPORTS}${query}`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as ReportPage;
};

// First, while the clock still stands where the outsiders' sessions were made (a later request would touch them).
describe('who may read fraud reports', () => {
  itRefusesOutsiders({
    h: () => h,
    routes: [{ method: 'GET', path: REPORTS }],
    forbidden: notSuperusers(() => member, () => operator),
    csrfAgent: () => A.admin,
  });
});

describe('fraud reports', () => {
  let robin: PushUser;
  let sasha: PushUser;
  let first: { id: string; at: number };
  let second: { id: string; at: number };

  it('a firm without fraud reports lists none', async () => {
    expect(await list(A.admin)).toEqual({ items: [], total: 0, page: 1, pageSize: 20 });
  });

  it('lists each "It seemed fraudulent" answer of the firm, newest first, with user, time, IP, browser and OS; "It was a mistake" is no report', async () => {
    robin = await pushUser(h, A, { name: 'Robin Reed', browser: browserOf(h) });
    sasha = await pushUser(h, A, { name: 'Sasha Stone', browser: browserOf(h) });
    clock.advance(MINUTE);
    first = { id: await denyPush(A, robin, 'fraud'), at: clock.now() };
    clock.advance(MINUTE);
    await denyPush(A, sasha, 'mistake');
    clock.advance(MINUTE);
    second = { id: await denyPush(A, sasha, 'fraud', FIREFOX_MAC, '198.51.100.23'), at: clock.now() };

    expect(await list(A.admin)).toEqual({
      items: [
        { id: second.id, userId: sasha.user.id, userName: 'Sasha Stone', email: sasha.user.email, reportedAt: second.at, ip: '198.51.100.23', browser: 'Firefox', os: 'macOS' },
        { id: first.id, userId: robin.user.id, userName: 'Robin Reed', email: robin.user.email, reportedAt: first.at, ip: '203.0.113.7', browser: 'Chrome', os: 'Windows' },
      ],
      total: 2,
      page: 1,
      pageSize: 20,
    });
  });

  it('pages', async () => {
    expect(await list(A.admin, '?page=1&pageSize=1')).toMatchObject({ total: 2, page: 1, pageSize: 1, items: [{ id: second.id }] });
    expect(await list(A.admin, '?page=2&pageSize=1')).toMatchObject({ total: 2, page: 2, pageSize: 1, items: [{ id: first.id }] });
    expect(await list(A.admin, '?page=3&pageSize=1')).toEqual({ total: 2, page: 3, pageSize: 1, items: [] });
  });

  it("another firm's superuser does not see them, and sees only its own", async () => {
    expect(await list(B.admin)).toEqual({ items: [], total: 0, page: 1, pageSize: 20 });
    const bo = await pushUser(h, B, { name: 'Bo Berg', browser: browserOf(h) });
    const own = await denyPush(B, bo, 'fraud');
    expect((await list(B.admin)).items.map((i) => [i.id, i.userId])).toEqual([[own, bo.user.id]]);
    expect((await list(A.admin)).items.map((i) => i.id)).toEqual([second.id, first.id]);
  });

  it("the reporting device's phone number shows in Enrolled Users", async () => {
    const enrolled = (await A.admin.get('/api/v1/admin/mfa/enrolled?q=robin')).json() as { items: EnrolledUserView[] };
    expect(enrolled.items.map((i) => [i.name, i.methods, i.phones])).toEqual([['Robin Reed', ['push'], ['+447911123456']]]);
  });

  it.each(['page=0', 'pageSize=101', 'page=abc', 'q=robin', 'foo=1'])('refuses the query %s with 400 VALIDATION_FAILED', async (query) => {
    const res = await A.admin.get(`${REPORTS}?${query}`);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json()).toMatchObject({ error: 'VALIDATION_FAILED' });
  });
});
