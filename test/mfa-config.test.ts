import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CorporationView } from '../src/directory/corporation.service.js';
import type { UserView } from '../src/directory/user.view.js';
import { ENABLEMENT_MAILS_JOB } from '../src/mfa-policy/enablement.js';
import type { MfaOverview } from '../src/mfa-policy/mfa-overview.service.js';
import {
  Agent,
  activateSubscription,
  addCorporation,
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
import { itRefusesOutsiders, notSuperusers, type Route } from './support/access.js';
import { MFA_OFF, uniqueEmail, mfaSettingsRow } from './support/fixtures.js';

/**
 * The MFA page of a firm (reference A.2 to A.2.4, A.2.7): GET /admin/mfa, PUT the
 * configuration, and the "specific corporations" list. Firm A is administered; firm B is
 * the neighbour that must never see or touch A's configuration.
 */

const MFA = '/api/v1/admin/mfa';
const CONFIG = `${MFA}/configuration`;
const CORPS = `${MFA}/corporations`;


let h: Harness;
let A: TestFirm;
let B: TestFirm;
let acme: CorporationView; // firm A
let apex: CorporationView; // firm A
let zeta: CorporationView; // firm A
let borealis: CorporationView; // firm B
let member: Agent; // a firm A case manager, not a superuser
let operator: Agent;
let seq = 0;

beforeAll(async () => {
  h = await startHarness();
  A = await firmWithAdmin(h, undefined, { enrolled: true });
  B = await firmWithAdmin(h, undefined, { enrolled: true });
  await activateSubscription(h, A.firm.id, 10);
  await activateSubscription(h, B.firm.id, 10);
  zeta = await addCorporation(h, A.firm.id, 'Zeta Group');
  acme = await addCorporation(h, A.firm.id, 'Acme Holdings');
  apex = await addCorporation(h, A.firm.id, 'Apex Partners');
  borealis = await addCorporation(h, B.firm.id, 'Borealis Ltd');
  const mick = await addUser(h, A.firm.id, { name: 'Mick Member', email: uniqueEmail('mick'), kind: 'case_manager' });
  member = await userAgent(h, mick.email, A.firm.slug);
  operator = await operatorAgent(h);
});
afterAll(() => h.close());


const listed = (firmId: string) => h.ctx.db.selectFrom('mfa_corporations').selectAll().where('firm_id', '=', firmId).orderBy('corporation_id').execute();
const pendingJobs = (firmId: string) =>
  h.ctx.db.selectFrom('jobs').selectAll().where('firm_id', '=', firmId).where('kind', '=', ENABLEMENT_MAILS_JOB).where('status', '=', 'pending').execute();

async function ok(res: LightMyRequestResponse, status = 200): Promise<MfaOverview> {
  expect(res.statusCode, res.body).toBe(status);
  return res.json() as MfaOverview;
}

/** Puts firm A's configuration and list in a known state (through the API). */
async function resetA(config: Record<string, unknown> = MFA_OFF, corps: { id: string; corpUsers?: boolean; foreignNationals?: boolean }[] = []) {
  await ok(await A.admin.raw('PUT', CONFIG, { body: config }));
  for (const c of await listed(A.firm.id)) await ok(await A.admin.delete(`${CORPS}/${c.corporation_id}`));
  for (const c of corps) await ok(await A.admin.post(CORPS, { corporationId: c.id, corpUsers: c.corpUsers, foreignNationals: c.foreignNationals }), 201);
}

// ---- who may use it --------------------------------------------------------------------

/** Every route, with a body that would succeed for firm A's superuser: the refusal is the only thing stopping it. */
const ROUTES: Route[] = [
  { method: 'GET', path: MFA },
  { method: 'PUT', path: CONFIG, body: () => ({ ...MFA_OFF, caseManagers: true, corporationScope: 'specific' }) },
  { method: 'POST', path: CORPS, body: () => ({ corporationId: apex.id }) },
  { method: 'PATCH', path: `${CORPS}/:id`, body: () => ({ corpUsers: false }) },
  { method: 'DELETE', path: `${CORPS}/:id` },
];

describe('who may use the MFA configuration API', () => {
  beforeAll(() => resetA(MFA_OFF, [{ id: acme.id }]));

  itRefusesOutsiders({
    h: () => h,
    routes: ROUTES,
    id: () => acme.id,
    forbidden: notSuperusers(() => member, () => operator),
    csrfAgent: () => A.admin,
  });
});

// ---- GET -----------------------------------------------------------------------------------

describe('GET /admin/mfa', () => {
  it('answers a firm that never subscribed: not subscribed, everything off, zero usage', async () => {
    const N = await firmWithAdmin(h);
    const o = await ok(await N.admin.get(MFA));
    expect(o).toEqual({
      subscription: {
        state: 'not_subscribed',
        planName: null,
        licenceCount: 0,
        startsAt: null,
        endsAt: null,
        requestedAt: null,
        activatedAt: null,
        requestedLicences: null,
        live: false,
      },
      configuration: { ...MFA_OFF, corporations: [] },
      counters: { caseManagers: 0, vendorCaseManagers: 0, corpUsers: 0, foreignNationals: 0 },
      usage: { licenceCount: 0, enrolled: 0, unutilised: 0, percent: 0, bypassLogins: 0 },
    });
  });

  it('shows the plan, and usage from the seats: enrolled, unutilised, percent rounded down, bypass logins', async () => {
    const U = await firmWithAdmin(h);
    await activateSubscription(h, U.firm.id, 3);
    await h.ctx.db.updateTable('subscriptions').set({ bypass_logins: 4, requested_licences: 5 }).where('firm_id', '=', U.firm.id).execute();
    expect(await enrollForTest(h, U.firm.id, U.superuser.id)).toBe('taken');
    const o = await ok(await U.admin.get(MFA));
    expect(o.subscription).toMatchObject({ state: 'active', planName: 'Test plan', licenceCount: 3, live: true, requestedLicences: 5, startsAt: null, endsAt: null });
    expect(o.usage).toEqual({ licenceCount: 3, enrolled: 1, unutilised: 2, percent: 33, bypassLogins: 4 });
  });

  it('is not live before the start date, though active', async () => {
    const U = await firmWithAdmin(h);
    await activateSubscription(h, U.firm.id, 3);
    await h.ctx.db.updateTable('subscriptions').set({ starts_at: h.clock.now() + 1000 }).where('firm_id', '=', U.firm.id).execute();
    const o = await ok(await U.admin.get(MFA));
    expect(o.subscription).toMatchObject({ state: 'active', live: false, startsAt: h.clock.now() + 1000 });
  });

  it("shows each firm only its own configuration and list", async () => {
    await resetA({ ...MFA_OFF, caseManagers: true, corporationScope: 'specific' }, [{ id: acme.id }]);
    const b = await ok(await B.admin.get(MFA));
    expect(b.configuration).toEqual({ ...MFA_OFF, corporations: [] });
    expect(JSON.stringify(b)).not.toContain(acme.id);
    const a = await ok(await A.admin.get(MFA));
    expect(a.configuration.caseManagers).toBe(true);
    expect(a.configuration.corporations.map((c) => c.id)).toEqual([acme.id]);
  });
});

// ---- PUT configuration -------------------------------------------------------------------

describe('PUT /admin/mfa/configuration', () => {
  beforeEach(() => resetA());

  it('saves the switches in one row, answers the overview, audits the changed fields and schedules the mails', async () => {
    const jobsBefore = (await pendingJobs(A.firm.id)).length;
    const body = { caseManagers: true, vendorCaseManagers: false, corporationScope: 'specific', allCorpUsers: true, allForeignNationals: false };
    const o = await ok(await A.admin.raw('PUT', CONFIG, { body }));
    expect(o.configuration).toEqual({ ...body, corporations: [] });
    expect(await mfaSettingsRow(h, A.firm.id)).toMatchObject({ case_managers: 1, vendor_case_managers: 0, corporation_scope: 'specific', all_corp_users: 1, all_foreign_nationals: 0 });
    const [event] = (await auditEvents(h, { event: 'mfa.configuration_changed', firmId: A.firm.id })).slice(-1);
    expect(event).toMatchObject({ actor_type: 'user', actor_id: A.superuser.id, subject_id: A.firm.id });
    expect(event!.details).toEqual({
      changed: { caseManagers: { from: false, to: true }, corporationScope: { from: 'all', to: 'specific' }, allCorpUsers: { from: false, to: true } },
    });
    expect((await pendingJobs(A.firm.id)).length).toBe(jobsBefore + 1);
    expect(await ok(await A.admin.get(MFA))).toEqual(o);
  });

  it('updates the same row on the next change (upsert), auditing only what changed', async () => {
    await ok(await A.admin.raw('PUT', CONFIG, { body: { ...MFA_OFF, caseManagers: true } }));
    await ok(await A.admin.raw('PUT', CONFIG, { body: { ...MFA_OFF, caseManagers: true, vendorCaseManagers: true } }));
    expect(await h.ctx.db.selectFrom('mfa_settings').selectAll().where('firm_id', '=', A.firm.id).execute()).toHaveLength(1);
    const [event] = (await auditEvents(h, { event: 'mfa.configuration_changed', firmId: A.firm.id })).slice(-1);
    expect(event!.details).toEqual({ changed: { vendorCaseManagers: { from: false, to: true } } });
  });

  it('saving the same configuration again changes nothing: no audit, no job', async () => {
    await ok(await A.admin.raw('PUT', CONFIG, { body: { ...MFA_OFF, caseManagers: true } }));
    const before = await dbState(h);
    const o = await ok(await A.admin.raw('PUT', CONFIG, { body: { ...MFA_OFF, caseManagers: true } }));
    expect(o.configuration.caseManagers).toBe(true);
    expect(await dbState(h)).toEqual(before);
  });

  const bad: [string, unknown][] = [
    ['an empty object', {}],
    ['a missing field', { caseManagers: true, vendorCaseManagers: true, corporationScope: 'all', allCorpUsers: true }],
    ['a string for a boolean', { ...MFA_OFF, caseManagers: 'true' }],
    ['a number for a boolean', { ...MFA_OFF, caseManagers: 1 }],
    ['null for a boolean', { ...MFA_OFF, caseManagers: null }],
    ['an unknown scope', { ...MFA_OFF, corporationScope: 'some' }],
    ['a scope of the wrong case', { ...MFA_OFF, corporationScope: 'ALL' }],
    ['an unknown property', { ...MFA_OFF, caseManagers: true, everyone: true }],
    ['an array', [MFA_OFF]],
  ];
  it.each(bad)('refuses %s with 400 VALIDATION_FAILED and changes nothing', async (_t, body) => {
    const before = await dbState(h);
    await expectRefused(h, await A.admin.raw('PUT', CONFIG, { body: body as Record<string, unknown> }), 400, 'VALIDATION_FAILED', before);
  });

  it('refuses malformed JSON and a missing body with 400', async () => {
    const before = await dbState(h);
    await expectRefused(h, await A.admin.raw('PUT', CONFIG, { body: '{"caseManagers": tru' }), 400, 'MALFORMED_JSON', before);
    const res = await A.admin.raw('PUT', CONFIG);
    expect(res.statusCode).toBe(400);
    expect(await dbState(h)).toEqual(before);
  });

  it.each(['not_subscribed', 'requested', 'suspended', 'cancelled'] as const)('is refused while the subscription is %s: 409 SUBSCRIPTION_NOT_ACTIVE', async (subState) => {
    const F = await firmWithAdmin(h);
    if (subState !== 'not_subscribed') {
      await activateSubscription(h, F.firm.id, 5);
      await h.ctx.db.updateTable('subscriptions').set({ state: subState }).where('firm_id', '=', F.firm.id).execute();
    }
    const corp = await addCorporation(h, F.firm.id, 'Some Corp');
    const before = await dbState(h);
    await expectRefused(h, await F.admin.raw('PUT', CONFIG, { body: { ...MFA_OFF, caseManagers: true } }), 409, 'SUBSCRIPTION_NOT_ACTIVE', before);
    await expectRefused(h, await F.admin.post(CORPS, { corporationId: corp.id }), 409, 'SUBSCRIPTION_NOT_ACTIVE', before);
    await expectRefused(h, await F.admin.patch(`${CORPS}/${corp.id}`, { corpUsers: true }), 409, 'SUBSCRIPTION_NOT_ACTIVE', before);
    await expectRefused(h, await F.admin.delete(`${CORPS}/${corp.id}`), 409, 'SUBSCRIPTION_NOT_ACTIVE', before);
  });

  it("a superuser of firm B changes only firm B's configuration", async () => {
    const aBefore = await mfaSettingsRow(h, A.firm.id);
    await ok(await B.admin.raw('PUT', CONFIG, { body: { ...MFA_OFF, vendorCaseManagers: true } }));
    expect(await mfaSettingsRow(h, A.firm.id)).toEqual(aBefore);
    expect((await ok(await A.admin.get(MFA))).configuration.vendorCaseManagers).toBe(false);
    await ok(await B.admin.raw('PUT', CONFIG, { body: MFA_OFF }));
  });
});

// ---- the specific corporations list ------------------------------------------------------

describe('POST /admin/mfa/corporations', () => {
  beforeEach(() => resetA({ ...MFA_OFF, corporationScope: 'specific' }));

  it('adds a corporation with both switches on by default, listed by name, audited', async () => {
    await ok(await A.admin.post(CORPS, { corporationId: zeta.id }), 201);
    const o = await ok(await A.admin.post(CORPS, { corporationId: acme.id }), 201);
    expect(o.configuration.corporations).toEqual([
      { id: acme.id, name: 'Acme Holdings', corpUsers: true, foreignNationals: true },
      { id: zeta.id, name: 'Zeta Group', corpUsers: true, foreignNationals: true },
    ]);
    expect(await listed(A.firm.id)).toEqual(
      expect.arrayContaining([expect.objectContaining({ corporation_id: acme.id, firm_id: A.firm.id, corp_users: 1, foreign_nationals: 1 })]),
    );
    const [event] = (await auditEvents(h, { event: 'mfa.corporation_added', subjectId: acme.id })).slice(-1);
    expect(event).toMatchObject({ firm_id: A.firm.id, actor_id: A.superuser.id, subject_type: 'corporation' });
    expect(event!.details).toEqual({ name: 'Acme Holdings', corpUsers: true, foreignNationals: true });
  });

  it('takes the switches given', async () => {
    const o = await ok(await A.admin.post(CORPS, { corporationId: apex.id, corpUsers: false, foreignNationals: true }), 201);
    expect(o.configuration.corporations).toEqual([{ id: apex.id, name: 'Apex Partners', corpUsers: false, foreignNationals: true }]);
  });

  it('refuses a corporation already in the list: 409 CORPORATION_ALREADY_ADDED', async () => {
    await ok(await A.admin.post(CORPS, { corporationId: acme.id }), 201);
    const before = await dbState(h);
    await expectRefused(h, await A.admin.post(CORPS, { corporationId: acme.id, corpUsers: false }), 409, 'CORPORATION_ALREADY_ADDED', before);
  });

  it("refuses an unknown corporation and another firm's with 400 CORPORATION_NOT_FOUND", async () => {
    const before = await dbState(h);
    await expectRefused(h, await A.admin.post(CORPS, { corporationId: 'no-such-corporation' }), 400, 'CORPORATION_NOT_FOUND', before);
    await expectRefused(h, await A.admin.post(CORPS, { corporationId: borealis.id }), 400, 'CORPORATION_NOT_FOUND', before);
    await expectRefused(h, await B.admin.post(CORPS, { corporationId: acme.id }), 400, 'CORPORATION_NOT_FOUND', before);
  });

  const bad: [string, unknown][] = [
    ['an empty object', {}],
    ['a number for the id', { corporationId: 12 }],
    ['an empty id', { corporationId: '' }],
    ['an oversized id', { corporationId: 'c'.repeat(65) }],
    ['a NUL in the id', { corporationId: 'c\u0000' }],
    ['a string for a switch', { corporationId: 'x', corpUsers: 'yes' }],
    ['an unknown property', { corporationId: 'x', everyone: true }],
  ];
  it.each(bad)('refuses %s with 400 VALIDATION_FAILED', async (_t, body) => {
    const before = await dbState(h);
    await expectRefused(h, await A.admin.post(CORPS, body as Record<string, unknown>), 400, 'VALIDATION_FAILED', before);
  });

  it('forgets a corporation that the firm deletes', async () => {
    const temp = await addCorporation(h, A.firm.id, 'Temporary Co');
    await ok(await A.admin.post(CORPS, { corporationId: temp.id }), 201);
    expect((await A.admin.delete(`/api/v1/admin/corporations/${temp.id}`)).statusCode).toBe(204);
    expect((await ok(await A.admin.get(MFA))).configuration.corporations).toEqual([]);
  });
});

describe('PATCH and DELETE /admin/mfa/corporations/:corporationId', () => {
  beforeEach(async () => {
    await resetA({ ...MFA_OFF, corporationScope: 'specific' }, [{ id: acme.id }]);
    if ((await listed(B.firm.id)).length === 0) await ok(await B.admin.post(CORPS, { corporationId: borealis.id }), 201);
  });

  it('PATCH turns one switch, audits the change, leaves the other', async () => {
    const o = await ok(await A.admin.patch(`${CORPS}/${acme.id}`, { foreignNationals: false }));
    expect(o.configuration.corporations).toEqual([{ id: acme.id, name: 'Acme Holdings', corpUsers: true, foreignNationals: false }]);
    const [event] = (await auditEvents(h, { event: 'mfa.corporation_changed', subjectId: acme.id })).slice(-1);
    expect(event!.details).toEqual({ name: 'Acme Holdings', changed: { foreignNationals: { from: true, to: false } } });
    const again = await dbState(h);
    await ok(await A.admin.patch(`${CORPS}/${acme.id}`, { foreignNationals: false }));
    expect(await dbState(h)).toEqual(again); // no change, no audit
  });

  it('DELETE removes it from the list, audited; a second DELETE is 404', async () => {
    const o = await ok(await A.admin.delete(`${CORPS}/${acme.id}`));
    expect(o.configuration.corporations).toEqual([]);
    const [event] = (await auditEvents(h, { event: 'mfa.corporation_removed', subjectId: acme.id })).slice(-1);
    expect(event).toMatchObject({ firm_id: A.firm.id, actor_id: A.superuser.id });
    expect(event!.details).toEqual({ name: 'Acme Holdings', corpUsers: true, foreignNationals: true });
    const before = await dbState(h);
    await expectRefused(h, await A.admin.delete(`${CORPS}/${acme.id}`), 404, 'NOT_FOUND', before);
  });

  it('answers 404 for a corporation of the firm that is not in the list, an unknown one, and another firm\'s', async () => {
    const before = await dbState(h);
    for (const id of [apex.id, 'no-such-corporation', borealis.id]) {
      await expectRefused(h, await A.admin.patch(`${CORPS}/${id}`, { corpUsers: false }), 404, 'NOT_FOUND', before);
      await expectRefused(h, await A.admin.delete(`${CORPS}/${id}`), 404, 'NOT_FOUND', before);
    }
    // Firm B cannot touch firm A's list entry either.
    await expectRefused(h, await B.admin.patch(`${CORPS}/${acme.id}`, { corpUsers: false }), 404, 'NOT_FOUND', before);
    await expectRefused(h, await B.admin.delete(`${CORPS}/${acme.id}`), 404, 'NOT_FOUND', before);
  });

  const bad: [string, unknown][] = [
    ['an empty object', {}],
    ['a string for a switch', { corpUsers: 'false' }],
    ['null for a switch', { foreignNationals: null }],
    ['an unknown property', { corpUsers: true, name: 'x' }],
  ];
  it.each(bad)('PATCH refuses %s with 400 VALIDATION_FAILED', async (_t, body) => {
    const before = await dbState(h);
    await expectRefused(h, await A.admin.patch(`${CORPS}/${acme.id}`, body as Record<string, unknown>), 400, 'VALIDATION_FAILED', before);
  });

  it('refuses oversized ids and NULs in the path with 400', async () => {
    const before = await dbState(h);
    await expectRefused(h, await A.admin.patch(`${CORPS}/${'c'.repeat(65)}`, { corpUsers: false }), 400, 'VALIDATION_FAILED', before);
    await expectRefused(h, await A.admin.delete(`${CORPS}/c%00`), 400, 'VALIDATION_FAILED', before);
  });
});

// ---- counters (A.2.4) ---------------------------------------------------------------------

describe('counters: active users the configuration covers, per kind (A.2.4)', () => {
  let C: TestFirm;
  let north: CorporationView;
  let south: CorporationView;
  let disabledCm: UserView;
  const counters = async () => (await ok(await C.admin.get(MFA))).counters;
  const put = async (body: Record<string, unknown>) => (await ok(await C.admin.raw('PUT', CONFIG, { body }))).counters;

  beforeAll(async () => {
    C = await firmWithAdmin(h, undefined, { enrolled: true }); // its superuser is an active case manager
    await activateSubscription(h, C.firm.id, 50);
    north = await addCorporation(h, C.firm.id, 'North Co');
    south = await addCorporation(h, C.firm.id, 'South Co');
    const add = (kind: UserView['kind'], corporationId?: string) => addUser(h, C.firm.id, { name: `${kind} ${++seq}`, email: uniqueEmail(kind), kind, corporationId });
    await add('case_manager');
    disabledCm = await add('case_manager');
    await add('vendor_case_manager');
    const vDisabled = await add('vendor_case_manager');
    await add('corp_user', north.id);
    await add('corp_user', north.id);
    const noPortal = await add('corp_user', north.id);
    await add('corp_user', south.id);
    await add('foreign_national', north.id);
    await add('foreign_national', south.id);
    const inactive = await add('foreign_national', south.id);
    await C.admin.patch(`/api/v1/admin/users/${disabledCm.id}`, { status: 'disabled' });
    await C.admin.patch(`/api/v1/admin/users/${vDisabled.id}`, { status: 'disabled' });
    await C.admin.patch(`/api/v1/admin/users/${noPortal.id}`, { portalAccess: 'disabled' });
    await C.admin.patch(`/api/v1/admin/users/${inactive.id}`, { recordState: 'inactive' });
    // Another firm's users never count.
    await addUser(h, B.firm.id, { name: 'B cm', email: uniqueEmail('bcm'), kind: 'case_manager' });
  });

  it('counts nothing while everything is off', async () => {
    expect(await counters()).toEqual({ caseManagers: 0, vendorCaseManagers: 0, corpUsers: 0, foreignNationals: 0 });
  });

  it('changes with the switches and excludes disabled, no-portal-access and inactive-record users', async () => {
    expect(await put({ ...MFA_OFF, caseManagers: true })).toEqual({ caseManagers: 2, vendorCaseManagers: 0, corpUsers: 0, foreignNationals: 0 });
    expect(await put({ ...MFA_OFF, caseManagers: true, vendorCaseManagers: true })).toEqual({ caseManagers: 2, vendorCaseManagers: 1, corpUsers: 0, foreignNationals: 0 });
    expect(await put({ ...MFA_OFF, allCorpUsers: true })).toEqual({ caseManagers: 0, vendorCaseManagers: 0, corpUsers: 3, foreignNationals: 0 });
    expect(await put({ ...MFA_OFF, allCorpUsers: true, allForeignNationals: true })).toEqual({ caseManagers: 0, vendorCaseManagers: 0, corpUsers: 3, foreignNationals: 2 });
  });

  it('with specific corporations, counts the users of the listed corporations whose switch is on', async () => {
    expect(await put({ ...MFA_OFF, corporationScope: 'specific', allCorpUsers: true, allForeignNationals: true })).toEqual({
      caseManagers: 0,
      vendorCaseManagers: 0,
      corpUsers: 0,
      foreignNationals: 0,
    });
    let o = await ok(await C.admin.post(CORPS, { corporationId: north.id, foreignNationals: false }), 201);
    expect(o.counters).toEqual({ caseManagers: 0, vendorCaseManagers: 0, corpUsers: 2, foreignNationals: 0 });
    o = await ok(await C.admin.post(CORPS, { corporationId: south.id, corpUsers: false }), 201);
    expect(o.counters).toEqual({ caseManagers: 0, vendorCaseManagers: 0, corpUsers: 2, foreignNationals: 1 });
    o = await ok(await C.admin.patch(`${CORPS}/${north.id}`, { foreignNationals: true }));
    expect(o.counters).toEqual({ caseManagers: 0, vendorCaseManagers: 0, corpUsers: 2, foreignNationals: 2 });
    o = await ok(await C.admin.delete(`${CORPS}/${north.id}`));
    expect(o.counters).toEqual({ caseManagers: 0, vendorCaseManagers: 0, corpUsers: 0, foreignNationals: 1 });
    // Back to "all corporations": the list is kept but not used.
    expect(await put({ ...MFA_OFF, corporationScope: 'all', allCorpUsers: true })).toEqual({ caseManagers: 0, vendorCaseManagers: 0, corpUsers: 3, foreignNationals: 0 });
  });

  it('follows users as they are re-activated', async () => {
    await put({ ...MFA_OFF, caseManagers: true });
    expect((await C.admin.patch(`/api/v1/admin/users/${disabledCm.id}`, { status: 'active' })).statusCode).toBe(200);
    expect((await counters()).caseManagers).toBe(3);
  });
});
