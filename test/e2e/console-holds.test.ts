/**
 * The console's Legal holds page in a real headless Chromium against a real `start` and a real
 * Dovecot (issue 16, item 4): an admin places a hold by query in the browser (a query that cannot
 * be read first: its problem shown beside the query field), sees it listed with how many messages
 * it keeps now, and that count grows when matching mail is archived after it was placed (a
 * custodian hold); the message view names the hold; the release asks a reason in the confirm
 * dialog (none: refused, shown there) and moves the hold to the released ones. The fields are
 * labelled; in Russian the page is Russian; a viewer is offered no Legal holds section.
 * Screenshots: holds-en, holds-ru.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, runCli } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { callApi, createToken, drainedWithApi, startService, type Body, type RunningService } from '../harness/api-client.js';
import { ensureChromiumInstalled, launchChromium, type TestBrowser } from '../harness/chromium.js';
import { assertConsoleBuilt, assertFieldsLabelled, screenshot, signIn, watchPage } from '../harness/console-page.js';
import type { Page } from 'puppeteer-core';

/** The page's `document`, as the functions run in the browser see it (no DOM types here). */
declare const document: { querySelector(selector: string): { textContent: string | null } | null };

const dovecot = dovecotPerFile();

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

/** Sets a text field's value as typed (what was in it first cleared). */
async function typeInto(page: Page, selector: string, value: string): Promise<void> {
  await page.click(selector, { clickCount: 3 });
  await page.keyboard.press('Backspace');
  if (value) await page.type(selector, value);
}

test('console: an admin places a hold by query, sees its count grow with mail archived later, and releases it with a reason (real Chromium)', { timeout: 180_000 }, async () => {
  assertConsoleBuilt();
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, [makeMessage(0, { tag: 'zanzibar', bodyBytes: 300 }), makeMessage(1, { bodyBytes: 300 })]);
  const { ws, base } = await drainedWithApi({ connections: [imapConnection(dovecot, user, { pollIntervalMs: 200 })] });
  const admin = await createToken(ws, 'console-admin', 'admin');
  const viewer = await createToken(ws, 'console-viewer', 'viewer');
  let service: RunningService | undefined;
  try {
    service = await startService(ws, base);
    chromium = await launchChromium('en-US');
    const page = await chromium.browser.newPage();
    await page.setViewport({ width: 1100, height: 900 });
    const { foreign, problems } = await watchPage(page, base, /status of (400|401|403|409|429)/);

    await signIn(page, base, admin);
    await page.click('#nav-holds');
    await page.waitForSelector('#no-active-holds');
    assert.equal(await text(page, 'h1'), 'Legal holds');
    const fields = await assertFieldsLabelled(page, 4);
    assert.ok(fields.some((f) => /^Search query/.test(f.name)), JSON.stringify(fields));

    // A query the search cannot read: refused, its problem beside the query field.
    await page.type('#hold-name', 'matter-9');
    await page.type('#hold-reason', 'Inquiry 9');
    await page.type('#hold-query', '"zanzibar');
    await page.click('#hold-place');
    await page.waitForSelector('#hold-query-error');
    assert.match(await text(page, '#hold-query-error'), /a quote opens a phrase that is never closed/);
    assert.equal(await page.$eval('#hold-query', (e) => e.getAttribute('aria-invalid')), 'true');
    assert.match(await text(page, '#hold-form-error'), /HOLD_INVALID/);

    await typeInto(page, '#hold-query', 'zanzibar');
    await page.click('#hold-place');
    await page.waitForSelector('#active-holds tr[data-hold="matter-9"]');
    assert.equal(await text(page, '#active-holds tr[data-hold="matter-9"] [data-field="held-now"]'), '1');
    assert.equal(await text(page, '#active-holds tr[data-hold="matter-9"] [data-field="query"]'), 'zanzibar');
    assert.match(await text(page, '#hold-notice'), /Hold matter-9 placed; messages it keeps now: 1\./);

    // Archived after the hold was placed: the page's next reading counts it.
    await dovecot.deliver(user.username, makeMessage(5, { tag: 'zanzibar', bodyBytes: 300 }));
    await waitForText(page, '#active-holds tr[data-hold="matter-9"] [data-field="held-now"]', '2');
    await screenshot(page, 'holds-en');

    // The message view names the hold that keeps it.
    const hits = (await callApi(`${base}/api/v1/messages?text=zanzibar&excerpts=false`, admin)).body.hits as Array<{ archiveId: string }>;
    assert.equal(hits.length, 2);
    await page.goto(`${base}/#/archive/${hits[0]!.archiveId}`, { waitUntil: 'networkidle0' });
    await page.waitForSelector('#message-holds a.hold');
    assert.equal(await text(page, '#message-holds a.hold'), 'matter-9');

    // Release: the dialog asks why; without a reason the service refuses and the dialog says so.
    await page.click('#message-holds a.hold');
    await page.waitForSelector('#active-holds tr[data-hold="matter-9"].selected');
    await page.click('#active-holds tr[data-hold="matter-9"] .release-hold');
    await page.waitForSelector('dialog#release-dialog[open]');
    await page.click('#release-dialog-confirm');
    await page.waitForSelector('#release-error');
    assert.match(await text(page, '#release-error'), /HOLD_INVALID/);
    await page.type('#release-reason', 'Inquiry closed');
    await page.click('#release-dialog-confirm');
    await page.waitForSelector('#released-holds tr[data-hold="matter-9"]');
    await page.waitForSelector('#no-active-holds');
    assert.equal(await page.$('dialog#release-dialog[open]'), null);
    assert.match(await text(page, '#released-holds tr[data-hold="matter-9"] [data-field="released"]'), /console-admin: Inquiry closed$/);

    // In Russian.
    await page.select('#language', 'ru');
    await waitForText(page, 'h1', 'Юридические удержания');
    assert.equal(await text(page, '#nav-holds'), 'Юридические удержания');
    await screenshot(page, 'holds-ru');

    // A viewer has no such section, and the API refuses it.
    await page.click('#sign-out');
    await signIn(page, base, viewer);
    assert.equal(await page.$('#nav-holds'), null, 'a viewer sees no Legal holds section');
    const refused = await callApi(`${base}/api/v1/holds`, viewer);
    assert.deepEqual([refused.status, refused.body.code], [403, 'API_FORBIDDEN']);

    const audit = (await runCli(['audit', 'list', '--who', 'console-admin', '--json'], ws)).stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Body);
    assert.deepEqual(
      audit.filter((r) => String(r.action).startsWith('hold.')).map((r) => [r.action, (r.detail as Body).query ?? (r.detail as Body).reason]),
      [['hold.place', '"zanzibar'], ['hold.place', 'zanzibar'], ['hold.release', ''], ['hold.release', 'Inquiry closed']],
    );
    assert.deepEqual(foreign, [], 'every request stays on the service');
    assert.deepEqual(problems, [], 'no script error, no CSP violation');
  } finally {
    await chromium?.close();
    chromium = undefined;
    await service?.stop();
    ws.cleanup();
  }
});
