/**
 * What `drain` tells its operator (issue 12, items 18 and 19): the progress goes on through every
 * stage until the drain ends; a drain whose deliveries were dead-lettered, or that had nothing
 * enabled to drain, exits non-zero with one line saying so; with deletePolicy leave it says the
 * messages were left on the server, not that the mailbox is empty.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDovecot, type DovecotInstance } from '../harness/dovecot.js';
import { makeWorkspace, runCli, imapConnection } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { startWebhookReceiver } from '../harness/webhook-receiver.js';
import { loadConfig } from '../../src/config/loader.js';
import { createEmbeddedApp } from '../../src/app/embedded.js';
import { drainAll, type DrainProgress } from '../../src/app/drain.js';

let dovecot: DovecotInstance;
before(async () => {
  dovecot = await startDovecot();
});
after(async () => {
  await dovecot?.stop();
});

const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');

test('the progress of a drain shows parsing and deliveries as they go, until the drain ends', async () => {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, Array.from({ length: 10 }, (_, i) => makeMessage(i)));
  const hook = await startWebhookReceiver();
  // One answer every 150 ms: the deliveries outlast taking and parsing by over a second.
  let chain: Promise<unknown> = Promise.resolve();
  hook.answer(() => (chain = chain.then(() => sleep(150))).then(() => ({ status: 200 })));
  const ws = makeWorkspace({
    connections: [imapConnection(dovecot, user)],
    routes: [{ name: 'hook', connection: 'journal', scenario: [{ action: 'webhook', url: hook.url }] }],
  });
  const reports: DrainProgress[] = [];
  const app = await createEmbeddedApp(loadConfig(ws.configPath), { holder: 'drain' });
  try {
    const summary = await drainAll(app, { onProgress: (p) => reports.push(structuredClone(p)) });
    assert.equal(summary.routes.hook?.delivered, 10);
    const last = reports.at(-1)!;
    assert.equal(last.index.parsed, 10, 'the last report counts every message parsed');
    assert.equal(last.deliveries.hook?.delivered, 10, 'the last report counts every delivery');
    // While it ran: reports past taking, with messages parsed and some (not all) delivered.
    const during = reports.slice(0, -1);
    assert.ok(during.some((p) => p.stage !== 'taking' && p.index.parsed > 0), `parsing shown while the drain ran: ${JSON.stringify(during.map((p) => [p.stage, p.index.parsed]))}`);
    const partly = during.filter((p) => (p.deliveries.hook?.delivered ?? 0) > 0 && (p.deliveries.hook?.delivered ?? 0) < 10);
    assert.ok(partly.length > 0, `deliveries shown as they went: ${JSON.stringify(during.map((p) => [p.stage, p.deliveries.hook?.delivered ?? null]))}`);
  } finally {
    await app.close();
    ws.cleanup();
    await hook.close();
  }
});

test('a drain whose deliveries were all dead-lettered prints its summary and exits 1 with one DELIVERIES_DEAD line', async () => {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, [0, 1, 2].map((i) => makeMessage(i)));
  const hook = await startWebhookReceiver();
  hook.answer(() => ({ status: 400 }));
  const ws = makeWorkspace({
    connections: [imapConnection(dovecot, user)],
    routes: [{ name: 'hook', connection: 'journal', scenario: [{ action: 'archive' }, { action: 'webhook', url: hook.url }] }],
  });
  try {
    const r = await runCli(['drain'], ws);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /route hook: 0 delivered, 3 dead-lettered/);
    const errs = lines(r.stderr).filter((l) => l.startsWith('mailsluice: '));
    assert.equal(errs.length, 1, r.stderr);
    assert.match(errs[0]!, /^mailsluice: DELIVERIES_DEAD: 3 deliveries were dead-lettered \(hook: 3\); the messages are archived/);
    // Archived and gone from the server all the same.
    assert.equal(await dovecot.messageCount(user.username), 0);
  } finally {
    ws.cleanup();
    await hook.close();
  }
});

test('a drain with no connection enabled exits 1 with one NOTHING_TO_DRAIN line, not a success', async () => {
  const user = await dovecot.createUser();
  const ws = makeWorkspace({ connections: [imapConnection(dovecot, user, { enabled: false })] });
  try {
    for (const args of [['drain'], ['drain', '--json']]) {
      const r = await runCli(args, ws);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const errs = lines(r.stderr);
      assert.equal(errs.length, 1, r.stderr);
      assert.match(errs[0]!, /^mailsluice: NOTHING_TO_DRAIN: no connection is enabled in .*mailsluice\.yaml: set enabled: true on one, or name one with --connection NAME$/);
    }
    // Naming the disabled connection drains it.
    const named = await runCli(['drain', '--connection', 'journal'], ws);
    assert.equal(named.code, 0, named.stderr);
  } finally {
    ws.cleanup();
  }
});

test('a drain with deletePolicy leave says the messages were left on the server, not that the mailbox is empty', async () => {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, [0, 1, 2].map((i) => makeMessage(i)));
  const ws = makeWorkspace({ connections: [imapConnection(dovecot, user, { deletePolicy: 'leave' })] });
  try {
    const r = await runCli(['drain'], ws);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^journal: 3 messages taken \(0\.0 MB\), left on the server \(deletePolicy leave\)$/m);
    assert.doesNotMatch(r.stdout, /mailbox empty/);
    assert.equal(await dovecot.messageCount(user.username), 3, 'the messages are still there');
  } finally {
    ws.cleanup();
  }
});
