import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { TestDaemon } from './daemon-harness.js';

/** Debian's chromium: the tests never download a browser. */
export const CHROMIUM = process.env.MICROVM_TEST_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Chromium as root, and without any traffic of its own: no update checks, sync, field
 * trials, QUIC or first-run pings, so the only address it talks to is the test daemon's.
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--disable-domain-reliability',
  '--no-first-run',
  '--no-pings',
  '--disable-features=OptimizationHints,MediaRouter,Translate',
];

/** Launches Debian's chromium headless with CHROMIUM_ARGS. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/** Where end-to-end screenshots land; CI keeps the directory as the run's artifacts. */
export const ARTIFACTS_DIR = join(import.meta.dirname, '../../test-artifacts');

export interface BrowserModeSession {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Saves a full-page screenshot as test-artifacts/<suite>/<NN>-<step>.png and returns its path. */
  screenshot(step: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * Opens the daemon's browser mode the way a user does: the printed `/?token=` link, which
 * trades the token for a session cookie and lands on the app.
 */
export async function openBrowserMode(daemon: TestDaemon, suite: string): Promise<BrowserModeSession> {
  if (!daemon.url || !daemon.token) throw new Error('browser mode needs a daemon listening on TCP');
  const browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const dir = join(ARTIFACTS_DIR, suite);
  await mkdir(dir, { recursive: true });
  let step = 0;
  await page.goto(`${daemon.url}/?token=${encodeURIComponent(daemon.token)}`);
  return {
    browser,
    context,
    page,
    async screenshot(name) {
      const file = join(dir, `${String(++step).padStart(2, '0')}-${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
    close: () => browser.close(),
  };
}
