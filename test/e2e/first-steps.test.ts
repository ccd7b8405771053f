/**
 * README.md's "First steps", followed as written, in a real headless Chromium against the built
 * bin and a real Dovecot: a fresh directory with the repository's own `mailsluice.yaml` (only the
 * API port changed to a free one; its `dataDir: ./data` is already inside the fresh directory);
 * `token create` before the first start says ARCHIVE_NOT_FOUND; `start` creates `./data` and logs
 * `api listening` (the JOURNAL_PASSWORD warning of the disabled sample is only a warning); the
 * first admin token made in a second process beside it (through `data/control.sock`); then in the
 * console: sign in with *API token* and Enter, Connections → New connection filled for the
 * journal mailbox (the test Dovecot's private CA in the TLS field, which a server with a public
 * certificate does not need), Create connection: written to the file disabled, its password only
 * in `data/secrets.enc`; Test connection all green; Enable; the dashboard counts the 3 messages
 * taken (the mailbox on Dovecot empty); Archive → a word of a body finds its message, which opens;
 * the search and the sign-in are on the Audit log. Nothing leaves the origin, no CSP violation or
 * script error. Screenshots: first-steps-*.png.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { BIN, REPO_ROOT, collectCli, type CliResult } from '../harness/cli.js';
import { freePort } from '../harness/free-port.js';
import { makeMessage } from '../harness/messages.js';
import { waitReady } from '../harness/api-client.js';
import { ensureChromiumInstalled, launchChromium, type TestBrowser } from '../harness/chromium.js';
import { assertConsoleBuilt, screenshot, watchPage } from '../harness/console-page.js';
import type { Page } from 'puppeteer-core';

/** The page's `document` and `location`, as the functions run in the browser see them (no DOM types here). */
declare const document: { querySelector(selector: string): { textContent: string | null } | null };
declare const location: { hash: string };

const dovecot = dovecotPerFile();
/** The connection's name: the sample already is `journal` (README step 4 says to pick another). */
const NAME = 'journal_main';
/** A word only the searched message's body holds. */
const WORD = 'quillfeather';

let chromium: TestBrowser | undefined;
before(() => ensureChromiumInstalled(), { timeout: 900_000 });
after(async () => {
  await chromium?.close();
});

/** The environment of a fresh terminal: no JOURNAL_PASSWORD, whatever the test runner has. */
function terminalEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.JOURNAL_PASSWORD;
  return env;
}

/** `mailsluice ARGS` run as the README writes it: in the directory, with its `./mailsluice.yaml` (no --config). */
function mailsluice(dir: string, args: string[]): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { cwd: dir, env: terminalEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
}

const run = (dir: string, args: string[]): Promise<CliResult> => collectCli(mailsluice(dir, args));

/** A body message holding `word`, besides two plain ones. */
function bodyWith(word: string): Buffer {
  return Buffer.from(
    [
      'From: "Olga Finance" <olga@example.test>',
      'To: board@example.test',
      'Subject: Minutes of the board',
      'Date: Mon, 05 Jan 2026 10:00:00 +0000',
      'Message-ID: <first-steps-1@test.mailsluice.invalid>',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      '',
      `The board agreed on the ${word} budget for next year.`,
      '',
    ].join('\r\n'),
  );
}

/** Step 4: Connections → New connection, the journal mailbox's fields, Create connection. */
async function addConnection(page: Page, user: { username: string; password: string }): Promise<void> {
  await page.click('#nav-connections');
  await page.waitForSelector('#new-connection');
  assert.equal(await page.$eval('#new-connection', (e) => e.textContent), 'New connection');
  await page.click('#new-connection');
  await page.waitForSelector('#f-name');
  await page.type('#f-name', NAME);
  assert.equal(await page.$eval('#f-protocol', (e) => (e as unknown as { value: string }).value), 'imap', 'IMAP by default');
  await page.type('#f-host', dovecot.host);
  await page.click('#f-port', { count: 3 });
  await page.type('#f-port', String(dovecot.imapPort));
  await page.select('#f-security', 'starttls');
  await page.type('#f-tls-ca', dovecot.caCertPem.trim());
  await page.type('#f-auth-username', user.username);
  await page.type('#f-auth-password', user.password);
  assert.equal(await page.$eval('#f-mailbox', (e) => (e as unknown as { value: string }).value), 'INBOX', 'the folder: INBOX unless changed');
  await screenshot(page, 'first-steps-connection-form');
  assert.equal(await page.$eval('#save-connection', (e) => e.textContent), 'Create connection', 'the button README step 4 names');
  await page.click('#save-connection');
  await page.waitForSelector('#test-connection', { timeout: 30_000 });
  assert.equal(await page.evaluate(() => location.hash), `#/connections/${NAME}`);
}

/** Steps 5 and 6: Test connection (every step green), Enable, the dashboard counts the 3 taken. */
async function testAndEnable(page: Page): Promise<void> {
  assert.equal(await page.$eval('#test-connection', (e) => e.textContent), 'Test connection');
  await page.click('#test-connection');
  await page.waitForSelector('#test-result[data-ok="true"], #test-result[data-ok="false"]', { timeout: 30_000 });
  const steps = await page.$$eval('#test-result li', (lis) => lis.map((li) => [li.getAttribute('data-step'), li.getAttribute('data-ok')]));
  assert.deepEqual(steps.map((s) => s[0]), ['resolve', 'connect', 'greeting', 'capabilities', 'tls', 'auth', 'mailbox', 'count'], JSON.stringify(steps));
  assert.ok(steps.every((s) => s[1] === 'true'), `every step green: ${JSON.stringify(steps)}`);
  await screenshot(page, 'first-steps-test');

  assert.equal(await page.$eval('#toggle-enabled', (e) => e.textContent), 'Enable');
  await page.click('#toggle-enabled');
  await page.waitForSelector('#connection-status[data-enabled="true"]', { timeout: 10_000 });
  await page.click('#nav-dashboard');
  await page.waitForSelector(`tr[data-connection="${NAME}"] td[data-field="taken"][data-value="3"]`, { timeout: 30_000 });
  await screenshot(page, 'first-steps-dashboard');
}

/**
 * Search presses *Search* until the word is found: the index follows the drain once its mailbox
 * goes quiet (`core/archive/yield-to-drain.ts`), a moment after *Taken* counts the messages, as a reader pressing
 * it again would see. Each press searches again, even with the same words.
 */
async function searchUntilFound(page: Page): Promise<void> {
  for (const until = Date.now() + 20_000; ; ) {
    const answered = page.waitForResponse((r) => r.url().includes('/api/v1/messages?') && r.url().includes(WORD), { timeout: 10_000 });
    await page.click('#archive-submit');
    assert.equal((await answered).status(), 200);
    await page.waitForFunction(() => document.querySelector('#archive-status')?.textContent?.startsWith('Found: ') === true, { timeout: 10_000 });
    const status = await page.$eval('#archive-status', (e) => e.textContent);
    if (status === 'Found: 1') return;
    assert.ok(Date.now() < until, `the word never found: ${status ?? ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Step 7: Archive, a word of a body, Search; the message opens; the search is on the Audit log. */
async function search(page: Page): Promise<void> {
  await page.click('#nav-archive');
  await page.waitForSelector('#archive-q');
  await page.type('#archive-q', WORD);
  assert.equal(await page.$eval('#archive-submit', (e) => e.textContent), 'Search');
  await searchUntilFound(page);
  assert.equal(await page.$eval('li.hit mark', (e) => e.textContent), WORD, 'the word marked in the excerpt');
  assert.equal(await page.$eval('li.hit h3', (e) => e.textContent), 'Minutes of the board');
  await screenshot(page, 'first-steps-archive');
  await page.click('li.hit h3 a');
  await page.waitForSelector('#message-text');
  assert.match(await page.$eval('#message-text', (e) => e.textContent ?? ''), new RegExp(`the ${WORD} budget`));

  await page.click('#nav-audit');
  await page.waitForSelector('#audit-records > li[data-action="archive.search"]');
  assert.equal(await page.$eval('#audit-records > li[data-action="archive.search"] [data-key="text"] dd', (e) => e.textContent), WORD);
  assert.equal(await page.$eval('#audit-records > li[data-action="session.create"]', (e) => e.getAttribute('data-who')), 'me', 'the sign-in too');
}

test('README "First steps": the shipped mailsluice.yaml, start, the first token beside it, then the console alone to a searched archive (real Chromium)', { timeout: 90_000 }, async () => {
  assertConsoleBuilt();
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, [makeMessage(0, { bodyBytes: 300 }), bodyWith(WORD), makeMessage(2, { bodyBytes: 300 })]);

  // A fresh directory with the clone's file; only the API port made free (8025 may be taken here).
  const dir = mkdtempSync(join(tmpdir(), 'mailsluice-first-steps-'));
  const shipped = readFileSync(join(REPO_ROOT, 'mailsluice.yaml'), 'utf8');
  assert.match(shipped, /^dataDir: \.\/data$/m, 'the data directory is ./data, inside the fresh directory');
  assert.equal(shipped.match(/127\.0\.0\.1:8025/g)?.length, 1, 'the API address is written once');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  writeFileSync(join(dir, 'mailsluice.yaml'), shipped.replace('127.0.0.1:8025', `127.0.0.1:${port}`));
  let service: ChildProcess | undefined;
  try {
    // Before the first start: no archive to keep a token in.
    const early = await run(dir, ['token', 'create', '--name', 'me', '--role', 'admin']);
    assert.notEqual(early.code, 0);
    assert.match(early.stderr, /ARCHIVE_NOT_FOUND/);
    assert.equal(existsSync(join(dir, 'data')), false, 'and it created nothing');

    // Step 1: start. ./data made, `api listening` with the address; the sample's warning only a warning.
    service = mailsluice(dir, ['start']);
    let stderr = '';
    service.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await waitReady(base, () => stderr);
    assert.match(stderr, /JOURNAL_PASSWORD/);
    assert.match(stderr, new RegExp(`"msg":"api listening","address":"127\\.0\\.0\\.1:${port}"`));
    assert.ok(existsSync(join(dir, 'data', 'archive.db')) && existsSync(join(dir, 'data', 'control.sock')), 'the archive and the control socket');

    // Step 2: the first admin token, in a second process beside the running service.
    const made = await run(dir, ['token', 'create', '--name', 'me', '--role', 'admin']);
    assert.equal(made.code, 0, made.stderr);
    const token = made.stdout.trim();
    assert.match(token, /^msl_[A-Za-z0-9_-]{43}$/, 'printed once');
    assert.match(made.stderr, /shown this once/);

    // Step 3: sign in.
    chromium = await launchChromium('en-US');
    const page = await chromium.browser.newPage();
    await page.setViewport({ width: 1100, height: 800 });
    const { foreign, problems } = await watchPage(page, base, /status of 401/);
    await page.goto(`${base}/`, { waitUntil: 'networkidle0' });
    await page.waitForSelector('#token');
    assert.equal(await page.$eval('label[for="token"]', (e) => e.textContent), 'API token');
    assert.deepEqual(await page.$$eval('#language option', (os) => os.map((o) => o.textContent)), ['English', 'Русский']);
    await screenshot(page, 'first-steps-sign-in');
    await page.type('#token', token);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#principal');

    // Step 4: the connection, written to the file disabled, its password in the encrypted store only.
    await addConnection(page, user);
    const file = readFileSync(join(dir, 'mailsluice.yaml'), 'utf8');
    assert.match(file, new RegExp(`name: ${NAME}`));
    assert.ok(!file.includes(user.password), 'no password in the YAML');
    assert.ok(existsSync(join(dir, 'data', 'secrets.enc')) && existsSync(join(dir, 'data', 'secrets.key')), 'the encrypted store and its key');
    assert.ok(!readFileSync(join(dir, 'data', 'secrets.enc')).includes(user.password), 'encrypted');

    // Steps 5 to 7.
    await testAndEnable(page);
    // Taken is counted at the commit; the expunge follows it.
    for (let i = 0; i < 100 && (await dovecot.messageCount(user.username)) > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await dovecot.messageCount(user.username), 0, 'the journal mailbox drained');
    await search(page);

    // Chromium draws the date fields' calendar icon (Archive, Audit log) from a data: URL of its
    // own, allowed by the CSP's img-src data:; it is no request to another origin.
    assert.deepEqual(foreign.filter((u) => !u.startsWith('data:image/svg+xml')), [], 'every request stays on the service');
    assert.deepEqual(problems, [], 'no script error, no CSP violation');
  } finally {
    await chromium?.close();
    chromium = undefined;
    if (service && service.exitCode === null && service.signalCode === null) {
      service.kill('SIGTERM');
      await once(service, 'exit');
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
