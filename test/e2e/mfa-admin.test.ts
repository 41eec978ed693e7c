import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { UserView } from '../../src/directory/user.view.js';
import { addCorporation, addUser, enrolledOperator, enrollForTest, firmWithAdmin, totpCode, type TestFirm, type TestOperator } from '../support/harness.js';
import { startBrowserRig, type BrowserRig, signIn } from './browser.js';

/**
 * Reference A.1 to A.2.7 in a real browser: a superuser subscribes, the operator activates
 * the subscription with 5 licences, and the superuser configures MFA, watches the counters,
 * and resets an enrollment.
 */
describe('MFA administration in Chromium', () => {
  let rig: BrowserRig;
  let page: Page;
  let operatorPage: Page;
  let firm: TestFirm;
  let carl: UserView;
  const OPERATOR_EMAIL = 'olga@platform.example';
  let operator: TestOperator;

  beforeAll(async () => {
    rig = await startBrowserRig();
    page = rig.page;
    // The operator works in a browser of their own (a separate cookie jar).
    operatorPage = await (await rig.browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();

    const h = rig.h;
    operator = await enrolledOperator(h, OPERATOR_EMAIL);
    firm = await firmWithAdmin(h, 'meridian');
    carl = await addUser(h, firm.firm.id, { name: 'Carl Case', email: 'carl@meridian.example', kind: 'case_manager' });
    await addUser(h, firm.firm.id, { name: 'Vera Vendor', email: 'vera@meridian.example', kind: 'vendor_case_manager' });
    const northwind = await addCorporation(h, firm.firm.id, 'Northwind Traders');
    const contoso = await addCorporation(h, firm.firm.id, 'Contoso');
    await addUser(h, firm.firm.id, { name: 'Nora North', email: 'nora@northwind.example', kind: 'corp_user', corporationId: northwind.id });
    await addUser(h, firm.firm.id, { name: 'Felix Foreign', email: 'felix@northwind.example', kind: 'foreign_national', corporationId: northwind.id });
    await addUser(h, firm.firm.id, { name: 'Cora Contoso', email: 'cora@contoso.example', kind: 'corp_user', corporationId: contoso.id });
  });
  afterAll(() => rig?.close());

  const signInTo = async (p: Page, path: string, email: string, heading: string) => {
    await signIn(rig, p, email, path);
    await p.getByRole('heading', { name: heading }).waitFor();
  };

  const counter = (text: string) => page.getByRole('list', { name: 'MFA-enabled users' }).getByText(text, { exact: true });
  const usage = () => page.getByRole('region', { name: 'Usage' });

  it('lets the superuser subscribe from Setup > Subscriptions', async () => {
    await signInTo(page, '/login', firm.superuser.email, 'Welcome, Sam Super');
    await page.getByRole('navigation', { name: 'Firm administration' }).getByRole('link', { name: 'Subscriptions' }).click();
    await page.getByRole('heading', { name: 'Subscriptions', level: 1 }).waitFor();

    const security = page.getByRole('region', { name: 'Security and Privacy' });
    await security.getByText('Not subscribed', { exact: true }).waitFor();
    await security.getByRole('button', { name: 'Subscribe' }).click();
    await page.getByRole('status').filter({ hasText: 'Subscription requested. The accounts team will get in touch to activate it.' }).waitFor();
    await security.getByText('Requested — the accounts team will contact you').waitFor();
    expect(await security.getByRole('button', { name: 'Subscribe' }).count()).toBe(0);
  });

  it('lets the operator activate the subscription with 5 licences', async () => {
    // The operator's own second factor (issue 8.6): password, then a passcode of their app.
    await signInTo(operatorPage, '/operator/login', OPERATOR_EMAIL, 'Second factor');
    rig.h.clock.advance(30_000); // a time step the enrolment did not use
    const passcode = operatorPage.getByRole('form', { name: 'Passcode' });
    await passcode.getByLabel('Passcode').fill(totpCode(rig.h, operator.secret));
    await passcode.getByRole('button', { name: 'Verify' }).click();
    await operatorPage.getByRole('heading', { name: 'Firms' }).waitFor();
    await operatorPage.getByRole('navigation', { name: 'Operator console' }).getByRole('link', { name: 'Subscriptions' }).click();
    await operatorPage.getByRole('heading', { name: 'Subscriptions', level: 1 }).waitFor();

    const table = operatorPage.getByRole('table', { name: 'Subscriptions' });
    const row = table.getByRole('row').filter({ hasText: firm.firm.name });
    // Each cell also carries its column name for phone layouts: read the State cell's value.
    const state = () => row.getByRole('cell').nth(1).locator('.cell-value').textContent();
    await expect.poll(state).toBe('Requested');
    await row.getByRole('button', { name: `Activate ${firm.firm.name}` }).click();

    const form = operatorPage.getByRole('form', { name: `Activate ${firm.firm.name}` });
    await form.getByLabel('Plan name').fill('Standard');
    await form.getByLabel('Licences', { exact: true }).fill('5');
    await form.getByRole('button', { name: 'Activate', exact: true }).click();
    await operatorPage.getByRole('status').filter({ hasText: `${firm.firm.name} is active` }).waitFor();
    await expect.poll(state).toBe('Active');
    expect(await row.getByRole('cell').nth(3).locator('.cell-value').textContent()).toBe('5');

    const sub = await rig.h.ctx.db.selectFrom('subscriptions').selectAll().where('firm_id', '=', firm.firm.id).executeTakeFirstOrThrow();
    expect(sub).toMatchObject({ state: 'active', plan_name: 'Standard', licence_count: 5, starts_at: null, ends_at: null });
  });

  it('lets the superuser enable MFA for all case managers and for one corporation\'s foreign nationals', async () => {
    // Carl enrols (as the next issue's enrollment screens will): he holds one of the 5 seats.
    expect(await enrollForTest(rig.h, firm.firm.id, carl.id, 'totp')).toBe('taken');
    await rig.h.ctx.db.updateTable('authenticators').set({ phone_e164: '+14155550123' }).where('user_id', '=', carl.id).execute();

    await page.reload();
    await page.getByRole('link', { name: 'Multi-factor authentication (MFA)' }).click();
    await page.getByRole('heading', { name: 'Multi-factor authentication', level: 1 }).waitFor();
    for (const name of ['Subscription Plan', 'Configuration', 'Enrolled Users', 'Usage', 'Fraud reports']) {
      await page.getByRole('region', { name }).getByRole('heading', { name, level: 2 }).waitFor();
    }
    const plan = page.getByRole('region', { name: 'Subscription Plan' });
    await plan.getByText('Standard', { exact: true }).waitFor();

    await counter('Case managers: 0').waitFor();
    await page.getByLabel('Enable for All Case Managers').check();
    // Sam (the superuser) and Carl are the firm's case managers.
    await counter('Case managers: 2').waitFor();
    await counter('Vendor case managers: 0').waitFor();

    await page.getByRole('radiogroup', { name: 'Corporations' }).getByLabel('Specific corporations').check();
    await page.getByLabel('Corporation', { exact: true }).selectOption({ label: 'Northwind Traders' });
    await page.getByRole('button', { name: 'Add corporation' }).click();
    const corporations = page.getByRole('table', { name: 'MFA corporations' });
    await corporations.getByRole('cell', { name: 'Northwind Traders', exact: true }).waitFor();
    // Added with both kinds on; turn its corp users off so only its foreign nationals are enabled.
    await counter('Foreign nationals: 1').waitFor();
    await corporations.getByLabel('Corp users of Northwind Traders').uncheck();
    await counter('Corp users: 0').waitFor();
    await counter('Foreign nationals: 1').waitFor();
    expect(await corporations.getByLabel('Foreign nationals of Northwind Traders').isChecked()).toBe(true);
    // An added corporation is no longer offered.
    expect(await page.getByLabel('Corporation', { exact: true }).locator('option', { hasText: 'Northwind Traders' }).count()).toBe(0);

    const settings = await rig.h.ctx.db.selectFrom('mfa_settings').selectAll().where('firm_id', '=', firm.firm.id).executeTakeFirstOrThrow();
    expect(settings).toMatchObject({ case_managers: 1, vendor_case_managers: 0, corporation_scope: 'specific' });
    const listed = await rig.h.ctx.db.selectFrom('mfa_corporations').selectAll().where('firm_id', '=', firm.firm.id).execute();
    expect(listed).toEqual([expect.objectContaining({ corp_users: 0, foreign_nationals: 1 })]);

    // After a reload the page shows what the server kept.
    await page.reload();
    await counter('Case managers: 2').waitFor();
    expect(await page.getByLabel('Enable for All Case Managers').isChecked()).toBe(true);
    expect(await page.getByLabel('Specific corporations').isChecked()).toBe(true);
    expect(await page.getByLabel('Corp users of Northwind Traders').isChecked()).toBe(false);
  });

  it('lists the enrolled user and resets the enrollment, freeing the seat', async () => {
    await usage().getByText('Licences: 5', { exact: true }).waitFor();
    await usage().getByText('Enrolled users: 1', { exact: true }).waitFor();
    await usage().getByText('Unutilised licences: 4', { exact: true }).waitFor();
    const meter = usage().getByRole('meter', { name: 'Licence usage' });
    expect(await meter.getAttribute('aria-valuenow')).toBe('1');
    expect(await meter.getAttribute('aria-valuemax')).toBe('5');
    await usage().getByText('20%', { exact: true }).waitFor();

    const enrolled = page.getByRole('table', { name: 'Enrolled users' });
    const row = enrolled.getByRole('row').filter({ hasText: 'Carl Case' });
    await row.getByText('Authenticator app', { exact: true }).waitFor();
    await row.getByText('+14155550123', { exact: true }).waitFor();
    await row.getByText(firm.firm.name, { exact: true }).waitFor();
    await page.screenshot({ path: 'test-results/mfa-desktop.png', fullPage: true });

    let asked = '';
    page.once('dialog', (dialog) => {
      asked = dialog.message();
      void dialog.accept();
    });
    await row.getByRole('button', { name: 'Reset MFA enrollment of Carl Case' }).click();
    await page.getByRole('status').filter({ hasText: 'MFA enrollment of Carl Case was reset.' }).waitFor();
    expect(asked).toBe('Reset the MFA enrollment of Carl Case? Their authenticators stop working and the seat is freed.');
    await usage().getByText('Enrolled users: 0', { exact: true }).waitFor();
    await usage().getByText('Unutilised licences: 5', { exact: true }).waitFor();
    await enrolled.getByText('Nobody has enrolled yet.').waitFor();

    const seats = await rig.h.ctx.db.selectFrom('seats').selectAll().where('firm_id', '=', firm.firm.id).execute();
    expect(seats).toEqual([]);
  });

  it('lists fraud reports of push requests', async () => {
    const reports = page.getByRole('table', { name: 'Fraud reports' });
    await reports.getByText('No fraud reports.').waitFor();
    const at = rig.h.clock.now();
    await rig.h.ctx.db
      .insertInto('push_transactions')
      .values({
        id: 'fraud-e2e',
        firm_id: firm.firm.id,
        user_id: carl.id,
        session_id: 'gone',
        status: 'fraud',
        number: '123456',
        created_at: at,
        expires_at: at + 60_000,
        answered_at: at,
        ip: '203.0.113.7',
        user_agent: null,
        context: JSON.stringify({ browser: 'Chrome', os: 'Windows', app: 'Tessera' }),
      })
      .execute();
    await page.reload();
    const row = reports.getByRole('row').filter({ hasText: 'Carl Case' });
    await row.getByText('203.0.113.7', { exact: true }).waitFor();
    await row.getByText('Chrome on Windows', { exact: true }).waitFor();
    await row.getByText('carl@meridian.example', { exact: true }).waitFor();
  });

  it('carries a request for more licences from the superuser to the operator', async () => {
    const plan = page.getByRole('region', { name: 'Subscription Plan' });
    const form = plan.getByRole('form', { name: 'Request more licences' });
    await form.getByLabel('Licences wanted').fill('8');
    await form.getByRole('button', { name: 'Request licences' }).click();
    await plan.getByRole('status').filter({ hasText: 'Requested: 8 licences, waiting for the accounts team.' }).waitFor();

    await operatorPage.reload();
    const row = operatorPage.getByRole('table', { name: 'Subscriptions' }).getByRole('row').filter({ hasText: firm.firm.name });
    await row.getByText('Wants 8', { exact: true }).waitFor();
    await row.getByRole('button', { name: `Activate ${firm.firm.name}` }).click();
    const activate = operatorPage.getByRole('form', { name: `Activate ${firm.firm.name}` });
    expect(await activate.getByLabel('Licences', { exact: true }).inputValue()).toBe('8');
    expect(await activate.getByLabel('Plan name').inputValue()).toBe('Standard');
    await activate.getByLabel('Ends on').fill('2099-12-31');
    await activate.getByRole('button', { name: 'Activate', exact: true }).click();
    await operatorPage.getByRole('status').filter({ hasText: `${firm.firm.name} is active on Standard with 8 licences.` }).waitFor();
    // The list reloads after the status line appears: wait for the request to leave the row (fails on timeout).
    await row.getByText('Wants 8', { exact: true }).waitFor({ state: 'detached' });
    const sub = await rig.h.ctx.db.selectFrom('subscriptions').selectAll().where('firm_id', '=', firm.firm.id).executeTakeFirstOrThrow();
    expect(sub).toMatchObject({ licence_count: 8, requested_licences: null, ends_at: Date.UTC(2099, 11, 31) });

    await page.reload();
    await usage().getByText('Licences: 8', { exact: true }).waitFor();
    expect(await plan.getByRole('form', { name: 'Request more licences' }).count()).toBe(1);
  });

  it('fits a phone screen', async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    for (const path of ['/admin/mfa', '/admin/subscriptions']) {
      await page.goto(`${rig.baseUrl}${path}`);
      await page.getByRole('heading', { level: 1 }).waitFor();
      await page.getByText('Loading…').first().waitFor({ state: 'detached' });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(overflow, path).toBeLessThanOrEqual(0);
    }
    await page.screenshot({ path: 'test-results/mfa-phone.png', fullPage: true });

    await operatorPage.setViewportSize({ width: 375, height: 740 });
    await operatorPage.goto(`${rig.baseUrl}/operator/subscriptions`);
    await operatorPage.getByRole('table', { name: 'Subscriptions' }).getByRole('button', { name: 'Suspend Firm meridian' }).waitFor();
    const overflow = await operatorPage.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
  });
});
