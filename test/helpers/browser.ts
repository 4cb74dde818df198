// Real Chromium for the page tests: Debian's build driven by playwright-core, one browser per
// test file. Without Chromium the tests skip with a loud warning, and fail when CI=true.

import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const chromiumAvailable = existsSync(CHROMIUM);
export const inCI = process.env.CI === 'true';

export function warnWithoutChromium(what: string): void {
  if (chromiumAvailable || inCI) return;
  console.warn(
    `\n*** SKIPPING ${what}: no Chromium at ${CHROMIUM}. Install it (apt-get install chromium) to run the ` +
      'pages in a real browser; with CI=true these tests fail instead of skipping. ***\n',
  );
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export const DESKTOP = { width: 1280, height: 860 };
export const PHONE = { width: 390, height: 844 };

const SHOTS = join(process.cwd(), '.tmp/screenshots');

/** Saves the page at desktop and phone width under .tmp/screenshots/ (git-ignored), then restores its size. */
export async function screenshots(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  const size = page.viewportSize() ?? DESKTOP;
  // No hover effects or half-done animations in the pictures.
  await page.mouse.move(0, 0);
  await page.evaluate('window.scrollTo(0, 0)');
  await page.setViewportSize(DESKTOP);
  await page.screenshot({ path: join(SHOTS, `${name}-desktop.png`), fullPage: true, animations: 'disabled' });
  await page.setViewportSize(PHONE);
  await page.screenshot({ path: join(SHOTS, `${name}-phone.png`), fullPage: true, animations: 'disabled' });
  // Readable at phone width: nothing wider than the screen.
  const overflow = (await page.evaluate('document.documentElement.scrollWidth - window.innerWidth')) as number;
  await page.setViewportSize(size);
  if (overflow > 0) throw new Error(`${name} is ${overflow} px wider than a ${PHONE.width} px phone screen`);
}

/** Collects what would show as errors in the page's console: console.error calls and uncaught exceptions. */
export function watchErrors(page: Page, into: string[]): void {
  page.on('console', (m) => {
    if (m.type() === 'error') into.push(`${page.url()}: console.error: ${m.text()}`);
  });
  page.on('pageerror', (err) => into.push(`${page.url()}: uncaught: ${err.message}`));
}
