import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { UserView } from '../../src/directory/user.view.js';
import { addUser, firmWithAdmin, PASSWORD, type TestFirm } from '../support/harness.js';
import { startBrowserRig, type BrowserRig } from './browser.js';

/**
 * The audit log screen (issue 8.1) in a real browser: after someone mistypes a user's
 * password, the superuser opens Audit log, clicks "Needs attention", sees the failed login
 * marked in words, and downloads the CSV of that very filter.
 */
describe('Audit log in Chromium', () => {
  let rig: BrowserRig;
  let page: Page;
  let firm: TestFirm;
  let carl: UserView;

  beforeAll(async () => {
    rig = await startBrowserRig();
    page = rig.page;
    firm = await firmWithAdmin(rig.h, 'meridian');
    carl = await addUser(rig.h, firm.firm.id, { name: 'Carl Case', email: 'carl@meridian.example', kind: 'case_manager' });
  });
  afterAll(() => rig?.close());

  it('lets the superuser find a failed login under "Needs attention" and export it as CSV', async () => {
    // Someone tries Carl's account with a wrong password, in a browser of their own.
    const stranger = await (await rig.browser.newContext()).newPage();
    await stranger.goto(`${rig.baseUrl}/login`);
    await stranger.getByLabel('Email').fill(carl.email);
    await stranger.getByLabel('Password').fill('guessing at random');
    await stranger.getByRole('button', { name: 'Sign in', exact: true }).click();
    await stranger.getByRole('alert').filter({ hasText: 'The email address or password is not right.' }).waitFor();

    await page.goto(`${rig.baseUrl}/login`);
    await page.getByLabel('Email').fill(firm.superuser.email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Welcome, Sam Super' }).waitFor();
    await page.getByRole('navigation', { name: 'Firm administration' }).getByRole('link', { name: 'Audit log' }).click();
    await page.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();

    const table = page.getByRole('table', { name: 'Audit log' });
    // Everything first: the superuser's own sign-in is there too.
    await table.getByRole('row').filter({ hasText: 'Signed in' }).first().waitFor();

    const attention = page.getByRole('button', { name: 'Needs attention' });
    expect(await attention.getAttribute('aria-pressed')).toBe('false');
    await attention.click();
    expect(await attention.getAttribute('aria-pressed')).toBe('true');
    const failed = table.getByRole('row').filter({ hasText: 'Carl Case' });
    await failed.filter({ hasText: 'Needs attention: Failed' }).waitFor();
    await expect.poll(() => table.getByRole('row').count()).toBe(2); // the header and Carl's failed login
    expect(await failed.textContent()).toContain('Sign-in failed');
    expect(await failed.textContent()).toContain('Failure');

    // The other filters have labels of their own.
    for (const name of ['User (email or name)', 'From (UTC)', 'To (UTC)', 'Event type', 'Result', 'Factor']) await page.getByLabel(name, { exact: true }).waitFor();

    const link = page.getByRole('link', { name: 'Export CSV' });
    expect(await link.getAttribute('href')).toBe('/api/v1/admin/audit-events.csv?attention=true');
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    expect(download.suggestedFilename()).toMatch(/^tessera-audit-meridian-\d{8}T\d{6}Z\.csv$/);
    const csv = fs.readFileSync((await download.path())!, 'utf8');
    const lines = csv.trim().split('\r\n');
    expect(lines[0]).toMatch(/^"Time \(UTC\)","Event",/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain('"login.failed","Sign-in failed"');
    expect(lines[1]).toContain('"carl@meridian.example"');
  });
});
