import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { STEP_UP_MAX_AGE_MS } from '../../src/mfa/pending-login.js';
import { type TestFirm } from '../support/harness.js';
import { startBrowserRig, type BrowserRig, signIn } from './browser.js';
import { mfaFirm } from '../support/fixtures.js';
import { freshCode, totpUser, type TotpUser } from '../support/factors.js';

/**
 * Issue 12, item 5 in Chromium: a step-up on a remembered browser replaces the session cookie
 * (Set-Cookie on the answer), and the screens go on working with it (the CSRF token flow
 * included); once the step-up is older than 15 minutes, My security asks for a new one.
 */
describe('Step-up in My security, in Chromium', () => {
  let rig: BrowserRig;
  let page: Page;
  let firm: TestFirm;
  let rita: TotpUser;

  beforeAll(async () => {
    rig = await startBrowserRig();
    page = rig.page;
    firm = await mfaFirm(rig.h, { licences: 20, enabled: 'staff' });
    await rig.h.ctx.db.updateTable('mfa_settings').set({ remember_days: 7 }).where('firm_id', '=', firm.firm.id).execute();
    rita = await totpUser(rig.h, firm);
  });
  afterAll(() => rig?.close());

  const sessionCookie = async () => (await page.context().cookies()).find((c) => c.name === 'tessera_session')?.value;

  const answerPasscode = async () => {
    await page.getByRole('heading', { name: 'Second factor', level: 1 }).waitFor();
    await page.getByRole('textbox', { name: 'Passcode' }).fill(freshCode(rig.h, rita.secret));
    await page.getByRole('button', { name: 'Verify' }).click();
  };

  const rename = async (from: string, to: string) => {
    const table = page.getByRole('table', { name: 'My authenticators' });
    await table.getByRole('button', { name: `Rename ${from}` }).click();
    await table.getByLabel('New name').fill(to);
    await table.getByRole('button', { name: 'Save' }).click();
  };

  it('a remembered browser steps up through /mfa, gets a new session cookie, and can change its settings with it', async () => {
    await signIn(rig, page, rita.user.email);
    await page.getByRole('heading', { name: 'Second factor', level: 1 }).waitFor();
    await page.getByRole('checkbox', { name: 'Remember this browser for 7 days' }).check();
    await answerPasscode();
    await page.getByRole('heading', { name: `Welcome, ${rita.user.name}` }).waitFor();
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();

    // Remembered: straight to the homepage, no second factor in this session.
    await signIn(rig, page, rita.user.email);
    await page.getByRole('heading', { name: `Welcome, ${rita.user.name}` }).waitFor();
    await page.goto(`${rig.baseUrl}/me/security`);
    await page.getByRole('heading', { name: 'My security', level: 1 }).waitFor();
    await page.getByText('This browser is remembered, so you signed in without a second factor.').waitFor();
    const remembered = await sessionCookie();

    await page.getByRole('link', { name: 'verify with a code' }).click();
    await answerPasscode();
    await page.getByRole('heading', { name: 'My security', level: 1 }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/me/security');
    const steppedUp = await sessionCookie();
    expect(steppedUp).toBeDefined();
    expect(steppedUp).not.toBe(remembered);
    expect(await page.getByRole('link', { name: 'verify with a code' }).count()).toBe(0);

    await rename('Authenticator app', 'Work phone');
    await page.getByText('Authenticator app is now called Work phone.').waitFor();
  });

  it('after 15 minutes a change is refused and the screen sends the user to /mfa again; the new step-up lets it through', async () => {
    rig.h.clock.advance(STEP_UP_MAX_AGE_MS);
    await rename('Work phone', 'Old phone');
    await page.getByRole('alert').getByText(/need one from the last 15 minutes/).waitFor();
    await page.getByText('You verified your second factor more than 15 minutes ago.', { exact: false }).waitFor();
    const stale = await sessionCookie();

    await page.getByRole('link', { name: 'verify with a code' }).click();
    await answerPasscode();
    await page.getByRole('heading', { name: 'My security', level: 1 }).waitFor();
    expect(await sessionCookie()).not.toBe(stale);
    await rename('Work phone', 'Old phone');
    await page.getByText('Work phone is now called Old phone.').waitFor();
  });
});
