import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateSubscription, addCorporation, addUser, dbState, enrollForTest, firmWithAdmin, startHarness, userAgent, type Harness, type TestFirm } from './support/harness.js';

/**
 * POST /admin/mfa/preview (issue 16.3): what a change of the MFA configuration would do, for the
 * page's confirmation dialog. It counts, per kind, who comes under MFA and who leaves it, and
 * who would be mailed, and changes nothing.
 */

const PREVIEW = '/api/v1/admin/mfa/preview';
const OFF = { caseManagers: false, vendorCaseManagers: false, corporationScope: 'all', allCorpUsers: false, allForeignNationals: false };

let h: Harness;
let f: TestFirm;
let corpId: string;
let seq = 0;

beforeAll(async () => {
  h = await startHarness();
  f = await firmWithAdmin(h);
  await activateSubscription(h, f.firm.id, 50);
  const add = (kind: 'case_manager' | 'vendor_case_manager' | 'corp_user' | 'foreign_national', corporationId?: string) =>
    addUser(h, f.firm.id, { name: `U ${++seq}`, email: `u${++seq}@${f.firm.slug}.example`, kind, ...(corporationId ? { corporationId } : {}) });
  const corp = await addCorporation(h, f.firm.id, 'Acme');
  corpId = corp.id;
  await add('case_manager');
  const enrolled = await add('case_manager');
  await enrollForTest(h, f.firm.id, enrolled.id);
  await add('vendor_case_manager');
  await add('corp_user', corp.id);
  await add('corp_user', corp.id);
  await add('foreign_national', corp.id);
});
afterAll(() => h.close());

const preview = (body: Record<string, unknown> | unknown[]) => f.admin.raw('POST', PREVIEW, { body });

describe('widening', () => {
  it('counts the case managers brought under MFA (the superuser included) and those who would be mailed, and changes nothing', async () => {
    const before = await dbState(h);
    const res = await preview({ change: 'configuration', configuration: { ...OFF, caseManagers: true } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({
      covered: { before: 0, after: 3 },
      added: { total: 3, byKind: { caseManagers: 3, vendorCaseManagers: 0, corpUsers: 0, foreignNationals: 0 } },
      removed: { total: 0, byKind: { caseManagers: 0, vendorCaseManagers: 0, corpUsers: 0, foreignNationals: 0 } },
      mailed: 2, // the superuser and one case manager; the enrolled one is not invited
      enrolledRemoved: 0,
      live: true,
      includesYou: true,
    });
    expect(await dbState(h)).toEqual(before);
  });

  it('corp users are counted but never mailed', async () => {
    const res = await preview({ change: 'configuration', configuration: { ...OFF, allCorpUsers: true, allForeignNationals: true } });
    expect(res.json()).toMatchObject({ added: { total: 3, byKind: { corpUsers: 2, foreignNationals: 1 } }, mailed: 0, includesYou: false });
  });
});

describe('the corporation scope', () => {
  it('switching to "all corporations" with its switches off shows the listed corporations\' users leaving MFA', async () => {
    const put = await f.admin.raw('PUT', '/api/v1/admin/mfa/configuration', { body: { ...OFF, corporationScope: 'specific' } });
    expect(put.statusCode, put.body).toBe(200);
    expect((await f.admin.post('/api/v1/admin/mfa/corporations', { corporationId: corpId })).statusCode).toBe(201);
    const res = await preview({ change: 'configuration', configuration: { ...OFF, corporationScope: 'all' } });
    expect(res.json()).toMatchObject({ covered: { before: 3, after: 0 }, removed: { total: 3, byKind: { corpUsers: 2, foreignNationals: 1 } } });
  });

  it('previews removing, and switching, a listed corporation', async () => {
    expect((await preview({ change: 'removeCorporation', corporationId: corpId })).json()).toMatchObject({ removed: { total: 3 } });
    expect((await preview({ change: 'corporationSwitches', corporationId: corpId, corpUsers: false })).json()).toMatchObject({
      removed: { total: 2, byKind: { corpUsers: 2 } },
      added: { total: 0 },
    });
  });
});

describe('bad input', () => {
  it('is refused with the errors of the change itself, or 400 by the schema', async () => {
    const unknownCorp = await preview({ change: 'removeCorporation', corporationId: 'nope' });
    expect(unknownCorp.statusCode).toBe(404);
    expect((await preview({ change: 'addCorporation', corporationId: 'nope' })).json()).toMatchObject({ error: 'CORPORATION_NOT_FOUND' });
    for (const body of [{}, { change: 'configuration' }, { change: 'other' }, { change: 'configuration', configuration: { ...OFF, extra: 1 } }, []]) {
      const res = await preview(body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error).toBe('VALIDATION_FAILED');
    }
  });

  it('is for superusers only, of their own firm', async () => {
    const member = await addUser(h, f.firm.id, { name: 'Mo Member', email: `mo@${f.firm.slug}.example`, kind: 'case_manager' });
    const memberAgent = await userAgent(h, member.email, f.firm.slug);
    expect((await memberAgent.raw('POST', PREVIEW, { body: { change: 'removeCorporation', corporationId: corpId } })).statusCode).toBe(403);
    const other = await firmWithAdmin(h);
    await activateSubscription(h, other.firm.id, 5);
    // Another firm's corporation is unknown here.
    expect((await other.admin.raw('POST', PREVIEW, { body: { change: 'removeCorporation', corporationId: corpId } })).statusCode).toBe(404);
  });
});
