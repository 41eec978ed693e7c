import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { activateSubscription, addUser, firmWithAdmin, type TestFirm } from '../support/harness.js';
import { enrolAuthenticatorApp, signIn, startBrowserRig, type BrowserRig } from './browser.js';

/**
 * Issue 16 item 4 in Chromium: the superuser enables MFA for case managers, their own kind; the
 * next admin click asks them to enrol (403 MFA_ENROLLMENT_REQUIRED -> /enroll?next=...), they enrol
 * an authenticator app, and land back on the admin page they asked for.
 */
describe('a superuser covered by their own change, in Chromium', () => {
  let rig: BrowserRig;
  let page: Page;
  let firm: TestFirm;

  beforeAll(async () => {
    rig = await startBrowserRig();
    page = rig.page;
    firm = await firmWithAdmin(rig.h, 'harbour');
    await activateSubscription(rig.h, firm.firm.id, 5);
    await addUser(rig.h, firm.firm.id, { name: 'Carl Case', email: 'carl@harbour.example', kind: 'case_manager' });
  });
  afterAll(() => rig?.close());

  it('enables MFA for case managers, is asked to enrol at the next admin click, enrols, and lands on that page', async () => {
    await signIn(rig, page, firm.superuser.email);
    await page.getByRole('heading', { name: 'Welcome, Sam Super' }).waitFor();
    const nav = () => page.getByRole('navigation', { name: 'Firm administration' });
    await page.goto(`${rig.baseUrl}/admin/mfa`);
    await page.getByRole('heading', { name: 'Multi-factor authentication', level: 1, exact: true }).waitFor();

    await page.getByLabel('Enable for All Case Managers').click();
    const ask = page.getByRole('alertdialog', { name: 'Enable MFA for all case managers?' });
    await ask.getByText('This includes you: you will be asked to set up your second factor next.').waitFor();
    await ask.getByRole('button', { name: 'Enable MFA' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved: MFA is on for all case managers.' }).waitFor();

    // The next admin request answers 403 MFA_ENROLLMENT_REQUIRED: the app goes to the enrollment, keeping the page asked for.
    await nav().getByRole('link', { name: 'Users' }).click();
    await page.getByRole('heading', { name: 'Set up multi-factor authentication', level: 1 }).waitFor();
    const url = new URL(page.url());
    expect(url.pathname).toBe('/enroll');
    expect(url.searchParams.get('next')).toBe('/admin/users');
    await page.screenshot({ path: 'test-results/superuser-enroll-desktop.png', fullPage: true });

    expect(await enrolAuthenticatorApp(rig, page)).toMatch(/^[A-Z2-7]{32}$/);

    await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/admin/users');
    await page.getByRole('cell', { name: 'Carl Case' }).first().waitFor();
    const seats = await rig.h.ctx.db.selectFrom('seats').selectAll().where('user_id', '=', firm.superuser.id).execute();
    expect(seats).toHaveLength(1);

    // At 360 px the way back works the same: the MFA page answers now.
    await page.setViewportSize({ width: 360, height: 740 });
    await page.goto(`${rig.baseUrl}/admin/mfa`);
    await page.getByRole('heading', { name: 'Multi-factor authentication', level: 1, exact: true }).waitFor();
    await page.screenshot({ path: 'test-results/superuser-mfa-360.png', fullPage: true });
  });
});
