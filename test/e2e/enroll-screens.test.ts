import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { UserView } from '../../src/directory/user.view.js';
import { activateSubscription, addUser, enableMfaForStaff, firmWithAdmin, type TestFirm } from '../support/harness.js';
import { startBrowserRig, signIn, virtualAuthenticators, type BrowserRig } from './browser.js';

/**
 * The enrollment screens (issue 16 item 7) in Chromium: the Tessera Authenticator chosen by
 * default, the intro once (not above each step) without a list of methods the picker already
 * describes, the QR page saying how long its code lasts and offering the link to copy or mail,
 * backup-code words that fit the method enrolled, and no "Cancel and sign out" once enrolled.
 * Screenshots at desktop and 360 px in test-results/.
 */
describe('enrollment screens in Chromium', () => {
  let rig: BrowserRig;
  let page: Page;
  let firm: TestFirm;
  let pia: UserView;
  let kai: UserView;

  beforeAll(async () => {
    // localhost: WebAuthn refuses an IP address as RP ID (the security-key case below).
    rig = await startBrowserRig({ publicHost: 'localhost' });
    page = rig.page;
    firm = await firmWithAdmin(rig.h, 'enrolfirm');
    await activateSubscription(rig.h, firm.firm.id, 5);
    pia = await addUser(rig.h, firm.firm.id, { name: 'Pia Phone', email: 'pia@enrolfirm.example', kind: 'case_manager' });
    kai = await addUser(rig.h, firm.firm.id, { name: 'Kai Key', email: 'kai@enrolfirm.example', kind: 'case_manager' });
    await enableMfaForStaff(rig.h, firm.firm.id);
  });
  afterAll(() => rig?.close());

  const shot = async (name: string) => {
    await page.screenshot({ path: `test-results/enroll-${name}-desktop.png`, fullPage: true });
    await page.setViewportSize({ width: 360, height: 740 });
    await page.screenshot({ path: `test-results/enroll-${name}-360.png`, fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
  };
  const intro = () => page.getByText('This is a one-time setup. It takes about two minutes.', { exact: false });
  const cancel = () => page.getByRole('button', { name: 'Cancel and sign out' });

  it('the Tessera Authenticator by default; the intro once; the QR page says how long, and copies or mails the link', async () => {
    await signIn(rig, page, pia.email);
    await page.getByRole('heading', { name: 'Set up multi-factor authentication', level: 1 }).waitFor();
    const methods = page.getByRole('radiogroup', { name: 'Method' });
    expect(await methods.getByRole('radio', { name: /Mobile \(Tessera Authenticator\)/ }).isChecked()).toBe(true);
    expect(await methods.getByRole('radio').count()).toBe(3);
    // The intro says what is happening; the methods are described once, in the choice.
    await intro().waitFor();
    expect(await intro().textContent()).toContain('Choose one of the 3 ways your firm offers below.');
    expect(await page.getByText('Any authenticator app you already have', { exact: false }).count()).toBe(0);
    await shot('choose');

    await page.getByLabel('Phone number').fill('07911 123456');
    await page.getByLabel('Country').selectOption('GB');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('img', { name: 'QR code for the Tessera Authenticator' }).waitFor();
    expect(await intro().count()).toBe(0);
    expect(await page.getByText(/^The code works once, until \d{1,2}:\d{2}( [AP]M)? \(10 minutes from when it was made\)\.$/).count()).toBe(1);
    await cancel().waitFor();

    // The link, mailed to the user's own address.
    await page.getByRole('button', { name: 'Send the link to my email' }).click();
    await page.getByRole('status').filter({ hasText: `The link was sent to ${pia.email}. Open the mail on your phone.` }).waitFor();
    const mail = await rig.h.ctx.db.selectFrom('mail_outbox').select(['text_body']).where('to_address', '=', pia.email).where('subject', '=', 'Set up the Tessera Authenticator on your phone').executeTakeFirstOrThrow();
    const link = await page.getByRole('link', { name: 'Open on this device' }).getAttribute('href');
    expect(mail.text_body).toContain(link!);
    // ... or copied.
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: rig.baseUrl });
    await page.getByRole('button', { name: 'Copy Activation link' }).click();
    await page.getByText('Activation link copied.').waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(link);
    await shot('qr');

    // The phone opens the mailed link: the screen moves on to the backup codes, worded for a phone, and nothing is left to cancel.
    const phone = await (await rig.browser.newContext({ viewport: { width: 360, height: 740 } })).newPage();
    await phone.goto(link!);
    await phone.getByText(`Activated for ${pia.email} at ${firm.firm.name}.`).waitFor();
    await page.getByRole('heading', { name: 'Your backup codes', level: 2 }).waitFor({ timeout: 15_000 });
    await page.getByText('they get you in if you lose your phone.', { exact: false }).waitFor();
    expect(await cancel().count()).toBe(0);
    expect(await intro().count()).toBe(0);
    await shot('codes-phone');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Welcome, Pia Phone' }).waitFor();
    await phone.context().close();
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
  });

  it('a security key: the backup codes say "if you lose your security key", never "your phone"', async () => {
    const keys = await virtualAuthenticators(page);
    await keys.add({ protocol: 'ctap2', transport: 'usb', hasResidentKey: true, hasUserVerification: true, isUserVerified: true });
    await signIn(rig, page, kai.email);
    await page.getByRole('radiogroup', { name: 'Method' }).getByRole('radio', { name: /Security key/ }).check();
    await page.getByRole('button', { name: 'Continue' }).click();
    const setup = page.getByRole('region', { name: 'Register your security key' });
    await setup.getByRole('button', { name: 'Register security key' }).click();
    await page.getByRole('heading', { name: 'Your backup codes', level: 2 }).waitFor({ timeout: 15_000 });
    await page.getByText('they get you in if you lose your security key.', { exact: false }).waitFor();
    expect(await page.getByText('lose your phone', { exact: false }).count()).toBe(0);
    expect(await cancel().count()).toBe(0);
    await shot('codes-key');
  });
});
