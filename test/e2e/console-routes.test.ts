/**
 * The console's Routes and Deliveries sections in a real headless Chromium against a real
 * `start`, a real Dovecot and real webhook receivers on loopback (issue 15, "routes" and
 * "deliveries"): an admin creates a route through the form (bus 2, a webhook with the signing
 * secret typed in, a size filter, an attribute added) after a 400 showed each problem beside its
 * field; the route lands in the configuration file with bus 2 and its secret out of the file; the
 * mailbox's small messages reach the receiver exactly once each (the big one filtered out), with
 * the added attribute, signed per Standard Webhooks, and the deliveries page shows them
 * delivered; a second route whose receiver answers 500 (maxAttempts 1) shows its dead letters
 * with their last error, and once the receiver answers 200 Retry delivers them. Scenario steps
 * are added and moved with the keyboard. An edit is a PATCH of what changed against the version
 * read (a stored secret kept by reference; a change elsewhere meanwhile says to reload); a route
 * written by hand (webhook tls, secrets from the environment and in clear, extra headers, server
 * responses) edited through the form keeps every setting in the file; the bus number a choice
 * among the service's buses; disable,
 * and delete after an accessible confirmation. Every field labelled; the pages again in Russian with the
 * seeds' terms. Nothing leaves the origin, no CSP violation, no script error.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import { parse } from 'yaml';
import type { Page } from 'puppeteer-core';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { callApi, createToken, drainedWithApi } from '../harness/api-client.js';
import { ensureChromiumInstalled } from '../harness/chromium.js';
import { assertConsoleBuilt, assertFieldsLabelled, screenshot, signIn, watchPage, withConsole } from '../harness/console-page.js';
import { startWebhookReceiver, waitFor, type ReceivedRequest, type WebhookReceiver } from '../harness/webhook-receiver.js';

/** The page's globals, as the functions run in the browser see them (this project compiles without the DOM types). */
declare const document: { querySelector(selector: string): { textContent: string | null } | null; querySelectorAll(selector: string): { length: number } };
declare const location: { hash: string };

const dovecot = dovecotPerFile();
const SECRET = 'crm-signing-secret';

before(() => ensureChromiumInstalled(), { timeout: 900_000 });

/** Opens `#/<hash>` in the running page (a same-document navigation). */
async function open(page: Page, hash: string): Promise<void> {
  await page.evaluate((h: string) => {
    location.hash = h;
  }, hash);
}

/** Types into a field after clearing it. */
async function fill(page: Page, selector: string, text: string): Promise<void> {
  await page.waitForSelector(selector);
  await page.$eval(selector, (e) => ((e as unknown as { value: string }).value = ''));
  await page.type(selector, text);
}

/** The number of elements matching `selector`, waited for until it is `n`. */
async function waitCount(page: Page, selector: string, n: number, timeout = 30_000): Promise<void> {
  await page.waitForFunction((s: string, want: number) => document.querySelectorAll(s).length === want, { timeout }, selector, n);
}

/** Whether a request carries a valid Standard Webhooks signature for `secret`. */
function signedBy(r: ReceivedRequest, secret: string): boolean {
  const id = String(r.headers['webhook-id']);
  const ts = String(r.headers['webhook-timestamp']);
  const want = createHmac('sha256', secret).update(`${id}.${ts}.`).update(r.raw).digest('base64');
  return String(r.headers['webhook-signature'] ?? '')
    .split(' ')
    .includes(`v1,${want}`);
}

/** The new-route form: a 400 shows each problem beside its field; then the route is created with bus 2 and a signed webhook. */
async function createCrm(page: Page, good: WebhookReceiver): Promise<void> {
  await open(page, '/routes');
  await page.waitForSelector('#new-route');
  await page.click('#new-route');
  await page.waitForSelector('#f-name');
  await assertFieldsLabelled(page, 15);
  await page.type('#f-name', 'crm');
  assert.equal(await page.$eval('#f-connection', (e) => (e as unknown as { value: string }).value), 'journal', 'the connection offered from GET /connections');
  // The bus number: a choice among the service's buses (GET /api/v1/routes says 4).
  assert.deepEqual(await page.$$eval('#f-bus option', (os) => os.map((o) => o.textContent)), ['0', '1', '2', '3']);
  // The webhook step is there, its URL left empty: the problem beside its field, and in the summary.
  await page.click('#save-route');
  await page.waitForSelector('#form-problems');
  assert.equal(await page.$eval('#form-problems', (e) => e.getAttribute('role')), 'alert');
  assert.equal(await page.$eval('#f-scenario-0-url', (e) => e.getAttribute('aria-invalid')), 'true', 'the missing URL is marked beside its field');
  assert.match(await page.$eval('#f-scenario-0-url-error', (e) => e.textContent ?? ''), /URL/i);
  await screenshot(page, 'route-form-problems-en');
  // The URL given, a server response flag that is none: beside the flags' field.
  await page.type('#f-scenario-0-url', good.url);
  await page.type('#f-scenario-0-secret', SECRET);
  await page.type('#f-response-addFlags', '$Seen not-a-flag!');
  await page.click('#save-route');
  await page.waitForSelector('#f-response-addFlags[aria-invalid="true"]');
  assert.equal(await page.$('#f-scenario-0-url[aria-invalid="true"]'), null, 'the URL is no longer marked');
  assert.ok((await page.$eval('#f-response-addFlags', (e) => e.getAttribute('aria-describedby')))?.split(' ').includes('f-response-addFlags-error'), 'described by its error');
  assert.match(await page.$eval('#f-response-addFlags-error', (e) => e.textContent ?? ''), /flag/);
  // Emptied as a user does (select all, delete), so the form hears it.
  await page.focus('#f-response-addFlags');
  await page.keyboard.down('Control');
  await page.keyboard.press('KeyA');
  await page.keyboard.up('Control');
  await page.keyboard.press('Backspace');

  await page.select('#f-bus', '2');
  await page.type('#f-description', 'CRM intake');
  // Фильтр: small messages only; Атрибуты сообщения: a constant added.
  await page.type('#f-filter-maxSize', '3000');
  await page.click('#add-attribute');
  await page.type('#f-attributes-add-0-name', 'Origin');
  await page.select('#f-attributes-add-0-source', 'value');
  await page.type('#f-attributes-add-0-value', 'console');
  await page.click('#save-route');
  await page.waitForFunction(() => document.querySelector('h1')?.textContent === 'crm', { timeout: 15_000 });
}

/** A route an operator wrote by hand, with settings the form does not show (webhook tls) and secrets of every kind. */
const HAND_ROUTE = `routes:
  # kept by hand
  - name: hand
    connection: journal
    enabled: false # until the receiver is ready
    description: by hand
    bus: 3
    scenario:
      - action: webhook
        url: https://hooks.example.com/in
        secret: { env: HAND_SECRET }
        headers:
          Authorization: Bearer hand-literal-token
          X-Tenant: { env: HAND_TENANT }
        tls: { verify: false, servername: hooks.internal }
        maxAttempts: 7
    response: { addFlags: [$Processed], moveTo: Done }
    errorResponse: { addFlags: [$Failed] }
`;

/**
 * The hand-written route edited through the form (description changed, a header and a step
 * added, the error response's folder set): the file afterwards still has every setting and every
 * secret as the operator wrote it, references as references, the literal header in place.
 */
async function editHandRoute(page: Page, configPath: string): Promise<void> {
  await open(page, '/routes/hand');
  await page.waitForSelector('#f-scenario-0-headerNames-1');
  assert.deepEqual(await page.$$eval('[id^="f-scenario-0-headerNames-"]', (es) => es.map((e) => (e as unknown as { value: string }).value)), ['Authorization', 'X-Tenant']);
  assert.equal(await page.$eval('#f-scenario-0-headers-Authorization', (e) => (e as unknown as { value: string }).value), '', 'a header value is write-only');
  assert.match(await page.$eval('#f-scenario-0-headers-X-Tenant-help', (e) => e.textContent ?? ''), /environment variable HAND_TENANT/);
  assert.match(await page.$eval('#f-scenario-0-secret-help', (e) => e.textContent ?? ''), /HAND_SECRET/);
  assert.equal(await page.$eval('#f-response-addFlags', (e) => (e as unknown as { value: string }).value), '$Processed');
  assert.equal(await page.$eval('#f-response-moveTo', (e) => (e as unknown as { value: string }).value), 'Done');
  assert.equal(await page.$eval('#f-bus', (e) => (e as unknown as { value: string }).value), '3');
  assert.match(await page.$eval('li[aria-label="Step 1"] .kept-keys', (e) => e.textContent ?? ''), /kept as the configuration file writes them: tls/, 'the settings not shown are named');
  assert.ok(!(await page.content()).includes('hand-literal-token'), 'the literal header value never reaches the page');
  await screenshot(page, 'route-form-hand-en');
  await fill(page, '#f-description', 'by hand, edited in the console');
  await page.click('button[aria-label="Add a header: Step 1"]');
  await page.type('#f-scenario-0-headerNames-2', 'X-Console');
  await page.type('#f-scenario-0-headers-X-Console', 'typed-header-value');
  await page.type('#f-errorResponse-moveTo', 'Failed');
  await page.click('#add-step');
  await page.waitForSelector('#f-scenario-1-action');
  await page.select('#f-scenario-1-action', 'archive');
  await page.click('#save-route');
  await page.waitForSelector('#form-outcome.ok');
  const text = readFileSync(configPath, 'utf8');
  const hand = (parse(text) as { routes: Array<Record<string, unknown>> }).routes.find((r) => r.name === 'hand')!;
  assert.deepEqual(hand, {
    name: 'hand',
    connection: 'journal',
    enabled: false,
    description: 'by hand, edited in the console',
    bus: 3,
    scenario: [
      {
        action: 'webhook',
        url: 'https://hooks.example.com/in',
        secret: { env: 'HAND_SECRET' },
        headers: { Authorization: 'Bearer hand-literal-token', 'X-Tenant': { env: 'HAND_TENANT' }, 'X-Console': { secret: 'route.hand.scenario[0].headers.X-Console' } },
        tls: { verify: false, servername: 'hooks.internal' },
        maxAttempts: 7,
      },
      { action: 'archive' },
    ],
    response: { addFlags: ['$Processed'], moveTo: 'Done' },
    errorResponse: { addFlags: ['$Failed'], moveTo: 'Failed' },
  });
  assert.ok(!text.includes('typed-header-value'), 'a typed header value goes to the secret store');
  assert.match(text, /# kept by hand/);
  assert.match(text, /enabled: false # until the receiver is ready/);
  // Sent unsigned from now on: the secret reference leaves the file, the rest stays.
  await page.click('#f-scenario-0-unsigned');
  await page.waitForFunction(() => document.querySelector('#f-scenario-0-secret') === null);
  await page.click('#save-route');
  await page.waitForFunction(() => document.querySelector('#f-scenario-0-unsigned') === null, { timeout: 15_000 });
  const unsigned = (parse(readFileSync(configPath, 'utf8')) as { routes: Array<Record<string, unknown>> }).routes.find((r) => r.name === 'hand')!;
  const step = (unsigned.scenario as Array<Record<string, unknown>>)[0]!;
  assert.equal(step.secret, undefined);
  assert.deepEqual(step.headers, (hand.scenario as Array<Record<string, unknown>>)[0]!.headers);
  assert.deepEqual(step.tls, { verify: false, servername: 'hooks.internal' });
}

/** The second route, whose receiver fails: one attempt, then a dead letter. */
async function createBroken(page: Page, bad: WebhookReceiver): Promise<void> {
  await open(page, '/routes/new-');
  await page.waitForSelector('#f-name');
  await page.type('#f-name', 'broken');
  await page.select('#f-bus', '1');
  await page.type('#f-scenario-0-url', bad.url);
  await page.type('#f-scenario-0-maxAttempts', '1');
  // An archive step before the webhook, with the keyboard: add a step, make it archive, move it up.
  await page.focus('#add-step');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#f-scenario-1-action');
  await page.select('#f-scenario-1-action', 'archive');
  await page.focus('button[aria-label="Move up: Step 2"]');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => (document.querySelector('#f-scenario-0-action') as unknown as { value: string } | null)?.value === 'archive');
  assert.equal(await page.$eval('#f-scenario-1-url', (e) => (e as unknown as { value: string }).value), bad.url, 'the webhook moved down with its settings');
  // At the top its Move up is disabled: the focus is on its Move down, one key press from moving back.
  await page.waitForFunction(() => (document as unknown as { activeElement: { getAttribute(n: string): string | null } | null }).activeElement?.getAttribute('aria-label') === 'Move down: Step 1');
  await page.click('#save-route');
  await page.waitForFunction(() => document.querySelector('h1')?.textContent === 'broken', { timeout: 15_000 });
}

test('console: routes created through the form deliver by webhook exactly once; dead letters shown and retried; a 400 beside its field; Russian (real Chromium)', { timeout: 180_000 }, async () => {
  assertConsoleBuilt();
  const user = await dovecot.createUser();
  const { ws, base } = await drainedWithApi({ connections: [imapConnection(dovecot, user)] });
  const admin = await createToken(ws, 'console-admin', 'admin');
  const viewer = await createToken(ws, 'console-viewer', 'viewer');
  const good = await startWebhookReceiver();
  const bad = await startWebhookReceiver();
  bad.answer(() => ({ status: 500 }));
  writeFileSync(ws.configPath, `${readFileSync(ws.configPath, 'utf8')}${HAND_ROUTE}`);
  try {
    await withConsole(
      ws,
      base,
      async (page, chromium) => {
        try {
          // The 400 of the rejected form is provoked on purpose.
          const { foreign, problems } = await watchPage(page, base, /status of (400|401|409|429)/);
          await signIn(page, base, admin);

          await editHandRoute(page, ws.configPath);
          assert.equal((await callApi(`${base}/api/v1/routes/hand`, admin, { method: 'DELETE' })).status, 200);
          await createCrm(page, good);
          const config = parse(readFileSync(ws.configPath, 'utf8')) as { routes: Array<Record<string, unknown>> };
          const crm = config.routes.find((r) => r.name === 'crm')!;
          assert.equal(crm.bus, 2, 'the route is in the file with bus 2');
          assert.equal(crm.connection, 'journal');
          assert.deepEqual(crm.filter, { maxSize: 3000 });
          assert.deepEqual(crm.attributes, { add: [{ name: 'Origin', value: 'console' }] });
          const step = (crm.scenario as Array<Record<string, unknown>>)[0]!;
          assert.equal(step.url, good.url);
          assert.deepEqual(step.secret, { secret: 'route.crm.scenario[0].secret' }, 'the secret is out of the file');
          assert.ok(!readFileSync(ws.configPath, 'utf8').includes(SECRET));
          await createBroken(page, bad);
          const broken = (parse(readFileSync(ws.configPath, 'utf8')) as typeof config).routes.find((r) => r.name === 'broken')!;
          assert.deepEqual(broken.scenario, [{ action: 'archive' }, { action: 'webhook', url: bad.url, maxAttempts: 1 }]);

          // The mail arrives after both routes exist: each small message reaches the good receiver once, signed; the big one is filtered out.
          await dovecot.loadMaildir(user.username, [...[0, 1, 2].map((i) => makeMessage(i, { bodyBytes: 400 })), makeMessage(3, { bodyBytes: 8000 })]);
          await waitFor(() => good.accepted().length >= 3, 30_000, 'three deliveries to the crm receiver');
          await waitFor(() => bad.requests.length >= 4, 30_000, 'four attempts at the broken receiver');
          await new Promise((r) => setTimeout(r, 1000));
          assert.equal(good.requests.length, 3, 'exactly once each');
          assert.deepEqual(new Set(good.requests.map((r) => r.body.message.Subject)), new Set(['Report 0', 'Report 1', 'Report 2']));
          assert.ok(good.requests.every((r) => signedBy(r, SECRET)), 'a valid Standard Webhooks signature with the typed secret');
          assert.ok(good.requests.every((r) => r.body.route === 'crm' && r.body.message.Origin === 'console'), 'the attribute added');

          // The route's own page: its deliveries, delivered; an edit is a PATCH of what changed.
          await open(page, '/routes/crm');
          await waitCount(page, '#route-deliveries-table tr[data-state="done"]', 3);
          await fill(page, '#f-description', 'CRM intake, edited');
          await fill(page, '#f-scenario-0-maxAttempts', '5');
          await page.click('#save-route');
          await page.waitForSelector('#form-outcome.ok');
          const edited = (parse(readFileSync(ws.configPath, 'utf8')) as typeof config).routes.find((r) => r.name === 'crm')!;
          assert.equal(edited.description, 'CRM intake, edited');
          assert.deepEqual(edited.scenario, [{ action: 'webhook', url: good.url, secret: { secret: 'route.crm.scenario[0].secret' }, maxAttempts: 5 }], 'the scenario replaced whole as written, its stored secret kept by reference');
          // Changed elsewhere meanwhile: the edit is refused (409), and the page says to reload.
          const elsewhere = await callApi(`${base}/api/v1/routes/crm`, admin, { method: 'PATCH', body: { description: 'changed elsewhere' } });
          assert.equal(elsewhere.status, 200, elsewhere.raw);
          await fill(page, '#f-description', 'lost edit');
          await page.click('#save-route');
          await page.waitForSelector('#form-outcome.error');
          assert.match(await page.$eval('#form-outcome', (e) => e.textContent ?? ''), /reload the page/);
          await page.click('#reload');
          await page.waitForFunction(() => (document.querySelector('#f-description') as unknown as { value: string } | null)?.value === 'changed elsewhere');
          await assertFieldsLabelled(page, 15);

          // The deliveries across routes: the crm ones delivered, the broken ones dead with their last error.
          await open(page, '/deliveries');
          await waitCount(page, '#deliveries-route option', 3);
          await page.select('#deliveries-route', 'crm');
          await waitCount(page, '#deliveries-table tr[data-route="crm"][data-state="done"]', 3);
          await page.select('#deliveries-route', 'broken');
          await page.select('#deliveries-state', 'dead');
          await waitCount(page, '#deliveries-table tr[data-route="broken"][data-state="dead"]', 4);
          const errors = await page.$$eval('#deliveries-table tr[data-state="dead"] td[data-field="lastError"]', (tds) => tds.map((td) => td.textContent ?? ''));
          assert.ok(errors.every((e) => /500/.test(e)), `the last error of each dead letter: ${JSON.stringify(errors)}`);
          await assertFieldsLabelled(page, 2);
          await screenshot(page, 'deliveries-en');

          // The receiver mended, Retry: the dead letters are delivered.
          bad.answer(() => ({ status: 200 }));
          await page.click('#deliveries-retry-all');
          await page.waitForSelector('#deliveries-notice');
          await waitFor(() => bad.accepted().length >= 4, 30_000, 'the retried dead letters delivered');
          await page.select('#deliveries-state', 'done');
          await waitCount(page, '#deliveries-table tr[data-route="broken"][data-state="done"]', 4);
          assert.equal(good.requests.length, 3, 'the crm route untouched by the retry');

          // A page at a time by the API's cursor: 2, then More until the seven are shown.
          await open(page, '/routes');
          await page.waitForSelector('#routes-table');
          await open(page, '/deliveries?limit=2');
          await waitCount(page, '#deliveries-table tbody tr', 2);
          await page.click('#deliveries-more');
          await waitCount(page, '#deliveries-table tbody tr', 4);
          await page.click('#deliveries-more');
          await waitCount(page, '#deliveries-table tbody tr', 6);
          await page.click('#deliveries-more');
          await waitCount(page, '#deliveries-table tbody tr', 7);
          assert.equal(new Set(await page.$$eval('#deliveries-table tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-delivery')))).size, 7, 'no delivery twice');
          await page.waitForFunction(() => document.querySelector('#deliveries-more') === null);

          // The list of routes: both, with their bus numbers.
          await open(page, '/routes');
          await waitCount(page, '#routes-table tbody tr', 2);
          assert.equal(await page.$eval('tr[data-route="crm"] td[data-field="bus"]', (e) => e.textContent), '2');
          assert.match(await page.$eval('tr[data-route="crm"] td[data-field="scenario"]', (e) => e.textContent ?? ''), /webhook/);
          await screenshot(page, 'routes-list-en');
          await open(page, '/routes/crm');
          await page.waitForSelector('#f-bus');
          await screenshot(page, 'route-form-en');

          // Disable, then delete after the confirmation (the focus on its button; Enter confirms).
          await open(page, '/routes/broken');
          await page.waitForSelector('#toggle-route');
          await page.click('#toggle-route');
          await page.waitForFunction(() => document.querySelector('#toggle-route')?.textContent === 'Enable');
          assert.equal((parse(readFileSync(ws.configPath, 'utf8')) as typeof config).routes.find((r) => r.name === 'broken')!.enabled, false);
          await page.click('#delete-route');
          await page.waitForSelector('dialog#route-delete-dialog[open]');
          await page.waitForFunction(() => (document as unknown as { activeElement: { id: string } | null }).activeElement?.id === 'confirm-delete', { timeout: 5000 });
          await page.keyboard.press('Enter');
          await waitCount(page, '#routes-table tbody tr', 1);
          assert.deepEqual((parse(readFileSync(ws.configPath, 'utf8')) as typeof config).routes.map((r) => r.name), ['crm']);
          await open(page, '/routes/crm');
          await page.waitForSelector('#f-bus');

          // Russian, on a narrow screen: the seeds' terms.
          await page.setViewport({ width: 380, height: 800 });
          await page.select('#language', 'ru');
          await page.waitForFunction(() => document.querySelector('label[for="f-bus"]')?.textContent === 'Номер шины данных');
          await page.waitForFunction(() => document.querySelector('#f-scenario')?.textContent?.includes('Сценарий') === true);
          await screenshot(page, 'route-form-ru');
          await open(page, '/routes');
          await page.waitForFunction(() => document.querySelector('h1')?.textContent === 'Пути передачи данных');
          await open(page, '/deliveries');
          await page.waitForFunction(() => document.querySelector('h1')?.textContent === 'Доставки');
          await page.waitForSelector('#deliveries-table tr[data-state="done"]');
          await screenshot(page, 'deliveries-ru');

          // A viewer sees the routes and deliveries, and is offered no change.
          const context = await chromium.browser.createBrowserContext();
          const other = await context.newPage();
          await other.setViewport({ width: 1100, height: 800 });
          const viewerWatch = await watchPage(other, base);
          await signIn(other, base, viewer);
          await open(other, '/routes');
          await waitCount(other, '#routes-table tbody tr', 1);
          assert.equal(await other.$('#new-route'), null, 'no New route');
          await open(other, '/routes/crm');
          await other.waitForSelector('#f-bus');
          assert.equal(await other.$eval('#f-bus', (e) => (e as unknown as { disabled: boolean }).disabled), true, 'the form is read-only');
          assert.equal(await other.$('#save-route'), null);
          assert.equal(await other.$('#toggle-route'), null);
          await open(other, '/deliveries');
          await other.waitForSelector('#deliveries-table');
          assert.equal(await other.$('button.retry-one, #deliveries-retry-all'), null, 'no Retry');
          await context.close();

          assert.deepEqual([...foreign, ...viewerWatch.foreign], [], 'every request stays on the service');
          assert.deepEqual([...problems, ...viewerWatch.problems], [], 'no script error, no CSP violation');
        } catch (err) {
          const pages = await chromium.browser.pages();
          if (pages?.length) await screenshot(pages[pages.length - 1]!, 'console-routes-failure').catch(() => undefined);
          throw err;
        }
      },
      { width: 1100, height: 800, env: { HAND_SECRET: 'whsec_aGFuZA==', HAND_TENANT: 'acme' } },
    );
  } finally {
    await good.close();
    await bad.close();
  }
});
