import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Locator, Page } from 'playwright-core';
import type { UserView } from '../../src/directory/user.view.js';
import { activateSubscription, addUser, firmWithAdmin, type TestFirm, enableMfaForStaff } from '../support/harness.js';
import { startBrowserRig, virtualAuthenticators, type BrowserRig, type VirtualAuthenticatorOptions, type VirtualAuthenticators, signIn, logOut } from './browser.js';

/** A USB FIDO2 key with a PIN (user verification) that can hold passkeys. */
const FIDO2_KEY: VirtualAuthenticatorOptions = {
  protocol: 'ctap2',
  transport: 'usb',
  hasResidentKey: true,
  hasUserVerification: true,
  isUserVerified: true,
};

/**
 * Issue 6 (reference section 2) end to end in Debian's Chromium: security keys are CDP
 * virtual authenticators, so every ceremony is real (real key pairs, real signatures,
 * checked by the server against the public URL's origin and RP ID). WebAuthn refuses an IP
 * address as RP ID, so this rig's public URL is http://localhost:PORT.
 */
describe('Security keys and passkeys in Chromium', () => {
  let rig: BrowserRig;
  let firm: TestFirm;
  let kim: UserView;
  let uma: UserView;
  let ulf: UserView;
  let pat: UserView;

  beforeAll(async () => {
    rig = await startBrowserRig({ publicHost: 'localhost' });
    const h = rig.h;
    firm = await firmWithAdmin(h, 'keystone');
    await activateSubscription(h, firm.firm.id, 10);
    kim = await addUser(h, firm.firm.id, { name: 'Kim Key', email: 'kim@keystone.example', kind: 'case_manager' });
    uma = await addUser(h, firm.firm.id, { name: 'Uma Plain', email: 'uma@keystone.example', kind: 'case_manager' });
    ulf = await addUser(h, firm.firm.id, { name: 'Ulf Legacy', email: 'ulf@keystone.example', kind: 'case_manager' });
    pat = await addUser(h, firm.firm.id, { name: 'Pat Passkey', email: 'pat@keystone.example', kind: 'case_manager' });
    // MFA for the firm's staff, straight into the configuration (the admin screens have their own test).
    await enableMfaForStaff(h, firm.firm.id);
  });
  afterAll(() => rig?.close());

  /** A browser of its own (cookies, virtual keys) for one person. */
  const newBrowser = async (viewport = { width: 1280, height: 800 }): Promise<{ page: Page; keys: VirtualAuthenticators }> => {
    const context = await rig.browser.newContext({ viewport });
    const page = await context.newPage();
    return { page, keys: await virtualAuthenticators(page) };
  };

  /**
   * Waits for `heading`; fails at once with the page's words if an error is announced
   * instead (a refused ceremony shows an alert, not a new page).
   */
  const reach = async (page: Page, heading: { name: string; level?: number }) => {
    await settle(page, page.getByRole('heading', heading), heading.name);
  };

  const settle = async (page: Page, target: Locator, what: string) => {
    const alert = page.getByRole('alert');
    await target.or(alert).first().waitFor();
    if (!(await target.isVisible())) throw new Error(`expected "${what}", the page says: ${await alert.first().textContent()}`);
  };

  const addedNotice = (page: Page, text: string) => settle(page, page.getByRole('status').filter({ hasText: text }), text);

  const welcome = async (page: Page, name: string) => {
    await reach(page, { name: `Welcome, ${name}` });
    expect(new URL(page.url()).pathname).toBe('/home');
  };

  /** First login: choose "Security key", name it, tap it, keep the backup codes, land on the homepage. */
  const enrolKeyAtFirstLogin = async (page: Page, user: UserView, keyName: string) => {
    await signIn(rig, page, user.email);
    await page.getByRole('heading', { name: 'Set up multi-factor authentication', level: 1 }).waitFor();
    await page.getByRole('radiogroup', { name: 'Method' }).getByRole('radio', { name: /Security key/ }).check();
    await page.getByRole('button', { name: 'Continue' }).click();

    const setup = page.getByRole('region', { name: 'Register your security key' });
    // The steps in words (reference 2.2.b): insert, name, tap when it blinks; some keys ask more than once.
    await setup.getByRole('heading', { name: 'Insert your key', level: 3 }).waitFor();
    await setup.getByRole('heading', { name: 'Tap it when it blinks', level: 3 }).waitFor();
    await setup.getByText(/Some keys ask you to tap more than once/).waitFor();
    const name = setup.getByLabel('Name for this key');
    expect(await name.inputValue()).toBe('Security key');
    await name.fill(keyName);
    await setup.getByRole('button', { name: 'Register security key' }).click();

    await reach(page, { name: 'Your backup codes', level: 2 });
    expect(await page.getByRole('list', { name: 'Backup codes' }).getByRole('listitem').count()).toBe(10);
    await page.getByRole('button', { name: 'Continue' }).click();
    await welcome(page, user.name);
  };

  /** The second factor with a tap: /mfa offers the key first when the user has no phone. */
  const logInWithKey = async (page: Page, user: UserView) => {
    await signIn(rig, page, user.email);
    await page.getByRole('heading', { name: 'Second factor', level: 1 }).waitFor();
    const form = page.getByRole('form', { name: 'Security key' });
    await form.getByRole('button', { name: 'Use security key' }).click();
    await welcome(page, user.name);
  };

  const keysOf = (userId: string) =>
    rig.h.ctx.db.selectFrom('authenticators').selectAll().where('user_id', '=', userId).where('kind', '=', 'webauthn').where('status', '=', 'active').orderBy('created_at').execute();

  let kimPage: Page;
  let kimKeys: VirtualAuthenticators;
  let firstKey = '';

  it('enrols a USB FIDO2 key at first login and logs in again with one tap', async () => {
    ({ page: kimPage, keys: kimKeys } = await newBrowser());
    firstKey = await kimKeys.add(FIDO2_KEY);
    await enrolKeyAtFirstLogin(kimPage, kim, 'Blue key');

    expect(await keysOf(kim.id)).toEqual([expect.objectContaining({ label: 'Blue key', status: 'active' })]);
    expect(await rig.h.ctx.db.selectFrom('seats').selectAll().where('user_id', '=', kim.id).execute()).toHaveLength(1);
    const [credential] = await kimKeys.credentials(firstKey);
    expect(credential, 'the key holds the new credential').toBeDefined();
    // A security key, not a passkey: residentKey "discouraged".
    expect(credential!.isResidentCredential).toBe(false);

    await logOut(kimPage);
    await logInWithKey(kimPage, kim);
    const [row] = await keysOf(kim.id);
    expect(row!.last_used_at).not.toBeNull();
  });

  it('adds a second key in My security, says so when a key is already registered, and logs in with the second one', async () => {
    await kimPage.goto(`${rig.baseUrl}/me/security`);
    await kimPage.getByRole('heading', { name: 'My security', level: 1 }).waitFor();
    const table = kimPage.getByRole('table', { name: 'My authenticators' });
    await table.getByRole('cell', { name: 'Security key', exact: true }).waitFor();
    await table.getByRole('button', { name: 'Rename Blue key' }).waitFor();

    // The first key again: the browser refuses it (excludeCredentials, InvalidStateError).
    await kimPage.getByRole('button', { name: 'Add security key' }).click();
    const setup = kimPage.getByRole('region', { name: 'Register your security key' });
    await setup.getByLabel('Name for this key').fill('Green key');
    await setup.getByRole('button', { name: 'Register security key' }).click();
    await expect.poll(() => setup.getByRole('alert').textContent()).toBe('This key is already registered.');

    // Plug in a second key (the first one no longer answers taps) and try again.
    await kimKeys.setPresence(firstKey, false);
    const secondKey = await kimKeys.add(FIDO2_KEY);
    await setup.getByRole('button', { name: 'Try again' }).click();
    await addedNotice(kimPage, 'Your security key was added.');
    await table.getByRole('button', { name: 'Rename Green key' }).waitFor();
    expect(await table.getByRole('cell', { name: 'Security key', exact: true }).count()).toBe(2);
    expect((await keysOf(kim.id)).map((k) => k.label)).toEqual(['Blue key', 'Green key']);
    expect(await kimKeys.credentials(secondKey)).toHaveLength(1);

    // Only the second key is left in the computer.
    await logOut(kimPage);
    await kimKeys.remove(firstKey);
    await logInWithKey(kimPage, kim);
    const [blue, green] = await keysOf(kim.id);
    expect(green!.last_used_at).not.toBeNull();
    expect(green!.last_used_at!).toBeGreaterThanOrEqual(blue!.last_used_at ?? 0);
  });

  it('works with a key that has no PIN or fingerprint (no user verification), on a phone-sized window', async () => {
    const { page, keys } = await newBrowser({ width: 375, height: 740 });
    await keys.add({ protocol: 'ctap2', transport: 'usb', hasResidentKey: false, hasUserVerification: false });
    const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

    await signIn(rig, page, uma.email);
    await page.getByRole('heading', { name: 'Set up multi-factor authentication', level: 1 }).waitFor();
    await page.getByRole('radiogroup', { name: 'Method' }).getByRole('radio', { name: /Security key/ }).check();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('region', { name: 'Register your security key' }).waitFor();
    expect(await overflow()).toBeLessThanOrEqual(0);
    await page.getByRole('button', { name: 'Register security key' }).click();
    await reach(page, { name: 'Your backup codes', level: 2 });
    await page.getByRole('button', { name: 'Continue' }).click();
    await welcome(page, uma.name);
    expect(await keysOf(uma.id)).toEqual([expect.objectContaining({ label: 'Security key' })]);

    await logOut(page);
    await signIn(rig, page, uma.email);
    await page.getByRole('form', { name: 'Security key' }).waitFor();
    expect(await overflow()).toBeLessThanOrEqual(0);
    await page.getByRole('button', { name: 'Use security key' }).click();
    await welcome(page, uma.name);
  });

  it('works with an old U2F key (CTAP1: ES256, no PIN, no passkeys)', async () => {
    const { page, keys } = await newBrowser();
    const key = await keys.add({ protocol: 'u2f', transport: 'usb', hasResidentKey: false, hasUserVerification: false });
    await enrolKeyAtFirstLogin(page, ulf, 'Old U2F key');
    expect(await keys.credentials(key)).toHaveLength(1);
    await logOut(page);
    await logInWithKey(page, ulf);
  });

  it('signs in with a passkey, without the password, once the firm allows it', async () => {
    const { page, keys } = await newBrowser();
    const workKey = await keys.add({ ...FIDO2_KEY, hasResidentKey: false });
    await enrolKeyAtFirstLogin(page, pat, 'Work key');

    // Off by default: My security offers no passkey while the firm has not allowed passkey
    // sign-in (issue 12: only a registration made as a passkey where the firm allows it is one).
    await page.goto(`${rig.baseUrl}/me/security`);
    await page.getByRole('heading', { name: 'My security', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Add security key' }).waitFor();
    expect(await page.getByRole('button', { name: 'Add a passkey' }).count()).toBe(0);

    // The superuser allows it in Login policy (Sam enrols a key of his own first: he is a case manager).
    const admin = await newBrowser();
    await admin.keys.add(FIDO2_KEY);
    await enrolKeyAtFirstLogin(admin.page, firm.superuser, 'Sam key');
    await admin.page.goto(`${rig.baseUrl}/admin/mfa`);
    const policy = admin.page.getByRole('form', { name: 'Login policy' });
    const allow = policy.getByRole('checkbox', { name: 'Allow passkey sign-in' });
    expect(await allow.isChecked()).toBe(false);
    await allow.check();
    await policy.getByRole('button', { name: 'Save policy' }).click();
    await settle(admin.page, policy.getByRole('status').filter({ hasText: 'The login policy was saved.' }), 'policy saved');
    const settings = await rig.h.ctx.db.selectFrom('mfa_settings').selectAll().where('firm_id', '=', firm.firm.id).executeTakeFirstOrThrow();
    expect(settings.passkeys_enabled).toBe(1);

    // A passkey from My security: a discoverable credential with user verification, on a
    // key that can hold one. (The work key would refuse: it is in excludeCredentials.)
    await keys.setPresence(workKey, false);
    const key = await keys.add(FIDO2_KEY);
    await page.goto(`${rig.baseUrl}/me/security`);
    await page.getByRole('heading', { name: 'My security', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    const setup = page.getByRole('region', { name: 'Add a passkey' });
    await setup.getByLabel('Name for this passkey').fill('Pat passkey');
    await setup.getByRole('button', { name: 'Create passkey' }).click();
    await addedNotice(page, 'Your passkey was added.');
    await page.getByRole('table', { name: 'My authenticators' }).getByRole('button', { name: 'Rename Pat passkey' }).waitFor();
    const resident = (await keys.credentials(key)).filter((c) => c.isResidentCredential);
    expect(resident).toHaveLength(1);
    await logOut(page);
    // The button is offered where the page knows the firm (a ?firm= link) and the firm allows passkeys (issue 16.9).
    expect(await page.getByRole('button', { name: 'Sign in with a passkey' }).count()).toBe(0);
    await page.goto(`${rig.baseUrl}/login?firm=${firm.firm.slug}`);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).waitFor();

    // Turned off again while the page is open, the passkey does not sign in.
    await allow.uncheck();
    await policy.getByRole('button', { name: 'Save policy' }).click();
    await expect.poll(async () => (await rig.h.ctx.db.selectFrom('mfa_settings').select('passkeys_enabled').where('firm_id', '=', firm.firm.id).executeTakeFirstOrThrow()).passkeys_enabled).toBe(0);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toBe(
      'This passkey cannot sign you in here. Sign in with your email and password instead.',
    );
    expect(new URL(page.url()).pathname).toBe('/login');

    // On again: one click, no email, no password, straight to the homepage.
    await allow.check();
    await policy.getByRole('button', { name: 'Save policy' }).click();
    await expect.poll(async () => (await rig.h.ctx.db.selectFrom('mfa_settings').select('passkeys_enabled').where('firm_id', '=', firm.firm.id).executeTakeFirstOrThrow()).passkeys_enabled).toBe(1);
    await page.goto(`${rig.baseUrl}/login?firm=${firm.firm.slug}`);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await welcome(page, pat.name);
    expect(await page.getByLabel('Password').count()).toBe(0);
  });
});
