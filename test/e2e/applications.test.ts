import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findDuoIntegration, findOidcClient } from '../../src/applications/application.lookup.js';
import { signedDuoFetch } from '../support/duo-clients.js';
import { addUser, enrolledOperator, firmWithAdmin, PASSWORD, totpCode, type TestFirm, type TestOperator } from '../support/harness.js';
import { startBrowserRig, type BrowserRig, signIn } from './browser.js';

/**
 * Firm administration > Applications in Chromium, at desktop width and on a 360 px phone: a
 * superuser registers an OpenID Connect client and a Duo Auth API integration, sees each
 * secret once in a dialog (copy, "you will not see it again"), rotates the secret key with a
 * grace period, meets a refused redirect URI, disables and deletes with the app's own
 * confirmation dialog; the integration's page shows its logins and last calls once an application
 * calls it, and the MFA page's Usage counts logins per application; the operator console counts
 * the firm's applications.
 * Screenshots go to test-results/ (ignored by git).
 */
describe('Applications in Chromium', () => {
  let rig: BrowserRig;
  let page: Page;
  let firm: TestFirm;
  let operator: TestOperator;
  /** Pages whole; a dialog as the screen shows it (the backdrop covers the viewport only). */
  const shot = (name: string, p: Page = page, fullPage = true) => p.screenshot({ path: `test-results/applications-${name}.png`, fullPage });

  beforeAll(async () => {
    rig = await startBrowserRig();
    const context: BrowserContext = rig.page.context();
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: rig.baseUrl });
    page = rig.page;
    firm = await firmWithAdmin(rig.h, 'meridian');
    operator = await enrolledOperator(rig.h, 'olga@platform.example');
  });
  afterAll(() => rig?.close());

  const signInAsAdmin = async (p: Page, email: string) => {
    await signIn(rig, p, email);
    await p.getByRole('heading', { name: /^Welcome/ }).waitFor();
  };
  const openApplications = async (p: Page) => {
    await p.getByRole('navigation', { name: 'Firm administration' }).getByRole('link', { name: 'Applications' }).click();
    await p.getByRole('heading', { name: 'Applications', level: 1 }).waitFor();
  };
  const table = (p: Page = page) => p.getByRole('table', { name: 'Applications' });
  const noHorizontalScroll = async (p: Page) => expect(await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBeLessThanOrEqual(0);

  /** The secret dialog: its value, after checking what it says; closed by its button only. */
  async function readSecretDialog(p: Page, title: string, secretLabel: string): Promise<{ id: string; secret: string }> {
    const dialog = p.getByRole('dialog', { name: title });
    await dialog.waitFor();
    await dialog.getByText('you will not see it again', { exact: false }).waitFor();
    const secret = await dialog.getByLabel(secretLabel, { exact: true }).inputValue();
    const id = await dialog.getByLabel(secretLabel === 'Client secret' ? 'Client ID' : 'Integration key', { exact: true }).inputValue();
    // Escape does not close it: the secret is not lost by a stray key.
    await p.keyboard.press('Escape');
    expect(await dialog.isVisible()).toBe(true);
    return { id, secret };
  }

  it('registers an OpenID Connect client and shows its client secret once, with a copy button', async () => {
    await signInAsAdmin(page, firm.superuser.email);
    await openApplications(page);
    await table().getByText('No applications yet', { exact: false }).waitFor();
    await shot('empty');

    await page.getByRole('button', { name: 'New application' }).click();
    const form = page.getByRole('form', { name: 'New application' });
    expect(await form.getByRole('radio', { name: /^OpenID Connect/ }).isChecked()).toBe(true);
    await form.getByLabel('Name', { exact: true }).fill('Case Portal');
    await form.getByLabel('Redirect URIs', { exact: true }).fill('https://portal.meridian.example/callback\nhttp://localhost:8080/callback');
    await form.getByLabel('Post-logout redirect URIs').fill('https://portal.meridian.example/');
    await form.getByRole('radio', { name: 'Chosen kinds of users' }).check();
    await form.getByLabel('Case manager', { exact: true }).check();
    await form.getByLabel('Vendor case manager', { exact: true }).check();
    await shot('new-oidc');
    await form.getByRole('button', { name: 'Add application' }).click();

    const { id, secret } = await readSecretDialog(page, 'Case Portal was added', 'Client secret');
    expect(secret).toMatch(/^[A-Za-z0-9_-]{64}$/);
    const dialog = page.getByRole('dialog', { name: 'Case Portal was added' });
    // The secret has the focus, selected, ready to copy.
    expect(await dialog.getByLabel('Client secret', { exact: true }).evaluate((el) => el === document.activeElement)).toBe(true);
    await dialog.getByText(`${rig.baseUrl}/.well-known/openid-configuration`).waitFor();
    await shot('oidc-secret', page, false);
    await dialog.getByRole('button', { name: 'Copy Client secret' }).click();
    await dialog.getByRole('status').filter({ hasText: 'Client secret copied.' }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    await dialog.getByRole('button', { name: 'I have copied it' }).click();
    await dialog.waitFor({ state: 'detached' });

    // What the doors will use is what the superuser was shown.
    const client = await findOidcClient(rig.h.ctx.db, rig.h.ctx.secrets, id, rig.h.clock);
    expect(client?.secrets).toEqual([secret]);
    expect(client?.metadata.redirect_uris).toEqual(['https://portal.meridian.example/callback', 'http://localhost:8080/callback']);
    expect(client?.allowedKinds).toEqual(['case_manager', 'vendor_case_manager']);

    // The page now shows the application, its client ID and discovery URL, and never the secret again.
    const details = page.getByRole('region', { name: 'Case Portal' });
    await details.getByText(id, { exact: true }).waitFor();
    await details.getByText(`${rig.baseUrl}/.well-known/openid-configuration`, { exact: true }).waitFor();
    await details.getByText('Case manager, Vendor case manager').waitFor();
    await details.getByText('No sign-ins through this application yet', { exact: false }).waitFor();
    expect(await page.content()).not.toContain(secret);
    await table().getByRole('row').filter({ hasText: 'Case Portal' }).getByText('Active').waitFor();
    await shot('oidc-details');
  });

  it('refuses a plain-http redirect URI with the reason, and changes nothing', async () => {
    const details = page.getByRole('region', { name: 'Case Portal' });
    await details.getByRole('button', { name: 'Edit' }).click();
    const form = page.getByRole('form', { name: 'Edit application Case Portal' });
    await form.getByLabel('Redirect URIs', { exact: true }).fill('http://portal.meridian.example/callback');
    await form.getByRole('button', { name: 'Save changes' }).click();
    await form.getByRole('alert').filter({ hasText: 'http:// is allowed only for localhost' }).waitFor();
    await shot('invalid-uri');
    await form.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('region', { name: 'Case Portal' }).getByText('https://portal.meridian.example/callback', { exact: true }).waitFor();
  });

  it('registers a Duo Auth API integration: integration key, secret key once, API hostname, new user policy', async () => {
    await page.getByRole('button', { name: 'New application' }).click();
    const form = page.getByRole('form', { name: 'New application' });
    await form.getByRole('radio', { name: /^Duo Auth API/ }).check();
    expect(await form.getByLabel('Redirect URIs', { exact: true }).count()).toBe(0);
    await form.getByLabel('Name', { exact: true }).fill('VPN Gateway');
    await form.getByLabel('New user policy').selectOption({ label: 'Deny access' });
    await form.getByRole('button', { name: 'Add application' }).click();

    const { id, secret } = await readSecretDialog(page, 'VPN Gateway was added', 'Secret key');
    expect(id).toMatch(/^DI[A-Z0-9]{18}$/);
    expect(secret).toMatch(/^[A-Za-z0-9]{40}$/);
    await page.getByRole('dialog', { name: 'VPN Gateway was added' }).getByText(new URL(rig.baseUrl).host, { exact: true }).waitFor();
    await shot('duo-secret', page, false);
    await page.getByRole('button', { name: 'I have copied it' }).click();

    const details = page.getByRole('region', { name: 'VPN Gateway' });
    await details.getByText(id, { exact: true }).waitFor();
    await details.getByText(new URL(rig.baseUrl).host, { exact: true }).waitFor();
    await details.getByText('Deny access', { exact: true }).waitFor();
    expect((await findDuoIntegration(rig.h.ctx.db, rig.h.ctx.secrets, id, rig.h.clock))?.secretKeys).toEqual([secret]);

    // Rotation, with the current key kept for 24 hours (the default choice).
    await details.getByRole('button', { name: 'Rotate secret key' }).click();
    const rotate = page.getByRole('dialog', { name: 'Rotate the secret key of VPN Gateway' });
    expect(await rotate.getByRole('radio', { name: 'In 24 hours' }).isChecked()).toBe(true);
    await shot('rotate', page, false);
    await rotate.getByRole('button', { name: 'Rotate secret key' }).click();
    const rotated = await readSecretDialog(page, 'New secret key for VPN Gateway', 'Secret key');
    expect(rotated.secret).toMatch(/^[A-Za-z0-9]{40}$/);
    expect(rotated.secret).not.toBe(secret);
    await page.getByRole('dialog', { name: 'New secret key for VPN Gateway' }).getByText('The previous secret key keeps working until', { exact: false }).waitFor();
    await shot('rotated', page, false);
    await page.getByRole('button', { name: 'I have copied it' }).click();
    await details.getByText('The previous one works until', { exact: false }).waitFor();
    expect((await findDuoIntegration(rig.h.ctx.db, rig.h.ctx.secrets, id, rig.h.clock))?.secretKeys).toEqual([rotated.secret, secret]);
  });

  it("a Duo integration's page after calls: keys, hostname, new user policy, its logins and last calls, readable at 360 px; the Usage section counts logins per application", async () => {
    const id = (await rig.h.ctx.db.selectFrom('applications').select('client_id').where('name', '=', 'VPN Gateway').executeTakeFirstOrThrow()).client_id;
    const skey = (await findDuoIntegration(rig.h.ctx.db, rig.h.ctx.secrets, id, rig.h.clock))!.secretKeys[0]!;
    // The firm requires no second factor: a user it knows is allowed (a login); one it does not know is denied (the new user policy), no login.
    const user = await addUser(rig.h, firm.firm.id, { name: 'Quinn Remote', email: 'quinn.remote@meridian.example', kind: 'case_manager' });
    const call = (path: string, params: Record<string, string>) => signedDuoFetch(rig.baseUrl, rig.h.clock.now(), { ikey: id, skey }, 'POST', path, params);
    expect(await call('/auth/v2/preauth', { username: user.email, ipaddr: '203.0.113.7' })).toMatchObject({ result: 'allow' });
    expect(await call('/auth/v2/preauth', { username: user.email, ipaddr: '2001:db8:85a3::8a2e:370:7334' })).toMatchObject({ result: 'allow' });
    expect(await call('/auth/v2/preauth', { username: 'someone.unknown@elsewhere.example' })).toMatchObject({ result: 'deny' });

    await page.reload();
    await page.getByRole('heading', { name: 'Applications', level: 1 }).waitFor();
    await table().getByRole('button', { name: 'Open VPN Gateway' }).click();
    const details = page.getByRole('region', { name: 'VPN Gateway' });
    await details.getByText(id, { exact: true }).waitFor();
    await details.getByText(new URL(rig.baseUrl).host, { exact: true }).waitFor();
    await details.getByText('Deny access', { exact: true }).waitFor();
    const logins = details.locator('dt:text-is("Logins, last 30 days") + dd');
    await expect.poll(() => logins.textContent()).toBe('2 logins: 0 with a second factor, 0 on the no-seat bypass');
    const calls = details.getByRole('table', { name: 'Last calls of VPN Gateway' });
    await expect.poll(() => calls.getByRole('row').count()).toBe(4);
    await calls.getByRole('row').filter({ hasText: 'Quinn Remote' }).filter({ hasText: '2001:db8:85a3::8a2e:370:7334' }).filter({ hasText: 'Allowed' }).waitFor();
    // A username Tessera does not know: named as sent, denied by the new user policy, and why.
    const unknown = calls.getByRole('row').filter({ hasText: 'someone.unknown@elsewhere.example' });
    expect(await unknown.locator('td .cell-value').allTextContents()).toEqual([
      expect.any(String),
      'Duo Auth API: preauth',
      'someone.unknown@elsewhere.exampleUnknown to Tessera',
      'Deniednot a Tessera user; the new user policy denies',
      '127.0.0.1',
    ]);
    await shot('duo-details-calls');
    const phone = await (await rig.browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true })).newPage();
    await signInAsAdmin(phone, firm.superuser.email);
    await openApplications(phone);
    await table(phone).getByRole('button', { name: 'Open VPN Gateway' }).click();
    await phone.getByRole('region', { name: 'Last calls of VPN Gateway' }).or(phone.getByRole('table', { name: 'Last calls of VPN Gateway' })).first().waitFor();
    await noHorizontalScroll(phone);
    // Every value whole inside its card (nothing cut at the card's edge).
    expect(await phone.evaluate(() => [...document.querySelectorAll('.application .cell-value, .application dd')].filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.textContent))).toEqual([]);
    await shot('phone-duo-details-calls', phone);

    // The MFA page's Usage: every application of the firm and Tessera's own sign-in, for the chosen period.
    await page.getByRole('navigation', { name: 'Firm administration' }).getByRole('link', { name: 'MFA' }).click();
    const usage = page.getByRole('table', { name: 'Logins per application' });
    const vpn = usage.getByRole('row').filter({ hasText: 'VPN Gateway' });
    const cells = () => vpn.locator('td .cell-value').allTextContents();
    await expect.poll(cells).toEqual([expect.stringContaining('VPN Gateway'), '2', '0', '0']);
    await usage.getByRole('row').filter({ hasText: 'Tessera sign-in' }).waitFor();
    await usage.getByRole('row').filter({ hasText: 'Case Portal' }).waitFor();
    await page.getByLabel('Period').selectOption({ label: 'Last 7 days' });
    await expect.poll(async () => (await cells())[1]).toBe('2');
    await usage.scrollIntoViewIfNeeded();
    await shot('usage-logins');
    await phone.getByRole('navigation', { name: 'Firm administration' }).getByRole('link', { name: 'MFA' }).click();
    await phone.getByRole('table', { name: 'Logins per application' }).getByRole('row').filter({ hasText: 'VPN Gateway' }).waitFor();
    await noHorizontalScroll(phone);
    await shot('phone-usage-logins', phone);
    await phone.close();
    // Back to the applications for the next test.
    await openApplications(page);
    await table().getByRole('button', { name: 'Open VPN Gateway' }).click();
  });

  it('disables and deletes only after the app’s own confirmation dialog', async () => {
    let nativeDialogs = 0;
    page.on('dialog', () => void nativeDialogs++);
    const details = page.getByRole('region', { name: 'VPN Gateway' });

    await details.getByRole('button', { name: 'Disable' }).click();
    const confirmDisable = page.getByRole('alertdialog', { name: 'Disable VPN Gateway?' });
    await confirmDisable.getByRole('button', { name: 'Cancel' }).click();
    await confirmDisable.waitFor({ state: 'detached' });
    await table().getByRole('row').filter({ hasText: 'VPN Gateway' }).getByText('Active').waitFor();

    await details.getByRole('button', { name: 'Disable' }).click();
    await page.getByRole('alertdialog', { name: 'Disable VPN Gateway?' }).getByRole('button', { name: 'Disable application' }).click();
    await page.getByRole('status').filter({ hasText: 'VPN Gateway is disabled' }).waitFor();
    await table().getByRole('row').filter({ hasText: 'VPN Gateway' }).getByText('Disabled').waitFor();
    await details.getByRole('button', { name: 'Enable' }).waitFor();

    await details.getByRole('button', { name: 'Delete' }).click();
    const confirmDelete = page.getByRole('alertdialog', { name: 'Delete VPN Gateway?' });
    // Cancel has the focus: Enter does not delete.
    expect(await confirmDelete.getByRole('button', { name: 'Cancel' }).evaluate((b) => b === document.activeElement)).toBe(true);
    await shot('delete-confirm', page, false);
    await confirmDelete.getByRole('button', { name: 'Delete application' }).click();
    await page.getByRole('status').filter({ hasText: 'VPN Gateway was deleted.' }).waitFor();
    await table().getByRole('row').filter({ hasText: 'VPN Gateway' }).waitFor({ state: 'detached' });
    expect(nativeDialogs).toBe(0);
    expect(await rig.h.ctx.db.selectFrom('applications').select('name').where('firm_id', '=', firm.firm.id).execute()).toEqual([{ name: 'Case Portal' }]);
  });

  it('counts the firm’s applications in the operator console', async () => {
    const op = await (await rig.browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    await op.goto(`${rig.baseUrl}/operator/login`);
    await op.getByLabel('Email').fill(operator.email);
    await op.getByLabel('Password').fill(PASSWORD);
    await op.getByRole('button', { name: 'Sign in', exact: true }).click();
    await op.getByRole('heading', { name: 'Second factor' }).waitFor();
    rig.h.clock.advance(30_000); // a time step the enrolment did not use
    const passcode = op.getByRole('form', { name: 'Passcode' });
    await passcode.getByLabel('Passcode').fill(totpCode(rig.h, operator.secret));
    await passcode.getByRole('button', { name: 'Verify' }).click();
    await op.getByRole('heading', { name: 'Firms' }).waitFor();
    const row = op.getByRole('table', { name: 'Firms' }).getByRole('row').filter({ hasText: firm.firm.name });
    await expect.poll(() => row.getByRole('cell').nth(3).locator('.cell-value').textContent()).toBe('1');
    await op.close();
  });

  it('fits a 360 px phone: list, details, the new-application form and the secret dialog', async () => {
    const phone = await (await rig.browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true })).newPage();
    await signInAsAdmin(phone, firm.superuser.email);
    await openApplications(phone);
    await table(phone).getByRole('button', { name: 'Open Case Portal' }).click();
    await phone.getByRole('region', { name: 'Case Portal' }).waitFor();
    await noHorizontalScroll(phone);
    await shot('phone-details', phone);

    await phone.getByRole('button', { name: 'New application' }).click();
    const form = phone.getByRole('form', { name: 'New application' });
    await form.getByRole('radio', { name: /^Duo Web SDK/ }).check();
    await form.getByLabel('Name', { exact: true }).fill('Admin Console');
    await form.getByLabel('Redirect URIs', { exact: true }).fill('https://console.meridian.example/duo-callback');
    await noHorizontalScroll(phone);
    await shot('phone-new', phone);
    await form.getByRole('button', { name: 'Add application' }).click();
    const { secret } = await readSecretDialog(phone, 'Admin Console was added', 'Secret key');
    expect(secret).toMatch(/^[A-Za-z0-9]{40}$/);
    const box = await phone.getByRole('dialog', { name: 'Admin Console was added' }).boundingBox();
    expect(box!.x).toBeGreaterThanOrEqual(0);
    expect(box!.x + box!.width).toBeLessThanOrEqual(360);
    await shot('phone-secret', phone, false);
    await phone.getByRole('button', { name: 'I have copied it' }).click();

    await phone.getByRole('region', { name: 'Admin Console' }).getByRole('button', { name: 'Rotate secret key' }).click();
    const rotate = phone.getByRole('dialog', { name: 'Rotate the secret key of Admin Console' });
    await rotate.getByRole('radio', { name: /^Now/ }).check();
    await shot('phone-rotate', phone, false);
    await rotate.getByRole('button', { name: 'Rotate secret key' }).click();
    const rotated = await readSecretDialog(phone, 'New secret key for Admin Console', 'Secret key');
    await phone.getByRole('button', { name: 'I have copied it' }).click();
    await noHorizontalScroll(phone);
    await shot('phone-list', phone);
    const id = (await rig.h.ctx.db.selectFrom('applications').select('client_id').where('name', '=', 'Admin Console').executeTakeFirstOrThrow()).client_id;
    expect((await findDuoIntegration(rig.h.ctx.db, rig.h.ctx.secrets, id, rig.h.clock))?.secretKeys).toEqual([rotated.secret]);
  });
});
