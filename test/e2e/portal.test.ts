import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { ensureOperatorSetup } from '../../src/operators/bootstrap.js';
import { lastLinkTo, totpCode } from '../support/harness.js';
import { startBrowserRig, type BrowserRig } from './browser.js';

/** The newcomer's path, in a real browser: setup link, operator console, a firm, its superuser. */
describe('Tessera in Chromium', () => {
  let rig: BrowserRig;
  let page: Page;
  beforeAll(async () => {
    rig = await startBrowserRig();
    page = rig.page;
  });
  afterAll(() => rig?.close());

  const setPasswordWith = async (link: string, password: string) => {
    await page.goto(link.replace('http://localhost:3000', rig.baseUrl));
    await expect.poll(() => page.getByRole('heading', { name: 'Choose your password' }).isVisible()).toBe(true);
    await page.getByLabel('New password').fill(password);
    await page.getByLabel('Repeat password').fill(password);
    await page.getByRole('button', { name: 'Set password' }).click();
    await page.getByRole('status').filter({ hasText: 'Your password is set.' }).waitFor();
  };

  it('opens the setup link, sets the operator password, logs in, creates a firm, and logs out', async () => {
    const link = (await ensureOperatorSetup(rig.h.ctx))!;
    await page.goto(link);
    await page.getByRole('heading', { name: 'Choose your password' }).waitFor();
    await page.getByLabel('Your name').fill('Olga Operator');
    await page.getByLabel('Email').fill('olga@platform.example');
    // A mismatch is caught before anything is sent.
    await page.getByLabel('New password').fill('a private passphrase');
    await page.getByLabel('Repeat password').fill('a different passphrase');
    await page.getByRole('button', { name: 'Set password' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('The passwords do not match.');
    await page.getByLabel('Repeat password').fill('a private passphrase');
    await page.getByRole('button', { name: 'Set password' }).click();
    await page.getByRole('status').filter({ hasText: 'Your password is set.' }).waitFor();

    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Operator sign-in' }).waitFor();
    await page.getByLabel('Email').fill('olga@platform.example');
    await page.getByLabel('Password').fill('a private passphrase');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    // The operator's own second factor comes first (issue 8.6): an authenticator app here.
    await page.getByRole('heading', { name: 'Set up multi-factor authentication', level: 1 }).waitFor();
    await page.getByRole('radiogroup', { name: 'Method' }).getByRole('radio', { name: /Authenticator app/ }).check();
    await page.getByRole('button', { name: 'Continue' }).click();
    const secret = ((await page.getByLabel('Setup key').textContent()) ?? '').replace(/\s/g, '');
    await page.getByLabel('Code from the app').fill(totpCode(rig.h, secret));
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByRole('heading', { name: 'Your backup codes', level: 2 }).waitFor();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Firms' }).waitFor();

    const form = page.getByRole('form', { name: 'New firm' });
    await form.getByLabel('Firm name').fill('Harbor Legal');
    expect(await form.getByLabel('Short name').inputValue()).toBe('harbor-legal');
    await form.getByLabel('Superuser name').fill('Hana Harbor');
    await form.getByLabel('Superuser email').fill('hana@harbor.example');
    await form.getByRole('button', { name: 'Create firm' }).click();
    await page.getByRole('status').filter({ hasText: 'A set-password link was mailed to hana@harbor.example' }).waitFor();
    await page.getByRole('table', { name: 'Firms' }).getByRole('cell', { name: 'Harbor Legal', exact: true }).waitFor();

    await page.getByRole('navigation', { name: 'Operator console' }).getByRole('link', { name: 'Outbox' }).click();
    await page.getByRole('table', { name: 'Outbox' }).getByRole('cell', { name: 'hana@harbor.example', exact: true }).waitFor();

    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: /sign-in|Sign in/ }).waitFor();
    const me = await page.evaluate(async () => (await fetch('/api/v1/me')).status);
    expect(me).toBe(401);
  });

  it('lets the firm superuser set a password, log in, and create a corporation and a corp user', async () => {
    await setPasswordWith(await lastLinkTo(rig.h, 'hana@harbor.example'), 'harbor superuser passphrase');
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByLabel('Email').fill('hana@harbor.example');
    await page.getByLabel('Password').fill('harbor superuser passphrase');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Welcome, Hana Harbor' }).waitFor();
    expect(await page.getByText('You are signed in as hana@harbor.example').isVisible()).toBe(true);

    const adminNav = page.getByRole('navigation', { name: 'Firm administration' });
    await adminNav.getByRole('link', { name: 'Corporations' }).click();
    await page.getByRole('heading', { name: 'Corporations' }).waitFor();
    const corpForm = page.getByRole('form', { name: 'New corporation' });
    await corpForm.getByLabel('Corporation name').fill('Northwind Traders');
    await corpForm.getByRole('button', { name: 'Add corporation' }).click();
    await page.getByRole('table', { name: 'Corporations' }).getByRole('cell', { name: 'Northwind Traders', exact: true }).waitFor();

    await page.getByRole('navigation', { name: 'Firm administration' }).getByRole('link', { name: 'Users' }).click();
    await page.getByRole('heading', { name: 'Users' }).waitFor();
    await page.getByRole('button', { name: 'New user' }).click();
    const userForm = page.getByRole('form', { name: 'New user' });
    await userForm.getByLabel('Name').fill('Nora North');
    await userForm.getByLabel('Email').fill('nora@northwind.example');
    await userForm.getByLabel('Kind').selectOption({ label: 'Corp user' });
    await userForm.getByLabel('Corporation').selectOption({ label: 'Northwind Traders' });
    await userForm.getByRole('button', { name: 'Create user' }).click();
    const users = page.getByRole('table', { name: 'Users' });
    await users.getByRole('cell', { name: 'nora@northwind.example', exact: true }).waitFor();

    const row = await rig.h.ctx.db.selectFrom('users').selectAll().where('email', '=', 'nora@northwind.example').executeTakeFirstOrThrow();
    expect(row.kind).toBe('corp_user');
    expect(row.portal_access).toBe('enabled');
    const mailed = await lastLinkTo(rig.h, 'nora@northwind.example');
    expect(mailed).toContain('/set-password#');

    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  });

  it('works at phone width', async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    await page.goto(`${rig.baseUrl}/login`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: 'test-results/login-phone.png' });
  });
});
