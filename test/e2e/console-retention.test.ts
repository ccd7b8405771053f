/**
 * The console's Retention page in a real headless Chromium against a real `start` and a real
 * Dovecot (issue 16, items 3 and 4): two connections drained, alpha's rule keeping 30 days and a
 * default of a year; every message aged 60 days in archive.db (as retention-purge.test.ts does:
 * the one column a purge judges by), one alpha message under a legal hold; beta holds 1,001. An admin sees the rule,
 * the default and the next purge; Preview lists exactly the expired, unheld alpha ids and the hold
 * that keeps one; a preview as of 2100 counts every unheld message (the default expires too) and
 * says it lists only the first 1,000;
 * Purge now asks first (Cancel focused, Cancel purges nothing), then purges and shows the report,
 * and the messages are really gone from the archive and the API. A viewer in a Russian browser
 * sees the page in Russian, with the last purge, and no Preview or Purge now; a date the service
 * refuses shows its code; a revoked token ends the session. Nothing leaves the
 * origin, no CSP violation. Screenshots: retention-en, retention-ru.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, runCli } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { callApi, createToken, drainedWithApi, startService, type RunningService } from '../harness/api-client.js';
import { ensureChromiumInstalled, launchChromium, type TestBrowser } from '../harness/chromium.js';
import { assertConsoleBuilt, assertFieldsLabelled, screenshot, signIn, watchPage } from '../harness/console-page.js';
import type { Page } from 'puppeteer-core';

/** The page's `document`, as the functions run in the browser see it (no DOM types here). */
declare const document: { activeElement: { id: string } | null; querySelector(selector: string): { textContent: string | null } | null };

const dovecot = dovecotPerFile();
const DAY = 86_400_000;
/** Beta's messages: one more than a report lists. */
const BETA = 1001;

let chromium: TestBrowser | undefined;
before(() => ensureChromiumInstalled(), { timeout: 900_000 });
after(async () => {
  await chromium?.close();
});

const text = (page: Page, selector: string): Promise<string> => page.$eval(selector, (e) => e.textContent ?? '');

/** Waits until `selector`'s text is `want`. */
async function waitForText(page: Page, selector: string, want: string, timeout = 30_000): Promise<void> {
  await page.waitForFunction((s: string, w: string) => document.querySelector(s)?.textContent === w, { timeout }, selector, want);
}

/** The ids of the messages archive.db holds, by connection. */
function idsIn(dataDir: string, connection?: string): number[] {
  const db = new Database(join(dataDir, 'archive.db'), { readonly: true });
  try {
    const sql = `SELECT id FROM messages ${connection ? 'WHERE connection = ?' : ''} ORDER BY id`;
    return db.prepare(sql).pluck().all(...(connection ? [connection] : [])) as number[];
  } finally {
    db.close();
  }
}

/** The ids a report's table lists, in order. */
const listedIds = (page: Page): Promise<number[]> => page.$$eval('#purge-items tbody tr', (rows) => rows.map((r) => Number(r.getAttribute('data-id'))));

test('console: the Retention page shows the rules and the last purge; an admin previews and purges after confirming; a viewer in Russian sees no buttons (real Chromium)', { timeout: 240_000 }, async () => {
  assertConsoleBuilt();
  const a = await dovecot.createUser();
  const b = await dovecot.createUser();
  await dovecot.loadMaildir(a.username, [0, 1, 2, 3].map((i) => makeMessage(i, { tag: 'zanzibar', bodyBytes: 500 })));
  // Beta has more than the API lists (1,000): a preview as of 2100 says it shows only the first.
  await dovecot.loadMaildir(b.username, Array.from({ length: BETA }, (_, i) => makeMessage(10 + i, { bodyBytes: 40 })));
  const retention = { default: '1y', rules: [{ name: 'alpha_short', keep: '30d', match: { connection: 'alpha' } }] };
  const { ws, base } = await drainedWithApi({ connections: [imapConnection(dovecot, a, { name: 'alpha' }), imapConnection(dovecot, b, { name: 'beta' })], archive: { retention } });
  const admin = await createToken(ws, 'console-admin', 'admin');
  const viewer = await createToken(ws, 'console-viewer', 'viewer');
  // The test's clock: archived 60 days ago (alpha's 30 days are past, the default's year is not).
  const db = new Database(join(ws.dataDir, 'archive.db'));
  db.prepare('UPDATE messages SET taken_at = taken_at - ?').run(60 * DAY);
  db.close();
  const alpha = idsIn(ws.dataDir, 'alpha');
  const beta = idsIn(ws.dataDir, 'beta');
  assert.deepEqual([alpha.length, beta.length], [4, BETA]);
  const [held, ...expiring] = alpha as [number, ...number[]];
  let service: RunningService | undefined;
  try {
    service = await startService(ws, base);
    const placed = await callApi(`${base}/api/v1/holds`, admin, { method: 'POST', body: { name: 'matter-1', reason: 'Inquiry 1', query: null, ids: [held] } });
    assert.equal(placed.status, 201, placed.raw);
    chromium = await launchChromium('en-US');
    const page = await chromium.browser.newPage();
    await page.setViewport({ width: 1100, height: 900 });
    const { foreign, problems } = await watchPage(page, base, /status of (400|401|429)/);

    await signIn(page, base, admin);
    await page.click('#nav-retention');
    await page.waitForSelector('#retention-rules tr[data-rule="alpha_short"]');
    assert.equal(await text(page, 'h1'), 'Retention');
    assert.deepEqual(
      await page.$$eval('#retention-rules tr[data-rule="alpha_short"] td', (tds) => tds.map((td) => td.textContent)),
      ['30d', 'connection: alpha', 'archiving'],
    );
    assert.equal(await text(page, '#retention-schedule [data-field="default"]'), '1y');
    assert.equal(await text(page, '#retention-schedule [data-field="every"]'), '24 h');
    assert.notEqual(await text(page, '#retention-schedule [data-field="next"]'), '', 'the next purge is named');
    await page.waitForSelector('#no-last-purge');
    await assertFieldsLabelled(page, 1);

    // Preview: the expired alpha messages but the held one, the hold named with what it keeps.
    await page.click('#purge-preview');
    await page.waitForSelector('#purge-result[data-dry-run="true"] #purge-items');
    assert.deepEqual(await listedIds(page), expiring);
    assert.equal(await text(page, '#purge-result-figures [data-field="purged"]'), '3');
    assert.equal(await text(page, '#purge-result-figures [data-field="kept-by-holds"]'), '1 (matter-1: 1)');
    assert.equal(await page.$('#purge-truncated'), null, 'all listed: no truncation said');
    assert.deepEqual(
      await page.$$eval('#purge-items tbody tr td:last-child', (tds) => tds.map((td) => td.textContent)),
      ['alpha_short', 'alpha_short', 'alpha_short'],
    );

    // As of a date picked: in 2100 the default's year is past too.
    await page.click('#purge-as-of');
    await page.keyboard.type('01012100');
    assert.equal(await page.$eval('#purge-as-of', (e) => (e as unknown as { value: string }).value), '2100-01-01');
    await page.click('#purge-preview');
    await waitForText(page, '#purge-result-figures [data-field="purged"]', '1,004');
    assert.deepEqual(await listedIds(page), [...expiring, ...beta].sort((x, y) => x - y).slice(0, 1000));
    assert.equal(await text(page, '#purge-truncated'), 'Showing the first 1,000 of 1,004.');
    assert.match(await text(page, '#purge-result-figures [data-field="as-of"]'), /2100/);
    assert.equal(idsIn(ws.dataDir).length, 4 + BETA, 'a preview changes nothing');

    // A date the service refuses (a year of five digits, which the field takes): its sentence and code.
    await page.click('#purge-as-of');
    await page.keyboard.type('010120000');
    assert.equal(await page.$eval('#purge-as-of', (e) => (e as unknown as { value: string }).value), '20000-01-01');
    await page.click('#purge-preview');
    await page.waitForSelector('#purge-error');
    assert.match(await text(page, '#purge-error'), /\(API_BAD_REQUEST\)$/);
    assert.equal(await page.$('#purge-result'), null, 'no report from before beside the error');

    // Purge now asks first, Cancel focused; Cancel purges nothing.
    await page.click('#purge-now');
    await page.waitForSelector('dialog#purge-dialog[open]');
    assert.equal(await page.evaluate(() => document.activeElement?.id ?? ''), 'purge-dialog-cancel');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelector('dialog#purge-dialog[open]') === null);
    assert.equal(idsIn(ws.dataDir).length, 4 + BETA, 'cancelled: nothing purged');

    await page.click('#purge-now');
    await page.waitForSelector('dialog#purge-dialog[open]');
    await page.click('#purge-dialog-confirm');
    await page.waitForSelector('#purge-result[data-dry-run="false"]');
    assert.equal(await text(page, '#purge-result-figures [data-field="purged"]'), '3');
    assert.equal(await text(page, '#purge-result-figures [data-field="kept-by-holds"]'), '1 (matter-1: 1)');
    assert.deepEqual(await listedIds(page), expiring);
    await waitForText(page, '#last-purge [data-field="purged"]', '3');
    await screenshot(page, 'retention-en');

    // Really gone: from archive.db and from the API's search; the held and the beta ones kept.
    assert.deepEqual(idsIn(ws.dataDir), [held, ...beta].sort((x, y) => x - y));
    const hits = await callApi(`${base}/api/v1/messages?text=zanzibar&excerpts=false`, admin);
    assert.equal(hits.status, 200, hits.raw);
    assert.equal((hits.body.hits as unknown[]).length, 1, 'only the held alpha message is still found');
    const view = await callApi(`${base}/api/v1/archive/retention`, viewer);
    assert.equal((view.body.lastPurge as { purged: number }).purged, 3);
    // Chromium draws the date field's calendar icon from a data: URL of its own (allowed by the
    // CSP's img-src data:, as console-audit.test.ts notes); it is no request to another origin.
    assert.deepEqual(foreign.filter((u) => !u.startsWith('data:image/svg+xml')), [], 'every request stays on the service');
    assert.deepEqual(problems, [], 'no script error, no CSP violation');
    await chromium.close();

    // A viewer in a Russian browser: the page in Russian, the last purge, no admin buttons.
    chromium = await launchChromium('ru-RU');
    const ru = await chromium.browser.newPage();
    // Headless Chromium leaves navigator.languages English whatever --lang says: the browser's
    // language is set as a user's browser sends it, through the DevTools protocol.
    const cdp = await ru.createCDPSession();
    await cdp.send('Network.setUserAgentOverride', { userAgent: await chromium.browser.userAgent(), acceptLanguage: 'ru-RU,ru' });
    await ru.setViewport({ width: 1100, height: 900 });
    const ruWatch = await watchPage(ru, base);
    await signIn(ru, base, viewer);
    assert.equal(await text(ru, '#nav-retention'), 'Хранение');
    await ru.click('#nav-retention');
    await ru.waitForSelector('#last-purge');
    assert.equal(await text(ru, 'h1'), 'Хранение');
    assert.equal(await text(ru, '#retention-rules tr[data-rule="alpha_short"] [data-field="since"]'), 'архивирования');
    assert.equal(await text(ru, '#last-purge [data-field="purged"]'), '3');
    assert.match(await text(ru, '#last-purge-title'), /Последняя очистка/);
    assert.equal(await ru.$('#purge-preview'), null, 'a viewer has no Preview');
    assert.equal(await ru.$('#purge-now'), null, 'a viewer has no Purge now');
    await screenshot(ru, 'retention-ru');
    const refused = await callApi(`${base}/api/v1/archive/purge`, viewer, { method: 'POST', body: { dryRun: true } });
    assert.equal(refused.status, 403);
    // The viewer's token revoked beside the service: the page's next reading ends the session.
    const revoked = await runCli(['token', 'revoke', 'console-viewer'], ws);
    assert.equal(revoked.code, 0, revoked.stderr);
    await ru.waitForSelector('#token', { timeout: 20_000 });
    assert.equal(await text(ru, '.notice'), 'Сеанс завершён: войдите снова.');
    assert.deepEqual(ruWatch.foreign.filter((u) => !u.startsWith('data:image/svg+xml')), [], 'every request stays on the service');
    assert.deepEqual(ruWatch.problems, [], 'no script error, no CSP violation');
  } finally {
    await chromium?.close();
    chromium = undefined;
    await service?.stop();
    ws.cleanup();
  }
});
