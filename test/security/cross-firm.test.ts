import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import type { DeviceSimulator } from '../support/device-simulator.js';
import { Agent, PASSWORD, addCorporation, addUser, operatorAgent, startHarness, type Harness, type TestFirm } from '../support/harness.js';
import { apiRoutes, expectErrorShape, fillPath, firmState, type ApiRoute } from '../support/security.js';
import { api, loginAs, mfaFirm, person } from '../support/fixtures.js';
import { freshCode, pushUser, sendPush, totpUser } from '../support/factors.js';

/**
 * No cross-firm access, route by route. Every route of the API that takes an id (in the
 * path, the query or the body; read from the app's own OpenAPI document) is called by a
 * caller of firm A who may use the route, with an id of firm B's object: the answer is a
 * 4xx error in the API's shape, exactly the answer for an id that does not exist (so it
 * tells nothing), and not one row of firm B changes. A route with an id that has no case
 * here fails the suite, so a new route cannot slip past it.
 */

let h: Harness;
let A: TestFirm;
let B: TestFirm;

/** Firm B's objects, one of each kind an id can name. */
const b = {} as {
  user: string;
  enrolledUser: string;
  corporation: string;
  listedCorporation: string;
  authenticator: string;
  pendingTotp: string;
  pendingKey: string;
  pendingPush: string;
  transaction: string;
  application: string;
  secrets: string[];
};
/** Firm A's callers: each may use its routes with its own ids. */
let aUser: Agent; // a user of A who passed the second factor (My security)
let aEnrolling: Agent; // a login of A at the enrollment step
let aPending: Agent; // a login of A at the second-factor step, with a push sent
let aDevice: DeviceSimulator; // a Tessera Authenticator of a user of A
let aCorpUser: string; // a corp user of A, to move into B's corporation
let operator: Agent;

beforeAll(async () => {
  h = await startHarness({ clock: new ManualClock(Date.UTC(2026, 7, 1, 9, 0, 0)) });
  A = await mfaFirm(h, { licences: 20, enabled: 'staff', adminEnrolled: true });
  B = await mfaFirm(h, { licences: 20, enabled: 'staff', adminEnrolled: true });
  operator = await operatorAgent(h);

  // Firm B: a user with an authenticator app, a corporation on its MFA list and one not,
  // pending enrollments of every factor, a pending push and a fraud report.
  const bTotp = await totpUser(h, B);
  b.enrolledUser = bTotp.user.id;
  b.authenticator = bTotp.authenticatorId;
  b.user = (await person(h, B)).id;
  b.corporation = (await addCorporation(h, B.firm.id, 'B Holdings')).id;
  b.listedCorporation = (await addCorporation(h, B.firm.id, 'B Listed')).id;
  const listed = await B.admin.post(api('/admin/mfa/corporations'), { corporationId: b.listedCorporation });
  expect(listed.statusCode, listed.body).toBe(201);
  const enrolling = await loginAs(h, B, await person(h, B), 'enroll');
  b.pendingTotp = (await enrolling.post(api('/mfa/enrollment/totp'), {})).json().authenticatorId;
  b.pendingKey = (await enrolling.post(api('/mfa/enrollment/webauthn/options'), { label: 'Key' })).json().authenticatorId;
  b.pendingPush = (await enrolling.post(api('/mfa/enrollment/push'), { phone: { number: '07911 123456', country: 'GB' } })).json().authenticatorId;
  const bPush = await pushUser(h, B);
  b.transaction = (await sendPush(await loginAs(h, B, bPush.user, 'second_factor'))).transactionId;
  const bFraud = await pushUser(h, B);
  const fraud = await sendPush(await loginAs(h, B, bFraud.user, 'second_factor'));
  expect((await bFraud.device.answer(fraud.transactionId, 'deny', { reason: 'fraud' })).statusCode).toBe(200);
  // An application of B (a Duo integration: its integration key names it to the doors).
  const app = await B.admin.post(api('/admin/applications'), { type: 'duo_auth_api', name: 'B VPN' });
  expect(app.statusCode, app.body).toBe(201);
  b.application = app.json().application.id;
  const bAppKeys = [app.json().application.clientId as string, app.json().secret as string];
  b.secrets = [...bAppKeys, b.application, B.firm.id, B.superuser.email, bTotp.user.email, bPush.user.email, bFraud.user.email, b.user, b.enrolledUser, b.corporation, b.listedCorporation, b.transaction, fraud.transactionId];

  // Firm A's callers.
  const aTotp = await totpUser(h, A);
  aUser = await loginAs(h, A, aTotp.user, 'second_factor');
  expect((await aUser.post(api('/mfa/verify'), { method: 'totp', code: freshCode(h, aTotp.secret) })).statusCode).toBe(200);
  aEnrolling = await loginAs(h, A, await person(h, A), 'enroll');
  const aPush = await pushUser(h, A);
  aDevice = aPush.device;
  aPending = await loginAs(h, A, aPush.user, 'second_factor');
  await sendPush(aPending);
  const aCorp = await addCorporation(h, A.firm.id, 'A Holdings');
  aCorpUser = (await addUser(h, A.firm.id, { name: 'Cora Corp', email: 'cora@a.example', kind: 'corp_user', corporationId: aCorp.id })).id;
});
afterAll(() => h?.close());

type Call = (id: string) => Promise<LightMyRequestResponse>;

/**
 * For each route and id slot (`METHOD path slot`): who calls, and how, with `id` in that slot.
 * Firm B's object for the slot is `foreign`.
 */
const cases: Record<string, { foreign: () => string; call: Call }> = {};
const add = (key: string, foreign: () => string, call: Call) => void (cases[key] = { foreign, call });
const superA = (method: string, path: string, body?: (id: string) => Record<string, unknown>): Call => (id) =>
  A.admin.raw(method, fillPath(path, id), { body: body?.(id) });
const as = (agent: () => Agent, method: string, path: string, body?: Record<string, unknown>): Call => (id) => agent().raw(method, fillPath(path, id), { body });

// Firm administration: B's users and corporations, as A's superuser.
add('GET /api/v1/admin/users/:id id', () => b.user, superA('GET', '/api/v1/admin/users/:id'));
add('PATCH /api/v1/admin/users/:id id', () => b.user, superA('PATCH', '/api/v1/admin/users/:id', () => ({ name: 'Taken over' })));
add('PATCH /api/v1/admin/users/:id corporationId', () => b.corporation, (id) => A.admin.patch(api(`/admin/users/${aCorpUser}`), { corporationId: id }));
add('DELETE /api/v1/admin/users/:id id', () => b.user, superA('DELETE', '/api/v1/admin/users/:id'));
add('POST /api/v1/admin/users/:id/password-link id', () => b.user, superA('POST', '/api/v1/admin/users/:id/password-link'));
add('POST /api/v1/admin/users/:id/mfa-unlock id', () => b.user, superA('POST', '/api/v1/admin/users/:id/mfa-unlock'));
add('POST /api/v1/admin/users corporationId', () => b.corporation, superA('POST', '/api/v1/admin/users', (id) => ({ name: 'Spy', email: `spy-${randomUUID().slice(0, 6)}@a.example`, kind: 'corp_user', corporationId: id })));
add('GET /api/v1/admin/corporations/:id id', () => b.corporation, superA('GET', '/api/v1/admin/corporations/:id'));
add('PATCH /api/v1/admin/corporations/:id id', () => b.corporation, superA('PATCH', '/api/v1/admin/corporations/:id', () => ({ name: 'Renamed by A' })));
add('DELETE /api/v1/admin/corporations/:id id', () => b.corporation, superA('DELETE', '/api/v1/admin/corporations/:id'));
// Applications: B's application, as A's superuser (every action, and its calls list).
add('GET /api/v1/admin/applications/:id id', () => b.application, superA('GET', '/api/v1/admin/applications/:id'));
add('PATCH /api/v1/admin/applications/:id id', () => b.application, superA('PATCH', '/api/v1/admin/applications/:id', () => ({ name: 'Taken over' })));
add('DELETE /api/v1/admin/applications/:id id', () => b.application, superA('DELETE', '/api/v1/admin/applications/:id'));
add('POST /api/v1/admin/applications/:id/disable id', () => b.application, superA('POST', '/api/v1/admin/applications/:id/disable'));
add('POST /api/v1/admin/applications/:id/enable id', () => b.application, superA('POST', '/api/v1/admin/applications/:id/enable'));
add('POST /api/v1/admin/applications/:id/rotate-secret id', () => b.application, superA('POST', '/api/v1/admin/applications/:id/rotate-secret', () => ({ grace: 'none' })));
add('GET /api/v1/admin/applications/:id/calls id', () => b.application, superA('GET', '/api/v1/admin/applications/:id/calls'));
add('GET /api/v1/admin/applications/:id/logins id', () => b.application, superA('GET', '/api/v1/admin/applications/:id/logins'));
// The MFA page: B's listed corporation, B's enrolled user.
add('POST /api/v1/admin/mfa/corporations corporationId', () => b.corporation, superA('POST', '/api/v1/admin/mfa/corporations', (id) => ({ corporationId: id })));
add('PATCH /api/v1/admin/mfa/corporations/:corporationId corporationId', () => b.listedCorporation, superA('PATCH', '/api/v1/admin/mfa/corporations/:id', () => ({ corpUsers: false })));
add('DELETE /api/v1/admin/mfa/corporations/:corporationId corporationId', () => b.listedCorporation, superA('DELETE', '/api/v1/admin/mfa/corporations/:id'));
add('POST /api/v1/admin/mfa/enrolled/:userId/reset userId', () => b.enrolledUser, superA('POST', '/api/v1/admin/mfa/enrolled/:id/reset'));
// Subscriptions are the operator's: a firm's superuser gets 403 whatever the firm id.
for (const action of ['activate', 'decline', 'licence-request/decline', 'suspend', 'cancel']) {
  const body = action === 'activate' ? () => ({ planName: 'Stolen', licenceCount: 1 }) : undefined;
  add(`POST /api/v1/operator/subscriptions/:firmId/${action} firmId`, () => B.firm.id, superA('POST', `/api/v1/operator/subscriptions/:id/${action}`, body));
}
// The operator's own factors: a firm user's authenticator (B's) is no operator's, and a firm's
// superuser is no operator; the operator reset takes an operator id, never a firm user's.
add('PATCH /api/v1/operator/authenticators/:id id', () => b.authenticator, as(() => operator, 'PATCH', '/api/v1/operator/authenticators/:id', { label: 'Mine now' }));
add('DELETE /api/v1/operator/authenticators/:id id', () => b.authenticator, (id) => operator.delete(api(`/operator/authenticators/${encodeURIComponent(id)}?confirm=true`)));
add('POST /api/v1/operator/operators/:id/mfa-reset id', () => b.enrolledUser, as(() => operator, 'POST', '/api/v1/operator/operators/:id/mfa-reset'));
// My security: B's authenticator, as a user of A who passed the second factor.
add('PATCH /api/v1/me/authenticators/:id id', () => b.authenticator, as(() => aUser, 'PATCH', '/api/v1/me/authenticators/:id', { label: 'Mine now' }));
add('DELETE /api/v1/me/authenticators/:id id', () => b.authenticator, (id) => aUser.delete(api(`/me/authenticators/${encodeURIComponent(id)}?confirm=true`)));
// Enrollment at login: B's pending authenticators, from a login of A at the enrollment step.
add('POST /api/v1/mfa/enrollment/totp/:authenticatorId/confirm authenticatorId', () => b.pendingTotp, as(() => aEnrolling, 'POST', '/api/v1/mfa/enrollment/totp/:id/confirm', { code: '123456' }));
add('POST /api/v1/mfa/enrollment/webauthn/:authenticatorId/verify authenticatorId', () => b.pendingKey, (id) =>
  aEnrolling.post(api(`/mfa/enrollment/webauthn/${encodeURIComponent(id)}/verify`), {
    response: { id: 'AAAA', rawId: 'AAAA', type: 'public-key', clientExtensionResults: {}, response: { clientDataJSON: 'e30', attestationObject: 'oA' } },
  }),
);
add('GET /api/v1/mfa/enrollment/push/:authenticatorId authenticatorId', () => b.pendingPush, as(() => aEnrolling, 'GET', '/api/v1/mfa/enrollment/push/:id'));
add('POST /api/v1/mfa/enrollment/push/:authenticatorId/complete authenticatorId', () => b.pendingPush, as(() => aEnrolling, 'POST', '/api/v1/mfa/enrollment/push/:id/complete'));
add('POST /api/v1/mfa/enrollment/push/:authenticatorId/mail authenticatorId', () => b.pendingPush, as(() => aEnrolling, 'POST', '/api/v1/mfa/enrollment/push/:id/mail'));
// Push: B's pending request, waited on by a login of A and answered by a device of A (correctly signed).
add('GET /api/v1/mfa/push/:transactionId/wait transactionId', () => b.transaction, as(() => aPending, 'GET', '/api/v1/mfa/push/:id/wait'));
add('POST /api/v1/device/transactions/:id/answer id', () => b.transaction, (id) => aDevice.answer(id, 'deny', { reason: 'fraud' }));

/** Ids that name no firm's object: why each needs no cross-firm case. */
const notFirmObjects: Record<string, string> = {
  'POST /api/v1/passkey/verify challengeId':
    'an anonymous sign-in challenge, bound to no firm; the passkey that answers it decides the firm (passkeys.test.ts proves a passkey signs in only to its own firm)',
  'GET /api/v1/admin/audit-events userId': "a filter of the caller's own firm log: another firm's user id matches nothing (audit-log.test.ts proves it)",
  'GET /api/v1/admin/audit-events.csv userId': "a filter of the caller's own firm log: another firm's user id matches nothing (audit-log.test.ts proves it)",
  'GET /api/v1/operator/audit-events userId': "a filter of the operator's platform log, which no firm user can read",
  'GET /api/v1/operator/audit-events.csv userId': "a filter of the operator's platform log, which no firm user can read",
};

const slots = (routes: ApiRoute[]) => routes.flatMap((r) => r.ids.map((s) => ({ route: r, slot: s, key: `${r.key} ${s.name}` })));

describe('every route with an id has a cross-firm case', () => {
  it('no route with an id is left out, and no case names a route that is gone', async () => {
    const keys = slots(await apiRoutes(h.app)).map((s) => s.key);
    const missing = keys.filter((k) => !(k in cases) && !(k in notFirmObjects));
    expect(missing, 'routes with an id and no cross-firm case in test/security/cross-firm.test.ts').toEqual([]);
    const stale = [...Object.keys(cases), ...Object.keys(notFirmObjects)].filter((k) => !keys.includes(k));
    expect(stale, 'cases for routes the app no longer has').toEqual([]);
  });
});

describe("a caller of firm A with firm B's id: refused like an unknown id, firm B unchanged", () => {
  it.each(Object.keys(cases))('%s', async (key) => {
    const c = cases[key]!;
    const before = await firmState(h, B.firm.id);
    const foreign = await c.call(c.foreign());
    const unknown = await c.call(randomUUID());
    expect([400, 403, 404], `${key}: ${foreign.body}`).toContain(foreign.statusCode);
    const f = expectErrorShape(foreign);
    const u = expectErrorShape(unknown);
    expect({ status: foreign.statusCode, error: f.error, message: f.message }).toEqual({ status: unknown.statusCode, error: u.error, message: u.message });
    expect(await firmState(h, B.firm.id)).toEqual(before);
  });
});

describe("lists show only the caller's firm", () => {
  it("no firm-admin list of A names any of B's users, corporations, requests or reports", async () => {
    const lists = (await apiRoutes(h.app)).filter((r) => r.method === 'GET' && r.path.startsWith('/api/v1/admin/') && !r.path.includes(':'));
    expect(lists.length).toBeGreaterThan(5);
    for (const r of lists) {
      const res = await A.admin.get(r.path);
      expect(res.statusCode, `${r.key}: ${res.body}`).toBe(200);
      for (const secret of b.secrets) expect(res.body, `${r.key} shows ${secret}`).not.toContain(secret);
    }
    // B's own superuser does see them (the check above can fail).
    const bUsers = await B.admin.get(api('/admin/users?pageSize=100'));
    expect(bUsers.body).toContain(b.user);
    expect((await B.admin.get(api('/admin/mfa/fraud-reports'))).json().total).toBe(1);
  });

  it("A's device lists only its own user's requests, never B's pending one", async () => {
    const res = await aDevice.transactions();
    expect(res.statusCode, res.body).toBe(200);
    const ids = (res.json().items as { id: string }[]).map((t) => t.id);
    expect(ids).toHaveLength(1);
    expect(ids).not.toContain(b.transaction);
  });

  it("the same address in two firms: A's slug with B's user's password is refused like a wrong password", async () => {
    const shared = `shared-${randomUUID().slice(0, 6)}@example.com`;
    await addUser(h, B.firm.id, { name: 'Bea Both', email: shared, kind: 'vendor_case_manager' });
    await addUser(h, A.firm.id, { name: 'Abe Both', email: shared, kind: 'vendor_case_manager' }, 'another password entirely');
    const before = await firmState(h, B.firm.id);
    const res = await new Agent(h.app).post(api('/login'), { email: shared, password: PASSWORD, firm: A.firm.slug });
    expect(res.statusCode).toBe(401);
    expect(res.json().error).toBe('INVALID_CREDENTIALS');
    expect(await firmState(h, B.firm.id)).toEqual(before);
  });

  it('the operator is not a firm: firm routes refuse it', async () => {
    const res = await operator.get(api(`/admin/users/${b.user}`));
    expect(res.statusCode).toBe(403);
  });
});
