/**
 * Real Chromium for the browser tests (Debian's `chromium` package, driven by
 * playwright-core). Locally, a missing binary skips the browser tests with a
 * loud warning; under CI=true it fails them: CI must never pass by skipping.
 */
import { existsSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.SLUICE_CHROMIUM ?? '/usr/bin/chromium';
export const chromiumAvailable = existsSync(CHROMIUM_PATH);

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** `describe` for tests that need Chromium. */
export function describeBrowser(name: string, fn: () => void): void {
  if (!chromiumAvailable) {
    if (process.env.CI === 'true') throw new Error(`${CHROMIUM_PATH} is missing and CI=true: the browser tests must run in CI (install Debian's chromium, see .ci/run)`);
    console.warn(`\n!!! SKIPPING browser tests "${name}": ${CHROMIUM_PATH} not found. Install it: apt-get install -y chromium\n`);
  }
  describe.skipIf(!chromiumAvailable)(name, fn);
}

export interface BrowserHarness {
  /** A new page in a fresh context (fresh profile state); closed after the test. Page errors fail the test. */
  page(): Promise<Page>;
  /** Uncaught page errors and console errors seen so far in this test. */
  readonly errors: string[];
}

/** One Chromium per test file (a fresh temporary profile: playwright's launch() makes one), one context per test. */
export function useBrowser(): BrowserHarness {
  let browser: Browser | undefined;
  let contexts: BrowserContext[] = [];
  const errors: string[] = [];
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: ARGS, timeout: 30_000 });
  });
  afterEach(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    contexts = [];
    errors.length = 0;
  });
  afterAll(async () => {
    await browser?.close();
  });
  return {
    errors,
    async page() {
      const context = await browser!.newContext({ viewport: { width: 1400, height: 1000 } });
      contexts.push(context);
      const page = await context.newPage();
      page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
      page.on('console', (msg) => {
        if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
      });
      return page;
    },
  };
}
