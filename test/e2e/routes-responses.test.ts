/**
 * Server responses end to end: a route's `response` (or a script's returned one) after success,
 * its `errorResponse` after a dead letter, applied on a real Dovecot by the connection that took
 * the message. Server state (flags, folders) is read independently with imapflow; the commands
 * mailsluice sent are read from a recording proxy; webhooks go to real receivers on 127.0.0.1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { type TestUser } from '../harness/dovecot.js';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { makeWorkspace, runCli, spawnCli, imapConnection, type Workspace } from '../harness/cli.js';
import { makeMessage, sha256 } from '../harness/messages.js';
import { serverMessages, withImap, commandOf, type ImapProxy, type ServerMessage } from '../harness/imap-proxy.js';
import { startWebhookReceiver, waitFor, type ReceivedRequest } from '../harness/webhook-receiver.js';
import { createImapSource } from '../../src/adapters/source-imap/index.js';
import { JsonlLogger } from '../../src/adapters/logger-jsonl/index.js';
import { checkConfigText } from '../../src/config/loader.js';

const dovecot = dovecotPerFile();

const FAST_RETRY = { baseMs: 50, maxMs: 200 };

interface Summary {
  taken: number;
  connections: Record<string, { taken: number; state: string; responses: { applied: number; notApplicable: number; failed: number } }>;
  routes: Record<string, { delivered: number; dead: number; failed: number }>;
}

interface ListedDelivery {
  id: string;
  state: string;
  response: { addFlags?: string[]; moveTo?: string } | null;
  responseResult?: string;
  responseNote?: string | null;
}

async function userWith(n: number, tag = 'responses'): Promise<{ user: TestUser; raws: Buffer[] }> {
  const user = await dovecot.createUser();
  const raws = Array.from({ length: n }, (_, i) => makeMessage(i, { bodyBytes: 800, tag }));
  await dovecot.loadMaildir(user.username, raws);
  return { user, raws };
}

/** A connection through a fresh recording proxy (security none, so the commands are readable). */
async function viaProxy(user: TestUser, extra: Record<string, unknown>): Promise<{ connection: Record<string, unknown>; proxy: ImapProxy }> {
  const proxy = await dovecot.proxy({ targetPort: dovecot.imapPort });
  const connection = imapConnection({ host: proxy.host, imapPort: proxy.port, imapsPort: dovecot.imapsPort, caCertPath: dovecot.caCertPath }, user, { security: 'none', ...extra });
  return { connection, proxy };
}

async function drain(ws: Workspace, exit = 0): Promise<Summary> {
  const r = await runCli(['drain', '--json'], ws);
  // 1 when a delivery was dead-lettered (DELIVERIES_DEAD); the summary is printed all the same.
  assert.equal(r.code, exit, r.stderr);
  return JSON.parse(r.stdout.trim()) as Summary;
}

async function deliveries(ws: Workspace): Promise<ListedDelivery[]> {
  const r = await runCli(['deliveries', 'list', '--json'], ws);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ListedDelivery);
}

/** Message i's subject number ("Report 12 …" → 12). */
function num(r: ReceivedRequest): number {
  return Number(/^Report (\d+)/.exec(r.body.message.Subject)?.[1]);
}

/** The server messages keyed by the number of the test message whose bytes they hold. */
function byNumber(msgs: ServerMessage[], raws: Buffer[]): Map<number, ServerMessage> {
  const index = new Map(raws.map((r, i) => [sha256(r), i]));
  const out = new Map<number, ServerMessage>();
  for (const m of msgs) {
    const i = index.get(sha256(m.source));
    assert.ok(i !== undefined, `UID ${m.uid} holds bytes of no test message`);
    out.set(i, m);
  }
  return out;
}

/** A message's flags, sorted, without \Recent (which the server sets on arrival, a move included). */
const sorted = (flags: Set<string>): string[] => [...flags].filter((f) => f !== '\\Recent').sort();

test('deletePolicy leave, route response addFlags: after drain every message carries the flag, recorded applied, and a second drain applies nothing again', async () => {
  const { user } = await userWith(8);
  const recv = await startWebhookReceiver({ secret: 's' });
  const { connection, proxy } = await viaProxy(user, { deletePolicy: 'leave' });
  const ws = makeWorkspace({
    connections: [connection],
    deliveryRetry: FAST_RETRY,
    routes: [{ name: 'hook', connection: 'journal', response: { addFlags: ['$Processed'] }, scenario: [{ action: 'webhook', url: recv.url, secret: 's' }] }],
  });
  try {
    const s = await drain(ws);
    assert.equal(s.taken, 8);
    assert.equal(s.routes.hook!.delivered, 8);
    assert.deepEqual(s.connections.journal!.responses, { applied: 8, notApplicable: 0, failed: 0 });
    const server = await serverMessages(dovecot, user);
    assert.equal(server.length, 8, 'leave: every message stays');
    for (const m of server) assert.deepEqual(sorted(m.flags), ['$Processed'], `UID ${m.uid}`);
    const list = await deliveries(ws);
    assert.equal(list.length, 8);
    for (const d of list) assert.deepEqual([d.state, d.response, d.responseResult, d.responseNote], ['done', { addFlags: ['$Processed'] }, 'applied', null]);
    // UID sets, not one STORE per message: at most one STORE per batch the responses came in.
    const stores = proxy.commands(/^UID STORE .*\$Processed/i);
    assert.ok(stores.length >= 1 && stores.length < 8, `STOREs: ${stores.join(' | ')}`);

    const before = proxy.clientLines().length;
    const again = await drain(ws);
    assert.deepEqual(again.connections.journal!.responses, { applied: 0, notApplicable: 0, failed: 0 });
    const later = proxy.clientLines().slice(before).map(commandOf);
    assert.deepEqual(later.filter((c) => /^UID (STORE|MOVE|FETCH .*FLAGS)/i.test(c)), [], 'nothing applied twice');
  } finally {
    await recv.close();
    ws.cleanup();
  }
});

test('a dead letter (receiver answers 400) with errorResponse moveTo Failed: the message is in Failed, without the \\Deleted of deletePolicy delete; the others keep theirs and get the success response', async () => {
  const { user, raws } = await userWith(6);
  await dovecot.createMailbox(user.username, 'Failed');
  const recv = await startWebhookReceiver({ secret: 's' });
  recv.answer((r) => ({ status: num(r) % 3 === 1 ? 400 : 200 }));
  const ws = makeWorkspace({
    connections: [imapConnection(dovecot, user, { deletePolicy: 'delete' })],
    deliveryRetry: FAST_RETRY,
    routes: [
      {
        name: 'hook',
        connection: 'journal',
        response: { addFlags: ['$Done'] },
        errorResponse: { addFlags: ['$Failed'], moveTo: 'Failed' },
        scenario: [{ action: 'webhook', url: recv.url, secret: 's' }],
      },
    ],
  });
  try {
    const s = await drain(ws, 1);
    assert.equal(s.routes.hook!.delivered, 4);
    assert.equal(s.routes.hook!.dead, 2);
    assert.deepEqual(s.connections.journal!.responses, { applied: 6, notApplicable: 0, failed: 0 });

    const failed = byNumber(await serverMessages(dovecot, user, 'Failed'), raws);
    assert.deepEqual([...failed.keys()].sort(), [1, 4], 'the two dead ones moved to Failed');
    for (const [i, m] of failed) assert.deepEqual(sorted(m.flags), ['$Failed'], `message ${i} in Failed: its flags, and no \\Deleted`);
    const inbox = byNumber(await serverMessages(dovecot, user), raws);
    assert.deepEqual([...inbox.keys()].sort(), [0, 2, 3, 5]);
    for (const [i, m] of inbox) assert.deepEqual(sorted(m.flags), ['$Done', '\\Deleted'], `message ${i} in INBOX`);

    const list = await deliveries(ws);
    assert.deepEqual(
      list.map((d) => [d.state, d.responseResult]).sort(),
      [...Array(4).fill(['done', 'applied']), ...Array(2).fill(['dead', 'applied'])].sort(),
    );
  } finally {
    await recv.close();
    ws.cleanup();
  }
});

test('a script route returning { addFlags: ["$Scripted"] }: the flag is set (deletePolicy mark-seen keeps its \\Seen)', async () => {
  const { user, raws } = await userWith(4);
  const ws = makeWorkspace();
  // Readable by the user scripts run as when the tests run as root (mkdtemp makes it 0700).
  chmodSync(ws.dir, 0o755);
  writeFileSync(
    join(ws.dir, 'tag.mjs'),
    `export async function handle(message) {
       return message.Subject.startsWith('Report 2') ? undefined : { addFlags: ['$Scripted'] };
     }\n`,
  );
  ws.writeConfig({
    connections: [imapConnection(dovecot, user, { deletePolicy: 'mark-seen' })],
    routes: [{ name: 'tag', connection: 'journal', scenario: [{ action: 'script', module: './tag.mjs', timeoutMs: 5000 }] }],
  });
  try {
    const s = await drain(ws);
    assert.equal(s.routes.tag!.delivered, 4);
    assert.deepEqual(s.connections.journal!.responses, { applied: 3, notApplicable: 0, failed: 0 });
    const inbox = byNumber(await serverMessages(dovecot, user), raws);
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => sorted(inbox.get(i)!.flags)),
      [['$Scripted', '\\Seen'], ['$Scripted', '\\Seen'], ['\\Seen'], ['$Scripted', '\\Seen']],
    );
  } finally {
    ws.cleanup();
  }
});

test('a response for a message whose UID is gone is recorded not applicable, without an error: expunged by another client mid-delivery, or by deletePolicy delete-and-expunge', async () => {
  // leave: message 2 is expunged by someone else while its webhook is in flight.
  const { user, raws } = await userWith(4);
  const recv = await startWebhookReceiver({ secret: 's' });
  recv.answer((r) => ({ status: 200, delayMs: num(r) === 2 ? 1500 : 0 }));
  const ws = makeWorkspace({
    connections: [imapConnection(dovecot, user, { deletePolicy: 'leave' })],
    routes: [{ name: 'hook', connection: 'journal', response: { addFlags: ['$Processed'], moveTo: 'Done' }, scenario: [{ action: 'webhook', url: recv.url, secret: 's' }] }],
  });
  await dovecot.createMailbox(user.username, 'Done');
  const ws2Recv = await startWebhookReceiver({ secret: 's' });
  const user2 = await userWith(3);
  const ws2 = makeWorkspace({
    connections: [imapConnection(dovecot, user2.user, { deletePolicy: 'delete-and-expunge' })],
    routes: [{ name: 'hook', connection: 'journal', response: { addFlags: ['$Processed'] }, scenario: [{ action: 'webhook', url: ws2Recv.url, secret: 's' }] }],
  });
  try {
    const running = runCli(['drain', '--json'], ws);
    await waitFor(() => recv.requests.some((r) => num(r) === 2), 20_000, 'the webhook of message 2');
    await withImap(dovecot, user, 'INBOX', async (c) => {
      const uid = (await serverMessages(dovecot, user)).find((m) => sha256(m.source) === sha256(raws[2]!))!.uid;
      assert.ok(await c.messageDelete(String(uid), { uid: true }));
    });
    const r = await running;
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as Summary;
    assert.deepEqual(s.connections.journal!.responses, { applied: 3, notApplicable: 1, failed: 0 });
    assert.doesNotMatch(r.stderr, /"level":"error"/);
    const list = await deliveries(ws);
    const gone = list.filter((d) => d.responseResult === 'not-applicable');
    assert.equal(gone.length, 1);
    assert.match(gone[0]!.responseNote ?? '', /^UID \d+ is no longer in "INBOX"$/);
    assert.equal(await dovecot.messageCount(user.username), 0, 'the other three moved to Done');
    assert.equal(await dovecot.messageCount(user.username, 'Done'), 3);

    const s2 = await drain(ws2);
    assert.equal(s2.routes.hook!.delivered, 3);
    assert.deepEqual(s2.connections.journal!.responses, { applied: 0, notApplicable: 3, failed: 0 });
    assert.equal(await dovecot.messageCount(user2.user.username), 0);
  } finally {
    await recv.close();
    await ws2Recv.close();
    ws.cleanup();
    ws2.cleanup();
  }
});

test('a move to a folder that does not exist is recorded failed with the server\'s reason; the message stays and the drain succeeds', async () => {
  const { user } = await userWith(2);
  const ws = makeWorkspace({
    connections: [imapConnection(dovecot, user, { deletePolicy: 'leave' })],
    routes: [{ name: 'a', connection: 'journal', response: { moveTo: 'NoSuchFolder' }, scenario: [{ action: 'archive' }] }],
  });
  try {
    const s = await drain(ws);
    assert.deepEqual(s.connections.journal!.responses, { applied: 0, notApplicable: 0, failed: 2 });
    const list = await deliveries(ws);
    for (const d of list) {
      assert.equal(d.responseResult, 'failed');
      assert.match(d.responseNote ?? '', /UID MOVE to "NoSuchFolder" was refused by .*NO \[TRYCREATE\]/);
      assert.doesNotMatch(d.responseNote ?? '', /TRYCREATE.*TRYCREATE/);
    }
    assert.equal(await dovecot.messageCount(user.username), 2);
    // Failed is final: the next drain does not try again.
    assert.deepEqual((await drain(ws)).connections.journal!.responses, { applied: 0, notApplicable: 0, failed: 0 });
  } finally {
    ws.cleanup();
  }
});

test('the service (IDLE on): a delivery that ends with a response wakes the connection, well before the safety poll', async () => {
  const user = await dovecot.createUser();
  const recv = await startWebhookReceiver({ secret: 's' });
  const ws = makeWorkspace({
    connections: [imapConnection(dovecot, user, { deletePolicy: 'leave', idle: true, idleSafetyPollMs: 600_000 })],
    routes: [{ name: 'hook', connection: 'journal', response: { addFlags: ['$Processed'] }, scenario: [{ action: 'webhook', url: recv.url, secret: 's' }] }],
  });
  const child = spawnCli(['start'], ws);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    // Let the service connect and go idle, then mail arrives.
    await new Promise((r) => setTimeout(r, 1000));
    await dovecot.deliver(user.username, makeMessage(1, { bodyBytes: 500 }));
    await waitFor(() => recv.accepted().length === 1, 15_000, `the webhook (stderr: ${stderr})`);
    const acceptedAt = Date.now();
    let flagged = false;
    while (!flagged && Date.now() - acceptedAt < 10_000) {
      flagged = (await serverMessages(dovecot, user)).some((m) => m.flags.has('$Processed'));
      if (!flagged) await new Promise((r) => setTimeout(r, 50));
    }
    const latency = Date.now() - acceptedAt;
    assert.ok(flagged, `the flag was set within 10 s of the webhook (stderr: ${stderr})`);
    assert.ok(latency < 5000, `applied ${latency} ms after the webhook; the safety poll is 600 s`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await recv.close();
    ws.cleanup();
  }
});

test('ImapSource.applyResponses: one STORE per distinct flag set, one MOVE per folder, flags before moves; gone, moved-already, refused flags and folders each reported', async () => {
  const { user } = await userWith(6);
  await dovecot.createMailbox(user.username, 'Kept');
  // As deletePolicy delete leaves them: UID 2 (moved) and UID 6 (whose move is refused).
  await withImap(dovecot, user, 'INBOX', async (c) => void (await c.messageFlagsAdd('2,6', ['\\Deleted'], { uid: true })));
  const { connection, proxy } = await viaProxy(user, { deletePolicy: 'delete' });
  const { config, problems } = checkConfigText(stringify({ connections: [connection] }));
  if (!config) throw new Error(JSON.stringify(problems));
  const source = createImapSource(config.connections[0]!, new JsonlLogger([]));
  let outcomes;
  try {
    await source.open();
    outcomes = await source.applyResponses([
      { id: 'a', key: 'imap:INBOX:0:1', uid: 1, response: { addFlags: ['$A'] } },
      { id: 'b', key: 'imap:INBOX:0:2', uid: 2, response: { addFlags: ['$A'], moveTo: 'Kept' } },
      { id: 'c', key: 'imap:INBOX:0:3', uid: 3, response: { addFlags: ['$A'], moveTo: 'Kept' } },
      { id: 'd', key: 'imap:INBOX:0:4', uid: 4, response: { addFlags: ['$B', '$A'] } },
      { id: 'e', key: 'imap:INBOX:0:5', uid: 5, response: { addFlags: ['$A', '$B', '$A'] } },
      { id: 'f', key: 'imap:INBOX:0:3', uid: 3, response: { moveTo: 'Elsewhere' } },
      { id: 'g', key: 'imap:INBOX:0:99', uid: 99, response: { addFlags: ['$A'] } },
      { id: 'h', key: 'imap:INBOX:0:6', uid: 6, response: { addFlags: ['\\Recent'] } },
      { id: 'i', key: 'imap:INBOX:0:6', uid: 6, response: { moveTo: 'Missing' } },
    ]);
  } finally {
    await source.close();
  }
  const byId = new Map(outcomes.map((o) => [o.id, o]));
  assert.deepEqual(
    ['a', 'b', 'c', 'd', 'e'].map((id) => byId.get(id)),
    ['a', 'b', 'c', 'd', 'e'].map((id) => ({ id, outcome: 'applied' })),
  );
  assert.deepEqual(byId.get('f'), { id: 'f', outcome: 'not-applicable', reason: 'UID 3 was moved to "Kept" by another response' });
  assert.deepEqual(byId.get('g'), { id: 'g', outcome: 'not-applicable', reason: 'UID 99 is no longer in "INBOX"' });
  assert.equal(byId.get('h')!.outcome, 'failed');
  assert.match(byId.get('h')!.reason!, /"INBOX" does not accept the flag \\Recent \(not in its PERMANENTFLAGS/);
  assert.equal(byId.get('i')!.outcome, 'failed');
  assert.match(byId.get('i')!.reason!, /UID MOVE to "Missing" was refused .*TRYCREATE/);

  const cmds = proxy.clientLines().map(commandOf);
  assert.deepEqual(
    cmds.filter((c) => /^UID STORE \S+ \+FLAGS/i.test(c)).map((c) => c.replace(/^UID STORE /i, '')),
    ['1:3 +FLAGS.SILENT ($A)', '4:5 +FLAGS.SILENT ($A $B)', '6 +FLAGS.SILENT (\\Deleted)'],
    'one STORE per flag set; \\Deleted put back on UID 6 after its refused move',
  );
  assert.deepEqual(
    cmds.filter((c) => /^UID MOVE /i.test(c)),
    ['UID MOVE 2:3 Kept', 'UID MOVE 6 Missing'],
  );
  assert.deepEqual(
    cmds.filter((c) => /^UID STORE \S+ -FLAGS/i.test(c)),
    ['UID STORE 2 -FLAGS.SILENT (\\Deleted)', 'UID STORE 6 -FLAGS.SILENT (\\Deleted)'],
  );
  const kept = await serverMessages(dovecot, user, 'Kept');
  assert.deepEqual(kept.map((m) => sorted(m.flags)), [['$A'], ['$A']], 'moved with their flags, without \\Deleted');
  const inbox = await serverMessages(dovecot, user);
  assert.deepEqual(
    inbox.map((m) => [m.uid, sorted(m.flags)]),
    [
      [1, ['$A']],
      [4, ['$A', '$B']],
      [5, ['$A', '$B']],
      [6, ['\\Deleted']],
    ],
  );
});
