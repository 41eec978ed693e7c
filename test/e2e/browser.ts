import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { webDistDir } from '../../src/http/paths.js';
import { startHarness, type Harness } from '../support/harness.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

async function freePort(): Promise<number> {
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

/**
 * Tessera listening on a loopback port (its public URL set to match) and a headless
 * Chromium. The web apps must be built first (`npm run build`; `npm run test:e2e` does it).
 */
export async function startBrowserRig(): Promise<BrowserRig> {
  if (!fs.existsSync(path.join(webDistDir(), 'index.html'))) throw new Error('Build the web apps first: npm run build');
  if (!fs.existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}: apt-get install chromium`);
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const h = await startHarness({ env: { TESSERA_PUBLIC_URL: baseUrl, TESSERA_PORT: String(port) } });
  await h.app.listen({ host: '127.0.0.1', port });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
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
