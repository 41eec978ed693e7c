import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import type { UserView } from '../../src/directory/user.view.js';
import { Agent, PASSWORD, activateSubscription, addUser, enableMfaForStaff, firmWithAdmin, type TestFirm } from '../support/harness.js';
import { SoftAuthenticator, type SoftCredential } from '../support/soft-authenticator.js';
import { startBrowserRig, virtualAuthenticators, type BrowserRig } from './browser.js';

/**
 * The firm users' login page (issue 16.9), in Debian's Chromium: "Sign in with a passkey" only
 * where the page knows the firm (?firm= or the firm field) and the firm allows passkeys; the
 * passkey offered in the email field's autofill (conditional mediation) to whoever has one;
 * no link to the operators' sign-in. The passkey is registered over HTTP by a software
 * authenticator and its private key put on a CDP virtual authenticator, so Chromium signs
 * with the very key the server knows (the browser registration has its own test: webauthn.test.ts).
 */
describe('The login page in Chromium', () => {
  let rig: BrowserRig;
  let allowing: TestFirm;
  let plain: TestFirm;
  let pia: UserView;
  let credential: SoftCredential;

  const DESKTOP = { width: 1280, height: 800 };
  const PHONE = { width: 360, height: 740 };

  beforeAll(async () => {
    rig = await startBrowserRig({ publicHost: 'localhost' });
    const h = rig.h;
    allowing = await firmWithAdmin(h, 'passkey-law');
    plain = await firmWithAdmin(h, 'plain-law');
    for (const f of [allowing, plain]) {
      await activateSubscription(h, f.firm.id, 10);
      await enableMfaForStaff(h, f.firm.id);
    }
    await h.ctx.db.updateTable('mfa_settings').set({ passkeys_enabled: 1 }).where('firm_id', '=', allowing.firm.id).execute();

    // Pia enrols a passkey at her first login.
    pia = await addUser(h, allowing.firm.id, { name: 'Pia Passkey', email: 'pia@passkey-law.example', kind: 'case_manager' });
    const agent = new Agent(h.app);
    expect((await agent.post('/api/v1/login', { email: pia.email, password: PASSWORD, firm: allowing.firm.slug })).json().next).toBe('enroll');
    const start = await agent.post('/api/v1/mfa/enrollment/webauthn/options', { label: 'Pia passkey', passkey: true });
    expect(start.statusCode, start.body).toBe(200);
    const key = new SoftAuthenticator({ origin: h.ctx.config.publicUrl.origin, uv: true, transports: ['usb'] });
    const registered = key.register(start.json().options);
    credential = registered.credential;
    const done = await agent.post(`/api/v1/mfa/enrollment/webauthn/${start.json().authenticatorId}/verify`, { response: registered.response });
    expect(done.statusCode, done.body).toBe(200);
  });
  afterAll(() => rig?.close());

  const contexts: BrowserContext[] = [];
  let signCount = 0;
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
  });

  /**
   * A browser of its own. `passkey`: a FIDO2 key holding Pia's passkey. `autofill`: the page is
   * told that the browser can offer passkeys in autofill; headless Chromium has no autofill
   * menu and says it cannot, and with a virtual authenticator attached it answers a conditional
   * request straight from the key, as a user picking the passkey from the menu would.
   * Every WebAuthn request the page makes is recorded (its mediation, and whether it was aborted).
   */
  const newBrowser = async (o: { passkey?: boolean; autofill?: boolean; viewport?: { width: number; height: number } } = {}): Promise<Page> => {
    const context = await rig.browser.newContext({ viewport: o.viewport ?? DESKTOP });
    contexts.push(context);
    const page = await context.newPage();
    await page.addInitScript((autofill: boolean) => {
      const calls: { mediation: string; aborted: boolean; settled: string }[] = [];
      (window as unknown as { webauthnCalls: typeof calls }).webauthnCalls = calls;
      const get = navigator.credentials.get.bind(navigator.credentials);
      navigator.credentials.get = (options?: CredentialRequestOptions) => {
        const call = { mediation: options?.mediation ?? 'optional', aborted: false, settled: 'pending' };
        calls.push(call);
        options?.signal?.addEventListener('abort', () => (call.aborted = true));
        const answer = get(options);
        answer.then(
          () => (call.settled = 'resolved'),
          (e: Error) => (call.settled = e.name),
        );
        return answer;
      };
      if (autofill) PublicKeyCredential.isConditionalMediationAvailable = async () => true;
    }, o.autofill ?? false);
    if (o.passkey) {
      const keys = await virtualAuthenticators(page);
      const key = await keys.add({ protocol: 'ctap2', transport: 'usb', hasResidentKey: true, hasUserVerification: true, isUserVerified: true });
      // Each copy of the key starts above every count the server has seen (a count that does
      // not go up would be reported as a cloned key).
      signCount += 1000;
      await keys.addCredential(key, { id: credential.id, privateKey: credential.privateKey, userHandle: credential.userHandle, rpId: 'localhost', resident: true, signCount });
    }
    return page;
  };

  const webauthnCalls = (page: Page) => page.evaluate(() => (window as unknown as { webauthnCalls: { mediation: string; aborted: boolean; settled: string }[] }).webauthnCalls);

  /** Opens the login page and waits for its firm look-up (when it makes one) to be answered. */
  const openLogin = async (page: Page, firm?: string) => {
    const lookup = firm ? page.waitForResponse((r) => r.url().includes('/api/v1/login/options')) : null;
    await page.goto(`${rig.baseUrl}/login${firm ? `?firm=${firm}` : ''}`);
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
    if (lookup) {
      expect((await lookup).status()).toBe(200);
      await rendered(page);
    }
  };

  /** Two animation frames: whatever an answer just received changes is on the screen. */
  const rendered = (page: Page) => page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));

  const passkeyButton = (page: Page) => page.getByRole('button', { name: 'Sign in with a passkey' });
  const overflow = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

  const welcome = async (page: Page, name: string) => {
    const heading = page.getByRole('heading', { name: `Welcome, ${name}` });
    await heading.or(page.getByRole('alert')).first().waitFor();
    if (!(await heading.isVisible())) throw new Error(`expected the homepage, the page says: ${await page.getByRole('alert').textContent()}`);
    expect(new URL(page.url()).pathname).toBe('/home');
  };

  it('/login: no passkey button, no operator link, and an email field that offers passkeys in its autofill (desktop and 360 px)', async () => {
    for (const [viewport, name] of [
      [DESKTOP, 'desktop'],
      [PHONE, 'phone'],
    ] as const) {
      const page = await newBrowser({ viewport });
      await openLogin(page);
      const email = page.getByLabel('Email');
      expect((await email.getAttribute('autocomplete'))?.split(/\s+/)).toEqual(['username', 'webauthn']);
      expect(await page.getByLabel('Password').getAttribute('autocomplete')).toBe('current-password');
      expect(await passkeyButton(page).count()).toBe(0);
      expect(await page.getByRole('link', { name: /operator/i }).count()).toBe(0);
      expect(await page.getByText(/operator/i).count()).toBe(0);
      expect(await overflow(page)).toBeLessThanOrEqual(0);
      await page.screenshot({ path: `test-results/login-page-${name}.png`, fullPage: true });
    }
  });

  it('/login?firm= a firm that allows passkeys: the button, and a passkey sign-in through it (desktop and 360 px)', async () => {
    for (const [viewport, name] of [
      [DESKTOP, 'desktop'],
      [PHONE, 'phone'],
    ] as const) {
      const page = await newBrowser({ passkey: true, viewport });
      await openLogin(page, allowing.firm.slug);
      await passkeyButton(page).waitFor();
      expect(await overflow(page)).toBeLessThanOrEqual(0);
      await page.screenshot({ path: `test-results/login-page-passkey-${name}.png`, fullPage: true });
      await passkeyButton(page).click();
      await welcome(page, pia.name);
      // One ceremony, the button's: the browser cannot offer passkeys in autofill here.
      expect(await webauthnCalls(page)).toEqual([{ mediation: 'optional', aborted: false, settled: 'resolved' }]);
      const session = await rig.h.ctx.db.selectFrom('sessions').select(['stage', 'user_id']).where('user_id', '=', pia.id).orderBy('created_at', 'desc').executeTakeFirstOrThrow();
      expect(session.stage).toBe('full');
    }
  });

  it('no button for a firm that does not allow passkeys, nor for an unknown firm (the same answer)', async () => {
    const page = await newBrowser({ passkey: true });
    for (const firm of [plain.firm.slug, 'no-such-firm']) {
      await openLogin(page, firm);
      expect(await passkeyButton(page).count(), firm).toBe(0);
    }
    // Turned off, the firm that allowed passkeys shows no button either.
    await rig.h.ctx.db.updateTable('mfa_settings').set({ passkeys_enabled: 0 }).where('firm_id', '=', allowing.firm.id).execute();
    try {
      await openLogin(page, allowing.firm.slug);
      expect(await passkeyButton(page).count()).toBe(0);
    } finally {
      await rig.h.ctx.db.updateTable('mfa_settings').set({ passkeys_enabled: 1 }).where('firm_id', '=', allowing.firm.id).execute();
    }
    expect(await webauthnCalls(page)).toEqual([]);
  });

  it('shows the button once the firm field names a firm that allows passkeys', async () => {
    // Pia's address in a second firm too: the login asks which firm.
    await addUser(rig.h, plain.firm.id, { name: 'Pia Elsewhere', email: pia.email, kind: 'case_manager' });
    const page = await newBrowser({ passkey: true });
    await openLogin(page);
    await page.getByLabel('Email').fill(pia.email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    const firm = page.getByLabel('Firm');
    await firm.waitFor();
    expect(await passkeyButton(page).count()).toBe(0);
    const lookup = page.waitForResponse((r) => r.url().endsWith(`/api/v1/login/options?firm=${plain.firm.slug}`));
    await firm.fill(plain.firm.slug);
    await lookup;
    await rendered(page);
    expect(await passkeyButton(page).count()).toBe(0);
    await firm.fill(allowing.firm.slug);
    await passkeyButton(page).waitFor();
    await passkeyButton(page).click();
    await welcome(page, pia.name);
  });

  it('offers the passkey in the email field autofill (conditional mediation) on /login, without any button', async () => {
    const page = await newBrowser({ passkey: true, autofill: true });
    await page.goto(`${rig.baseUrl}/login`);
    // Chromium's virtual key answers the waiting request as a user picking the passkey would.
    await welcome(page, pia.name);
    expect(await webauthnCalls(page)).toEqual([{ mediation: 'conditional', aborted: false, settled: 'resolved' }]);
  });

  it('ends the waiting autofill request when the password is submitted or the page is left', async () => {
    // No key at all: the conditional request just waits, as it does for everyone without a passkey.
    const page = await newBrowser({ autofill: true });
    await openLogin(page);
    await expect.poll(() => webauthnCalls(page)).toEqual([{ mediation: 'conditional', aborted: false, settled: 'pending' }]);
    expect(await page.getByRole('alert').count()).toBe(0);

    // A wrong password: the waiting request is aborted at the submit, and a new one waits again.
    await page.getByLabel('Email').fill(pia.email);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('alert').waitFor();
    await expect
      .poll(() => webauthnCalls(page))
      .toEqual([
        { mediation: 'conditional', aborted: true, settled: 'AbortError' },
        { mediation: 'conditional', aborted: false, settled: 'pending' },
      ]);
    // The abort is not an error the user sees: only the password's.
    expect(await page.getByRole('alert').textContent()).toBe('The email address or password is not right.');

    // Leaving the page (in the app, no reload) aborts it too.
    await page.evaluate(() => {
      history.pushState({}, '', '/set-password');
      dispatchEvent(new PopStateEvent('popstate'));
    });
    await expect.poll(async () => (await webauthnCalls(page)).at(-1)).toEqual({ mediation: 'conditional', aborted: true, settled: 'AbortError' });
    expect((await webauthnCalls(page)).filter((c) => c.settled === 'pending')).toEqual([]);
  });

  // Last: it uses up the options throttle of the address every browser here comes from.
  it('waits out a throttled options request (429) silently: no message, no loop, and the autofill request once the wait is over', async () => {
    const h = rig.h;
    const flood = new Agent(h.app, { ip: '127.0.0.1' });
    let asked = 0;
    while ((await flood.post('/api/v1/passkey/options')).statusCode === 200) if (++asked > 1000) throw new Error('never throttled');
    const page = await newBrowser({ autofill: true });
    const options: number[] = [];
    page.on('response', (res) => {
      if (res.url().endsWith('/api/v1/passkey/options')) options.push(res.status());
    });
    await openLogin(page);
    await expect.poll(() => options.length).toBeGreaterThan(0);
    await page.waitForTimeout(2500);
    // Refused, asked again only after each Retry-After (1 s here: the harness's clock stands still), never in a loop.
    expect(options.every((status) => status === 429)).toBe(true);
    expect(options.length).toBeLessThanOrEqual(4);
    expect(await page.getByRole('alert').count()).toBe(0);
    expect(await webauthnCalls(page)).toEqual([]);
    // The wait is over: the next try gets its options, and the conditional request waits in the email field.
    h.clock.advance(60_000);
    await expect.poll(() => webauthnCalls(page), { timeout: 5000 }).toEqual([{ mediation: 'conditional', aborted: false, settled: 'pending' }]);
    expect(options.at(-1)).toBe(200);
    expect(await page.getByRole('alert').count()).toBe(0);
  });
});
