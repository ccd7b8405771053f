/**
 * The console's Connections section in a real headless Chromium against a real `start` and a
 * real Dovecot (issue 15, "connections"): the list; a connection created through the form with
 * the keyboard alone (Tab, typing, arrow keys in a select, Enter to submit), disabled; a host
 * written `imap://…` refused beside its field (aria-invalid, the focus on it, a summary as an
 * alert) with nothing written; Test connection streaming every step green; the password changed
 * to a wrong one (a merge patch of that key alone, with If-Match) failing the auth step with
 * SOURCE_AUTH_REJECTED, then fixed; an edit against a stale version told to reload; enabled, the
 * dashboard counts its 3 messages and the mailbox on Dovecot is empty; Download log; delete after
 * a confirmation in a dialog, gone from the API and the file; every field labelled; the form in
 * Russian with the seeds' terms; a protocol's own fields only for it; a viewer reads, and is offered no write. Nothing leaves the origin, no CSP violation or script error.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, type Workspace } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { callApi, createToken, drainedWithApi } from '../harness/api-client.js';
import { ensureChromiumInstalled } from '../harness/chromium.js';
import { assertConsoleBuilt, assertFieldsLabelled, screenshot, signIn, tabTo, watchPage, withConsole } from '../harness/console-page.js';
import type { Page } from 'puppeteer-core';

/** The page's `document`, as the functions run in the browser see it (this project compiles without the DOM types). */
declare const location: { hash: string };
declare const document: {
  activeElement: { id: string } | null;
  querySelector(selector: string): { textContent: string | null } | null;
};

const dovecot = dovecotPerFile();
const NAME = 'journal_new';

before(() => ensureChromiumInstalled(), { timeout: 900_000 });

const focused = (page: Page): Promise<string> => page.evaluate(() => document.activeElement?.id ?? '');

/** Tabs to field `#id` and types `text` into it (after selecting what it holds). */
async function typeInto(page: Page, id: string, text: string): Promise<void> {
  await tabTo(page, id, 40);
  await page.keyboard.down('Control');
  await page.keyboard.press('KeyA');
  await page.keyboard.up('Control');
  await page.keyboard.press('Backspace');
  await page.keyboard.type(text);
}

/** What the page sent: each request's method, URL, body and If-Match. */
function recordRequests(page: Page): Array<{ method: string; url: string; body: string | undefined; ifMatch: string | undefined; accept: string | undefined }> {
  const sent: Array<{ method: string; url: string; body: string | undefined; ifMatch: string | undefined; accept: string | undefined }> = [];
  page.on('request', (r) => sent.push({ method: r.method(), url: r.url(), body: r.postData(), ifMatch: r.headers()['if-match'], accept: r.headers().accept }));
  return sent;
}

/** Test connection, with the keyboard: the result's steps once it ended with `ok`. */
async function runTest(page: Page, ok: boolean): Promise<Array<[string | null, string | null, string | undefined]>> {
  await page.$eval('#test-connection', (b) => (b as unknown as { focus(): void }).focus());
  await page.keyboard.press('Enter');
  await page.waitForSelector(`#test-result[data-ok="${ok}"]`, { timeout: 30_000 });
  return page.$$eval('#test-result li', (lis) => lis.map((li) => [li.getAttribute('data-step'), li.getAttribute('data-ok'), li.querySelector('code')?.textContent?.trim()] as [string | null, string | null, string | undefined]));
}

/** Saves the form with Enter from the password field, after typing `password` there; waits for the form read again. */
async function savePassword(page: Page, password: string): Promise<void> {
  await page.$eval('#f-auth-password', (e) => (e as unknown as { focus(): void }).focus());
  await page.keyboard.type(password);
  const saved = page.waitForResponse((r) => r.request().method() === 'PATCH');
  await page.keyboard.press('Enter');
  assert.equal((await saved).status(), 200);
  // The form is read again (the new version): the secret shows empty.
  await page.waitForFunction(() => (document.querySelector('#f-auth-password') as unknown as { value: string } | null)?.value === '', { timeout: 10_000 });
  assert.equal(await page.$eval('#form-status', (e) => e.textContent), 'Saved.');
}

/** Opens a page of the console by its hash (the same document: no reload). */
async function openHash(page: Page, hash: string, selector: string): Promise<void> {
  await page.evaluate((h: string) => {
    location.hash = h;
  }, hash);
  await page.waitForSelector(selector, { timeout: 10_000 });
}

/** The list, then the new connection's form filled with the keyboard alone; a bad host refused, then created. */
async function createThroughForm(page: Page, base: string, ws: Workspace, token: string, user: { username: string; password: string }): Promise<void> {
  await openHash(page, '#/connections', 'tr[data-connection="seed"]');
  assert.equal(await page.$eval('h1', (e) => e.textContent), 'Connections');
  assert.equal(await page.$eval('tr[data-connection="seed"] td[data-field="address"]', (e) => e.textContent), `${dovecot.host}:${dovecot.imapPort}`);
  assert.equal(await page.$eval('tr[data-connection="seed"] td[data-field="enabled"]', (e) => e.getAttribute('data-value')), 'true');
  assert.equal(await page.$eval('tr[data-connection="seed"] a', (e) => e.getAttribute('href')), '#/connections/seed');
  await screenshot(page, 'connections-list-en');

  await tabTo(page, 'new-connection', 30);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#f-name');
  await typeInto(page, 'f-name', NAME);
  assert.equal(await page.$eval('#f-protocol', (e) => (e as unknown as { value: string }).value), 'imap');
  await typeInto(page, 'f-description', 'journal through the console');
  await typeInto(page, 'f-host', `imap://${dovecot.host}`);
  await typeInto(page, 'f-port', String(dovecot.imapPort));
  // Security: STARTTLS required, chosen with the arrow key; the test CA typed as PEM.
  await tabTo(page, 'f-security');
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.$eval('#f-security', (e) => (e as unknown as { value: string }).value), 'starttls');
  await typeInto(page, 'f-tls-ca', dovecot.caCertPem.trim());
  await typeInto(page, 'f-auth-username', user.username);
  await typeInto(page, 'f-auth-password', user.password);
  await typeInto(page, 'f-pollIntervalMs', '50');
  assert.equal(await page.$eval('#f-enabled', (e) => (e as unknown as { checked: boolean }).checked), false, 'a new connection starts disabled');
  await assertFieldsLabelled(page, 30);
  await screenshot(page, 'connection-form-en');

  // The host with a protocol prefix: refused beside the field, the focus on it, nothing written.
  await page.keyboard.press('Enter');
  await page.waitForSelector('#f-host-error');
  assert.match(await page.$eval('#f-host-error', (e) => e.textContent ?? ''), /without a protocol prefix/);
  assert.equal(await page.$eval('#f-host', (e) => e.getAttribute('aria-invalid')), 'true');
  assert.match(await page.$eval('#f-host', (e) => e.getAttribute('aria-describedby') ?? ''), /f-host-error/);
  assert.equal(await page.$eval('#form-errors', (e) => e.getAttribute('role')), 'alert');
  assert.match(await page.$eval('#form-errors', (e) => e.textContent ?? ''), /Host: must be a bare host name/);
  assert.equal(await focused(page), 'f-host', 'the first invalid field takes the focus');
  await screenshot(page, 'connection-form-errors-en');
  const listed = await callApi(`${base}/api/v1/connections`, token);
  assert.deepEqual((listed.body.connections as Array<{ name: string }>).map((c) => c.name), ['seed'], 'nothing was written');
  assert.ok(!readFileSync(ws.configPath, 'utf8').includes(NAME));

  // The host fixed, from where the focus is; Enter submits: the connection's page.
  await page.keyboard.down('Control');
  await page.keyboard.press('KeyA');
  await page.keyboard.up('Control');
  await page.keyboard.type(dovecot.host);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#test-connection', { timeout: 15_000 });
  assert.equal(await page.evaluate(() => location.hash), `#/connections/${NAME}`);
  const got = await callApi(`${base}/api/v1/connections/${NAME}`, token);
  assert.equal(got.status, 200, got.raw);
  assert.equal(got.body.enabled, false, 'created disabled');
  assert.equal(got.body.security, 'starttls');
  const file = readFileSync(ws.configPath, 'utf8');
  assert.ok(file.includes(NAME) && !file.includes(user.password), 'in the file, its password not');
}

test('console: connections listed, one created with the keyboard, tested, edited, enabled, drained, deleted; English and Russian (real Chromium)', { timeout: 240_000 }, async () => {
  assertConsoleBuilt();
  const user = await dovecot.createUser();
  const empty = await dovecot.createUser();
  const { ws, base } = await drainedWithApi({ connections: [imapConnection(dovecot, empty, { name: 'seed', pollIntervalMs: 3_600_000 })] });
  await dovecot.loadMaildir(user.username, [0, 1, 2].map((i) => makeMessage(i, { bodyBytes: 400 })));
  const token = await createToken(ws, 'console-admin', 'admin');
  const viewer = await createToken(ws, 'console-viewer', 'viewer');
  await withConsole(
    ws,
    base,
    async (page, chromium) => {
      // No session before signing in (401), the refused create (400) and the stale edit (409): on purpose.
      const { foreign, problems } = await watchPage(page, base, /status of (400|401|409)/);
      const sent = recordRequests(page);
      await signIn(page, base, token);

      await createThroughForm(page, base, ws, token, user);
      const created = sent.find((r) => r.method === 'POST' && r.url.endsWith('/api/v1/connections') && r.body?.includes(`"host":"${dovecot.host}"`));
      assert.ok(created, 'the create was posted');
      const body = JSON.parse(created.body!) as Record<string, unknown>;
      assert.deepEqual(Object.keys(body).sort(), ['auth', 'description', 'enabled', 'host', 'name', 'pollIntervalMs', 'port', 'protocol', 'security', 'tls'], 'defaults are not written out');

      // Test connection: each step streamed, every one passed.
      const steps = await runTest(page, true);
      assert.deepEqual(steps.map((x) => x[0]), ['resolve', 'connect', 'greeting', 'capabilities', 'tls', 'auth', 'mailbox', 'count'], JSON.stringify(steps));
      assert.ok(steps.every((x) => x[1] === 'true'), JSON.stringify(steps));
      const testRequest = sent.filter((r) => r.url.includes(`/api/v1/connections/${NAME}/test`));
      assert.deepEqual(testRequest.map((r) => [r.url.endsWith('/test'), r.accept]), [[true, 'text/event-stream']], 'streamed, without the ?wait=true fallback');
      await screenshot(page, 'connection-test-en');

      // A wrong password: a merge patch of that key alone, against the version read; the auth step fails.
      assert.equal(await page.$eval('#f-auth-password-hint', (e) => e.textContent), 'Set; unchanged unless typed.');
      assert.equal(await page.$eval('#f-auth-password', (e) => (e as unknown as { value: string }).value), '', 'a secret is never shown');
      await savePassword(page, 'not-the-password');
      const patch = sent.filter((r) => r.method === 'PATCH').at(-1)!;
      assert.deepEqual(JSON.parse(patch.body!), { auth: { password: 'not-the-password' } });
      assert.match(patch.ifMatch ?? '', /^"[0-9a-f]{64}"$/);
      const failed = await runTest(page, false);
      assert.deepEqual(failed.filter((x) => x[1] === 'false').map((x) => [x[0], x[2]]), [['auth', 'SOURCE_AUTH_REJECTED']]);
      await savePassword(page, user.password);
      assert.ok((await runTest(page, true)).every((x) => x[1] === 'true'));

      // An edit against a version another edit replaced: the page says to reload, and reloads.
      const other = await callApi(`${base}/api/v1/connections/seed`, token, { method: 'PATCH', body: { description: 'changed elsewhere' } });
      assert.equal(other.status, 200, other.raw);
      await typeInto(page, 'f-description', 'changed here');
      await page.keyboard.press('Enter');
      await page.waitForSelector('#reload-connection');
      assert.match(await page.$eval('#form-errors', (e) => e.textContent ?? ''), /changed since this page read it/);
      await page.$eval('#reload-connection', (b) => (b as unknown as { click(): void }).click());
      await page.waitForFunction(() => document.querySelector('#form-errors') === null);

      // Enabled: the dashboard counts its 3 messages, and the mailbox on Dovecot is empty.
      await page.$eval('#toggle-enabled', (b) => (b as unknown as { focus(): void }).focus());
      await page.keyboard.press('Enter');
      await page.waitForSelector('#connection-status[data-enabled="true"]', { timeout: 10_000 });
      await openHash(page, '#/', `tr[data-connection="${NAME}"]`);
      await page.waitForSelector(`tr[data-connection="${NAME}"] td[data-field="taken"][data-value="3"]`, { timeout: 30_000 });
      for (let i = 0; i < 100 && (await dovecot.messageCount(user.username)) > 0; i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(await dovecot.messageCount(user.username), 0, 'the mailbox is really empty');

      // Download log: the file, as an attachment.
      await openHash(page, `#/connections/${NAME}`, '#download-log');
      await page.$eval('#download-log', (e) => (e as unknown as { focus(): void }).focus());
      const href = await page.$eval('#download-log', (a) => a.getAttribute('href'));
      assert.equal(href, `/api/v1/connections/${NAME}/log/download`);
      const download = await page.evaluate(async (u: string) => {
        const r = await fetch(u);
        return { status: r.status, disposition: r.headers.get('content-disposition') };
      }, href!);
      assert.equal(download.status, 200);
      assert.match(download.disposition ?? '', new RegExp(`attachment; filename="${NAME}\\.log"`));

      // Delete, confirmed in the dialog with the keyboard: Cancel has the focus first.
      await tabTo(page, 'delete-connection', 30);
      await page.keyboard.press('Enter');
      await page.waitForSelector('dialog#confirm-delete[open]');
      assert.equal(await focused(page), 'cancel-delete', 'the safe choice has the focus');
      await page.keyboard.press('Tab');
      assert.equal(await focused(page), 'confirm-delete-button');
      await page.keyboard.press('Enter');
      await page.waitForSelector('#connections-list');
      assert.equal(await page.$(`tr[data-connection="${NAME}"]`), null);
      const after = await callApi(`${base}/api/v1/connections`, token);
      assert.deepEqual((after.body.connections as Array<{ name: string }>).map((c) => c.name), ['seed']);
      assert.ok(!readFileSync(ws.configPath, 'utf8').includes(NAME), 'gone from the file');

      // A connection may be named `new`: its page is its own, not the new connection's form (that one is `new-`).
      const named = await callApi(`${base}/api/v1/connections`, token, { method: 'POST', body: { name: 'new', protocol: 'imap', host: '127.0.0.1', enabled: false, auth: { type: 'basic', username: 'u', password: 'p' } } });
      assert.equal(named.status, 201, JSON.stringify(named.body));
      await openHash(page, '#/connections/new', '#f-host');
      assert.equal(await page.$eval('#f-name', (e) => (e as unknown as { value: string }).value), 'new');
      assert.equal(await page.$eval('#f-host', (e) => (e as unknown as { value: string }).value), '127.0.0.1');
      assert.equal((await callApi(`${base}/api/v1/connections/new`, token, { method: 'DELETE' })).status, 200);

      // The seed connection's page: its actions and form, every field labelled; then Russian.
      await openHash(page, '#/connections/seed', '#f-host');
      await assertFieldsLabelled(page, 30);
      await page.select('#language', 'ru');
      await page.waitForFunction(() => document.querySelector('#test-connection')?.textContent === 'Проверить соединение');
      assert.equal(await page.$eval('#download-log', (e) => e.textContent), 'Скачать журнал');
      assert.equal(await page.$eval('#nav-connections', (e) => e.textContent), 'Подключения');
      await openHash(page, '#/connections/new-', '#f-name');
      assert.equal(await page.$eval('h1', (e) => e.textContent), 'Новое подключение');
      const legends = await page.$$eval('legend', (ls) => ls.map((l) => l.textContent));
      assert.deepEqual(legends, ['Сервер', 'Безопасность', 'Учётные данные', 'Получение писем', 'Удаление', 'Тайм-ауты', 'Расписание', 'Журналирование', 'Тестовое письмо']);
      assert.equal(await page.$eval('label[for="f-host"]', (e) => e.textContent), 'Сервер (хост) (обязательно)');
      await assertFieldsLabelled(page, 30);
      await screenshot(page, 'connection-form-ru');
      await page.setViewport({ width: 380, height: 800 });
      await screenshot(page, 'connection-form-narrow-ru');
      // A protocol's own fields only for it: POP3 has no folders or IDLE but APOP; EWS its URL and version instead of host, port and security.
      const present = async (...ids: string[]): Promise<boolean[]> => Promise.all(ids.map(async (id) => (await page.$(`#${id}`)) !== null));
      assert.deepEqual(await present('f-mailbox', 'f-idle', 'f-unseenOnly', 'f-partialFetch', 'f-auth-apop', 'f-ews-url'), [true, true, true, true, false, false]);
      await tabTo(page, 'f-protocol', 40);
      await page.keyboard.press('ArrowDown');
      assert.deepEqual(await present('f-mailbox', 'f-idle', 'f-unseenOnly', 'f-partialFetch', 'f-auth-apop', 'f-ews-url'), [false, false, false, false, true, false]);
      await page.keyboard.press('ArrowDown');
      // EWS: ews.url replaces host, port and security; its folder, unseenOnly and idle (streaming notifications) apply.
      assert.deepEqual(
        await present('f-mailbox', 'f-idle', 'f-unseenOnly', 'f-auth-apop', 'f-ews-url', 'f-ews-version', 'f-host', 'f-port', 'f-security', 'f-partialFetch'),
        [true, true, true, false, true, true, false, false, false, false],
      );
      await page.keyboard.press('ArrowDown');
      // Graph: the tenant, app and mailbox replace host, port, security and the login; unseenOnly applies, IDLE and folders (mailbox) do not.
      assert.deepEqual(
        await present('f-graph-tenant', 'f-graph-clientId', 'f-graph-clientSecret', 'f-graph-mailbox', 'f-graph-folder', 'f-unseenOnly', 'f-mailbox', 'f-idle', 'f-host', 'f-security', 'f-auth-type', 'f-auth-username', 'f-ews-url'),
        [true, true, true, true, true, true, false, false, false, false, false, false, false],
      );
      assert.equal(await page.$eval('label[for="f-graph-tenant"]', (e) => e.textContent), 'Клиент (тенант) (обязательно)');

      // A viewer (a browser context of its own): the list and the settings, read-only; no write action offered.
      const viewerContext = await chromium.browser.createBrowserContext();
      const viewerPage = await viewerContext.newPage();
      const viewerWatch = await watchPage(viewerPage, base);
      await signIn(viewerPage, base, viewer);
      await openHash(viewerPage, '#/connections', 'tr[data-connection="seed"]');
      assert.equal(await viewerPage.$('#new-connection'), null, 'a viewer is offered no new connection');
      await openHash(viewerPage, '#/connections/seed', '#f-host');
      assert.equal(await viewerPage.$('#test-connection'), null);
      assert.equal(await viewerPage.$('#save-connection'), null);
      assert.notEqual(await viewerPage.$('#download-log'), null);
      assert.equal(await viewerPage.$eval('#f-host', (e) => (e as unknown as { matches(s: string): boolean }).matches(':disabled')), true, 'read-only');
      await viewerContext.close();
      assert.deepEqual([...viewerWatch.foreign, ...viewerWatch.problems], []);

      assert.deepEqual(foreign, [], 'every request stays on the service');
      assert.deepEqual(problems, [], 'no script error, no CSP violation');
    },
    { width: 1000, height: 800 },
  );
});
