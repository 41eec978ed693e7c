import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.js';
import { countLogin, utcDay } from '../src/core/login-counts.js';
import { duoApiSig } from './support/duo-clients.js';
import { DOORS_ENV, oidcDriver, webDriver, type Login } from './support/doors.js';
import { freshCode, totpUser, type TotpUser } from './support/factors.js';
import { api, mfaFirm, person } from './support/fixtures.js';
import { PASSWORD, startHarness, type Harness, type TestFirm } from './support/harness.js';

/**
 * Logins per application (issue 15 item 6): the counters the core keeps per firm, application and
 * UTC day (src/core/login-counts.ts), as each door's logins move them, and as the Usage section
 * (GET /admin/mfa/logins) and an application's page (GET /admin/applications/:id/logins) read
 * them. Tessera's own sign-in (web door), an OpenID Connect application and a Duo Auth API application (allow at preauth, passcode at auth), each with a second
 * factor, on the no-seat bypass and on the password alone. Runs on SQLite, or on PostgreSQL with
 * TESSERA_TEST_DATABASE_URL.
 */

let h: Harness;
let f: TestFirm;
let coder: TotpUser;
let oidcApp: string;
let duo: { id: string; ikey: string; skey: string };

beforeAll(async () => {
  h = await startHarness({ env: DOORS_ENV, clock: new ManualClock(Date.UTC(2026, 10, 2, 9, 0, 0)) });
  // Two licences: the superuser's and the coder's; a third covered user finds none free (the no-seat bypass).
  f = await mfaFirm(h, { licences: 2, adminEnrolled: true, setUp: (firm) => oidcDriver.setUpFirm!(h, firm) });
  coder = await totpUser(h, f);
  const apps = (await f.admin.get(api('/admin/applications'))).json() as { items: { id: string; type: string }[] };
  oidcApp = apps.items.find((a) => a.type === 'oidc')!.id;
  const created = await f.admin.post(api('/admin/applications'), { type: 'duo_auth_api', name: 'VPN gateway', newUserPolicy: 'allow' });
  expect(created.statusCode, created.body).toBe(201);
  duo = { id: created.json().application.id, ikey: created.json().application.clientId, skey: created.json().secret };
});
afterAll(() => h?.close());

const at = (user: { email: string }, password = PASSWORD): Login => ({ realm: 'firm', email: user.email, firmSlug: f.firm.slug, password });

/** A Duo Auth API call signed as @duosecurity/duo_api signs it (v2, its own duo_sig), dated by the harness's clock. */
async function duoCall(path: string, params: Record<string, string>) {
  const date = new Date(h.clock.now()).toUTCString();
  const authorization = duoApiSig.sign(duo.ikey, duo.skey, 'POST', 'localhost', path, params, date);
  const res = await h.app.inject({ method: 'POST', url: path, headers: { host: 'localhost', date, authorization, 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(params).toString() });
  const body = res.json() as { stat: string; response: { result: string; status?: string } };
  expect(body.stat, res.body).toBe('OK');
  return body.response;
}

type Row = { applicationId: string | null; name: string; type: string; logins: number; secondFactor: number; bypass: number };
async function usage(days?: number) {
  const res = await f.admin.get(api(`/admin/mfa/logins${days ? `?days=${days}` : ''}`));
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { days: number; from: number; rows: Row[] };
}
const rowOf = (rows: Row[], applicationId: string | null) => rows.find((r) => r.applicationId === applicationId)!;
const counts = (r: Row) => ({ logins: r.logins, secondFactor: r.secondFactor, bypass: r.bypass });

describe('logins per application', () => {
  it('every door counts its logins where they go: with a second factor, on the no-seat bypass, on the password alone; refusals and denials count nothing', async () => {
    const before = await usage();
    expect(before.rows.map((r) => r.name)).toEqual(['Tessera sign-in', 'Rules Portal', 'VPN gateway']);
    // The harness's logins so far (the superuser's and the coder's enrollments) are Tessera's own.
    const tesseraBefore = counts(rowOf(before.rows, null));
    expect(counts(rowOf(before.rows, oidcApp))).toEqual({ logins: 0, secondFactor: 0, bypass: 0 });

    const vendor = await person(h, f, { kind: 'vendor_case_manager' });
    const late = await person(h, f);

    // Tessera's own sign-in (the web door): a second factor, the bypass, the password alone; a wrong password and a wrong code count nothing.
    const web = webDriver.client(h);
    expect(await web.signIn(at(coder.user))).toMatchObject({ result: 'second_factor' });
    expect(await web.answer({ method: 'totp', code: '000000' })).toMatchObject({ result: 'refused' });
    expect(await web.answer({ method: 'totp', code: freshCode(h, coder.secret) })).toMatchObject({ result: 'signed_in' });
    expect(await webDriver.client(h).signIn(at(late))).toMatchObject({ result: 'signed_in', bypassed: true });
    expect(await webDriver.client(h).signIn(at(vendor))).toMatchObject({ result: 'signed_in', bypassed: false });
    expect(await webDriver.client(h).signIn(at(vendor, 'not the password'))).toMatchObject({ result: 'refused' });

    // The OpenID Connect application: each sign-in through Tessera's page counts there and for the application, as its session was made.
    const portal = oidcDriver.client(h);
    expect(await portal.signIn(at(coder.user))).toMatchObject({ result: 'second_factor' });
    expect(await portal.answer({ method: 'totp', code: freshCode(h, coder.secret) })).toMatchObject({ result: 'signed_in' });
    expect(await oidcDriver.client(h).signIn(at(late))).toMatchObject({ result: 'signed_in', bypassed: true });
    expect(await oidcDriver.client(h).signIn(at(vendor))).toMatchObject({ result: 'signed_in', bypassed: false });

    // The Duo application: allow at preauth (not covered; bypass; a username Tessera does not know, allowed by the policy), a passcode at auth; a wrong passcode is a deny.
    expect(await duoCall('/auth/v2/preauth', { username: vendor.email })).toMatchObject({ result: 'allow' });
    expect(await duoCall('/auth/v2/preauth', { username: late.email })).toMatchObject({ result: 'allow' });
    expect(await duoCall('/auth/v2/preauth', { username: 'nobody@elsewhere.example' })).toMatchObject({ result: 'allow' });
    expect(await duoCall('/auth/v2/preauth', { username: coder.user.email })).toMatchObject({ result: 'auth' });
    expect(await duoCall('/auth/v2/auth', { username: coder.user.email, factor: 'passcode', passcode: '000000' })).toMatchObject({ result: 'deny' });
    expect(await duoCall('/auth/v2/auth', { username: coder.user.email, factor: 'passcode', passcode: freshCode(h, coder.secret) })).toMatchObject({ result: 'allow' });

    const after = await usage();
    expect(after).toMatchObject({ days: 30, from: (utcDay(h.clock.now()) - 29) * 86_400_000 });
    // Web: 1 + 1 + 1; OIDC's sign-in page: 1 + 1 + 1 more.
    expect(counts(rowOf(after.rows, null))).toEqual({ logins: tesseraBefore.logins + 6, secondFactor: tesseraBefore.secondFactor + 2, bypass: tesseraBefore.bypass + 2 });
    expect(counts(rowOf(after.rows, oidcApp))).toEqual({ logins: 3, secondFactor: 1, bypass: 1 });
    expect(counts(rowOf(after.rows, duo.id))).toEqual({ logins: 4, secondFactor: 1, bypass: 1 });
    expect(rowOf(after.rows, duo.id)).toMatchObject({ name: 'VPN gateway', type: 'duo_auth_api', status: 'active' });

    // The application's page: its own count.
    const page = await f.admin.get(api(`/admin/applications/${duo.id}/logins`));
    expect(page.statusCode, page.body).toBe(200);
    expect(page.json()).toEqual({ days: 30, from: after.from, logins: 4, secondFactor: 1, bypass: 1 });
  });

  it('the period: today and the days before it, in UTC; 7, 30 or 90 days, anything else 400; another firm sees none of it', async () => {
    const now = h.clock.now();
    const base = counts(rowOf((await usage(90)).rows, duo.id));
    await countLogin(h.ctx.db, { firmId: f.firm.id, applicationId: duo.id, at: now - 6 * 86_400_000, kind: 'second_factor' });
    await countLogin(h.ctx.db, { firmId: f.firm.id, applicationId: duo.id, at: now - 29 * 86_400_000, kind: 'bypass' });
    await countLogin(h.ctx.db, { firmId: f.firm.id, applicationId: duo.id, at: now - 30 * 86_400_000, kind: 'password_only' });
    const d7 = counts(rowOf((await usage(7)).rows, duo.id));
    const d30 = counts(rowOf((await usage(30)).rows, duo.id));
    const d90 = counts(rowOf((await usage(90)).rows, duo.id));
    expect(d90).toEqual({ logins: base.logins + 3, secondFactor: base.secondFactor + 1, bypass: base.bypass + 1 });
    expect(d30).toEqual({ logins: d90.logins - 1, secondFactor: d90.secondFactor, bypass: d90.bypass });
    expect(d7).toEqual({ logins: d30.logins - 1, secondFactor: d30.secondFactor, bypass: d30.bypass - 1 });
    expect((await f.admin.get(api(`/admin/applications/${duo.id}/logins?days=7`))).json()).toMatchObject(d7);

    for (const bad of ['14', '0', 'x', '30&days=7']) {
      const res = await f.admin.get(api(`/admin/mfa/logins?days=${bad}`));
      expect(res.statusCode, bad).toBe(400);
      expect(res.json()).toMatchObject({ error: expect.any(String), message: expect.any(String) });
    }
    expect((await f.admin.get(api(`/admin/mfa/logins?from=0`))).statusCode).toBe(400);

    const other = await mfaFirm(h, { adminEnrolled: true });
    const theirs = await other.admin.get(api('/admin/mfa/logins'));
    expect(theirs.statusCode).toBe(200);
    expect((theirs.json() as { rows: Row[] }).rows.map((r) => r.name)).toEqual(['Tessera sign-in']);
    expect((await other.admin.get(api(`/admin/applications/${duo.id}/logins`))).statusCode).toBe(404);
  });

  it('logins at once all count (one upsert per login, atomic on both databases)', async () => {
    const day = Date.UTC(2026, 5, 1, 12);
    await Promise.all(Array.from({ length: 25 }, (_, i) => countLogin(h.ctx.db, { firmId: f.firm.id, applicationId: oidcApp, at: day + i, kind: i % 5 === 0 ? 'bypass' : 'second_factor' })));
    const row = await h.ctx.db.selectFrom('login_counts').selectAll().where('firm_id', '=', f.firm.id).where('application_key', '=', oidcApp).where('day', '=', utcDay(day)).executeTakeFirstOrThrow();
    expect({ logins: Number(row.logins), secondFactor: Number(row.second_factor), bypass: Number(row.bypass) }).toEqual({ logins: 25, secondFactor: 20, bypass: 5 });
  });
});
