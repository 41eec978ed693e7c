import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import type { UserView } from '../../src/directory/user.view.js';
import { activateSubscription, addUser, firmWithAdmin, type TestFirm, enableMfaForStaff } from '../support/harness.js';
import { startBrowserRig, type BrowserRig, signIn, logOut } from './browser.js';

/**
 * Issue 5 end to end with two browsers: the login screen in one (A), the Tessera Authenticator
 * (/authenticator, the PWA) in the other (B). B activates from the link A shows, and answers
 * the pushes A sends, signing as the device simulator does.
 */
describe('Tessera Authenticator and push in Chromium', () => {
  let rig: BrowserRig;
  let page: Page;
  let phoneContext: BrowserContext;
  let phone: Page;
  let firm: TestFirm;
  let carl: UserView;

  beforeAll(async () => {
    rig = await startBrowserRig();
    page = rig.page;
    const h = rig.h;
    firm = await firmWithAdmin(h, 'pushfirm');
    await activateSubscription(h, firm.firm.id, 5);
    // A long address: the request card must wrap it on a 360 px phone (issue 16 item 8).
    carl = await addUser(h, firm.firm.id, { name: 'Pat Push', email: 'pat.push-of-the-litigation-team@pushfirm-offices.example', kind: 'case_manager' });
    // MFA for the firm's staff, straight into the configuration (the admin screens have their own test).
    await enableMfaForStaff(h, firm.firm.id);
    // The authenticator on a small phone: 360 px wide (issue 16 item 8). Its clock can be moved
    // forward (Playwright's clock) to see notices and requests go when their request expires.
    phoneContext = await rig.browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
    await phoneContext.clock.install();
    phone = await phoneContext.newPage();
  });
  afterAll(() => rig?.close());

  /** At /mfa: "Send me a push", then the number the login screen shows. */
  const sendPush = async () => {
    await signIn(rig, page, carl.email);
    await page.waitForURL((url) => url.pathname === '/mfa');
    await page.getByRole('button', { name: 'Send me a push' }).click();
    const shown = page.getByRole('status', { name: 'Verification number' });
    await shown.waitFor();
    const text = (await shown.textContent()) ?? '';
    expect(text).toMatch(/^Type this number in the Tessera Authenticator: \d{6}$/);
    return text.match(/(\d{6})$/)![1]!;
  };

  const request = () => phone.getByRole('article', { name: `Sign-in request for ${carl.email}` });
  /** A minute on, on the phone's clock (its timers fire), then its clock set to the server's again (device signatures carry the time). */
  const aMinuteLater = async () => {
    await phoneContext.clock.fastForward(61_000);
    await phoneContext.clock.setSystemTime(rig.h.clock.now());
  };
  const shot = (p: Page, name: string) => p.screenshot({ path: `test-results/push-${name}.png`, fullPage: true });
  /** Nothing on the phone is wider than its 360 px screen (no sideways scrolling). */
  const fitsThePhone = async () => {
    const widths = await phone.evaluate(() => ({ page: document.documentElement.scrollWidth, screen: window.innerWidth }));
    expect(widths.page).toBeLessThanOrEqual(widths.screen);
  };

  it('enrols "Mobile (Tessera Authenticator)": the app opened from the link activates, and the login screen notices by itself', async () => {
    await signIn(rig, page, carl.email);
    await page.getByRole('heading', { name: 'Set up multi-factor authentication', level: 1 }).waitFor();
    await page.getByRole('radiogroup', { name: 'Method' }).getByRole('radio', { name: /Mobile \(Tessera Authenticator\)/ }).check();
    await page.getByLabel('Phone number').fill('07911 123456');
    await page.getByLabel('Country').selectOption('GB');
    await page.getByRole('button', { name: 'Continue' }).click();

    await page.getByRole('img', { name: 'QR code for the Tessera Authenticator' }).waitFor();
    await page.getByText('Scan this code with the Tessera Authenticator, or open the link on your phone.').waitFor();
    const link = await page.getByRole('link', { name: 'Open on this device' }).getAttribute('href');
    expect(link).toMatch(new RegExp(`^${rig.baseUrl}/authenticator#activate=[A-Za-z0-9_-]+$`));

    // The phone: the app activates from the link (key pair made there, public key sent).
    await phone.goto(link!);
    await phone.getByRole('heading', { name: 'Tessera Authenticator', level: 1 }).waitFor();
    await phone.getByText(`Activated for ${carl.email} at ${firm.firm.name}.`).waitFor();
    await phone.getByRole('heading', { name: 'Accounts' }).waitFor();
    expect(new URL(phone.url()).hash).toBe('');

    // The login screen polls, notices, finishes: backup codes, then home.
    await page.getByRole('heading', { name: 'Your backup codes', level: 2 }).waitFor({ timeout: 15_000 });
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Welcome, Pat Push' }).waitFor();

    const authenticators = await rig.h.ctx.db.selectFrom('authenticators').selectAll().where('user_id', '=', carl.id).execute();
    expect(authenticators).toEqual([expect.objectContaining({ kind: 'push', status: 'active', phone_e164: '+447911123456' })]);
    const devices = await rig.h.ctx.db.selectFrom('push_devices').select(['public_key']).execute();
    expect(devices).toHaveLength(1);
    expect(JSON.parse(devices[0]!.public_key)).toEqual({ kty: 'EC', crv: 'P-256', x: expect.any(String), y: expect.any(String) });

    // An offline passcode, computed in the app.
    await phone.getByRole('button', { name: 'Show passcode' }).click();
    expect(await phone.getByLabel(`Passcode for ${carl.email}`).textContent()).toMatch(/^\d{6}$/);
    await logOut(page);
  });

  it('approves a push with the number shown on the login screen: the login lands on the homepage', async () => {
    const number = await sendPush();
    // The login screen counts down while the push waits; the phone's card says the time with its zone.
    await expect.poll(() => page.getByRole('timer', { name: 'Time left to answer' }).textContent()).toMatch(/^(5\d|60) s left$/);
    await request().waitFor({ timeout: 15_000 });
    await expect.poll(() => request().textContent()).toContain(firm.firm.name);
    const time = await request().locator('dt:text-is("Time") + dd').textContent();
    expect(time).toMatch(/(UTC|GMT)/);
    await request().getByRole('timer', { name: 'Time left to answer' }).waitFor();
    await fitsThePhone();
    await shot(page, 'login-waiting-desktop');
    await shot(phone, 'request-phone-360');
    await request().getByLabel('Number shown on the login screen').fill(number);
    await request().getByRole('button', { name: 'Approve' }).click();
    await phone.getByText('Approved. The sign-in continues on the other screen.').waitFor();
    await page.getByRole('heading', { name: 'Welcome, Pat Push' }).waitFor({ timeout: 30_000 });
    // No notice outlives its request: a minute on, "Approved…" is gone.
    await aMinuteLater();
    await phone.getByText('Approved. The sign-in continues on the other screen.').waitFor({ state: 'detached' });
    expect(new URL(page.url()).pathname).toBe('/home');
    const tx = await rig.h.ctx.db.selectFrom('push_transactions').select(['status']).where('user_id', '=', carl.id).execute();
    expect(tx.map((t) => t.status)).toEqual(['approved']);
    await logOut(page);
  });

  it('a wrong number: the login screen says the number did not match; the phone\'s notice goes with its request', async () => {
    const number = await sendPush();
    await request().waitFor({ timeout: 15_000 });
    const wrong = String((Number(number) + 1) % 1_000_000).padStart(6, '0');
    await request().getByLabel('Number shown on the login screen').fill(wrong);
    await request().getByRole('button', { name: 'Approve' }).click();
    await phone.getByText('The number did not match the login screen', { exact: false }).waitFor();
    await page
      .getByRole('alert')
      .filter({ hasText: 'The number typed in the Tessera Authenticator did not match the one shown here' })
      .waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: 'Try again' }).waitFor();
    await shot(page, 'login-wrong-number-desktop');
    await aMinuteLater();
    await phone.getByText('The number did not match the login screen', { exact: false }).waitFor({ state: 'detached' });
    await page.context().clearCookies();
  });

  it('the phone drops a superseded request, and a cancelled one ("Cancel and sign out"), at once', async () => {
    await sendPush();
    await request().waitFor({ timeout: 15_000 });
    const first = await request().getAttribute('aria-label');
    const firstTx = await rig.h.ctx.db.selectFrom('push_transactions').select('id').where('user_id', '=', carl.id).where('status', '=', 'pending').executeTakeFirstOrThrow();

    // The login screen reloaded and a new push sent: the older request leaves the phone, the new one shows.
    await page.reload();
    await page.getByRole('button', { name: 'Send me a push' }).click();
    await page.getByRole('status', { name: 'Verification number' }).waitFor();
    await expect
      .poll(async () => (await rig.h.ctx.db.selectFrom('push_transactions').select('status').where('id', '=', firstTx.id).executeTakeFirstOrThrow()).status)
      .toBe('expired');
    await expect.poll(() => phone.getByRole('article', { name: first! }).count()).toBe(1);
    const secondTx = await rig.h.ctx.db.selectFrom('push_transactions').select('id').where('user_id', '=', carl.id).where('status', '=', 'pending').executeTakeFirstOrThrow();
    expect(secondTx.id).not.toBe(firstTx.id);

    // "Cancel and sign out" while it waits: the request leaves the phone at once, and the phone says why.
    await page.getByRole('button', { name: 'Cancel and sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
    await request().waitFor({ state: 'detached', timeout: 4_000 });
    await phone.getByText(`The sign-in of ${carl.email} ended on the other screen, so its request was withdrawn.`).waitFor();
    await phone.getByText('No request waiting.').waitFor();
    await shot(phone, 'withdrawn-phone-360');
    await aMinuteLater();
    await phone.getByText('ended on the other screen', { exact: false }).waitFor({ state: 'detached' });
  });

  it('offers "Turn on notifications" only where PushManager exists; a notification\'s #request= link highlights its request', async () => {
    await phone.goto(`${rig.baseUrl}/authenticator`);
    await phone.getByRole('heading', { name: 'Accounts' }).waitFor();
    const supported = await phone.evaluate(async () => {
      if (!('PushManager' in window) || !('Notification' in window) || !('serviceWorker' in navigator)) return false;
      await navigator.serviceWorker.ready;
      return true;
    });
    const turnOn = phone.getByRole('button', { name: 'Turn on notifications' });
    if (supported) {
      await turnOn.waitFor();
      // Allowed, then subscribed where the browser has a push service; headless Chromium may have none: then it says so.
      await phoneContext.grantPermissions(['notifications'], { origin: rig.baseUrl });
      await turnOn.click();
      const on = phone.getByText('Notifications are on.', { exact: false });
      const failed = phone.getByRole('alert').filter({ hasText: 'This browser could not subscribe to notifications' });
      await on.or(failed).waitFor();
      const stored = await rig.h.ctx.db.selectFrom('push_devices').select(['web_push']).execute();
      if (await on.isVisible()) expect(JSON.parse(stored[0]!.web_push!)).toEqual(expect.objectContaining({ endpoint: expect.any(String) }));
      else expect(stored[0]!.web_push).toBeNull();
    } else {
      await phone.getByRole('heading', { name: 'Sign-in requests' }).waitFor();
      expect(await turnOn.count()).toBe(0);
    }

    // The link a tapped notification opens: the app shows that request first, highlighted.
    await sendPush();
    const tx = await rig.h.ctx.db
      .selectFrom('push_transactions')
      .select(['id'])
      .where('user_id', '=', carl.id)
      .where('status', '=', 'pending')
      .executeTakeFirstOrThrow();
    await phone.goto(`${rig.baseUrl}/authenticator#request=${tx.id}`);
    await request().waitFor({ timeout: 15_000 });
    await expect.poll(() => request().getAttribute('aria-current')).toBe('true');
    await request().getByText('Opened from your notification').waitFor();
    expect(new URL(phone.url()).hash).toBe('');

    // "It was a mistake": denied, no report; the login starts over next time.
    await request().getByRole('button', { name: 'Deny' }).click();
    await request().getByRole('button', { name: 'It was a mistake' }).click();
    await phone.getByText('Denied. Nobody signs in with this request.').waitFor();
    await page.getByText('The request was denied on your phone.', { exact: false }).waitFor({ timeout: 30_000 });
    await page.context().clearCookies();
  });

  it('denies a push as fraudulent: the login screen says so, and the superuser gets a mail', async () => {
    await sendPush();
    await request().waitFor({ timeout: 15_000 });
    await request().getByRole('button', { name: 'Deny' }).click();
    await request().getByRole('button', { name: 'It seemed fraudulent' }).click();
    await phone.getByText(/Reported as fraudulent/).waitFor();

    await page.getByText('The request was reported as fraudulent on your phone.', { exact: false }).waitFor({ timeout: 30_000 });
    expect(new URL(page.url()).pathname).toBe('/mfa');
    const mails = await rig.h.ctx.db
      .selectFrom('mail_outbox')
      .select(['to_address', 'subject'])
      .where('to_address', '=', firm.superuser.email)
      .where('subject', 'like', 'Fraudulent login attempt reported%')
      .execute();
    expect(mails).toHaveLength(1);

    // The report ended this sign-in (issue 12): the screen offers only a new one.
    expect(await page.getByRole('button', { name: 'Try again' }).count()).toBe(0);
    await page.getByRole('button', { name: 'Sign in again' }).click();
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();

    // Pushes are paused now (not offered, and the screen says why and until when), and passcodes still work.
    await signIn(rig, page, carl.email);
    await page.waitForURL((url) => url.pathname === '/mfa');
    await page.getByRole('textbox', { name: 'Passcode' }).waitFor();
    expect(await page.getByRole('button', { name: 'Send me a push' }).count()).toBe(0);
    const paused = page.getByRole('status').filter({ hasText: 'Push requests to your Tessera Authenticator are paused until' });
    expect(await paused.textContent()).toMatch(/paused until \d{1,2}:\d{2}( [AP]M)? because a request was reported as fraudulent\. Use a passcode or a backup code instead\.$/);
    await shot(page, 'login-paused-desktop');
    await page.setViewportSize({ width: 360, height: 740 });
    await shot(page, 'login-paused-360');
    await page.setViewportSize({ width: 1280, height: 800 });

    // The app's offline passcode (TOTP of the device secret) is accepted by /mfa/verify. (The
    // harness's clock stands still: the phone's is set to it, as a phone's clock agrees with the server's.)
    await phoneContext.clock.setSystemTime(rig.h.clock.now());
    await phone.getByRole('button', { name: 'Show passcode' }).click();
    const code = (await phone.getByLabel(`Passcode for ${carl.email}`).textContent())!;
    await page.getByRole('textbox', { name: 'Passcode' }).fill(code);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('heading', { name: 'Welcome, Pat Push' }).waitFor();
  });

  it('opens offline from its service worker, with the accounts and their passcodes', async () => {
    await phone.goto(`${rig.baseUrl}/authenticator`);
    await phone.evaluate(async () => {
      await navigator.serviceWorker.ready;
    });
    // The worker controls the page after a reload; then the network goes away.
    await phone.reload();
    await expect.poll(() => phone.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);
    await phoneContext.setOffline(true);
    try {
      await phone.reload();
      await phone.getByRole('heading', { name: 'Accounts' }).waitFor();
      // The app says it is offline (requests cannot arrive), and passcodes still work.
      await phone.getByRole('status', { name: 'Offline' }).waitFor();
      await fitsThePhone();
      await shot(phone, 'offline-phone-360');
      await phone.getByRole('button', { name: 'Show passcode' }).click();
      expect(await phone.getByLabel(`Passcode for ${carl.email}`).textContent()).toMatch(/^\d{6}$/);
    } finally {
      await phoneContext.setOffline(false);
    }
  });
});
