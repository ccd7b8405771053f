/**
 * Issue 14, items 8 and 9 (ADR 0025): beside a running `start`, `connections status` answers the
 * service's live state through the control socket (state, last poll and success, backlog, rate,
 * last error, next attempt; a line per folder), and `deliveries list` asks the service's
 * `GET /api/v1/deliveries` and prints exactly what it prints with the service stopped, filters,
 * limit and server responses included. The list pages by a keyset cursor over TCP, by role.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, runCli, type Workspace } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { callApi, createToken, drainedWithApi, startService, type RunningService } from '../harness/api-client.js';
import { startWebhookReceiver } from '../harness/webhook-receiver.js';

const dovecot = dovecotPerFile();

type Folder = { folder: string; state: string; lastPollAt: string | null; lastSuccessAt: string | null; nextAttemptAt: string | null; backlog: number; rateLastMinute: number; lastError: { code: string; message: string; at: string } | null };
type Status = { name: string; enabled: boolean; state: string | null; taken: number; lastError: Folder['lastError']; nextAttemptAt: string | null; lastSuccessAt: string | null; folders: Folder[] };

/** The `deliveries list` runs compared with and without the service. */
const LISTS = [
  ['deliveries', 'list'],
  ['deliveries', 'list', '--json'],
  ['deliveries', 'list', '--state', 'dead', '--json'],
  ['deliveries', 'list', '--state', 'done'],
  ['deliveries', 'list', '--route', 'hook', '--connection', 'journal', '--limit', '2', '--json'],
  ['deliveries', 'list', '--route', 'nosuch'],
];

async function lists(ws: Workspace): Promise<string[]> {
  const out: string[] = [];
  for (const args of LISTS) {
    const r = await runCli(args, ws);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    out.push(r.stdout);
  }
  return out;
}

async function statusOf(ws: Workspace, name: string): Promise<Status> {
  const r = await runCli(['connections', 'status', name, '--json'], ws);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Status;
}

test('beside start: connections status shows the live runners and deliveries list prints what it prints alone, both through the control socket', async () => {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, [0, 1, 2].map((i) => makeMessage(i, { bodyBytes: 500 })));
  const receiver = await startWebhookReceiver();
  // Report 1 is refused (a dead letter, no response); the others are delivered and flagged.
  receiver.answer((req) => ({ status: /^Report 1\b/.test(req.body.message.Subject) ? 400 : 204 }));
  const { ws, base } = await drainedWithApi(
    {
      connections: [imapConnection(dovecot, user, { pollIntervalMs: 2000, deletePolicy: 'leave' }), imapConnection(dovecot, { username: user.username, password: 'wrong' }, { name: 'broken' })],
      routes: [{ name: 'hook', connection: 'journal', response: { addFlags: ['$Done'] }, scenario: [{ action: 'webhook', url: receiver.url }] }],
    },
    1,
  );
  let service: RunningService | undefined;
  try {
    const alone = await lists(ws);
    assert.match(alone[0]!, /^3 deliveries$/m);
    assert.match(alone[0]!, /journal\.hook\.\d+  dead +bus 0  step 0  attempts 1  .*ACTION_REJECTED/);
    assert.match(alone[0]!, /journal\.hook\.\d+  done +.*  response applied$/m);
    const stoppedStatus = await statusOf(ws, 'journal');
    assert.equal(stoppedStatus.state, null, 'no service: the archive only');

    const viewer = await createToken(ws, 'ops', 'viewer');
    service = await startService(ws, base);

    // The live state: the broken connection waits out its back-off after the rejected login.
    const until = Date.now() + 30_000;
    let broken = await statusOf(ws, 'broken');
    while (broken.state !== 'backoff') {
      assert.ok(Date.now() < until, `broken never went to backoff: ${JSON.stringify(broken)}`);
      await new Promise((r) => setTimeout(r, 200));
      broken = await statusOf(ws, 'broken');
    }
    assert.equal(broken.lastError?.code, 'SOURCE_AUTH_REJECTED');
    assert.equal(broken.folders[0]?.lastError?.code, 'SOURCE_AUTH_REJECTED');
    assert.ok(broken.nextAttemptAt !== null && Date.parse(broken.nextAttemptAt) > Date.now(), `the next attempt is ahead: ${broken.nextAttemptAt}`);
    assert.equal(broken.lastSuccessAt, null);

    let journal = await statusOf(ws, 'journal');
    while (journal.state !== 'waiting') {
      assert.ok(Date.now() < until, `journal never waited: ${JSON.stringify(journal)}`);
      await new Promise((r) => setTimeout(r, 200));
      journal = await statusOf(ws, 'journal');
    }
    assert.equal(journal.taken, 3, 'what the archive holds, as alone');
    assert.deepEqual(journal.folders.map((f) => [f.folder, f.backlog, f.lastError]), [['INBOX', 0, null]]);
    assert.ok(journal.lastSuccessAt !== null && journal.folders[0]!.lastPollAt !== null);
    assert.ok(journal.nextAttemptAt !== null, 'waiting out its poll interval: the next poll is known');

    const all = await runCli(['connections', 'status'], ws);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /^journal +enabled +3 messages taken, [0-9.]+ MB, 0 server actions pending\n {2}INBOX +(waiting|draining|connecting), last poll \S+, last success \S+, backlog 0, [0-9.]+ msg\/s/m);
    assert.match(all.stdout, /^broken +enabled .*\n {2}INBOX +backoff, last poll never, last success never, backlog 0, 0 msg\/s, next attempt \S+, last error SOURCE_AUTH_REJECTED at \S+: /m);
    const unknown = await runCli(['connections', 'status', 'nosuch'], ws);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^mailsluice: CONNECTION_UNKNOWN: no connection named "nosuch"/);

    // The deliveries, through the service: the same lines, byte for byte.
    assert.deepEqual(await lists(ws), alone);

    // The list over TCP: a viewer pages it one by one with the cursor; no token, no list.
    const ids: string[] = [];
    let cursor: string | null = '';
    while (cursor !== null) {
      const page = await callApi(`${base}/api/v1/deliveries?limit=1${cursor ? `&cursor=${cursor}` : ''}`, viewer);
      assert.equal(page.status, 200, page.raw);
      const [d] = page.body.deliveries as Array<{ id: string; messageId: number; state: string; responseResult: string | null; response: unknown }>;
      ids.push(d!.id);
      assert.ok(d!.id.endsWith(`.${d!.messageId}`));
      assert.deepEqual([d!.responseResult, d!.response], d!.state === 'dead' ? [null, null] : ['applied', { addFlags: ['$Done'] }]);
      cursor = page.body.next as string | null;
    }
    assert.deepEqual(ids, alone[1]!.trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id));
    const dead = await callApi(`${base}/api/v1/deliveries?state=dead`, viewer);
    assert.deepEqual((dead.body.deliveries as Array<{ state: string }>).map((d) => d.state), ['dead']);
    assert.equal((await callApi(`${base}/api/v1/deliveries`)).status, 401);
    const bad = await callApi(`${base}/api/v1/deliveries?cursor=yesterday`, viewer);
    assert.deepEqual([bad.status, bad.body.code], [400, 'API_BAD_REQUEST']);
    assert.match(String(bad.body.message), /cursor/);

    // Through the socket, not around it: with the service's socket replaced by a dead one, the
    // commands refuse instead of reading the archive beside the live service.
    const socket = join(ws.dataDir, 'control.sock');
    unlinkSync(socket);
    const deadSocket = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socket)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    await once(deadSocket, 'exit');
    for (const args of [['deliveries', 'list'], ['connections', 'status']]) {
      const refused = await runCli(args, ws);
      assert.equal(refused.code, 1, args.join(' '));
      assert.match(refused.stderr, /^mailsluice: CONTROL_SOCKET_UNREACHABLE: /);
    }
  } finally {
    await service?.stop();
    await receiver.close();
    ws.cleanup();
  }
});
