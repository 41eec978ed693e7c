import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mfaFirm, person } from '../support/fixtures.js';
import { firmWithAdmin, type TestFirm } from '../support/harness.js';
import { enrolAuthenticatorApp, startBrowserRig, signIn, type BrowserRig } from './browser.js';

/**
 * The Duo Auth API's two screens in Chromium, at desktop width and on a 360 px phone: the
 * superuser gives a user a username alias (Users -> Edit), and an application's enroll_portal_url
 * opens the user's enrollment (a used or broken link says so), which ends with no Tessera session:
 * "Go back to <application> and sign in again". Screenshots go to test-results/.
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
