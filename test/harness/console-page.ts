/**
 * What every console test in Chromium needs (issue 15): the artefacts folder for screenshots, a
 * page watched for requests leaving the origin and for script errors or CSP violations, moving
 * the focus with the Tab key, signing in, and the fields of the accessibility tree with their names.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Page } from 'puppeteer-core';
import { startService, type RunningService } from './api-client.js';
import { launchChromium, type TestBrowser } from './chromium.js';
import type { Workspace } from './cli.js';

/** The page's `document`, as the functions run in the browser see it (this project compiles without the DOM types). */
declare const document: {
  activeElement: { id: string } | null;
  addEventListener(type: 'securitypolicyviolation', listener: (e: { violatedDirective: string; blockedURI: string }) => void): void;
};

/** Where screenshots go: `test-artifacts/console/` at the repository's root (gitignored). */
export const CONSOLE_ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/console/', import.meta.url));

/** The built console's page; the tests fail (never skip) when `npm run build` did not build it. */
export function assertConsoleBuilt(): void {
  const built = fileURLToPath(new URL('../../console/index.html', import.meta.url));
  assert.ok(existsSync(built), `the console is not built (${built} missing): run \`npm run build\`, which builds it with the server`);
  mkdirSync(CONSOLE_ARTIFACTS, { recursive: true });
}

/** A screenshot of the whole page as `test-artifacts/console/<name>.png`. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(CONSOLE_ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${CONSOLE_ARTIFACTS}${name}.png`, fullPage: true });
}

/** What a watched page did wrong: requests to other origins, script errors and CSP violations. */
export interface PageWatch {
  foreign: string[];
  problems: string[];
}

/**
 * Records what the page asks of other origins and every script error or CSP violation (call
 * before the first `goto`). `expectedErrors` matches console errors a test provokes on purpose.
 */
export async function watchPage(page: Page, base: string, expectedErrors = /status of (401|429)/): Promise<PageWatch> {
  const origin = new URL(base).origin;
  const watch: PageWatch = { foreign: [], problems: [] };
  page.on('request', (r) => {
    if (!r.url().startsWith(`${origin}/`)) watch.foreign.push(r.url());
  });
  page.on('console', (m) => {
    if (m.type() === 'error' && !expectedErrors.test(m.text())) watch.problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => watch.problems.push(`page error: ${String(e)}`));
  await page.evaluateOnNewDocument(() => {
    document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
  });
  return watch;
}

/** Moves the focus with the Tab key alone until the element `#id` has it (at most `limit` presses). */
export async function tabTo(page: Page, id: string, limit = 15): Promise<void> {
  for (let i = 0; i < limit; i++) {
    if ((await page.evaluate(() => document.activeElement?.id ?? '')) === id) return;
    await page.keyboard.press('Tab');
  }
  assert.fail(`#${id} cannot be reached with the Tab key`);
}

/** Opens the console at `base` and signs in with `token`, waiting for the signed-in header. */
export async function signIn(page: Page, base: string, token: string): Promise<void> {
  await page.goto(`${base}/`, { waitUntil: 'networkidle0' });
  await page.waitForSelector('#token');
  await page.type('#token', token);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#principal');
}

/** Every form field of the page's accessibility tree, with the name it is read out by. */
export async function accessibleFields(page: Page): Promise<Array<{ role: string; name: string }>> {
  const tree = await page.accessibility.snapshot({ interestingOnly: true });
  const fields: Array<{ role: string; name: string }> = [];
  const walk = (n: { role: string; name?: string; children?: unknown[] } | null): void => {
    if (!n) return;
    if (['textbox', 'combobox', 'checkbox', 'radio', 'spinbutton', 'searchbox', 'listbox', 'switch', 'slider'].includes(n.role)) fields.push({ role: n.role, name: n.name ?? '' });
    for (const c of n.children ?? []) walk(c as typeof n);
  };
  walk(tree);
  return fields;
}

/** Asserts every form field on the page has a name in the accessibility tree (its label); returns them. */
export async function assertFieldsLabelled(page: Page, atLeast = 1): Promise<Array<{ role: string; name: string }>> {
  const fields = await accessibleFields(page);
  assert.ok(fields.length >= atLeast, `at least ${atLeast} fields in the accessibility tree: ${JSON.stringify(fields)}`);
  for (const f of fields) assert.ok(f.name.trim().length > 0, `a ${f.role} without a label: ${JSON.stringify(fields)}`);
  return fields;
}

/** How {@link withConsole} opens the page. */
export interface ConsoleOptions {
  /** The service's extra environment (secrets given as `{ env }`). */
  env?: Record<string, string>;
  /** The browser's language (its `navigator.language`); default en-US. */
  lang?: string;
  width?: number;
  height?: number;
}

/**
 * Starts the service of `ws` at `base`, opens a page of a fresh headless Chromium, and runs
 * `body` with it; the browser is closed and the service stopped whatever `body` does.
 */
export async function withConsole(ws: Workspace, base: string, body: (page: Page, chromium: TestBrowser) => Promise<void>, options: ConsoleOptions = {}): Promise<void> {
  let service: RunningService | undefined;
  let chromium: TestBrowser | undefined;
  try {
    service = await startService(ws, base, options.env);
    chromium = await launchChromium(options.lang ?? 'en-US');
    const page = await chromium.browser.newPage();
    await page.setViewport({ width: options.width ?? 1100, height: options.height ?? 800 });
    await body(page, chromium);
  } finally {
    await chromium?.close();
    await service?.stop();
  }
}
