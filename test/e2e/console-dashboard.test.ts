/**
 * The web console in a real headless Chromium against a real `start` and a real Dovecot (issue
 * 15, the first slice; ADR 0030): `/` serves the built console under its strict CSP; a wrong
 * token shows the API's sentence; an admin token signs in (the keyboard submits the form); the
 * dashboard shows the connection and counts the mailbox's 3 messages as the service takes them; an admin's run now goes through with the CSRF token (a viewer is offered none); Test connection
 * shows every step passed, and for a wrong password the auth step failed with its code; Download log serves the log with the cookie;
 * the language switch turns the labels Russian; sign-out ends the session; a revoked token's session returns to sign-in saying so; every field
 * has a label in the accessibility tree; the sign-in limit (429)
 * shows "too many attempts". Nothing the page asks
 * for leaves the service's origin, and the page breaks no CSP rule. A screenshot of the dashboard
 * goes to test-artifacts/console/.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, runCli, type Workspace } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { callApi, createToken, drainedWithApi } from '../harness/api-client.js';
import { ensureChromiumInstalled } from '../harness/chromium.js';
import { assertConsoleBuilt, assertFieldsLabelled, CONSOLE_ARTIFACTS, tabTo, watchPage, withConsole } from '../harness/console-page.js';
import type { Page } from 'puppeteer-core';
import { CONSOLE_CSP } from '../../src/api/index.js';

/** The page's `document`, as the functions run in the browser see it (this project compiles without the DOM types). */
declare const document: {
  cookie: string;
  activeElement: { id: string } | null;
  querySelector(selector: string): { textContent: string | null } | null;
};

const dovecot = dovecotPerFile();
const ARTIFACTS = CONSOLE_ARTIFACTS;

// Installing Debian's chromium on a fresh machine takes minutes: before the test and its own limit, never skipped.
before(() => ensureChromiumInstalled(), { timeout: 900_000 });


/** `/` under its CSP: the sign-in page in English, every field labelled, a wrong token refused with the API's sentence. */
async function signInPage(page: Page, base: string): Promise<void> {
  const res = await page.goto(`${base}/`, { waitUntil: 'networkidle0' });
  assert.ok(res, 'the page answered');
  assert.equal(res.status(), 200);
  const h = res.headers();
  assert.equal(h['content-security-policy'], CONSOLE_CSP, 'the page carries the strict CSP');
  assert.equal(h['x-content-type-options'], 'nosniff');
  assert.match(h['content-type'] ?? '', /^text\/html/);

  // English from the browser's language: the sign-in page, its field labelled.
  await page.waitForSelector('#token');
  assert.equal(await page.$eval('h1', (e) => e.textContent), 'Sign in');
  assert.equal(await page.$eval('label[for="token"]', (e) => e.textContent), 'API token');

  // Every field has a name in the accessibility tree (its label): the token field and the language switch.
  await assertFieldsLabelled(page, 2);

  // A wrong token: the API's own sentence, shown as an alert.
  const refused = await callApi(`${base}/api/v1/session`, undefined, { method: 'POST', body: { token: 'msl_not-a-token' } });
  assert.equal(refused.status, 401);
  await page.type('#token', 'msl_not-a-token');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#sign-in-error');
  assert.equal(await page.$eval('#sign-in-error', (e) => e.textContent), refused.body.message, 'the API refusal is shown');
  assert.equal(await page.$eval('#token', (e) => e.getAttribute('aria-invalid')), 'true');

}

/** Signs in with the keyboard alone; the cookie is HttpOnly and SameSite=Strict. */
async function signInWithKeyboard(page: Page, admin: string): Promise<void> {
  // The admin token, with the keyboard only: Tab to the field, type, Enter.
  await page.$eval('#token', (e) => ((e as unknown as { value: string }).value = ''));
  await page.evaluate(() => (document.activeElement as unknown as { blur(): void } | null)?.blur());
  await tabTo(page, 'token');
  await page.keyboard.type(admin);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#principal');
  assert.equal(await page.$eval('#principal', (e) => e.textContent), 'console-admin');
  const cookies = await page.cookies();
  const session = cookies.find((c) => c.name === 'mailsluice_session');
  assert.ok(session, 'the session cookie is set');
  assert.equal(session.httpOnly, true, 'HttpOnly');
  assert.equal(session.sameSite, 'Strict');
  assert.equal(await page.evaluate(() => document.cookie), '', 'no script sees the cookie');

}

const row = 'tr[data-connection="journal"]';

/** The dashboard counts the 3 messages; run now, Test connection (passing and failing), Download log. */
async function dashboard(page: Page): Promise<void> {
  // The dashboard: the connection, and taken reaching 3 as the running service drains.
  await page.waitForSelector(row, { timeout: 10_000 });
  await page.waitForSelector(`${row} td[data-field="taken"][data-value="3"]`, { timeout: 30_000 });
  assert.equal(await page.$eval(`${row} td[data-field="taken"]`, (e) => e.textContent), '3');
  assert.equal(await page.$eval(`${row} td[data-field="backlog"]`, (e) => e.getAttribute('data-value')), '0');
  const state = await page.$eval(`${row} td[data-field="state"]`, (e) => e.getAttribute('data-state'));
  assert.ok(['waiting', 'draining', 'connecting'].includes(state ?? ''), `a live state, not ${state}`);
  assert.equal(await page.$eval('h2', (e) => e.textContent), 'Connections');
  // Run now, an admin's state-changing request: it carries the CSRF token (else 403), and says it started.
  await page.click(`${row} button.run-now`);
  await page.waitForSelector(`${row} [role="status"].ok`, { timeout: 10_000 });
  assert.equal(await page.$eval(`${row} [role="status"]`, (e) => e.textContent), 'Started');
  // Test connection (Проверить соединение): every step shown, every one passed.
  await page.click(`${row} button.test-connection`);
  await page.waitForSelector('#test-result[data-ok="true"]', { timeout: 30_000 });
  const steps = await page.$$eval('#test-result li', (lis) => lis.map((li) => [li.getAttribute('data-step'), li.getAttribute('data-ok')]));
  assert.deepEqual(steps.map((x) => x[0]), ['resolve', 'connect', 'greeting', 'capabilities', 'tls', 'auth', 'mailbox', 'count'], `STARTTLS after the capabilities: ${JSON.stringify(steps)}`);
  assert.ok(steps.every((x) => x[1] === 'true'), JSON.stringify(steps));
  // A wrong password: the failing step with its catalogue code; run now is not offered for a disabled connection.
  const brokenRow = 'tr[data-connection="broken"]';
  assert.equal(await page.$eval(`${brokenRow} button.run-now`, (b) => (b as unknown as { disabled: boolean }).disabled), true);
  await page.click(`${brokenRow} button.test-connection`);
  await page.waitForSelector('#test-result[data-ok="false"]', { timeout: 30_000 });
  const failed = await page.$$eval('#test-result li[data-ok="false"]', (lis) => lis.map((li) => [li.getAttribute('data-step'), li.querySelector('code')?.textContent?.trim()]));
  assert.deepEqual(failed, [['auth', 'SOURCE_AUTH_REJECTED']], 'the auth step failed, with its code');
  await page.screenshot({ path: `${ARTIFACTS}test-connection-failed-en.png`, fullPage: true });
  // Download log (Скачать журнал): the link serves the connection's log as an attachment with the cookie alone.
  const href = await page.$eval(`${row} a.download-log`, (a) => a.getAttribute('href'));
  assert.equal(href, '/api/v1/connections/journal/log/download');
  const download = await page.evaluate(async (u: string) => {
    const r = await fetch(u);
    return { status: r.status, disposition: r.headers.get('content-disposition'), text: await r.text() };
  }, href!);
  assert.equal(download.status, 200);
  assert.match(download.disposition ?? '', /attachment; filename="journal\.log"/);

  await page.screenshot({ path: `${ARTIFACTS}dashboard-en.png`, fullPage: true });

}

/** Russian by the switch, kept over a reload; sign-out with the keyboard; a wrong token's sentence in Russian. */
async function russianAndSignOut(page: Page): Promise<void> {
  // Russian, by the switch: the seeds' own terms, kept after a reload.
  await page.select('#language', 'ru');
  await page.waitForFunction(() => document.querySelector('h2')?.textContent === 'Подключения');
  assert.equal(await page.$eval(`${row} td[data-field="taken"]`, (e) => e.textContent), '3');
  assert.equal(await page.$eval('html', (e) => e.lang), 'ru');
  // The failed test, still shown, now in Russian: the catalogue's sentence by its code.
  assert.match(await page.$eval('#test-result li[data-step="auth"]', (e) => e.textContent ?? ''), /Сервер отклонил учётные данные\./);
  assert.equal(await page.$eval('#test-result [role="status"]', (e) => e.textContent), 'Проверка не пройдена.');
  await page.screenshot({ path: `${ARTIFACTS}dashboard-ru.png`, fullPage: true });
  await page.reload({ waitUntil: 'networkidle0' });
  await page.waitForSelector(row);
  assert.equal(await page.$eval('h2', (e) => e.textContent), 'Подключения', 'the choice and the session survive a reload');

  // Sign out: the sign-in page again, in Russian, and the session is gone at the API.
  await tabTo(page, 'sign-out');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#token');
  assert.equal(await page.$eval('h1', (e) => e.textContent), 'Вход');
  const gone = await page.evaluate(async () => (await fetch('/api/v1/session')).status);
  assert.equal(gone, 401, 'signed out at the API too');

  // A wrong token in Russian: the catalogue's sentence for its code, in Russian.
  await page.type('#token', 'msl_not-a-token-either');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#sign-in-error');
  assert.equal(await page.$eval('#sign-in-error', (e) => e.textContent), 'Этот токен архиву неизвестен: опечатка, или токен отозван.');
  await page.$eval('#token', (e) => ((e as unknown as { value: string }).value = ''));

}

/** A viewer (no run now; narrow screen), whose revoked token ends the session; then the sign-in limit. */
async function revokedAndLimited(page: Page, base: string, ws: Workspace, viewer: string): Promise<void> {
  // A session whose token is revoked beside the running service: the page says the session ended.
  await page.type('#token', viewer);
  await page.keyboard.press('Enter');
  await page.waitForSelector(row);
  assert.equal(await page.$eval('#principal', (e) => e.textContent), 'console-viewer');
  assert.equal(await page.$(`${row} button.run-now`), null, 'a viewer is offered no run now');
  await page.setViewport({ width: 380, height: 700 });
  await page.screenshot({ path: `${ARTIFACTS}dashboard-narrow-ru.png`, fullPage: true });
  const revoked = await runCli(['token', 'revoke', 'console-viewer'], ws);
  assert.equal(revoked.code, 0, revoked.stderr);
  await page.waitForSelector('#token', { timeout: 10_000 });
  assert.equal(await page.$eval('.notice', (e) => e.textContent), 'Сеанс завершён: войдите снова.');

  // The sign-in limit: once the address has failed too often, the page says so in its language.
  for (let i = 0; i < 20 && (await callApi(`${base}/api/v1/session`, undefined, { method: 'POST', body: { token: `msl_wrong-${i}` } })).status !== 429; i++);
  await page.type('#token', 'msl_still-wrong');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('#sign-in-error')?.textContent?.startsWith('Слишком много попыток') === true);

}

test('console: sign in with a token, watch the dashboard count the messages, switch to Russian, sign out (real Chromium)', { timeout: 180_000 }, async () => {
  assertConsoleBuilt();
  const user = await dovecot.createUser();
  // Drained once while the mailbox is empty: the archive (which holds the tokens) exists, nothing is taken yet.
  // A second connection, disabled, with a wrong password: what a failing Test connection shows.
  const broken = imapConnection(dovecot, { username: user.username, password: 'not-the-password' }, { name: 'broken', enabled: false });
  const { ws, base } = await drainedWithApi({ connections: [imapConnection(dovecot, user), broken] });
  await dovecot.loadMaildir(user.username, [0, 1, 2].map((i) => makeMessage(i, { bodyBytes: 500 })));
  const admin = await createToken(ws, 'console-admin', 'admin');
  const viewer = await createToken(ws, 'console-viewer', 'viewer');
  await withConsole(
    ws,
    base,
    async (page) => {
      const { foreign, problems } = await watchPage(page, base);
      await signInPage(page, base);
      await signInWithKeyboard(page, admin);
      await dashboard(page);
      await russianAndSignOut(page);
      await revokedAndLimited(page, base, ws, viewer);

      assert.deepEqual(foreign, [], 'every request stays on the service');
      assert.deepEqual(problems, [], 'no script error, no CSP violation');
    },
    { width: 1100, height: 700 },
  );
});
