import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { hashPassword } from '../../src/core/passwords.js';
import { enrolledOperator, PASSWORD, totpCode, type TestOperator } from '../support/harness.js';
import { startBrowserRig, type BrowserRig, signIn } from './browser.js';

/**
 * Issue 8.6 in a real browser: an operator without a second factor signs in, is sent to the
 * enrolment screen, sets up an authenticator app, gets backup codes and reaches the console;
 * the next sign-in asks for a passcode; another operator's lost factor is reset from Operators.
 */
describe('operator console: the operator\'s own second factor', () => {
  let rig: BrowserRig;
  let page: Page;
  let other: TestOperator;
  const EMAIL = 'otto@platform.example';
  let secret = '';

  beforeAll(async () => {
    rig = await startBrowserRig();
    page = rig.page;
    await rig.h.ctx.db
      .insertInto('operators')
      .values({ id: randomUUID(), email: EMAIL, name: 'Otto Operator', password_hash: await hashPassword(PASSWORD), status: 'active', created_at: rig.h.clock.now() })
      .execute();
    other = await enrolledOperator(rig.h, 'lost-phone@platform.example');
  });
  afterAll(() => rig?.close());

  it('enrols an authenticator app at the first sign-in, then opens the console', async () => {
    await signIn(rig, page, EMAIL, '/operator/login');
    await page.getByRole('heading', { name: 'Set up multi-factor authentication', level: 1 }).waitFor();
    const methods = page.getByRole('radiogroup', { name: 'Method' });
    // No Tessera Authenticator for operators: an app or a key.
    expect(await methods.getByRole('radio').count()).toBe(2);
    await methods.getByRole('radio', { name: /Authenticator app/ }).check();
    await page.getByRole('button', { name: 'Continue' }).click();
    secret = ((await page.getByLabel('Setup key').textContent()) ?? '').replace(/\s/g, '');
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    await page.getByLabel('Code from the app').fill(totpCode(rig.h, secret));
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByRole('heading', { name: 'Your backup codes', level: 2 }).waitFor();
    expect(await page.getByRole('list', { name: 'Backup codes' }).getByRole('listitem').count()).toBe(10);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Firms', level: 1 }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/operator');
  });

  it('asks for the passcode at the next sign-in', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: 'Operator sign-in', level: 1 }).waitFor();
    await signIn(rig, page, EMAIL, '/operator/login');
    await page.getByRole('heading', { name: 'Second factor', level: 1 }).waitFor();
    rig.h.clock.advance(30_000);
    const form = page.getByRole('form', { name: 'Passcode' });
    await form.getByLabel('Passcode').fill(totpCode(rig.h, secret));
    await form.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('heading', { name: 'Firms', level: 1 }).waitFor();
  });

  it("resets another operator's lost factor from Operators, and shows my own under Security", async () => {
    const nav = page.getByRole('navigation', { name: 'Operator console' });
    await nav.getByRole('link', { name: 'Operators' }).click();
    const table = page.getByRole('table', { name: 'Operators' });
    const row = table.getByRole('row').filter({ hasText: other.email });
    await row.getByText('1 authenticator', { exact: true }).waitFor();
    await row.getByRole('button', { name: 'Reset second factor' }).click();
    await page.getByRole('alertdialog', { name: 'Reset the second factor of Olga Operator?' }).getByRole('button', { name: 'Reset second factor' }).click();
    await page.getByRole('status').filter({ hasText: 'The second factor of Olga Operator was reset.' }).waitFor();
    await row.getByText('Set up at next sign-in', { exact: true }).waitFor();
    expect(await table.getByRole('row').filter({ hasText: EMAIL }).getByRole('button').count()).toBe(0);

    await nav.getByRole('link', { name: 'Security' }).click();
    await page.getByRole('heading', { name: 'My security', level: 1 }).waitFor();
    await page.getByRole('table').getByText('Authenticator app').first().waitFor();
    expect(await page.getByRole('button', { name: 'Add a passkey' }).count()).toBe(0);
  });
});
