import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signedDuoFetch } from '../support/duo-clients.js';
import { beginMobile } from '../support/factors.js';
import { api, loginAs, mfaFirm, person } from '../support/fixtures.js';
import { addUser, firmWithAdmin, PASSWORD, type TestFirm } from '../support/harness.js';
import { enrolAuthenticatorApp, startBrowserRig, signIn, type BrowserRig } from './browser.js';

/**
 * The Duo Auth API's two screens in Chromium, at desktop width and on a 360 px phone: the
 * superuser gives a user a username alias (Users -> Edit), and an application's enroll_portal_url
 * opens the user's enrollment (a used or broken link says so), which ends with no Tessera session:
 * "Go back to <application> and sign in again"; and a push an Auth API application sends with
 * `type`, `display_username` and `pushinfo` is shown, all of it, in the Tessera Authenticator.
 * Screenshots go to test-results/.
 */
describe('Duo Auth API screens in Chromium', () => {
  let rig: BrowserRig;
  let page: Page;
  let f: TestFirm;
  const shot = (name: string, p: Page = page) => p.screenshot({ path: `test-results/duo-${name}.png`, fullPage: true });

  beforeAll(async () => {
    rig = await startBrowserRig();
    page = rig.page;
    // The superuser enrolled (a covered superuser who is not is asked to enrol before any admin request).
    f = await mfaFirm(rig.h, { enabled: 'staff', adminEnrolled: true });
  });
  afterAll(() => rig?.close());

  const duoPost = (keys: { ikey: string; skey: string }, path: string, params: Record<string, string>, method: 'POST' | 'GET' = 'POST') =>
    signedDuoFetch(rig.baseUrl, rig.h.clock.now(), keys, method, path, params);

  it("a push from an Auth API application shows, in the Tessera Authenticator, the application, its type (\"Verify request\"), the display username and every pushinfo pair, at 360 px and on a desktop", async () => {
    // A long address: the card must wrap it on the phone.
    const payer = await addUser(rig.h, f.firm.id, { name: 'Robin Payer', email: 'robin.payer-of-the-accounts-payable-team@duofirm-offices.example', kind: 'case_manager' }, PASSWORD);
    // Robin's Tessera Authenticator is this browser's app on a 360 px phone, activated from the enrollment's link.
    const agent = await loginAs(rig.h, f, payer, 'enroll');
    const begun = await beginMobile(agent);
    const phoneContext = await rig.browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
    const phone = await phoneContext.newPage();
    await phone.goto(begun.activationUrl);
    await phone.getByText(`Activated for ${payer.email} at ${f.firm.name}.`).waitFor();
    expect((await agent.post(api(`/mfa/enrollment/push/${begun.authenticatorId}/complete`))).statusCode).toBe(200);

    const created = await f.admin.post('/api/v1/admin/applications', { type: 'duo_auth_api', name: 'Payroll portal' });
    expect(created.statusCode, created.body).toBe(201);
    const keys = { ikey: created.json().application.clientId as string, skey: created.json().secret as string };
    const pre = await duoPost(keys, '/auth/v2/preauth', { username: payer.email, client_supports_verified_push: '1' });
    expect(pre).toMatchObject({ result: 'auth', txid: expect.any(String), verification_code: expect.stringMatching(/^\d{6}$/) });
    const pairs: [string, string][] = [
      ['Amount', '€ 12,500.00'],
      ['Payee', '<b>Northwind</b> & Partners Ltd'],
      ['IBAN', 'GB33BUKB20201555555555'],
      ['Reference', 'Invoice 2026-11-0042 for the quarterly retainer of the litigation support team'],
    ];
    const { txid } = await duoPost(keys, '/auth/v2/auth', {
      username: payer.email,
      factor: 'push',
      device: 'auto',
      async: '1',
      txid: pre.txid,
      type: 'Wire transfer',
      display_username: 'rpayer',
      pushinfo: new URLSearchParams(pairs).toString(),
    });

    const card = phone.getByRole('article', { name: `Sign-in request for ${payer.email}` });
    await card.waitFor({ timeout: 15_000 });
    await card.getByRole('heading', { name: 'Verify request', level: 3 }).waitFor();
    await card.getByText('Wire transfer: Payroll portal', { exact: true }).waitFor();
    const row = (term: string) => card.locator(`dt:text-is("${term}") + dd`).first();
    expect(await row('User').textContent()).toBe('rpayer');
    expect(await row('Account').textContent()).toBe(`Robin Payer (${payer.email})`);
    expect(await row('App').textContent()).toBe('Payroll portal');
    expect(await row('Request').textContent()).toBe('Wire transfer');
    const sent = card.getByRole('region', { name: 'Sent by Payroll portal' });
    for (const [label, value] of pairs) expect(await sent.locator(`dt:text-is("${label}") + dd`).textContent()).toBe(value);
    // Markup the application sent is text, not markup.
    expect(await sent.locator('b').count()).toBe(0);
    // Nothing wider than the phone; every line readable (no text cut by its box).
    const fit = await phone.evaluate(() => ({
      page: document.documentElement.scrollWidth,
      screen: window.innerWidth,
      clipped: [...document.querySelectorAll('.auth-request dd, .auth-request dt, .auth-request p, .auth-request h4')].filter((e) => e.scrollWidth > e.clientWidth + 1).length,
    }));
    expect(fit.page).toBeLessThanOrEqual(fit.screen);
    expect(fit.clipped).toBe(0);
    await shot('push-request-360', phone);
    await phone.setViewportSize({ width: 1280, height: 800 });
    await shot('push-request-desktop', phone);

    await card.getByLabel('Number shown on the login screen').fill(pre.verification_code);
    await card.getByRole('button', { name: 'Approve' }).click();
    await phone.getByText('Approved. The sign-in continues on the other screen.').waitFor();
    expect(await duoPost(keys, '/auth/v2/auth_status', { txid }, 'GET')).toMatchObject({ result: 'allow', status: 'allow' });
    await phoneContext.close();
  });

  it('the superuser sets a username alias in the user editor', async () => {
    // A firm whose superuser signs in with the password alone (no MFA configured).
    const g = await firmWithAdmin(rig.h);
    const pat = await person(rig.h, g, { name: 'Pat Alias' });
    await signIn(rig, page, g.superuser.email);
    await page.getByRole('heading', { name: /^Welcome/ }).waitFor();
    await page.goto(`${rig.baseUrl}/admin/users`);
    await page.getByRole('button', { name: `Edit ${pat.name}` }).click();
    const field = page.getByLabel('Username alias (Duo applications)');
    await field.fill('pat.alias');
    await shot('alias-desktop');
    await page.setViewportSize({ width: 360, height: 800 });
    await shot('alias-360');
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.getByRole('form', { name: 'Edit user' }).getByRole('button', { name: /Save/ }).click();
    await expect.poll(async () => (await rig.h.ctx.db.selectFrom('users').select('username_alias').where('id', '=', pat.id).executeTakeFirstOrThrow()).username_alias).toBe('pat.alias');
  });

  it('an enroll_portal_url opens the enrollment once, ends it with no Tessera session (back to the application); a used link says so', async () => {
    const newcomer = await person(rig.h, f, { name: 'Nia Newcomer' });
    const res = await f.admin.post('/api/v1/admin/applications', { type: 'duo_auth_api', name: 'VPN' });
    expect(res.statusCode, res.body).toBe(201);
    const token = 'A'.repeat(43);
    // The link as preauth issues it (src/duo/auth-api.service.ts): stored as its hash, 10 minutes.
    const { enrollLinkId } = await import('../../src/applications/enroll-link.js');
    const now = rig.h.clock.now();
    await rig.h.ctx.db
      .insertInto('duo_transactions')
      .values({ id: enrollLinkId(token), firm_id: f.firm.id, application_id: res.json().application.id, user_id: newcomer.id, kind: 'enroll_portal', attempt_id: null, push_id: null, number: null, result: 'waiting', status: 'enroll', status_msg: '', used_at: null, created_at: now, expires_at: now + 600_000 })
      .execute();
    const context = await rig.browser.newContext({ viewport: { width: 360, height: 800 } });
    const phone = await context.newPage();
    await phone.goto(`${rig.baseUrl}/enroll/duo#${token}`);
    await phone.waitForURL(`${rig.baseUrl}/enroll`);
    await phone.getByRole('heading', { level: 1 }).waitFor();
    await shot('enroll-link-360', phone);
    const again = await context.newPage();
    await again.goto(`${rig.baseUrl}/enroll/duo#${token}`);
    await again.getByRole('alert').waitFor();
    await shot('enroll-link-used-360', again);
    expect(await again.getByRole('alert').textContent()).toMatch(/link/i);
    await again.close();

    // The enrollment itself (an authenticator app, backup codes), then the last screen: back to the application, signed in nowhere.
    await enrolAuthenticatorApp(rig, phone);
    const done = phone.getByRole('status');
    await expect.poll(() => done.textContent()).toBe('Your authenticator is set up. Go back to VPN and sign in again.');
    expect(await phone.getByRole('button', { name: 'Cancel and sign out' }).count()).toBe(0);
    expect(await phone.getByRole('main').getByRole('link').count()).toBe(0);
    await shot('enroll-link-done-360', phone);
    await phone.setViewportSize({ width: 1280, height: 800 });
    await shot('enroll-link-done-desktop', phone);
    expect((await context.cookies()).filter((c) => c.name.includes('tessera_session'))).toEqual([]);
    expect(await rig.h.ctx.db.selectFrom('sessions').select('id').where('user_id', '=', newcomer.id).execute()).toEqual([]);
    expect((await phone.request.get(`${rig.baseUrl}/api/v1/me`)).status()).toBe(401);
    await context.close();
  });
});
