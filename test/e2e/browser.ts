import type { KeyObject } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { webDistDir } from '../../src/http/paths.js';
import { PASSWORD, startHarness, totpCode, type Harness } from '../support/harness.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface BrowserRig {
  h: Harness;
  baseUrl: string;
  browser: Browser;
  page: Page;
  close(): Promise<void>;
}

export interface BrowserRigOptions {
  /**
   * The host of the public URL the browser opens. WebAuthn refuses an IP address as RP ID
   * (Chromium: "SecurityError: This is an invalid domain"), so the security-key tests use
   * "localhost", which is a secure context over plain http too.
   */
  publicHost?: '127.0.0.1' | 'localhost';
  /**
   * Tessera serves TLS itself with this certificate (a test CA's, for localhost): the public URL
   * is https://localhost:<port>, as Duo's clients need. The browser trusts it by
   * --ignore-certificate-errors (its service worker included); the test's own clients trust the CA.
   */
  tls?: { certFile: string; keyFile: string };
}

/**
 * Tessera listening on a loopback port (its public URL set to match) and a headless
 * Chromium. The web apps must be built first (`npm run build`; `npm run test:e2e` does it).
 */
export async function startBrowserRig(options: BrowserRigOptions = {}): Promise<BrowserRig> {
  if (!fs.existsSync(path.join(webDistDir(), 'index.html'))) throw new Error('Build the web apps first: npm run build');
  if (!fs.existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}: apt-get install chromium`);
  const port = await freePort();
  const baseUrl = options.tls ? `https://localhost:${port}` : `http://${options.publicHost ?? '127.0.0.1'}:${port}`;
  const tlsEnv: Record<string, string> = options.tls ? { TESSERA_TLS_CERT: options.tls.certFile, TESSERA_TLS_KEY: options.tls.keyFile } : {};
  const h = await startHarness({ env: { TESSERA_PUBLIC_URL: baseUrl, TESSERA_PORT: String(port), ...tlsEnv } });
  await h.app.listen({ host: options.tls ? 'localhost' : '127.0.0.1', port });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', ...(options.tls ? ['--ignore-certificate-errors'] : [])],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  return {
    h,
    baseUrl,
    browser,
    page,
    async close() {
      await browser.close();
      await h.close();
    },
  };
}

// --- signing in and out -------------------------------------------------------------------

/** Opens the sign-in page at `path` of the rig ('/login' unless told), fills in the email and the harness PASSWORD, and submits. */
export async function signIn(rig: Pick<BrowserRig, 'baseUrl'>, page: Page, email: string, path = '/login'): Promise<void> {
  await page.goto(`${rig.baseUrl}${path}`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

/** "Log out", then the customers' sign-in page. */
export async function logOut(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
}

/**
 * On the enrollment screen: chooses an authenticator app, reads the setup key off the page, types
 * the current code, and continues past the backup codes. Returns the key's base32 secret.
 */
export async function enrolAuthenticatorApp(rig: Pick<BrowserRig, 'h'>, page: Page): Promise<string> {
  await page.getByRole('heading', { name: 'Set up multi-factor authentication', level: 1 }).waitFor();
  await page.getByRole('radiogroup', { name: 'Method' }).getByRole('radio', { name: /Authenticator app/ }).check();
  await page.getByRole('button', { name: 'Continue' }).click();
  const secret = ((await page.getByLabel('Setup key').textContent()) ?? '').replace(/\s+/g, '');
  await page.getByLabel('Code from the app').fill(totpCode(rig.h, secret));
  await page.getByRole('button', { name: 'Confirm' }).click();
  await page.getByRole('heading', { name: 'Your backup codes', level: 2 }).waitFor();
  await page.getByRole('button', { name: 'Continue' }).click();
  return secret;
}

// --- WebAuthn: a virtual authenticator through the Chrome DevTools Protocol ---------------

/** The options of CDP `WebAuthn.addVirtualAuthenticator` (protocol "ctap2" or "u2f"). */
export interface VirtualAuthenticatorOptions {
  protocol: 'ctap2' | 'u2f';
  transport: 'usb' | 'nfc' | 'ble' | 'internal';
  hasResidentKey?: boolean;
  hasUserVerification?: boolean;
  isUserVerified?: boolean;
  automaticPresenceSimulation?: boolean;
}

export interface VirtualAuthenticators {
  /** Plugs in a new key; answers its id. Presence (the tap) is simulated unless told otherwise. */
  add(options: VirtualAuthenticatorOptions): Promise<string>;
  /** Unplugs a key, with every credential on it. */
  remove(authenticatorId: string): Promise<void>;
  /** false: the key stays plugged in but nobody taps it (it never answers a ceremony). */
  setPresence(authenticatorId: string, tapped: boolean): Promise<void>;
  /** The credentials a key holds (id, resident or not, sign count). */
  credentials(authenticatorId: string): Promise<{ credentialId: string; isResidentCredential: boolean; signCount: number; rpId?: string }[]>;
  /**
   * Puts a credential registered elsewhere (a SoftAuthenticator's, over HTTP) on a key: its id,
   * private key and user handle, so the browser signs with the very key the server knows.
   */
  addCredential(authenticatorId: string, credential: { id: Buffer; privateKey: KeyObject; userHandle: Buffer; rpId: string; resident: boolean; signCount?: number }): Promise<void>;
}

/** Virtual security keys for `page` (WebAuthn domain of CDP; Chromium only). */
export async function virtualAuthenticators(page: Page): Promise<VirtualAuthenticators> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  return {
    async add(options) {
      const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: { automaticPresenceSimulation: true, ...options },
      });
      return authenticatorId;
    },
    async remove(authenticatorId) {
      await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId });
    },
    async setPresence(authenticatorId, tapped) {
      await cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId, enabled: tapped });
    },
    async addCredential(authenticatorId, c) {
      // CDP's binary fields are standard base64; the private key is PKCS#8 DER.
      await cdp.send('WebAuthn.addCredential', {
        authenticatorId,
        credential: {
          credentialId: c.id.toString('base64'),
          isResidentCredential: c.resident,
          rpId: c.rpId,
          privateKey: c.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
          userHandle: c.userHandle.toString('base64'),
          signCount: c.signCount ?? 0,
        },
      });
    },
    async credentials(authenticatorId) {
      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
      return credentials;
    },
  };
}
