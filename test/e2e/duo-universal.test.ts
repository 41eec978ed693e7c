import fs from 'node:fs';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDuoSample } from '../../examples/duo-universal/app.js';
import { beginMobile } from '../support/factors.js';
import { api, loginAs, mfaFirm, person } from '../support/fixtures.js';
import type { TestFirm } from '../support/harness.js';
import { createTestPki, type TestPki } from '../support/tls.js';
import { freePort, startBrowserRig, type BrowserRig } from './browser.js';

/**
 * Issue 15 item 4's browser proof: the Duo Web SDK sample (examples/duo-universal/, written as
 * Duo's duo_universal example) signs a user in through Tessera's Universal Prompt in Chromium:
 * once with a push approved in the Tessera Authenticator (the PWA, in a phone-sized page), once
 * with a passcode the app shows. Tessera serves TLS (a test CA, which the sample's Duo client is
 * given); the sample runs on loopback http. Screenshots at desktop width and 360 px go to
 * test-results/.
 */
describe('Duo Web SDK sample through Tessera\'s Universal Prompt', () => {
  let pki: TestPki;
  let rig: BrowserRig;
  let page: Page;
  let phoneContext: BrowserContext;
  let phone: Page;
  let f: TestFirm;
  let sampleUrl: string;
  let close: () => Promise<void>;
  let email = '';
  const shot = (name: string, p: Page = page) => p.screenshot({ path: `test-results/duo-universal-${name}.png`, fullPage: true });

  beforeAll(async () => {
    pki = await createTestPki();
    rig = await startBrowserRig({ tls: { certFile: pki.certFile, keyFile: pki.keyFile } });
    page = rig.page;
    f = await mfaFirm(rig.h, { enabled: 'staff', adminEnrolled: true });
    const samplePort = await freePort();
    sampleUrl = `http://127.0.0.1:${samplePort}`;
    const res = await f.admin.post(api('/admin/applications'), { type: 'duo_web_sdk', name: 'Case Portal', redirectUris: [`${sampleUrl}/redirect`] });
    expect(res.statusCode, res.body).toBe(201);
    const created = res.json() as { application: { clientId: string }; secret: string };
    const { server } = createDuoSample({
      clientId: created.application.clientId,
      clientSecret: created.secret,
      apiHost: new URL(rig.baseUrl).host,
      redirectUrl: `${sampleUrl}/redirect`,
      caPem: pki.caPem,
    });
    await new Promise<void>((resolve) => server.listen(samplePort, '127.0.0.1', resolve));
    close = () => new Promise<void>((resolve) => server.close(() => resolve()));

    // A case manager with the Tessera Authenticator: the app on a phone-sized page activates from the enrollment's link.
    const user = await person(rig.h, f, { name: 'Una Universal' });
    email = user.email;
    phoneContext = await rig.browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
    // The phone's clock is the server's (device signatures and passcodes carry the time; the harness clock stands still).
    await phoneContext.clock.install({ time: rig.h.clock.now() });
    phone = await phoneContext.newPage();
    const agent = await loginAs(rig.h, f, user, 'enroll');
    const begun = await beginMobile(agent);
    await phone.goto(begun.activationUrl);
    await phone.getByRole('heading', { name: 'Accounts' }).waitFor({ timeout: 20_000 });
    const done = await agent.post(api(`/mfa/enrollment/push/${begun.authenticatorId}/complete`));
    expect(done.statusCode, done.body).toBe(200);
    await agent.post(api('/logout'));
    fs.mkdirSync('test-results', { recursive: true });
  }, 90_000);
  afterAll(async () => {
    await close?.();
    await rig?.close();
    pki?.remove();
  });

  /** The sample's login form, then Tessera's prompt. */
  async function openPrompt() {
    await page.goto(`${sampleUrl}/`);
    await page.getByLabel('Username').fill(email);
    await page.getByLabel('Password').fill('the sample checks no password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((url) => url.href.startsWith(`${rig.baseUrl}/duo/prompt/`));
    await page.getByRole('heading', { name: 'Confirm it’s you', level: 1 }).waitFor();
    expect(await page.locator('.lead').textContent()).toBe(`Signing in to Case Portal as ${email}.`);
  }

  it('push approved in the Tessera Authenticator: the sample shows the allow result', async () => {
    await openPrompt();
    await shot('prompt-desktop');
    await page.setViewportSize({ width: 360, height: 800 });
    await shot('prompt-360');
    const widths = await page.evaluate(() => ({ page: document.documentElement.scrollWidth, screen: window.innerWidth }));
    expect(widths.page).toBeLessThanOrEqual(widths.screen);
    await page.setViewportSize({ width: 1280, height: 800 });

    await page.getByRole('button', { name: 'Send me a push' }).click();
    const shown = page.getByRole('status', { name: 'Verification number' });
    await shown.waitFor();
    const number = ((await shown.textContent()) ?? '').match(/(\d{6})$/)![1]!;
    // The time left to answer counts down, as on Tessera's own login.
    await expect.poll(() => page.getByRole('timer', { name: 'Time left to answer' }).textContent()).toMatch(/^(5\d|60) s left$/);
    await shot('push-waiting-desktop');

    const request = phone.getByRole('article', { name: `Sign-in request for ${email}` });
    await request.waitFor({ timeout: 20_000 });
    await expect.poll(() => request.textContent()).toContain('Case Portal');
    await phone.screenshot({ path: 'test-results/duo-universal-phone-request-360.png', fullPage: true });
    await request.getByLabel('Number shown on the login screen').fill(number);
    await request.getByRole('button', { name: 'Approve' }).click();

    await page.waitForURL((url) => url.href.startsWith(`${sampleUrl}/redirect`), { timeout: 30_000 });
    await page.getByRole('status').filter({ hasText: 'Duo result' }).waitFor();
    expect(await page.getByRole('status').textContent()).toBe('Duo result: allow');
    const token = JSON.parse((await page.getByLabel('Decoded token').textContent()) ?? '{}');
    expect(token).toMatchObject({ preferred_username: email, auth_result: { result: 'allow', status: 'allow' }, auth_context: { factor: 'duo_push', application: { name: 'Case Portal' } } });
    await shot('result-desktop');
    // No Tessera session in this browser: the login was the application's.
    expect((await page.context().cookies(rig.baseUrl)).filter((c) => c.name.includes('tessera_session'))).toEqual([]);
  });

  it('a passcode from the Tessera Authenticator: the sample shows the allow result (360 px)', async () => {
    await page.setViewportSize({ width: 360, height: 800 });
    await openPrompt();
    await page.getByRole('button', { name: 'Enter a passcode' }).click();
    await phone.goto(`${rig.baseUrl}/authenticator`);
    await phoneContext.clock.setSystemTime(rig.h.clock.now());
    await phone.getByRole('button', { name: 'Show passcode' }).click();
    const code = ((await phone.getByLabel(`Passcode for ${email}`).textContent()) ?? '').trim();
    expect(code).toMatch(/^\d{6}$/);
    await page.getByRole('textbox', { name: 'Passcode' }).fill(code);
    await shot('passcode-360');
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL((url) => url.href.startsWith(`${sampleUrl}/redirect`), { timeout: 30_000 });
    expect(await page.getByRole('status').textContent()).toBe('Duo result: allow');
    const token = JSON.parse((await page.getByLabel('Decoded token').textContent()) ?? '{}');
    expect(token.auth_context).toMatchObject({ factor: 'passcode', reason: 'valid_passcode' });
    await shot('result-360');
    await page.setViewportSize({ width: 1280, height: 800 });
  });
});
