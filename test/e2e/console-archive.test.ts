/**
 * The console's Archive section in a real headless Chromium against a real `start` after a real
 * drain from Dovecot (issue 15, the archive): an auditor searches by a word of a body with the
 * keyboard, the search kept in the hash over a reload, the excerpt's word highlighted; the
 * export link serves an mbox and a zip holding the message; the message view shows the headers,
 * the text body and the HTML body in a sandboxed frame, a journal report's envelope; the raw `.eml` downloads byte for byte,
 * an attachment with its bytes. A hostile HTML body (scripts, event handlers, a form, a refresh,
 * remote images, stylesheets and frames aimed at a tracker on loopback) opens no dialog, reaches
 * the tracker not once and leaves the page's origin not once. In Russian; at 380 px; a viewer
 * sees no Archive and the API refuses it.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Frame, Page } from 'puppeteer-core';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { imapConnection, REPO_ROOT } from '../harness/cli.js';
import { makeMessage, sha256 } from '../harness/messages.js';
import { messageWithAttachments } from '../harness/attachment-mail.js';
import { HOSTILE_VISIBLE_WORD, hostileHtmlMessage, startTracker, type Tracker } from '../harness/hostile-html.js';
import { createToken, drainedWithApi } from '../harness/api-client.js';
import { ensureChromiumInstalled } from '../harness/chromium.js';
import { assertConsoleBuilt, assertFieldsLabelled, screenshot, signIn, tabTo, watchPage, type PageWatch, withConsole } from '../harness/console-page.js';
import { MESSAGE_HTML_CSP } from '../../src/api/routes/message-html.js';

/** The page's `document` and `location`, as the functions run in the browser see them (no DOM types here). */
declare const document: {
  querySelector(selector: string): { textContent: string | null; value?: string } | null;
  querySelectorAll(selector: string): { length: number };
  documentElement: { scrollWidth: number };
};
declare const location: { hash: string };

const dovecot = dovecotPerFile();

/** How many messages the mailbox holds: more than a page of hits (20). */
const MESSAGES = 26;

/** A word of the benign message's body, found by the search. */
const WORD = 'Kestrelwind';

/** A multipart/alternative message with `WORD` in its text and HTML bodies. */
function benignMessage(): Buffer {
  const b = `alt${randomBytes(6).toString('hex')}`;
  return Buffer.from(
    [
      'From: "Olga Finance" <olga@example.test>',
      'To: "Board" <board@example.test>',
      'Cc: audit@example.test',
      'Subject: Quarterly figures',
      'Date: Mon, 01 Dec 2025 08:00:00 +0000',
      'Message-ID: <benign-1@test.mailsluice.invalid>',
      'MIME-Version: 1.0',
      `Content-Type: multipart/alternative; boundary="${b}"`,
      '',
      `--${b}`,
      'Content-Type: text/plain; charset=utf-8',
      '',
      `The ${WORD} figures grew by nine percent this quarter.`,
      `--${b}`,
      'Content-Type: text/html; charset=utf-8',
      '',
      `<html><body><p id="greeting">Hello from the <b>${WORD}</b> team.</p></body></html>`,
      `--${b}--`,
      '',
    ].join('\r\n'),
  );
}

/** A Russian plain-text message, found by a Russian word. */
function russianMessage(): Buffer {
  return Buffer.from(
    [
      'From: "Пётр Снабженец" <petr@example.test>',
      'To: sklad@example.test',
      'Subject: =?UTF-8?B?' + Buffer.from('Отчёт о поставках').toString('base64') + '?=',
      'Date: Thu, 04 Dec 2025 12:00:00 +0000',
      'Message-ID: <ru-1@test.mailsluice.invalid>',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      'Поставки древесины выросли на девять процентов.',
      '',
    ].join('\r\n'),
  );
}

before(() => ensureChromiumInstalled(), { timeout: 900_000 });

/** What a fetch from the page answered: status, headers asked for, the body as base64. */
async function fetchInPage(page: Page, url: string): Promise<{ status: number; type: string; bytes: Buffer }> {
  const r = await page.evaluate(async (u: string) => {
    const res = await fetch(u);
    const buf = new Uint8Array(await res.arrayBuffer());
    let bin = '';
    for (let i = 0; i < buf.length; i++) bin += String.fromCharCode(buf[i]!);
    return { status: res.status, type: res.headers.get('content-type') ?? '', b64: btoa(bin) };
  }, url);
  return { status: r.status, type: r.type, bytes: Buffer.from(r.b64, 'base64') };
}

/** The link `selector`'s href. */
const hrefOf = (page: Page, selector: string): Promise<string> => page.$eval(selector, (a) => a.getAttribute('href') ?? '');

/**
 * The watched page's requests to other origins that the browser really sent: puppeteer reports a
 * load a CSP refused as a request too (that fails with ERR_BLOCKED_BY_CSP before any byte is
 * sent), and `data:` URLs (the browser's own icons of a date field or a video's controls) are no
 * request at all.
 */
function leftTheBrowser(watch: PageWatch, blocked: Set<string>): string[] {
  return watch.foreign.filter((u) => !u.startsWith('data:') && !blocked.has(u));
}

/** The message view's frame once its HTML has loaded. */
async function htmlFrame(page: Page, archiveId: string): Promise<Frame> {
  await page.waitForSelector('#message-html');
  const until = Date.now() + 10_000;
  for (;;) {
    const frame = page.frames().find((f) => f.url().endsWith(`/api/v1/messages/${archiveId}/html`));
    if (frame) return frame;
    assert.ok(Date.now() < until, `the HTML frame never loaded: ${page.frames().map((f) => f.url()).join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Search by `WORD` with the keyboard; the hash keeps it over a reload; the export links serve the message. */
async function searchByWord(page: Page, benignId: string, watch: PageWatch): Promise<void> {
  await page.click('#nav-archive');
  await page.waitForSelector('#archive-q');
  assert.equal(await page.$eval('h1', (e) => e.textContent), 'Archive');
  await assertFieldsLabelled(page, 8);
  await tabTo(page, 'archive-q', 30);
  // A query the index cannot read: the API's sentence as an alert, the field marked.
  await page.keyboard.type('*');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#archive-error');
  assert.match(await page.$eval('#archive-error', (e) => e.textContent ?? ''), /\(SEARCH_QUERY_INVALID\)$/);
  assert.equal(await page.$eval('#archive-q', (e) => e.getAttribute('aria-invalid')), 'true');
  assert.deepEqual(watch.problems.splice(0), ['console: Failed to load resource: the server responded with a status of 400 (Bad Request)'], 'the refused search, and nothing else');
  await page.keyboard.press('Backspace');
  await page.keyboard.type(WORD.toLowerCase());
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => location.hash.includes('q=kestrelwind') && document.querySelector('#archive-status')?.textContent?.startsWith('Found') === true);
  const hitsOf = () => page.$$eval('li.hit', (lis) => lis.map((li) => [li.getAttribute('data-archive-id'), li.querySelector('h3')?.textContent, li.querySelector('mark')?.textContent, li.querySelector('time')?.textContent]));
  const hits = await hitsOf();
  assert.equal(hits.length, 1, JSON.stringify(hits));
  assert.deepEqual(hits[0]!.slice(0, 3), [benignId, 'Quarterly figures', WORD], 'the subject, and the word highlighted in the excerpt');
  assert.ok((hits[0]![3] ?? '').length > 0, 'the date shown');
  assert.match(await page.$eval('li.hit .excerpt', (e) => e.textContent ?? ''), /The Kestrelwind figures grew/);
  await screenshot(page, 'archive-search-en');

  // A reload keeps the search (it lives in the hash).
  await page.reload({ waitUntil: 'networkidle0' });
  await page.waitForSelector('li.hit mark');
  assert.equal(await page.$eval('#archive-q', (e) => (e as unknown as { value: string }).value), 'kestrelwind');
  assert.deepEqual((await hitsOf()).map((h) => h[0]), [benignId]);

  // The export of this result: mbox and zip, each holding the message.
  const mbox = await fetchInPage(page, await hrefOf(page, '#export-mbox'));
  assert.equal(mbox.status, 200);
  assert.match(mbox.type, /^application\/mbox/);
  const text = mbox.bytes.toString('utf8');
  assert.equal(text.match(/^From /gm)?.length, 1, 'one message');
  assert.match(text, /Message-ID: <benign-1@test\.mailsluice\.invalid>/);
  const zip = await fetchInPage(page, await hrefOf(page, '#export-zip'));
  assert.equal(zip.status, 200);
  assert.equal(zip.bytes.subarray(0, 2).toString('latin1'), 'PK');
  assert.ok(zip.bytes.toString('latin1').includes(`${benignId}.eml`), 'the zip holds the message');
}

/** The message view: headers, text, the HTML in a sandboxed frame; the raw .eml byte for byte. */
async function viewMessage(page: Page, benignId: string, benign: Buffer): Promise<void> {
  await page.click(`li.hit[data-archive-id="${benignId}"] h3 a`);
  await page.waitForSelector('#message-text');
  assert.equal(await page.$eval('#message-title', (e) => e.textContent), 'Quarterly figures');
  const header = (name: string) => page.$eval(`dd[data-header="${name}"]`, (e) => e.textContent);
  assert.equal(await header('from'), 'Olga Finance <olga@example.test>');
  assert.equal(await header('to'), 'Board <board@example.test>');
  assert.equal(await header('cc'), 'audit@example.test');
  assert.equal(await header('message-id'), '<benign-1@test.mailsluice.invalid>');
  assert.match(await page.$eval('#message-text', (e) => e.textContent ?? ''), /The Kestrelwind figures grew by nine percent/);
  assert.equal(await page.$eval('#message-html', (e) => e.getAttribute('sandbox')), '', 'the frame is sandboxed with no permission');
  const frame = await htmlFrame(page, benignId);
  await frame.waitForSelector('#greeting');
  assert.equal(await frame.$eval('#greeting', (e) => e.textContent), `Hello from the ${WORD} team.`);
  await screenshot(page, 'message-view-en');

  const raw = await fetchInPage(page, await hrefOf(page, '#message-raw'));
  assert.equal(raw.status, 200);
  assert.ok(raw.bytes.equals(benign), 'the raw download is the mailbox\'s bytes, byte for byte');

  // Back to the results it came from.
  await page.click('#back-to-results');
  await page.waitForSelector('li.hit mark');
  assert.match(await page.evaluate(() => location.hash), /^#\/archive\?q=kestrelwind$/);
}

/** The filter "with attachments" (the form, not the hash), then the attachment downloads with its bytes. */
async function attachmentDownload(page: Page, attachedId: string, bytes: Buffer): Promise<void> {
  await page.click('#archive-clear');
  await page.waitForFunction(() => location.hash === '#/archive' && (document.querySelector('#archive-q')?.value ?? 'x') === '');
  // No filter: every message, a page at a time; "More" brings the rest.
  await page.waitForFunction((n: number) => document.querySelector('#archive-status')?.textContent === `Found: ${n}`, {}, MESSAGES);
  assert.equal(await page.$$eval('li.hit', (l) => l.length), 20);
  await page.click('#archive-more');
  await page.waitForFunction((n: number) => document.querySelectorAll('li.hit').length === n, {}, MESSAGES);
  assert.equal(await page.$('#archive-more'), null, 'no page after the last');
  const ids = await page.$$eval('li.hit', (l) => l.map((li) => li.getAttribute('data-archive-id')));
  assert.equal(new Set(ids).size, MESSAGES, 'each message once');
  await page.select('#archive-hasAttachment', 'true');
  await page.click('#archive-submit');
  await page.waitForFunction(() => location.hash === '#/archive?hasAttachment=true' && document.querySelector('#archive-status')?.textContent === 'Found: 1');
  await page.click(`li.hit[data-archive-id="${attachedId}"] h3 a`);
  await page.waitForSelector('ul.attachments a.attachment');
  assert.equal(await page.$eval('ul.attachments a.attachment', (e) => e.textContent), 'ledger.bin');
  const link = await hrefOf(page, 'ul.attachments a.attachment');
  assert.match(link, /^\/api\/v1\/messages\/[0-9a-f]{64}\/attachments\/[0-9a-f]{64}\?expires=/, 'a link of this origin');
  const got = await fetchInPage(page, link);
  assert.equal(got.status, 200);
  assert.ok(got.bytes.equals(bytes), 'the attachment\'s bytes');
}

/** While the search index is being rebuilt (as an older build left it: no version), the results say so, and how far. */
async function reindexNote(page: Page, dataDir: string): Promise<void> {
  const search = new Database(join(dataDir, 'search.db'));
  const version = search.prepare("SELECT value FROM search_meta WHERE key = 'version'").pluck().get() as number;
  search.prepare("DELETE FROM search_meta WHERE key = 'version'").run();
  try {
    await page.goto(`${new URL(page.url()).origin}/#/archive?q=ledger`, { waitUntil: 'networkidle0' });
    await page.waitForSelector('#archive-reindex');
    assert.equal(await page.$eval('#archive-reindex', (e) => e.textContent), `The search index is being rebuilt (0 of ${MESSAGES} messages): the messages not yet rebuilt are found as the older index finds them.`);
    await page.waitForFunction(() => document.querySelector('#archive-status')?.textContent === 'Found: 1');
  } finally {
    search.prepare("INSERT INTO search_meta (key, value) VALUES ('version', ?)").run(version);
    search.close();
  }
  // The index current again: the same search says nothing of it.
  // The previous search also said "Found: 1", so that alone may still be the old answer on the
  // page (a hash change, not a load): wait for the new query's answer without the note.
  await page.goto(`${new URL(page.url()).origin}/#/archive?q=ledger+attached`, { waitUntil: 'networkidle0' });
  await page
    .waitForFunction(() => document.querySelector('#archive-status')?.textContent === 'Found: 1' && document.querySelector('#archive-reindex') === null, { timeout: 10_000 })
    .catch(() => assert.fail('a current index: the note about the rebuild is still shown 10 s after the version came back'));
}

/** An Exchange journal report: the original's headers, and the envelope the report gave. */
async function journalEnvelope(page: Page, journalId: string): Promise<void> {
  await page.goto(`${new URL(page.url()).origin}/#/archive/${journalId}`, { waitUntil: 'networkidle0' });
  await page.waitForSelector('dd[data-header="journal-sender"]');
  const header = (name: string) => page.$eval(`dd[data-header="${name}"]`, (e) => e.textContent ?? '');
  assert.equal(await header('journal-sender'), 'alice@contoso.example');
  assert.match(await header('journal-recipients'), /dave@contoso\.example/);
  assert.equal(await header('from'), 'Alice Archer <alice@contoso.example>');
  assert.equal(await header('subject'), 'Quarterly numbers');
}

/** The hostile message: shown, but nothing runs, nothing is submitted, nothing reaches the tracker. */
async function hostileMessage(page: Page, hostileId: string, tracker: Tracker, dialogs: string[], watch: PageWatch, blocked: Set<string>): Promise<void> {
  assert.deepEqual(watch.problems, [], 'the console page itself breaks no rule');
  let csp: string | undefined;
  page.on('response', (r) => {
    if (r.url().endsWith(`/${hostileId}/html`)) csp = r.headers()['content-security-policy'];
  });
  await page.goto(`${new URL(page.url()).origin}/#/archive?q=${HOSTILE_VISIBLE_WORD.toLowerCase()}`, { waitUntil: 'networkidle0' });
  await page.waitForSelector(`li.hit[data-archive-id="${hostileId}"] mark`);
  await page.click(`li.hit[data-archive-id="${hostileId}"] h3 a`);
  const frame = await htmlFrame(page, hostileId);
  await frame.waitForSelector('#harmless');
  assert.equal(await frame.$eval('#harmless', (e) => e.textContent), `${HOSTILE_VISIBLE_WORD} says hello.`, 'the harmless text renders');
  assert.equal(await page.$eval('#message-html', (e) => e.getAttribute('sandbox')), '');
  assert.equal(await page.$eval('#message-html', (e) => e.getAttribute('referrerpolicy')), 'no-referrer');
  assert.equal(csp, MESSAGE_HTML_CSP, 'the HTML body carries its own sandboxing policy');
  // What a reader might click: the form's button, the javascript: link.
  await frame.click('#go').catch(() => undefined);
  await frame.click('#js-link').catch(() => undefined);
  await new Promise((r) => setTimeout(r, 2000));
  await screenshot(page, 'message-hostile-en');
  assert.deepEqual(dialogs, [], 'no script ran: no dialog opened');
  assert.deepEqual(tracker.requests, [], 'nothing reached the tracker');
  assert.deepEqual(leftTheBrowser(watch, blocked), [], 'no request left the origin');
  assert.ok(blocked.has(`http://127.0.0.1:${tracker.port}/pixel.png`), `the tracking pixel was refused by the frame's policy: ${[...blocked].join(', ')}`);
  assert.match(page.url(), new RegExp(`#/archive/${hostileId}$`), 'the page was not navigated');
  // What the browser reported is each of the frame's attempts refused (under the frame's own
  // policy, whose directives the console's does not have), and nothing about the console itself.
  const t = `127.0.0.1:${tracker.port}`;
  const refused = [
    /^console: Refused to execute the redirect specified via '<meta http-equiv='refresh'.*The document is sandboxed/,
    /^console: Blocked script execution in '[^']*\/html' because the document's frame is sandboxed/,
    new RegExp(`^console: Blocked form submission to 'http://${t.replace(/\./g, '\\.')}/post' because the form's frame is sandboxed`),
    /^console: .* violates the following Content Security Policy directive:? "?'?(img-src data:|style-src 'unsafe-inline'|default-src 'none')/,
  ];
  const own = watch.problems.filter((p) => !refused.some((r) => r.test(p)));
  assert.deepEqual(own, [], 'no problem outside the hostile frame');
  for (const r of refused) assert.ok(watch.problems.some((p) => r.test(p)), `the browser refused it: ${String(r)}`);
  watch.problems.length = 0;
}

/** The search in Russian (by the switch), and readable at 380 px. */
async function russian(page: Page, ruId: string): Promise<void> {
  await page.select('#language', 'ru');
  await page.goto(`${new URL(page.url()).origin}/#/archive?q=${encodeURIComponent('древесины')}`, { waitUntil: 'networkidle0' });
  await page.waitForSelector(`li.hit[data-archive-id="${ruId}"] mark`);
  assert.equal(await page.$eval('h1', (e) => e.textContent), 'Архив');
  assert.equal(await page.$eval('label[for="archive-q"]', (e) => e.textContent), 'Слова в письме');
  assert.equal(await page.$eval('#archive-submit', (e) => e.textContent), 'Найти');
  assert.equal(await page.$eval('#archive-status', (e) => e.textContent), 'Найдено: 1');
  assert.equal(await page.$eval(`li.hit[data-archive-id="${ruId}"] mark`, (e) => e.textContent), 'древесины');
  assert.equal(await page.$eval(`li.hit[data-archive-id="${ruId}"] h3`, (e) => e.textContent), 'Отчёт о поставках');
  await assertFieldsLabelled(page, 8);
  await screenshot(page, 'archive-search-ru');
  await page.setViewport({ width: 380, height: 800 });
  await new Promise((r) => setTimeout(r, 200));
  assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= 380, 'no sideways scrolling at 380 px');
  await screenshot(page, 'archive-search-narrow-ru');
  await page.click(`li.hit[data-archive-id="${ruId}"] h3 a`);
  await page.waitForSelector('#message-text');
  assert.equal(await page.$eval('#message-headers-title', (e) => e.textContent), 'Заголовки');
  assert.equal(await page.$eval('#back-to-results', (e) => e.textContent), '← Назад к результатам');
  assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= 380, 'the message view too');
  await page.setViewport({ width: 1100, height: 800 });
}

/** A viewer: no Archive in the navigation, the page refused, the API says 403. */
async function viewerRefused(page: Page, base: string, viewer: string): Promise<void> {
  await page.click('#sign-out');
  await page.waitForSelector('#token');
  await signIn(page, base, viewer);
  assert.equal(await page.$('#nav-archive'), null, 'a viewer is offered no Archive');
  await page.goto(`${base}/#/archive`, { waitUntil: 'networkidle0' });
  await page.waitForSelector('main [role="alert"]');
  assert.equal(await page.$('#archive-q'), null);
  const status = await page.evaluate(async () => (await fetch('/api/v1/messages')).status);
  assert.equal(status, 403);
}

test('console: the archive searched, a message viewed, a hostile HTML body kept in its sandbox, downloads exact (real Chromium)', { timeout: 120_000 }, async () => {
  assertConsoleBuilt();
  const tracker = await startTracker();
  const user = await dovecot.createUser();
  const benign = benignMessage();
  const ledger = randomBytes(3000);
  const attached = messageWithAttachments('Ledger attached', [{ name: 'ledger.bin', type: 'application/octet-stream', bytes: ledger }]);
  const hostile = hostileHtmlMessage(tracker.port);
  const ru = russianMessage();
  const journal = readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'journal', 'simple-to-cc-bcc.eml'));
  const filler = Array.from({ length: MESSAGES - 5 }, (_, i) => makeMessage(i, { bodyBytes: 300 }));
  await dovecot.loadMaildir(user.username, [benign, attached, hostile, ru, journal, ...filler]);
  const { ws, base } = await drainedWithApi({ connections: [imapConnection(dovecot, user)] });
  const auditor = await createToken(ws, 'console-auditor', 'auditor');
  const viewer = await createToken(ws, 'console-viewer', 'viewer');
  try {
    await withConsole(
      ws,
      base,
      async (page) => {
        const dialogs: string[] = [];
        page.on('dialog', (d) => {
          dialogs.push(d.message());
          void d.dismiss();
        });
        // The viewer's refused fetch at the end is a 403 on purpose.
        const watch = await watchPage(page, base, /status of (401|403|429)/);
        // Loads the browser refused before sending them (the HTML body's CSP): asked for, never sent.
        const blocked = new Set<string>();
        const cdp = await page.createCDPSession();
        await cdp.send('Network.enable');
        const urls = new Map<string, string>();
        cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, e.request.url));
        cdp.on('Network.loadingFailed', (e) => {
          if (e.blockedReason === 'csp' || e.errorText === 'net::ERR_BLOCKED_BY_CSP') blocked.add(urls.get(e.requestId) ?? '');
        });
        await signIn(page, base, auditor);
        await searchByWord(page, sha256(benign), watch);
        await viewMessage(page, sha256(benign), benign);
        await attachmentDownload(page, sha256(attached), ledger);
        await reindexNote(page, ws.dataDir);
        await journalEnvelope(page, sha256(journal));
        await hostileMessage(page, sha256(hostile), tracker, dialogs, watch, blocked);
        await russian(page, sha256(ru));
        await viewerRefused(page, base, viewer);

        assert.deepEqual(dialogs, []);
        assert.deepEqual(tracker.requests, [], 'the tracker never heard from the browser');
        assert.deepEqual(leftTheBrowser(watch, blocked), [], 'every request stays on the service');
        assert.deepEqual(watch.problems, [], 'no script error, no CSP violation');
      },
      { width: 1100, height: 800 },
    );
  } finally {
    await tracker.close();
  }
});
