import { createRemoteJWKSet, jwtVerify } from 'jose';
import { createHash, randomBytes } from 'node:crypto';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, MFA_OFF } from '../support/fixtures.js';
import { totpUser } from '../support/factors.js';
import { addCorporation, addUser, firmWithAdmin, totpCode, type TestFirm } from '../support/harness.js';
import { startBrowserRig, type BrowserRig } from './browser.js';

/**
 * An application's sign-in in Chromium (issue 14 item 4): the authorization request opens
 * Tessera's own sign-in page, the password and a passcode are typed there, and the browser comes
 * back to the application's redirect URI with a code whose ID token says `otp` and `mfa`. The
 * application is a redirect URI on the loopback that the test answers itself (Playwright's
 * routing), and redeems the code over HTTP. Also the page a user of a kind the application does
 * not admit gets, at desktop and phone widths.
 */
describe('Signing in to an application in Chromium', () => {
  let rig: BrowserRig;
  let f: TestFirm;
  let clientId: string;
  let secret: string;
  let staffOnlyId: string;
  let casey: { email: string; secret: string };
  const CALLBACK = 'http://127.0.0.1:9/cb';

  beforeAll(async () => {
    rig = await startBrowserRig();
    const h = rig.h;
    // The superuser (a case manager, covered below) enrols first, or the admin API would ask them to.
    f = await firmWithAdmin(h, 'e2e-law', { enrolled: true, licences: 5 });
    const covered = await f.admin.raw('PUT', api('/admin/mfa/configuration'), { body: { ...MFA_OFF, caseManagers: true } });
    expect(covered.statusCode, covered.body).toBe(200);
    const created = await f.admin.post(api('/admin/applications'), { type: 'oidc', name: 'Case Portal', redirectUris: [CALLBACK] });
    expect(created.statusCode, created.body).toBe(201);
    ({ clientId } = created.json().application);
    secret = created.json().secret;
    const staff = await f.admin.post(api('/admin/applications'), { type: 'oidc', name: 'Staff Wiki', redirectUris: [CALLBACK], allowedKinds: ['case_manager'] });
    staffOnlyId = staff.json().application.clientId;
    const t = await totpUser(h, f);
    casey = { email: t.user.email, secret: t.secret };
    const corporation = await addCorporation(h, f.firm.id, 'Acme Holdings');
    await addUser(h, f.firm.id, { name: 'Cora Corp', email: 'cora@e2e-law.example', kind: 'corp_user', corporationId: corporation.id });
  });
  afterAll(() => rig?.close());

  /** Opens an authorization request; returns where the application's redirect URI was reached (the test answers it). */
  async function authorize(page: Page, client: string): Promise<{ verifier: string; nonce: string; landed: Promise<URL> }> {
    const verifier = randomBytes(32).toString('base64url');
    const nonce = randomBytes(16).toString('base64url');
    let resolve!: (u: URL) => void;
    const landed = new Promise<URL>((r) => (resolve = r));
    await page.route(`${CALLBACK}**`, async (route) => {
      resolve(new URL(route.request().url()));
      await route.fulfill({ status: 200, contentType: 'text/html', body: '<!DOCTYPE html><title>Case Portal</title><h1>Back at the application</h1>' });
    });
    const params = new URLSearchParams({
      client_id: client,
      redirect_uri: CALLBACK,
      response_type: 'code',
      scope: 'openid profile tessera',
      state: 'st',
      nonce,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    });
    await page.goto(`${rig.baseUrl}/oidc/auth?${params}`);
    return { verifier, nonce, landed };
  }

  it('password and passcode at Tessera\'s pages, then back to the application: its ID token says otp and mfa', async () => {
    const page = await (await rig.browser.newContext()).newPage();
    const { verifier, nonce, landed } = await authorize(page, clientId);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByLabel('Email').fill(casey.email);
    await page.getByLabel('Password').fill('correct horse battery staple');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Second factor', level: 1 }).waitFor();
    rig.h.clock.advance(30_000);
    const form = page.getByRole('form', { name: 'Passcode' });
    await form.getByLabel('Passcode').fill(totpCode(rig.h, casey.secret));
    await form.getByRole('button', { name: 'Verify' }).click();
    const back = await landed;
    await page.getByRole('heading', { name: 'Back at the application' }).waitFor();
    expect(back.searchParams.get('state')).toBe('st');

    const token = await fetch(`${rig.baseUrl}/oidc/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: back.searchParams.get('code')!, redirect_uri: CALLBACK, code_verifier: verifier }),
    });
    expect(token.status).toBe(200);
    const { id_token } = (await token.json()) as { id_token: string };
    const { payload } = await jwtVerify(id_token, createRemoteJWKSet(new URL(`${rig.baseUrl}/oidc/jwks`)), { issuer: rig.baseUrl, audience: clientId });
    expect(payload).toMatchObject({ nonce, amr: ['pwd', 'otp', 'mfa'], firm: 'e2e-law', kind: 'case_manager' });
  });

  it('a user of a kind the application does not admit gets a clear page (desktop and 360 px), and returns to the application with access_denied', async () => {
    const context = await rig.browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const { landed } = await authorize(page, staffOnlyId);
    await page.getByLabel('Email').fill('cora@e2e-law.example');
    await page.getByLabel('Password').fill('correct horse battery staple');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'You cannot sign in to Staff Wiki' }).waitFor();
    await page.screenshot({ path: '/tmp/oidc-refused-desktop.png' });
    await page.setViewportSize({ width: 360, height: 740 });
    await page.screenshot({ path: '/tmp/oidc-refused-360.png', fullPage: true });
    // Nothing is wider than the phone's screen.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    await page.getByRole('button', { name: 'Return to Staff Wiki' }).click();
    const back = await landed;
    expect(back.searchParams.get('error')).toBe('access_denied');
  });
});
