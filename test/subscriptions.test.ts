import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENABLEMENT_MAILS_JOB } from '../src/mfa-policy/enablement.js';
import {
  Agent,
  addUser,
  auditEvents,
  dbState,
  expectRefused,
  enrollForTest,
  firmWithAdmin,
  operatorAgent,
  startHarness,
  userAgent,
  type Harness,
  type TestFirm,
} from './support/harness.js';
import { itRefusesOutsiders, notSuperusers } from './support/access.js';
import { uniqueEmail, mailsTo } from './support/fixtures.js';

/**
 * Subscriptions (reference A.1): the firm subscribes, the operator activates with a plan and
 * a licence count, suspends, cancels, declines; the firm asks for more licences.
 */

const FEATURES = '/api/v1/admin/subscriptions';
const SUBSCRIBE = '/api/v1/admin/subscriptions/mfa';
const LICENCE_REQUEST = '/api/v1/admin/mfa/licence-request';
const OPS = '/api/v1/operator/subscriptions';
const op = (firmId: string, action: string) => `${OPS}/${firmId}/${action}`;

let h: Harness;
let A: TestFirm;
let B: TestFirm;
let operator: Agent;
let member: Agent; // a firm A case manager who is not a superuser

beforeAll(async () => {
  h = await startHarness();
  A = await firmWithAdmin(h);
  B = await firmWithAdmin(h);
  operator = await operatorAgent(h);
  const mick = await addUser(h, A.firm.id, { name: 'Mick Member', email: uniqueEmail('mick'), kind: 'case_manager' });
  member = await userAgent(h, mick.email, A.firm.slug);
});
afterAll(() => h.close());


const row = (firmId: string) => h.ctx.db.selectFrom('subscriptions').selectAll().where('firm_id', '=', firmId).executeTakeFirst();
const featureState = async (agent: Agent) => {
  const res = await agent.get(FEATURES);
  expect(res.statusCode, res.body).toBe(200);
  return res.json().categories[0].features[0].state as string;
};
/** The mails to this address whose subject starts so. */
const mailsStartingWith = async (to: string, subjectStart: string) => (await mailsTo(h, to)).filter((m) => m.subject.startsWith(subjectStart));
const jobsOf = (firmId: string) => h.ctx.db.selectFrom('jobs').selectAll().where('firm_id', '=', firmId).where('kind', '=', ENABLEMENT_MAILS_JOB).execute();

async function ok(res: LightMyRequestResponse, status = 200) {
  expect(res.statusCode, res.body).toBe(status);
  return res.body ? res.json() : null;
}

/** A new firm with an active subscription, through the API. */
async function activeFirm(licenceCount: number, planName = 'Standard'): Promise<TestFirm> {
  const f = await firmWithAdmin(h);
  await ok(await f.admin.post(SUBSCRIBE), 201);
  await ok(await operator.post(op(f.firm.id, 'activate'), { planName, licenceCount }));
  return f;
}

describe('GET /admin/subscriptions', () => {
  it('lists MFA under Security and Privacy, not subscribed at first', async () => {
    const f = await firmWithAdmin(h);
    const res = await f.admin.get(FEATURES);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({
      categories: [
        {
          name: 'Security and Privacy',
          features: [{ key: 'mfa', name: 'Multi-factor authentication (MFA)', description: expect.stringMatching(/\S/), state: 'not_subscribed' }],
        },
      ],
    });
  });
});

describe('the lifecycle', () => {
  it('not subscribed -> requested -> declined -> requested -> active -> suspended -> active -> cancelled -> requested', async () => {
    const f = await firmWithAdmin(h);
    const second = await addUser(h, f.firm.id, { name: 'Sue Second', email: uniqueEmail('sue'), kind: 'case_manager', isSuperuser: true });
    const gone = await addUser(h, f.firm.id, { name: 'Dora Disabled', email: uniqueEmail('dora'), kind: 'case_manager', isSuperuser: true });
    await h.ctx.db.updateTable('users').set({ status: 'disabled' }).where('id', '=', gone.id).execute();
    const plain = await addUser(h, f.firm.id, { name: 'Pat Plain', email: uniqueEmail('pat'), kind: 'case_manager' });
    const firmId = f.firm.id;
    const subject = `MFA is active for ${f.firm.name}`;

    // Subscribe.
    h.clock.advance(1000);
    const t1 = h.clock.now();
    expect(await ok(await f.admin.post(SUBSCRIBE), 201)).toEqual({ state: 'requested' });
    expect(await featureState(f.admin)).toBe('requested');
    expect(await row(firmId)).toMatchObject({ state: 'requested', requested_at: t1, activated_at: null, licence_count: 0, plan_name: null });
    expect(await auditEvents(h, { event: 'subscription.requested', subjectId: firmId })).toEqual([
      expect.objectContaining({ firm_id: firmId, actor_type: 'user', actor_id: f.superuser.id, subject_type: 'subscription', details: { from: 'not_subscribed' } }),
    ]);

    // The operator sees it, and declines: the firm is not subscribed again.
    const listed = (await ok(await operator.get(`${OPS}?pageSize=100`))).items.find((i: { firmId: string }) => i.firmId === firmId);
    expect(listed).toEqual({
      firmId,
      firmName: f.firm.name,
      firmSlug: f.firm.slug,
      state: 'requested',
      planName: null,
      licenceCount: 0,
      seatsUsed: 0,
      startsAt: null,
      endsAt: null,
      requestedAt: t1,
      activatedAt: null,
      requestedLicences: null,
    });
    const declined = await operator.post(op(firmId, 'decline'));
    expect(declined.statusCode, declined.body).toBe(204);
    expect(declined.body).toBe('');
    expect(await row(firmId)).toBeUndefined();
    expect(await featureState(f.admin)).toBe('not_subscribed');
    expect(await auditEvents(h, { event: 'subscription.declined', subjectId: firmId })).toEqual([
      expect.objectContaining({ firm_id: firmId, actor_type: 'operator', subject_type: 'subscription', details: { to: 'not_subscribed' } }),
    ]);

    // Again, and this time the operator activates with a plan, licences and dates.
    h.clock.advance(1000);
    const t1b = h.clock.now();
    await ok(await f.admin.post(SUBSCRIBE), 201);
    h.clock.advance(1000);
    const t2 = h.clock.now();
    const startsAt = t2 - 60_000;
    const endsAt = t2 + 365 * 86_400_000;
    const activated = await ok(await operator.post(op(firmId, 'activate'), { planName: ' Gold ', licenceCount: 25, startsAt, endsAt }));
    expect(activated).toEqual({
      firmId,
      firmName: f.firm.name,
      firmSlug: f.firm.slug,
      state: 'active',
      planName: 'Gold',
      licenceCount: 25,
      seatsUsed: 0,
      startsAt,
      endsAt,
      requestedAt: t1b,
      activatedAt: t2,
      requestedLicences: null,
    });
    expect(await featureState(f.admin)).toBe('active');
    expect(await auditEvents(h, { event: 'subscription.activated', subjectId: firmId })).toEqual([
      expect.objectContaining({
        firm_id: firmId,
        actor_type: 'operator',
        subject_type: 'subscription',
        details: { planName: 'Gold', licenceCount: 25, startsAt, endsAt },
      }),
    ]);
    // Each active superuser is mailed once; not the disabled one, not other users.
    for (const to of [f.superuser.email, second.email]) {
      const mails = await mailsStartingWith(to, subject);
      expect(mails).toHaveLength(1);
      expect(mails[0]).toMatchObject({ firm_id: firmId, link: new URL('/admin/mfa', h.ctx.config.publicUrl).toString() });
      expect(mails[0]!.text_body).toContain('plan Gold, 25 licences');
    }
    expect(await mailsStartingWith(gone.email, subject)).toHaveLength(0);
    expect(await mailsStartingWith(plain.email, subject)).toHaveLength(0);
    expect(await jobsOf(firmId)).toHaveLength(1);

    // The same activation again changes nothing at all.
    let before = await dbState(h);
    expect(await ok(await operator.post(op(firmId, 'activate'), { planName: 'Gold', licenceCount: 25, startsAt, endsAt }))).toEqual(activated);
    expect(await dbState(h)).toEqual(before);

    // A change while active: audited as a change, nobody mailed again.
    const changed = await ok(await operator.post(op(firmId, 'activate'), { planName: 'Platinum', licenceCount: 40, startsAt, endsAt }));
    expect(changed).toMatchObject({ state: 'active', planName: 'Platinum', licenceCount: 40, activatedAt: t2 });
    expect(await auditEvents(h, { event: 'subscription.changed', subjectId: firmId })).toEqual([
      expect.objectContaining({
        actor_type: 'operator',
        details: { planName: 'Platinum', licenceCount: 40, startsAt, endsAt, previous: { planName: 'Gold', licenceCount: 25, startsAt, endsAt } },
      }),
    ]);
    expect(await mailsStartingWith(f.superuser.email, subject)).toHaveLength(1);
    expect(await jobsOf(firmId)).toHaveLength(1);

    // Suspend, and activate again: that is an activation, mailed again.
    expect(await ok(await operator.post(op(firmId, 'suspend')))).toMatchObject({ state: 'suspended', planName: 'Platinum', licenceCount: 40 });
    expect(await featureState(f.admin)).toBe('suspended');
    expect(await auditEvents(h, { event: 'subscription.suspended', subjectId: firmId })).toHaveLength(1);
    before = await dbState(h);
    await expectRefused(h, await operator.post(op(firmId, 'suspend')), 409, 'INVALID_STATE', before);
    await expectRefused(h, await f.admin.post(SUBSCRIBE), 409, 'ALREADY_SUBSCRIBED', before);

    expect(await ok(await operator.post(op(firmId, 'activate'), { planName: 'Platinum', licenceCount: 40 }))).toMatchObject({
      state: 'active',
      startsAt: null,
      endsAt: null,
    });
    expect(await mailsStartingWith(f.superuser.email, subject)).toHaveLength(2);
    expect(await mailsStartingWith(second.email, subject)).toHaveLength(2);
    expect(await auditEvents(h, { event: 'subscription.activated', subjectId: firmId })).toHaveLength(2);
    expect(await jobsOf(firmId)).toHaveLength(2);

    // Cancel; cancelled is final until the firm subscribes again.
    expect(await ok(await operator.post(op(firmId, 'cancel')))).toMatchObject({ state: 'cancelled' });
    expect(await featureState(f.admin)).toBe('cancelled');
    expect(await auditEvents(h, { event: 'subscription.cancelled', subjectId: firmId })).toHaveLength(1);
    before = await dbState(h);
    await expectRefused(h, await operator.post(op(firmId, 'cancel')), 409, 'INVALID_STATE', before);
    await expectRefused(h, await operator.post(op(firmId, 'suspend')), 409, 'INVALID_STATE', before);
    await expectRefused(h, await operator.post(op(firmId, 'decline')), 409, 'INVALID_STATE', before);

    expect(await ok(await f.admin.post(SUBSCRIBE), 201)).toEqual({ state: 'requested' });
    expect(await featureState(f.admin)).toBe('requested');
    expect((await auditEvents(h, { event: 'subscription.requested', subjectId: firmId })).map((e) => e.details)).toEqual([
      { from: 'not_subscribed' },
      { from: 'not_subscribed' },
      { from: 'cancelled' },
    ]);

    // Declining a request to come back returns to cancelled: the row keeps the seat accounting.
    expect((await operator.post(op(firmId, 'decline'))).statusCode).toBe(204);
    expect(await row(firmId)).toMatchObject({ state: 'cancelled', plan_name: 'Platinum', licence_count: 40 });
    expect((await auditEvents(h, { event: 'subscription.declined', subjectId: firmId })).at(-1)!.details).toEqual({ to: 'cancelled' });

    // Cancel works from requested too.
    await ok(await f.admin.post(SUBSCRIBE), 201);
    expect(await ok(await operator.post(op(firmId, 'cancel')))).toMatchObject({ state: 'cancelled' });
  });

  it('a firm whose subscription was cancelled keeps its enrolled users and seats; reactivation keeps them', async () => {
    const f = await activeFirm(5);
    const u = await addUser(h, f.firm.id, { name: 'Eve Enrolled', email: uniqueEmail('eve'), kind: 'case_manager' }, null);
    expect(await enrollForTest(h, f.firm.id, u.id)).toBe('taken');
    await ok(await operator.post(op(f.firm.id, 'cancel')));
    await ok(await f.admin.post(SUBSCRIBE), 201);
    const before = await dbState(h);
    await expectRefused(h, await operator.post(op(f.firm.id, 'activate'), { planName: 'Standard', licenceCount: 0 }), 400, 'VALIDATION_FAILED', before);
    expect(await ok(await operator.post(op(f.firm.id, 'activate'), { planName: 'Standard', licenceCount: 1 }))).toMatchObject({ state: 'active', seatsUsed: 1, licenceCount: 1 });
  });
});

describe('double submits and races', () => {
  it('subscribing twice: the second answers 409 ALREADY_SUBSCRIBED and changes nothing', async () => {
    const f = await firmWithAdmin(h);
    await ok(await f.admin.post(SUBSCRIBE), 201);
    const before = await dbState(h);
    await expectRefused(h, await f.admin.post(SUBSCRIBE), 409, 'ALREADY_SUBSCRIBED', before);
    expect(await auditEvents(h, { event: 'subscription.requested', subjectId: f.firm.id })).toHaveLength(1);
  });

  it('subscribing twice at once: one 201, one 409, one row, one audit', async () => {
    const f = await firmWithAdmin(h);
    const results = await Promise.all([f.admin.post(SUBSCRIBE), f.admin.post(SUBSCRIBE), f.admin.post(SUBSCRIBE)]);
    expect(results.map((r) => r.statusCode).sort()).toEqual([201, 409, 409]);
    for (const r of results.filter((r) => r.statusCode === 409)) expect(r.json().error).toBe('ALREADY_SUBSCRIBED');
    expect(await auditEvents(h, { event: 'subscription.requested', subjectId: f.firm.id })).toHaveLength(1);
  });

  it('subscribing again once active or suspended: 409 ALREADY_SUBSCRIBED', async () => {
    const f = await activeFirm(3);
    let before = await dbState(h);
    await expectRefused(h, await f.admin.post(SUBSCRIBE), 409, 'ALREADY_SUBSCRIBED', before);
    await ok(await operator.post(op(f.firm.id, 'suspend')));
    before = await dbState(h);
    await expectRefused(h, await f.admin.post(SUBSCRIBE), 409, 'ALREADY_SUBSCRIBED', before);
  });

  it('activating twice at once: one activation, one mail per superuser, one job', async () => {
    const f = await firmWithAdmin(h);
    await ok(await f.admin.post(SUBSCRIBE), 201);
    const body = { planName: 'Standard', licenceCount: 10 };
    const results = await Promise.all([operator.post(op(f.firm.id, 'activate'), body), operator.post(op(f.firm.id, 'activate'), body)]);
    expect(results.map((r) => r.statusCode)).toEqual([200, 200]);
    expect(results[0]!.json()).toEqual(results[1]!.json());
    expect(await auditEvents(h, { event: 'subscription.activated', subjectId: f.firm.id })).toHaveLength(1);
    expect(await auditEvents(h, { event: 'subscription.changed', subjectId: f.firm.id })).toHaveLength(0);
    expect(await mailsStartingWith(f.superuser.email, `MFA is active for ${f.firm.name}`)).toHaveLength(1);
    expect(await jobsOf(f.firm.id)).toHaveLength(1);
  });

  it('lowering licences while a user enrols: never more seats than licences', async () => {
    const f = await activeFirm(3);
    const users = [];
    for (let i = 0; i < 3; i++) users.push(await addUser(h, f.firm.id, { name: `Racer ${i}`, email: uniqueEmail('racer'), kind: 'case_manager' }, null));
    expect(await enrollForTest(h, f.firm.id, users[0]!.id)).toBe('taken');
    expect(await enrollForTest(h, f.firm.id, users[1]!.id)).toBe('taken');
    const [lowered, enrolled] = await Promise.all([
      operator.post(op(f.firm.id, 'activate'), { planName: 'Standard', licenceCount: 2 }),
      enrollForTest(h, f.firm.id, users[2]!.id),
    ]);
    const sub = (await row(f.firm.id))!;
    const seats = await h.ctx.db.selectFrom('seats').select('user_id').where('firm_id', '=', f.firm.id).execute();
    expect(sub.seats_used).toBe(seats.length);
    expect(sub.seats_used).toBeLessThanOrEqual(sub.licence_count);
    if (lowered.statusCode === 200) {
      expect(enrolled).toBe('no_seat');
      expect(sub).toMatchObject({ licence_count: 2, seats_used: 2 });
    } else {
      expectRefusedCode(lowered, 409, 'LICENCES_BELOW_ENROLLED');
      expect(enrolled).toBe('taken');
      expect(sub).toMatchObject({ licence_count: 3, seats_used: 3 });
    }
  });
});

function expectRefusedCode(res: LightMyRequestResponse, status: number, code: string) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.json().error).toBe(code);
}

describe('licence requests', () => {
  it('request -> the operator sees it first -> activating with the new count clears it', async () => {
    const f = await activeFirm(5);
    h.clock.advance(1000);
    const overview = await ok(await f.admin.post(LICENCE_REQUEST, { licences: 8 }));
    expect(overview.subscription).toEqual({
      state: 'active',
      planName: 'Standard',
      licenceCount: 5,
      startsAt: null,
      endsAt: null,
      requestedAt: expect.any(Number),
      activatedAt: expect.any(Number),
      requestedLicences: 8,
      live: true,
    });
    expect(overview.usage).toEqual({ licenceCount: 5, enrolled: 0, unutilised: 5, percent: 0, bypassLogins: 0 });
    expect(await row(f.firm.id)).toMatchObject({ requested_licences: 8, licences_requested_at: h.clock.now(), licence_count: 5 });
    expect(await auditEvents(h, { event: 'subscription.licences_requested', subjectId: f.firm.id })).toEqual([
      expect.objectContaining({ firm_id: f.firm.id, actor_type: 'user', actor_id: f.superuser.id, details: { licences: 8, licenceCount: 5 } }),
    ]);

    // Pending requests come first, whatever the firm name.
    const list = (await ok(await operator.get(`${OPS}?pageSize=100`))).items as { firmId: string; state: string; requestedLicences: number | null }[];
    const pending = list.map((i) => i.state === 'requested' || i.requestedLicences !== null);
    expect(pending).toEqual([...pending].sort((a, b) => Number(b) - Number(a)));
    expect(list.find((i) => i.firmId === f.firm.id)).toMatchObject({ requestedLicences: 8, licenceCount: 5 });

    // A second request waits for the first.
    const before = await dbState(h);
    await expectRefused(h, await f.admin.post(LICENCE_REQUEST, { licences: 9 }), 409, 'LICENCE_REQUEST_PENDING', before);

    expect(await ok(await operator.post(op(f.firm.id, 'activate'), { planName: 'Standard', licenceCount: 8 }))).toMatchObject({
      state: 'active',
      licenceCount: 8,
      requestedLicences: null,
    });
    expect(await row(f.firm.id)).toMatchObject({ requested_licences: null, licences_requested_at: null, licence_count: 8 });
    expect((await auditEvents(h, { event: 'subscription.changed', subjectId: f.firm.id }))[0]!.details).toMatchObject({ licenceCount: 8, licenceRequestCleared: 8 });
  });

  it('request -> the operator declines it; declining again is 409 NO_LICENCE_REQUEST', async () => {
    const f = await activeFirm(5);
    await ok(await f.admin.post(LICENCE_REQUEST, { licences: 50 }));
    const res = await ok(await operator.post(op(f.firm.id, 'licence-request/decline')));
    expect(res).toMatchObject({ firmId: f.firm.id, state: 'active', licenceCount: 5, requestedLicences: null });
    expect(await auditEvents(h, { event: 'subscription.licence_request_declined', subjectId: f.firm.id })).toEqual([
      expect.objectContaining({ actor_type: 'operator', details: { requestedLicences: 50, licenceCount: 5 } }),
    ]);
    const before = await dbState(h);
    await expectRefused(h, await operator.post(op(f.firm.id, 'licence-request/decline')), 409, 'NO_LICENCE_REQUEST', before);
    // The firm may ask again.
    expect((await ok(await f.admin.post(LICENCE_REQUEST, { licences: 6 }))).subscription.requestedLicences).toBe(6);
  });

  it.each([
    ['the same count', 5],
    ['fewer', 4],
  ])('asking for %s -> 400 LICENCES_NOT_MORE', async (_case, licences) => {
    const f = await activeFirm(5);
    const before = await dbState(h);
    await expectRefused(h, await f.admin.post(LICENCE_REQUEST, { licences }), 400, 'LICENCES_NOT_MORE', before);
  });

  it('asking without an active subscription -> 409 SUBSCRIPTION_NOT_ACTIVE (not subscribed, requested, suspended, cancelled)', async () => {
    const f = await firmWithAdmin(h);
    const refuse = async () => {
      const before = await dbState(h);
      await expectRefused(h, await f.admin.post(LICENCE_REQUEST, { licences: 10 }), 409, 'SUBSCRIPTION_NOT_ACTIVE', before);
    };
    await refuse();
    await ok(await f.admin.post(SUBSCRIBE), 201);
    await refuse();
    await ok(await operator.post(op(f.firm.id, 'activate'), { planName: 'Standard', licenceCount: 5 }));
    await ok(await operator.post(op(f.firm.id, 'suspend')));
    await refuse();
    await ok(await operator.post(op(f.firm.id, 'cancel')));
    await refuse();
  });

  it('cancelling drops a pending licence request', async () => {
    const f = await activeFirm(5);
    await ok(await f.admin.post(LICENCE_REQUEST, { licences: 7 }));
    expect(await ok(await operator.post(op(f.firm.id, 'cancel')))).toMatchObject({ state: 'cancelled', requestedLicences: null });
  });
});

describe('operator errors', () => {
  it('LICENCES_BELOW_ENROLLED when lowering below the enrolled users; down to exactly that many works', async () => {
    const f = await activeFirm(5);
    for (let i = 0; i < 3; i++) {
      const u = await addUser(h, f.firm.id, { name: `Enrolled ${i}`, email: uniqueEmail('enr'), kind: 'case_manager' }, null);
      expect(await enrollForTest(h, f.firm.id, u.id)).toBe('taken');
    }
    const before = await dbState(h);
    await expectRefused(h, await operator.post(op(f.firm.id, 'activate'), { planName: 'Standard', licenceCount: 2 }), 409, 'LICENCES_BELOW_ENROLLED', before);
    await expectRefused(h, await operator.post(op(f.firm.id, 'activate'), { planName: 'Small', licenceCount: 1 }), 409, 'LICENCES_BELOW_ENROLLED', before);
    // Also when reactivating a suspended subscription.
    await ok(await operator.post(op(f.firm.id, 'suspend')));
    const suspended = await dbState(h);
    await expectRefused(h, await operator.post(op(f.firm.id, 'activate'), { planName: 'Standard', licenceCount: 2 }), 409, 'LICENCES_BELOW_ENROLLED', suspended);
    expect(await ok(await operator.post(op(f.firm.id, 'activate'), { planName: 'Standard', licenceCount: 3 }))).toMatchObject({ state: 'active', licenceCount: 3, seatsUsed: 3 });
  });

  it.each([
    ['endsAt equals startsAt', { startsAt: 1_800_000_000_000, endsAt: 1_800_000_000_000 }],
    ['endsAt before startsAt', { startsAt: 1_800_000_000_000, endsAt: 1_700_000_000_000 }],
  ])('%s -> 400 INVALID_DATES', async (_case, dates) => {
    const f = await firmWithAdmin(h);
    await ok(await f.admin.post(SUBSCRIBE), 201);
    const before = await dbState(h);
    await expectRefused(h, await operator.post(op(f.firm.id, 'activate'), { planName: 'Standard', licenceCount: 5, ...dates }), 400, 'INVALID_DATES', before);
  });

  it('only one date is fine, either way', async () => {
    const f = await firmWithAdmin(h);
    await ok(await f.admin.post(SUBSCRIBE), 201);
    expect(await ok(await operator.post(op(f.firm.id, 'activate'), { planName: 'Standard', licenceCount: 5, endsAt: h.clock.now() + 1000 }))).toMatchObject({
      startsAt: null,
      endsAt: h.clock.now() + 1000,
    });
    expect(await ok(await operator.post(op(f.firm.id, 'activate'), { planName: 'Standard', licenceCount: 5, startsAt: 5, endsAt: null }))).toMatchObject({
      startsAt: 5,
      endsAt: null,
    });
  });

  it('a future start defers the enablement mails to it', async () => {
    const f = await firmWithAdmin(h);
    await ok(await f.admin.post(SUBSCRIBE), 201);
    const startsAt = h.clock.now() + 86_400_000;
    await ok(await operator.post(op(f.firm.id, 'activate'), { planName: 'Standard', licenceCount: 5, startsAt }));
    expect(await jobsOf(f.firm.id)).toEqual([expect.objectContaining({ run_at: startsAt, status: 'pending' })]);
  });

  it.each([
    ['activate', { planName: 'Standard', licenceCount: 5 }],
    ['decline', undefined],
    ['licence-request/decline', undefined],
    ['suspend', undefined],
    ['cancel', undefined],
  ])('%s for a firm without a subscription, or an unknown firm -> 404 NOT_FOUND', async (action, body) => {
    const f = await firmWithAdmin(h);
    const before = await dbState(h);
    await expectRefused(h, await operator.post(op(f.firm.id, action), body), 404, 'NOT_FOUND', before);
    await expectRefused(h, await operator.post(op('no-such-firm', action), body), 404, 'NOT_FOUND', before);
    await expectRefused(h, await operator.post(op('f'.repeat(65), action), body), 400, 'VALIDATION_FAILED', before);
  });

  it('INVALID_STATE: decline unless requested, suspend unless active, cancel when cancelled', async () => {
    const f = await activeFirm(5);
    let before = await dbState(h);
    await expectRefused(h, await operator.post(op(f.firm.id, 'decline')), 409, 'INVALID_STATE', before);
    await ok(await operator.post(op(f.firm.id, 'suspend')));
    before = await dbState(h);
    await expectRefused(h, await operator.post(op(f.firm.id, 'decline')), 409, 'INVALID_STATE', before);
    await expectRefused(h, await operator.post(op(f.firm.id, 'suspend')), 409, 'INVALID_STATE', before);
    const g = await firmWithAdmin(h);
    await ok(await g.admin.post(SUBSCRIBE), 201);
    before = await dbState(h);
    await expectRefused(h, await operator.post(op(g.firm.id, 'suspend')), 409, 'INVALID_STATE', before);
    await expectRefused(h, await operator.post(op(g.firm.id, 'licence-request/decline')), 409, 'NO_LICENCE_REQUEST', before);
  });
});

describe('GET /operator/subscriptions', () => {
  it('filters by state and pages', async () => {
    const all = await ok(await operator.get(`${OPS}?pageSize=100`));
    expect(all.total).toBe(all.items.length);
    const active = await ok(await operator.get(`${OPS}?state=active&pageSize=100`));
    expect(active.items.length).toBeGreaterThan(0);
    expect(active.items.every((i: { state: string }) => i.state === 'active')).toBe(true);
    expect(active.total).toBe(all.items.filter((i: { state: string }) => i.state === 'active').length);
    const page2 = await ok(await operator.get(`${OPS}?pageSize=2&page=2`));
    expect(page2).toMatchObject({ page: 2, pageSize: 2, total: all.total });
    expect(page2.items).toEqual(all.items.slice(2, 4));
  });

  it('q finds a firm by name or short name', async () => {
    const f = await activeFirm(2);
    const res = await ok(await operator.get(`${OPS}?q=${encodeURIComponent(f.firm.slug.toUpperCase())}`));
    expect(res.items.map((i: { firmId: string }) => i.firmId)).toEqual([f.firm.id]);
  });

  it.each([['state=not_subscribed'], ['state=bogus'], ['page=0'], ['pageSize=101'], ['pageSize=x'], ['extra=1']])('refuses ?%s with 400', async (query) => {
    const before = await dbState(h);
    await expectRefused(h, await operator.get(`${OPS}?${query}`), 400, 'VALIDATION_FAILED', before);
  });
});

describe('validation: refused with 400 and nothing changes', () => {
  let active: TestFirm;
  let requested: TestFirm;
  beforeAll(async () => {
    active = await activeFirm(5);
    requested = await firmWithAdmin(h);
    await ok(await requested.admin.post(SUBSCRIBE), 201);
  });

  const badCounts: [string, unknown][] = [
    ['negative', -5],
    ['zero', 0],
    ['non-integer', 7.5],
    ['a string', '10'],
    ['absurd', 1_000_001],
    ['huge', 1e20],
    ['null', null],
    ['a boolean', true],
  ];

  it.each(badCounts)('licence request: licences %s', async (_case, licences) => {
    const before = await dbState(h);
    await expectRefused(h, await active.admin.post(LICENCE_REQUEST, { licences }), 400, 'VALIDATION_FAILED', before);
  });

  it.each([
    ['missing', {}],
    ['an unknown property', { licences: 10, firmId: 'other' }],
    ['an array', [{ licences: 10 }]],
  ])('licence request: body %s', async (_case, body) => {
    const before = await dbState(h);
    await expectRefused(h, await active.admin.raw('POST', LICENCE_REQUEST, { body }), 400, 'VALIDATION_FAILED', before);
  });

  it.each(badCounts)('activate: licenceCount %s', async (_case, licenceCount) => {
    const before = await dbState(h);
    await expectRefused(h, await operator.post(op(requested.firm.id, 'activate'), { planName: 'Standard', licenceCount }), 400, 'VALIDATION_FAILED', before);
  });

  it.each([
    ['planName missing', { licenceCount: 5 }],
    ['planName empty', { planName: '', licenceCount: 5 }],
    ['planName blank', { planName: '   ', licenceCount: 5 }],
    ['planName too long', { planName: 'p'.repeat(101), licenceCount: 5 }],
    ['planName not a string', { planName: 7, licenceCount: 5 }],
    ['planName with NUL', { planName: 'Gold\u0000', licenceCount: 5 }],
    ['licenceCount missing', { planName: 'Standard' }],
    ['startsAt a date string', { planName: 'Standard', licenceCount: 5, startsAt: '2026-01-01' }],
    ['startsAt non-integer', { planName: 'Standard', licenceCount: 5, startsAt: 1.5 }],
    ['startsAt negative', { planName: 'Standard', licenceCount: 5, startsAt: -1 }],
    ['endsAt beyond any date', { planName: 'Standard', licenceCount: 5, endsAt: 1e17 }],
    ['endsAt a boolean', { planName: 'Standard', licenceCount: 5, endsAt: true }],
    ['an unknown property', { planName: 'Standard', licenceCount: 5, state: 'active' }],
    ['seatsUsed sent', { planName: 'Standard', licenceCount: 5, seatsUsed: 0 }],
  ])('activate: %s', async (_case, body) => {
    const before = await dbState(h);
    await expectRefused(h, await operator.post(op(requested.firm.id, 'activate'), body), 400, 'VALIDATION_FAILED', before);
  });

  it('activate: malformed JSON -> 400 MALFORMED_JSON', async () => {
    const before = await dbState(h);
    await expectRefused(h, await operator.raw('POST', op(requested.firm.id, 'activate'), { body: '{"planName": "x' }), 400, 'MALFORMED_JSON', before);
  });
});

describe('who may do what', () => {
  let target: TestFirm;
  beforeAll(async () => {
    target = await activeFirm(5);
    await ok(await target.admin.post(LICENCE_REQUEST, { licences: 9 }));
  });

  describe('the operator routes', () => {
    itRefusesOutsiders({
      h: () => h,
      routes: [
        { method: 'GET', path: OPS },
        { method: 'POST', path: op(':id', 'activate'), body: () => ({ planName: 'Evil', licenceCount: 999 }) },
        { method: 'POST', path: op(':id', 'decline') },
        { method: 'POST', path: op(':id', 'licence-request/decline') },
        { method: 'POST', path: op(':id', 'suspend') },
        { method: 'POST', path: op(':id', 'cancel') },
      ],
      id: () => target.firm.id,
      forbidden: [
        { who: 'a firm superuser', agent: () => target.admin },
        { who: 'a firm user who is not a superuser', agent: () => member },
      ],
      csrfAgent: () => operator,
    });
  });

  describe('the firm routes', () => {
    itRefusesOutsiders({
      h: () => h,
      routes: [
        { method: 'GET', path: FEATURES },
        { method: 'POST', path: SUBSCRIBE },
        { method: 'POST', path: LICENCE_REQUEST, body: () => ({ licences: 100 }) },
      ],
      forbidden: notSuperusers(() => member, () => operator),
      csrfAgent: () => target.admin,
    });
  });

  it("a superuser of another firm neither sees nor changes this firm's subscription", async () => {
    expect(await featureState(target.admin)).toBe('active');
    expect(await featureState(B.admin)).toBe('not_subscribed');
    const before = await dbState(h);
    await expectRefused(h, await B.admin.post(LICENCE_REQUEST, { licences: 100 }), 409, 'SUBSCRIPTION_NOT_ACTIVE', before);
    // B subscribing creates B's request, nothing of the target's.
    await ok(await B.admin.post(SUBSCRIBE), 201);
    expect(await row(target.firm.id)).toEqual(before.subscriptions.find((s) => (s as { firm_id: string }).firm_id === target.firm.id));
    expect(await row(B.firm.id)).toMatchObject({ state: 'requested', licence_count: 0 });
    expect(await featureState(target.admin)).toBe('active');
    expect(await featureState(B.admin)).toBe('requested');
  });
});
