import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MINUTE, ManualClock } from '../src/clock.js';
import { DeviceSimulator } from './support/device-simulator.js';
import { beginMobile, keyOptions, totpUser } from './support/factors.js';
import { PHONE, api, browserOf, loginAs, mfaFirm, passwordLogin, person, sessionCookie, withSessionCookie } from './support/fixtures.js';
import { dbState, expectError, startHarness, totpCode, type Harness } from './support/harness.js';

/**
 * Issue 16 items 1 and 2, through HTTP: the enrollment of a login survives a reload, a second tab
 * and a browser closed mid-way (GET /mfa/enrollment/state, read from the server: what the login
 * began is noted on its attempt), and a login let through on the no-seat bypass cannot begin an
 * enrollment at all (409 NO_SEAT, the confirmation's refusal, before any secret or QR code is
 * made). Runs on SQLite, or on PostgreSQL with TESSERA_TEST_DATABASE_URL.
 */

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ clock: new ManualClock(Date.UTC(2026, 10, 2, 9, 0, 0)) });
});
afterAll(() => h?.close());

const state = async (agent: { get(path: string): Promise<{ statusCode: number; body: string; json(): any }> }) => {
  const res = await agent.get(api('/mfa/enrollment/state'));
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
};

describe('an enrollment survives a reload', () => {
  it('authenticator app: the same QR code and secret after a reload and in a second tab; done once confirmed', async () => {
    const f = await mfaFirm(h);
    const user = await person(h, f);
    const tab1 = await loginAs(h, f, user, 'enroll');
    expect(await state(tab1)).toEqual({ step: 'choose' });
    const begun = (await tab1.post(api('/mfa/enrollment/totp'), {})).json();

    // A reload (the same browser) and a second tab (the same cookie) see the enrollment in progress, not the picker.
    const tab2 = withSessionCookie(h, sessionCookie(tab1));
    for (const tab of [tab1, tab2]) expect(await state(tab)).toEqual({ step: 'in_progress', method: 'totp', totp: begun });

    // The browser closed mid-way: the code read from the app later still confirms it.
    h.clock.advance(3 * MINUTE);
    const confirmed = await tab2.post(api(`/mfa/enrollment/totp/${begun.authenticatorId}/confirm`), { code: totpCode(h, begun.secret) });
    expect(confirmed.statusCode, confirmed.body).toBe(200);
    expect(await state(tab2)).toEqual({ step: 'done' });
    // The first tab's session ended with the login it was: it signs in again.
    expectError(await tab1.get(api('/mfa/enrollment/state')), 401, 'UNAUTHENTICATED');
  });

  it('Tessera Authenticator: the same QR code while it lives; after the phone activates, "activated" (never the picker) until completed, then done', async () => {
    const f = await mfaFirm(h);
    const user = await person(h, f);
    const tab1 = await loginAs(h, f, user, 'enroll', browserOf(h));
    const begun = await beginMobile(tab1);
    const tab2 = withSessionCookie(h, sessionCookie(tab1));
    expect(await state(tab2)).toEqual({ step: 'in_progress', method: 'push', authenticatorId: begun.authenticatorId, phone: '+447911123456', push: begun });

    const device = await DeviceSimulator.create(h.app, h.clock);
    expect((await device.activate(begun.activationUrl)).statusCode).toBe(200);
    // A reload of either tab after the activation: finish (backup codes next), not the method picker.
    for (const tab of [tab1, tab2]) expect(await state(tab)).toEqual({ step: 'activated', method: 'push', authenticatorId: begun.authenticatorId });

    const done = await tab2.post(api(`/mfa/enrollment/push/${begun.authenticatorId}/complete`));
    expect(done.statusCode, done.body).toBe(200);
    expect(done.json().backupCodes).toHaveLength(10);
    expect(await state(tab2)).toEqual({ step: 'done' });
  });

  it('Tessera Authenticator: a QR code that expired unused leaves the picker again', async () => {
    const f = await mfaFirm(h);
    const agent = await loginAs(h, f, await person(h, f), 'enroll');
    const begun = await beginMobile(agent);
    // The code's 10 minutes are up (the pending login itself may last longer: its row is moved, not the clock).
    await h.ctx.db.updateTable('device_activations').set({ expires_at: h.clock.now() }).where('authenticator_id', '=', begun.authenticatorId).execute();
    expect(await state(agent)).toEqual({ step: 'choose' });
  });

  it("security key: the key step again, with its label; another login of the same user never sees this login's enrollment", async () => {
    const f = await mfaFirm(h);
    const user = await person(h, f);
    const agent = await loginAs(h, f, user, 'enroll');
    const options = await keyOptions(agent, 'Desk key');
    expect(await state(agent)).toEqual({ step: 'in_progress', method: 'webauthn', authenticatorId: options.authenticatorId, label: 'Desk key' });
    // Someone else with the password (another login) is not shown the secret this login began.
    const other = await loginAs(h, f, user, 'enroll');
    const started = (await agent.post(api('/mfa/enrollment/totp'), {})).json();
    expect(started.secret).toMatch(/^[A-Z2-7]+$/);
    expect(await state(other)).toEqual({ step: 'choose' });
  });
});

describe('no seat, no enrollment', () => {
  it('a login on the no-seat bypass is refused at the start of every enrollment with the confirmation\'s NO_SEAT, and nothing is made', async () => {
    const f = await mfaFirm(h, { licences: 1 });
    await totpUser(h, f); // takes the only seat
    const user = await person(h, f);
    const { agent, body } = await passwordLogin(h, f, user);
    expect(body).toMatchObject({ next: 'home', notice: 'mfa_bypassed_no_seat' });

    const before = await dbState(h);
    const refusals = [
      await agent.post(api('/mfa/enrollment/totp'), {}),
      await agent.post(api('/mfa/enrollment/push'), { phone: PHONE }),
      await agent.post(api('/mfa/enrollment/webauthn/options'), { label: 'Security key' }),
    ];
    for (const res of refusals) {
      expectError(res, 409, 'NO_SEAT');
      expect(res.json().message).toBe('No MFA licence is free in your firm right now, so the authenticator cannot be added. Ask your administrator for more licences.');
    }
    expect(await dbState(h)).toEqual(before);
    expect((await agent.get(api('/mfa/enrollment'))).json()).toMatchObject({ seatAvailable: false, enrolled: false });

    // A seat freed: the same login may enrol.
    await h.ctx.db.updateTable('subscriptions').set({ licence_count: 2 }).where('firm_id', '=', f.firm.id).execute();
    expect((await agent.post(api('/mfa/enrollment/totp'), {})).statusCode).toBe(201);
  });
});
