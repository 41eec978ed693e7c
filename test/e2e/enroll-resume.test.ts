import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { activateSubscription, addUser, enableMfaForStaff, firmWithAdmin, totpCode, type TestFirm } from '../support/harness.js';
import { totpUser } from '../support/factors.js';
import { mfaFirm } from '../support/fixtures.js';
import { startBrowserRig, signIn, type BrowserRig } from './browser.js';

/**
 * Issue 16 items 1 and 2 in Chromium: the enrollment of a login continues where the server says
 * it stands. A second tab shows the same QR code, not the method picker; a browser closed while
 * the phone activates comes back to the backup codes, then the homepage, and never to the picker
 * again; an authenticator app's QR code and key survive a reload. A login on the no-seat bypass is
 * told there is no licence instead of being shown a QR code it could not confirm. Screenshots at
 * desktop width and 360 px go to test-results/.
 */
describe('enrollment survives a reload (Chromium)', () => {
  let rig: BrowserRig;
  let page: Page;
  let firm: TestFirm;

  beforeAll(async () => {
    rig = await startBrowserRig();
    page = rig.page;
    firm = await firmWithAdmin(rig.h, 'resumefirm');
    await activateSubscription(rig.h, firm.firm.id, 5);
    await enableMfaForStaff(rig.h, firm.firm.id);
    fs.mkdirSync('test-results', { recursive: true });
  });
  afterAll(() => rig?.close());

  /** A screenshot of `p` at desktop width and at 360 px. */
  async function shots(p: Page, name: string) {
    const size = p.viewportSize() ?? { width: 1280, height: 800 };
    await p.setViewportSize({ width: 1280, height: 800 });
    await p.screenshot({ path: `test-results/enroll-resume-${name}-desktop.png`, fullPage: true });
    await p.setViewportSize({ width: 360, height: 740 });
    await p.screenshot({ path: `test-results/enroll-resume-${name}-360.png`, fullPage: true });
    await p.setViewportSize(size);
  }

  const picker = (p: Page) => p.getByRole('radiogroup', { name: 'Method' });

  it('Tessera Authenticator: a second tab shows the same QR code; after the phone activates with the browser closed, /enroll shows the backup codes, then home', async () => {
    const pat = await addUser(rig.h, firm.firm.id, { name: 'Pat Phone', email: 'pat@resumefirm.example', kind: 'case_manager' });
    await signIn(rig, page, pat.email);
    await page.getByRole('heading', { name: 'Set up multi-factor authentication', level: 1 }).waitFor();
    await picker(page).getByRole('radio', { name: /Mobile \(Tessera Authenticator\)/ }).check();
    await page.getByLabel('Phone number').fill('07911 123456');
    await page.getByLabel('Country').selectOption('GB');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('img', { name: 'QR code for the Tessera Authenticator' }).waitFor();
    const link = await page.getByRole('link', { name: 'Open on this device' }).getAttribute('href');

    // A second tab of the same browser: the same QR code, not the picker.
    const tab2 = await page.context().newPage();
    await tab2.goto(`${rig.baseUrl}/enroll`);
    await tab2.getByRole('img', { name: 'QR code for the Tessera Authenticator' }).waitFor();
    expect(await tab2.getByRole('link', { name: 'Open on this device' }).getAttribute('href')).toBe(link);
    expect(await picker(tab2).count()).toBe(0);
    await shots(tab2, 'push-second-tab');
    await tab2.close();

    // The browser goes away; the phone activates meanwhile.
    await page.goto('about:blank');
    const phoneContext = await rig.browser.newContext({ viewport: { width: 360, height: 740 } });
    const phone = await phoneContext.newPage();
    await phone.goto(link!);
    await phone.getByText(`Activated for ${pat.email} at ${firm.firm.name}.`).waitFor();
    await phoneContext.close();

    // Back at /enroll: the backup codes, never the picker; then the homepage.
    await page.goto(`${rig.baseUrl}/enroll`);
    await page.getByRole('heading', { name: 'Your backup codes', level: 2 }).waitFor({ timeout: 15_000 });
    expect(await picker(page).count()).toBe(0);
    await shots(page, 'push-after-activation');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Welcome, Pat Phone' }).waitFor();

    // /enroll again (another tab, later): the enrollment is done, so the homepage.
    const later = await page.context().newPage();
    await later.goto(`${rig.baseUrl}/enroll`);
    await later.getByRole('heading', { name: 'Welcome, Pat Phone' }).waitFor();
    expect(await picker(later).count()).toBe(0);
    await later.close();
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
  });

  it('authenticator app: a reload mid-way shows the same QR code and key; the code then confirms it', async () => {
    const tess = await addUser(rig.h, firm.firm.id, { name: 'Tess Totp', email: 'tess@resumefirm.example', kind: 'case_manager' });
    await signIn(rig, page, tess.email);
    await picker(page).getByRole('radio', { name: /Authenticator app/ }).check();
    await page.getByRole('button', { name: 'Continue' }).click();
    const key = page.getByLabel('Setup key');
    await key.waitFor();
    const shown = (await key.textContent())!;

    await page.reload();
    await page.getByRole('img', { name: 'QR code for your authenticator app' }).waitFor();
    expect(await page.getByLabel('Setup key').textContent()).toBe(shown);
    expect(await picker(page).count()).toBe(0);
    await shots(page, 'totp-reloaded');

    await page.getByLabel('Code from the app').fill(totpCode(rig.h, shown.replace(/\s+/g, '')));
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByRole('heading', { name: 'Your backup codes', level: 2 }).waitFor();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Welcome, Tess Totp' }).waitFor();
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
  });

  it('no seat, no enrollment: a login on the no-seat bypass is told so at "Add authenticator app", with no QR code', async () => {
    const full = await mfaFirm(rig.h, { licences: 1 });
    await totpUser(rig.h, full); // the only licence
    const nora = await addUser(rig.h, full.firm.id, { name: 'Nora Noseat', email: 'nora@noseat.example', kind: 'case_manager' });
    await signIn(rig, page, nora.email);
    await page.getByRole('heading', { name: 'Welcome, Nora Noseat' }).waitFor();
    await page.getByRole('banner').getByRole('link', { name: 'My security' }).click();
    await page.getByRole('button', { name: 'Add authenticator app' }).click();
    const alert = page.getByRole('alert').filter({ hasText: 'No MFA licence is free in your firm right now' });
    await alert.waitFor();
    expect(await page.getByRole('img', { name: /QR code/ }).count()).toBe(0);
    expect(await picker(page).count()).toBe(0);
    await shots(page, 'no-seat');
    // And the server refuses the start itself (a page that skipped the screen).
    const status = await page.evaluate(async () => {
      const csrf = await (await fetch('/api/v1/csrf')).json();
      const res = await fetch('/api/v1/mfa/enrollment/totp', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf.token }, body: '{}' });
      return { status: res.status, body: await res.json() };
    });
    expect(status).toMatchObject({ status: 409, body: { error: 'NO_SEAT' } });
  });
});
