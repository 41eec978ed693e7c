import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { createApplication } from '../../src/applications/application.service.js';
import { systemActor } from '../../src/audit/audit.service.js';
import { ACR } from '../../src/oidc/accounts.js';
import { portalConfigFromEnv } from '../../examples/portal/config.js';
import { createPortal, type Portal } from '../../examples/portal/portal.js';
import { activateSubscription, addCorporation, addUser, enableMfaForStaff, firmWithAdmin, totpAt, type TestFirm } from '../support/harness.js';
import { TOTP_PARAMS } from '../../src/factors/totp/totp.factor.js';
import { freePort, startBrowserRig, type BrowserRig } from './browser.js';

/**
 * Issue 14's browser proof: the example portal (examples/portal/) in Chromium, signing in through
 * Tessera. A case manager opens the portal, is sent to Tessera, signs in with the password,
 * enrolls an authenticator app (the firm's MFA covers its staff; first sign-in), and lands back
 * on the portal, which shows amr with otp and mfa; a corporation user the firm does not cover
 * lands there with pwd only; signing out of the portal ends the Tessera session.
 */

let rig: BrowserRig;
let page: Page;
let firm: TestFirm;
let portal: Portal;
let portalUrl: string;
let totpSecret = '';

beforeAll(async () => {
  rig = await startBrowserRig();
  page = rig.page;
  const h = rig.h;
  firm = await firmWithAdmin(h, 'meridian');
  await activateSubscription(h, firm.firm.id, 5);
  await enableMfaForStaff(h, firm.firm.id);
  const acme = await addCorporation(h, firm.firm.id, 'Acme Corporation');
  await addUser(h, firm.firm.id, { name: 'Carl Case', email: 'carl@meridian.example', kind: 'case_manager' });
  await addUser(h, firm.firm.id, { name: 'Cora Corp', email: 'cora@acme.example', kind: 'corp_user', corporationId: acme.id });

  const port = await freePort();
  portalUrl = `http://127.0.0.1:${port}`;
  const { application, secret } = await h.ctx.db.transaction().execute((tx) =>
    createApplication(h.ctx, tx, { ...systemActor, firmId: firm.firm.id }, firm.firm.id, {
      type: 'oidc',
      name: 'Case Portal',
      redirectUris: [`${portalUrl}/callback`],
      postLogoutRedirectUris: [`${portalUrl}/signed-out`],
    }),
  );
  const config = portalConfigFromEnv({
    PORTAL_ISSUER: rig.baseUrl,
    PORTAL_CLIENT_ID: application.clientId,
    PORTAL_CLIENT_SECRET: secret!,
    PORTAL_PORT: String(port),
    PORTAL_REDIRECT_URI: `${portalUrl}/callback`,
    PORTAL_POST_LOGOUT_REDIRECT_URI: `${portalUrl}/signed-out`,
  });
  portal = createPortal(config);
  await new Promise<void>((resolve) => portal.server.listen(port, '127.0.0.1', resolve));
  fs.mkdirSync('test-results', { recursive: true });
}, 60_000);
afterAll(async () => {
  await new Promise((resolve) => portal?.server.close(resolve));
  await rig?.close();
});

/** Screenshots at desktop width and at 360 px (a phone), then back to desktop. */
async function shots(name: string): Promise<void> {
  await page.screenshot({ path: `test-results/oidc-portal-${name}-desktop.png`, fullPage: true });
  await page.setViewportSize({ width: 360, height: 740 });
  await page.screenshot({ path: `test-results/oidc-portal-${name}-360.png`, fullPage: true });
  // Nothing wider than the phone's screen.
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
  await page.setViewportSize({ width: 1280, height: 800 });
}

const claim = (name: string) => page.locator(`[data-claim="${name}"]`).textContent();

/** A passcode of the next time step (each code works once). */
const passcode = () => {
  rig.h.clock.advance(TOTP_PARAMS.period * 1000);
  return totpAt(totpSecret, rig.h.clock.now());
};

/** Opens the portal, which sends the browser to Tessera's sign-in page; fills in the email and password. */
async function openPortalAndSignIn(email: string): Promise<void> {
  await page.goto(portalUrl);
  await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
  expect(new URL(page.url()).origin).toBe(rig.baseUrl);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('correct horse battery staple');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

describe('the example portal signs in through Tessera, in Chromium', () => {
  it('a case manager, first time: password, enrolls an authenticator app, and lands on the portal with amr otp and mfa', async () => {
    await openPortalAndSignIn('carl@meridian.example');
    await page.getByRole('heading', { name: 'Set up multi-factor authentication', level: 1 }).waitFor();
    await page.getByRole('radiogroup', { name: 'Method' }).getByRole('radio', { name: /Authenticator app/ }).check();
    await page.getByRole('button', { name: 'Continue' }).click();
    const key = await page.getByLabel('Setup key').textContent();
    totpSecret = key!.replace(/\s+/g, '');
    expect(totpSecret).toMatch(/^[A-Z2-7]{32}$/);
    await page.getByLabel('Name for this authenticator').fill('Work phone');
    await page.getByLabel('Code from the app').fill(passcode());
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByRole('heading', { name: 'Your backup codes', level: 2 }).waitFor();
    await page.getByRole('button', { name: 'Continue' }).click();

    // Back at the portal, signed in.
    await page.getByRole('heading', { name: 'Cases', level: 1 }).waitFor();
    expect(new URL(page.url()).origin).toBe(portalUrl);
    expect(await claim('name')).toBe('Carl Case');
    expect(await claim('kind')).toBe('Case manager');
    expect(await claim('firm')).toBe('meridian');
    expect(await claim('amr')).toBe('pwd (password), otp (one-time passcode), mfa (multiple factors)');
    expect(await claim('acr')).toBe(ACR.mfa);
    await shots('cases');
  });

  it('signing out of the portal ends the Tessera session: the next sign-in asks for the password and the passcode again', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign out?' }).waitFor();
    await shots('sign-out');
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.getByRole('heading', { name: 'Signed out', level: 1 }).waitFor();
    expect(new URL(page.url()).origin).toBe(portalUrl);
    // Tessera's own pages no longer know the browser.
    const me = await page.request.get(`${rig.baseUrl}/api/v1/me`);
    expect(me.status()).toBe(401);

    await page.getByRole('link', { name: 'Sign in again' }).click();
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
    await page.getByLabel('Email').fill('carl@meridian.example');
    await page.getByLabel('Password').fill('correct horse battery staple');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Second factor', level: 1 }).waitFor();
    const form = page.getByRole('form', { name: 'Passcode' });
    await form.getByLabel('Passcode').fill(passcode());
    await form.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('heading', { name: 'Cases', level: 1 }).waitFor();
    expect(await claim('amr')).toBe('pwd (password), otp (one-time passcode), mfa (multiple factors)');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.getByRole('heading', { name: 'Signed out', level: 1 }).waitFor();
  });

  it('a corporation user the firm does not cover lands on the portal with pwd only', async () => {
    await openPortalAndSignIn('cora@acme.example');
    await page.getByRole('heading', { name: 'Cases', level: 1 }).waitFor();
    expect(await claim('name')).toBe('Cora Corp');
    expect(await claim('kind')).toBe('Corporation user');
    expect(await claim('corporation')).toBe('Acme Corporation');
    expect(await claim('amr')).toBe('pwd (password)');
    expect(await claim('acr')).toBe(ACR.password);
    // Her corporation's cases only.
    expect(await page.getByRole('row').count()).toBe(1 + 2);
  });
});
