/**
 * A real headless Chromium for the console's tests (issue 15): Debian's `chromium`, installed
 * with apt-get when missing (as the Dovecot harness installs Dovecot), driven by puppeteer-core
 * over the DevTools protocol. It fails loudly when Chromium cannot be had: the console's tests
 * never skip.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';
import { aptInstall } from './dovecot.js';

/** Where Debian's package puts the browser. */
export const CHROMIUM_BIN = '/usr/bin/chromium';

/** Makes sure `chromium` is installed, installing Debian's package when it is not; throws when it cannot. */
export async function ensureChromiumInstalled(): Promise<void> {
  if (existsSync(CHROMIUM_BIN)) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`The console tests need Chromium (${CHROMIUM_BIN}) but it is not installed and this process is not root, so it cannot be installed with apt-get.`);
  }
  try {
    await aptInstall(['chromium']);
  } catch (err) {
    throw new Error('Installing chromium with apt-get failed; the console tests need a real browser.', { cause: err });
  }
  if (!existsSync(CHROMIUM_BIN)) throw new Error(`Chromium is not usable: ${CHROMIUM_BIN} is still missing after installing the chromium package.`);
}

/** A launched headless Chromium with a profile of its own, removed at close. */
export interface TestBrowser {
  browser: Browser;
  close(): Promise<void>;
}

/** Launches headless Chromium in `lang` (its `navigator.language`), with a fresh profile. */
export async function launchChromium(lang = 'en-US'): Promise<TestBrowser> {
  await ensureChromiumInstalled();
  const profile = await mkdtemp(join(tmpdir(), 'mailsluice-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM_BIN,
    headless: true,
    userDataDir: profile,
    // As root Chromium refuses to start without --no-sandbox; /dev/shm is small in containers.
    args: ['--no-sandbox', '--disable-dev-shm-usage', `--lang=${lang}`, '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    env: { ...process.env, LANGUAGE: lang.replace('-', '_') },
    timeout: 60_000,
  });
  return {
    browser,
    close: async () => {
      await browser.close().catch(() => undefined);
      await rm(profile, { recursive: true, force: true });
    },
  };
}
