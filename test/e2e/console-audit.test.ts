/**
 * The console's Audit page in a real headless Chromium against a real `start` and a real Dovecot
 * (issue 15, "the audit log with filters, for auditors and admins"): tokens made with the CLI, a
 * search and a run now through the API, a token made beside the running service; an auditor's
 * Audit page lists exactly those records newest first (as the API's `order=newest` does), a
 * filter by action narrows it to the search (its query readable in the details), Verify chain
 * says the chain is intact, the fields are labelled and reachable with the Tab key, the page
 * reads at 380 px; in Russian the labels and actions are Russian, and a malformed filter
 * in the address shows the Russian sentence of API_BAD_REQUEST with the service's details. An admin's move of old records
 * asks for confirmation first, and without a number of days shows the catalogue's Russian
 * sentence for AUDIT_RETENTION_NOT_SET; with one, what was moved. A viewer is offered no Audit
 * section (the page itself is not found) and the API answers 403. More than a page: More adds the next one. Screenshots: audit-en,
 * audit-ru, audit-narrow-en.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { callApi, createToken, drainedWithApi, startService, type RunningService } from '../harness/api-client.js';
import { ensureChromiumInstalled, launchChromium, type TestBrowser } from '../harness/chromium.js';
import { assertConsoleBuilt, assertFieldsLabelled, screenshot, signIn, tabTo, watchPage } from '../harness/console-page.js';
import type { Page } from 'puppeteer-core';

/** The page's `document` and `window`, as the functions run in the browser see them (no DOM types here). */
declare const document: {
  documentElement: { scrollWidth: number };
  querySelector(selector: string): { textContent: string | null } | null;
  querySelectorAll(selector: string): ArrayLike<{ getAttribute(name: string): string | null }>;
};

const dovecot = dovecotPerFile();

let chromium: TestBrowser | undefined;
before(() => ensureChromiumInstalled(), { timeout: 900_000 });
after(async () => {
  await chromium?.close();
});

type Listed = { seq: number; action: string; who: string };

/** The records the page shows, top to bottom. */
async function shown(page: Page): Promise<Listed[]> {
  return page.$$eval('#audit-records > li', (lis) =>
    lis.map((li) => ({ seq: Number(li.getAttribute('data-seq')), action: li.getAttribute('data-action') ?? '', who: li.getAttribute('data-who') ?? '' })),
  );
}

/** Waits until the list shows exactly `n` records. */
async function waitForCount(page: Page, n: number): Promise<void> {
  await page.waitForFunction((k: number) => document.querySelectorAll('#audit-records > li').length === k, { timeout: 10_000 }, n);
}

/** The auditor's page in English: newest first, the filter by action, Verify chain, labels, keyboard, 380 px. */
async function auditorInEnglish(page: Page, base: string, auditor: string): Promise<void> {
  await signIn(page, base, auditor);
  await page.click('#nav-audit');
  await page.waitForSelector('#audit-records > li');
  assert.equal(await page.$eval('h1', (e) => e.textContent), 'Audit log');

  // Exactly what the API lists newest first: the CLI's and the API's actions, and on top the auditor's own sign-in.
  const api = await callApi(`${base}/api/v1/audit?order=newest`, auditor);
  assert.equal(api.status, 200, api.raw);
  const expected = (api.body.records as Listed[]).map((r) => ({ seq: r.seq, action: r.action, who: r.who }));
  await waitForCount(page, expected.length);
  const listed = await shown(page);
  assert.deepEqual(listed, expected);
  assert.deepEqual(listed.map((r) => r.seq), [...listed.map((r) => r.seq)].sort((a, b) => b - a), 'newest first');
  assert.deepEqual(
    listed.map((r) => r.action),
    ['session.create', 'token.create', 'connection.run', 'archive.search', 'token.create', 'token.create', 'token.create'],
  );
  assert.equal(listed[0]!.who, 'console-auditor');
  assert.equal(listed[2]!.who, 'console-admin');
  assert.equal(listed[3]!.who, 'console-auditor');
  // Each entry's action in words, its time in the browser's language.
  const top = '#audit-records > li:first-child';
  assert.match(await page.$eval(`${top} h3`, (e) => e.textContent ?? ''), /^Signed in to the console session\.create$/);
  assert.equal(await page.$eval(`${top} [data-key="role"] dd`, (e) => e.textContent), 'auditor');
  assert.match(await page.$eval('#audit-records > li:nth-child(2) h3', (e) => e.textContent ?? ''), /^API token created token\.create$/);
  assert.match(await page.$eval(`${top} time`, (e) => e.textContent ?? ''), /\d{4}.*\d{1,2}:\d{2}:\d{2}/);

  // The filter by action, submitted with the keyboard: only the search, its query readable.
  await page.select('#audit-action', 'archive.search');
  await page.focus('#audit-who');
  await page.keyboard.press('Enter');
  await waitForCount(page, 1);
  assert.deepEqual((await shown(page)).map((r) => r.action), ['archive.search']);
  assert.equal(await page.$eval('#audit-records dl.audit-detail [data-key="text"] dd', (e) => e.textContent), 'zanzibar');
  assert.equal(await page.$eval('#audit-records dl.audit-detail [data-key="text"] dt', (e) => e.textContent), 'Query');
  // The filter is in the address: a reload (or a bookmark) shows the same narrowed list.
  assert.equal(new URL(page.url()).hash, '#/audit?action=archive.search');
  await page.reload({ waitUntil: 'networkidle0' });
  await waitForCount(page, 1);
  assert.equal(await page.$eval('#audit-action', (e) => (e as unknown as { value: string }).value), 'archive.search');
  // By who: the admin's run now alone; Clear shows everything again.
  await page.select('#audit-action', '');
  await page.type('#audit-who', 'console-admin');
  await page.click('#audit-apply');
  await page.waitForFunction(() => document.querySelector('#audit-records > li')?.textContent?.includes('connection.run') === true && document.querySelectorAll('#audit-records > li').length === 1);
  await page.click('#audit-clear');
  await waitForCount(page, expected.length);
  assert.equal(new URL(page.url()).hash, '#/audit');

  // Every field labelled (language, who, action, from, before, with the archive files); Verify chain with the keyboard alone.
  await assertFieldsLabelled(page, 6);
  assert.equal(await page.$('#audit-prune'), null, 'an auditor is offered no move of old records');
  await tabTo(page, 'audit-verify', 60);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#audit-verdict[data-ok="true"]', { timeout: 10_000 });
  assert.equal(await page.$eval('#audit-verdict [role="status"]', (e) => e.textContent), 'The chain is intact.');
  const verdict = await callApi(`${base}/api/v1/audit/verify`, auditor);
  assert.equal(await page.$eval('#audit-verified', (e) => e.textContent), String(verdict.body.records));
  await screenshot(page, 'audit-en');

  // 380 px wide: nothing wider than the screen.
  await page.setViewport({ width: 380, height: 800 });
  assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= 380, 'no horizontal scrolling at 380 px');
  await screenshot(page, 'audit-narrow-en');
  await page.setViewport({ width: 1100, height: 800 });
}

/** The same page in Russian: labels, actions, the verdict. */
async function auditorInRussian(page: Page): Promise<void> {
  await page.select('#language', 'ru');
  await page.waitForFunction(() => document.querySelector('h1')?.textContent === 'Журнал аудита');
  assert.equal(await page.$eval('#nav-audit', (e) => e.textContent), 'Журнал аудита');
  assert.equal(await page.$eval('label[for="audit-action"]', (e) => e.textContent), 'Действие');
  assert.equal(await page.$eval('label[for="audit-who"]', (e) => e.textContent), 'Кто (имя токена или пользователь ОС)');
  assert.equal(await page.$eval('#audit-verify', (e) => e.textContent), 'Проверить цепочку');
  assert.equal(await page.$eval('#audit-verdict [role="status"]', (e) => e.textContent), 'Цепочка не нарушена.');
  assert.match(await page.$eval('#audit-records > li:first-child h3', (e) => e.textContent ?? ''), /^Вход в консоль session\.create$/);
  assert.match(await page.$eval('#audit-records > li:nth-child(4) h3', (e) => e.textContent ?? ''), /^Поиск в архиве archive\.search$/);
  assert.equal(await page.$eval('#audit-action option[value=""]', (e) => e.textContent), 'Любое действие');
  assert.equal(await page.$eval('#audit-records > li:nth-child(4) [data-key="text"] dt', (e) => e.textContent), 'Запрос');
  await screenshot(page, 'audit-ru');

  // A malformed filter in the address: the API's 400, in Russian from the catalogue, with the service's details (the parameter).
  await page.evaluate(() => {
    (globalThis as unknown as { location: { hash: string } }).location.hash = '#/audit?since=yesterday';
  });
  await page.reload({ waitUntil: 'networkidle0' });
  await page.waitForSelector('#audit-error');
  const refused = await page.$eval('#audit-error', (e) => e.textContent ?? '');
  assert.match(refused, /^Запрос содержит недопустимое значение\. Подробности: .*since.* \(API_BAD_REQUEST\)$/);
  await page.click('#audit-clear');
  await page.waitForSelector('#audit-records > li');
  assert.equal(await page.$('#audit-error'), null);
}

/** The admin's move of old records, in Russian: a confirmation first; no days and none configured → the Russian sentence. */
async function adminPrune(page: Page, base: string, admin: string): Promise<void> {
  await page.click('#sign-out');
  await signIn(page, base, admin);
  await page.click('#nav-audit');
  await page.waitForSelector('#audit-prune');
  // Cancel asks nothing of the service.
  await page.click('#audit-prune');
  await page.waitForSelector('dialog#audit-prune-confirm[open]');
  await page.click('#audit-prune-cancel');
  assert.equal(await page.$('dialog#audit-prune-confirm[open]'), null);
  // No days given, none configured: AUDIT_RETENTION_NOT_SET, in Russian from the catalogue.
  await page.click('#audit-prune');
  await page.click('#audit-prune-yes');
  await page.waitForSelector('#audit-prune-error');
  assert.equal(
    await page.$eval('#audit-prune-error', (e) => e.textContent),
    'Не задано, старше скольких дней переносить записи журнала аудита (keepDays, audit.keepDays); ничего не перенесено. (AUDIT_RETENTION_NOT_SET)',
  );
  // 30 days: nothing is that old, nothing moved; the list is read again and shows the moves asked for.
  await page.type('#audit-keep-days', '30');
  await page.click('#audit-prune');
  await page.click('#audit-prune-yes');
  await page.waitForSelector('#audit-pruned[data-moved="0"]');
  assert.match(await page.$eval('#audit-pruned', (e) => e.textContent ?? ''), /^Перенесено записей: 0 \(старше /);
  await page.waitForFunction(() => document.querySelectorAll('#audit-records > li[data-action="audit.prune"]').length === 2);
}

/** More than a page (50): More adds the next page below, the newest first throughout, none twice. */
async function paging(page: Page, base: string, auditor: string): Promise<void> {
  for (let i = 0; i < 50; i++) assert.equal((await callApi(`${base}/api/v1/messages?text=page${i}&excerpts=false`, auditor)).status, 200);
  const total = ((await callApi(`${base}/api/v1/audit?limit=1000`, auditor)).body.records as Listed[]).length;
  assert.ok(total > 50, `more than a page: ${total}`);
  await page.click('#nav-dashboard');
  await page.click('#nav-audit');
  await waitForCount(page, 50);
  await page.click('#audit-more');
  await waitForCount(page, total);
  assert.equal(await page.$('#audit-more'), null, 'no More after the last page');
  const seqs = (await shown(page)).map((r) => r.seq);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => b - a), 'newest first across the pages');
  assert.equal(new Set(seqs).size, total, 'none twice');
}

/** A viewer: no Audit section, the page itself not found, the API's 403. */
async function viewerRefused(page: Page, base: string, viewer: string): Promise<void> {
  await page.click('#sign-out');
  await signIn(page, base, viewer);
  assert.equal(await page.$('#nav-audit'), null, 'a viewer sees no Audit section');
  await page.goto(`${base}/#/audit`, { waitUntil: 'networkidle0' });
  await page.waitForSelector('main [role="alert"]');
  assert.equal(await page.$eval('main [role="alert"]', (e) => e.textContent), 'Такой страницы нет.');
  const refused = await callApi(`${base}/api/v1/audit`, viewer);
  assert.deepEqual([refused.status, refused.body.code], [403, 'API_FORBIDDEN']);
}

test('console: the Audit page lists the audit log newest first, filters it, verifies the chain; admins move old records; viewers are refused (real Chromium)', { timeout: 150_000 }, async () => {
  assertConsoleBuilt();
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, [makeMessage(0, { tag: 'zanzibar', bodyBytes: 300 })]);
  const { ws, base } = await drainedWithApi({ connections: [imapConnection(dovecot, user, { name: 'journal' })] });
  // Three tokens made with the CLI before the start: three records (who: the OS user, from: cli).
  const auditor = await createToken(ws, 'console-auditor', 'auditor');
  const admin = await createToken(ws, 'console-admin', 'admin');
  const viewer = await createToken(ws, 'console-viewer', 'viewer');
  let service: RunningService | undefined;
  try {
    service = await startService(ws, base);
    // A search by the auditor and a run now by the admin through the API, then a token made beside the running service.
    const search = await callApi(`${base}/api/v1/messages?text=zanzibar`, auditor);
    assert.equal(search.status, 200, search.raw);
    const run = await callApi(`${base}/api/v1/connections/journal/run`, admin, { method: 'POST' });
    assert.ok(run.status < 300, run.raw);
    await createToken(ws, 'late-viewer', 'viewer');

    chromium = await launchChromium('en-US');
    const page = await chromium.browser.newPage();
    await page.setViewport({ width: 1100, height: 800 });
    const { foreign, problems } = await watchPage(page, base, /status of (400|401|403|409|429)/);
    await auditorInEnglish(page, base, auditor);
    await auditorInRussian(page);
    await adminPrune(page, base, admin);
    await paging(page, base, auditor);
    await viewerRefused(page, base, viewer);

    // Chromium draws the calendar icon of a datetime-local field from a data: URL of its own
    // (allowed by the CSP's img-src data:); it is no request to another origin.
    assert.deepEqual(foreign.filter((u) => !u.startsWith('data:image/svg+xml')), [], 'every request stays on the service');
    assert.deepEqual(problems, [], 'no script error, no CSP violation');
  } finally {
    await chromium?.close();
    chromium = undefined;
    await service?.stop();
  }
});
