// A real headless browser for the dashboard tests: Debian's Chromium driven by
// playwright-core. In CI (`CI=true`) the browser tests always run (`.ci/run` installs
// chromium), so a missing browser fails them; elsewhere they are skipped, loudly.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REPO_ROOT } from './cli.js';

export const CHROMIUM = process.env.DISTRIBUTE_CHROMIUM || '/usr/bin/chromium';
export const SCREENSHOT_DIR = join(REPO_ROOT, 'test-output', 'screenshots');

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * The `skip` option for a browser suite: false when it must run, else the reason. Never
 * skips in CI: there a missing browser is a failure of the launch, not a silent pass.
 */
export function browserSkip(): string | false {
  if (existsSync(CHROMIUM) || process.env.CI === 'true') return false;
  const reason = `${CHROMIUM} not found: dashboard browser tests SKIPPED (apt-get install chromium, or set DISTRIBUTE_CHROMIUM)`;
  process.stderr.write(`\n!!! ${reason}\n\n`);
  return reason;
}

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found; the dashboard tests need Chromium (apt-get install chromium)`);
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 30_000 });
}

/** Saves a full-page screenshot under test-output/screenshots/NAME.png; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Collects the page's script errors and failed requests other than expected ones, for an assertion at the end. */
export function watchPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`script error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/status of 401/.test(msg.text())) errors.push(`console: ${msg.text()}`);
  });
  return errors;
}
