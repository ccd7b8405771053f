/**
 * IMAP settings, part 5: a server without UIDPLUS (and without MOVE and IDLE). A plain EXPUNGE
 * would also remove messages that another client flagged \Deleted and mailsluice never archived,
 * so mailsluice must only flag, never expunge, and say so in the log. And `idle: true` against a
 * server without IDLE polls at pollIntervalMs, not only at the minute-long safety poll.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type TestUser } from '../harness/dovecot.js';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { makeWorkspace, runCli, spawnCli, imapConnection, type Workspace } from '../harness/cli.js';
import { makeMessage, sha256 } from '../harness/messages.js';
import { serverMessages, withImap, commandOf, type ImapProxy } from '../harness/imap-proxy.js';

// Dovecot's usual post-login capabilities minus UIDPLUS, MOVE and IDLE.
const CAPS = 'IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE SORT THREAD=REFERENCES MULTIAPPEND UNSELECT CHILDREN NAMESPACE LIST-EXTENDED I18NLEVEL=1 ESEARCH SEARCHRES WITHIN LIST-STATUS LITERAL+ SPECIAL-USE';

const dovecot = dovecotPerFile({ imapCapability: CAPS });

/** 5 messages; UID 3 flagged \Deleted by "another client" before mailsluice runs. */
async function mailboxWithForeignDeleted(): Promise<{ user: TestUser; raws: Buffer[] }> {
  const user = await dovecot.createUser();
  const raws = Array.from({ length: 5 }, (_, i) => makeMessage(i, { tag: 'nouidplus' }));
  await dovecot.loadMaildir(user.username, raws);
  await withImap(dovecot, user, 'INBOX', async (c) => {
    assert.ok(!c.capabilities.has('UIDPLUS'), 'the test server must not advertise UIDPLUS');
    await c.messageFlagsAdd('3', ['\\Deleted'], { uid: true });
  });
  return { user, raws };
}

async function setup(user: TestUser, extra: Record<string, unknown>): Promise<{ ws: Workspace; proxy: ImapProxy }> {
  const proxy = await dovecot.proxy({ targetPort: dovecot.imapPort });
  const ws = makeWorkspace({
    connections: [imapConnection({ host: proxy.host, imapPort: proxy.port, imapsPort: dovecot.imapsPort, caCertPath: dovecot.caCertPath }, user, { security: 'none', logging: 'full', ...extra })],
  });
  return { ws, proxy };
}

function assertNoExpunge(proxy: ImapProxy): void {
  const expunges = proxy.clientLines().map(commandOf).filter((c) => /^(UID )?EXPUNGE\b/i.test(c) || /^CLOSE\b/i.test(c));
  assert.deepEqual(expunges, [], 'no EXPUNGE (nor CLOSE, which expunges too) without UIDPLUS');
}

test('delete-and-expunge without UIDPLUS: flags \\Deleted, never expunges, another client\'s \\Deleted message survives, and the log says so', async () => {
  const { user, raws } = await mailboxWithForeignDeleted();
  const { ws, proxy } = await setup(user, { deletePolicy: 'delete-and-expunge', expungeEvery: 2 });
  try {
    const r = await runCli(['drain', '--json'], ws);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout.trim()) as { taken: number }).taken, 4, 'the foreign \\Deleted message is not taken');
    const left = await serverMessages(dovecot, user);
    assert.deepEqual(left.map((m) => m.uid), [1, 2, 3, 4, 5], 'nothing was expunged');
    for (const m of left) assert.ok(m.flags.has('\\Deleted'), `UID ${m.uid} must be flagged \\Deleted`);
    assert.equal(sha256(left[2]!.source), sha256(raws[2]!), 'the other client\'s message is still there');
    assertNoExpunge(proxy);

    const logs = await runCli(['logs', 'journal'], ws);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /UIDPLUS/, `the connection log must say why nothing is expunged:\n${logs.stdout}`);

    const again = await runCli(['drain', '--json'], ws);
    assert.equal(again.code, 0, again.stderr);
    assert.equal((JSON.parse(again.stdout.trim()) as { taken: number }).taken, 0);
    assertNoExpunge(proxy);
    assert.equal(await dovecot.messageCount(user.username), 5);
  } finally {
    ws.cleanup();
  }
});

test('move without MOVE or UIDPLUS: copies and flags, never expunges', async () => {
  const { user, raws } = await mailboxWithForeignDeleted();
  await dovecot.createMailbox(user.username, 'Processed');
  const { ws, proxy } = await setup(user, { deletePolicy: 'move', moveTo: 'Processed' });
  try {
    const r = await runCli(['drain', '--json'], ws);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout.trim()) as { taken: number }).taken, 4);
    const copied = await serverMessages(dovecot, user, 'Processed');
    assert.deepEqual(copied.map((m) => sha256(m.source)).sort(), [0, 1, 3, 4].map((i) => sha256(raws[i]!)).sort());
    assert.equal(await dovecot.messageCount(user.username), 5, 'INBOX keeps everything (flagged)');
    assertNoExpunge(proxy);
  } finally {
    ws.cleanup();
  }
});

test('idle on a server without IDLE: polls every pollIntervalMs (not the 60 s safety poll), and the log says so', async () => {
  const user = await dovecot.createUser();
  await dovecot.deliver(user.username, makeMessage(1, { tag: 'noidle-first' }));
  const { ws, proxy } = await setup(user, { deletePolicy: 'leave', idle: true, pollIntervalMs: 500, idleSafetyPollMs: 60_000 });
  const child = spawnCli(['start'], ws);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.resume();
  const archivedNow = async (): Promise<number> => {
    const r = await runCli(['stats', '--json'], ws);
    return r.code === 0 ? (JSON.parse(r.stdout) as { messages: number }).messages : -1;
  };
  const until = async (n: number, limitMs: number): Promise<number> => {
    const t0 = Date.now();
    while (Date.now() - t0 < limitMs) {
      if (child.exitCode !== null) throw new Error(`the service exited early (${child.exitCode}):\n${err}`);
      if ((await archivedNow()) === n) return Date.now() - t0;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`${n} messages not archived within ${limitMs} ms:\n${err}`);
  };
  try {
    await until(1, 20_000);
    await new Promise((r) => setTimeout(r, 1000));
    await dovecot.deliver(user.username, makeMessage(2, { tag: 'noidle-second' }));
    const ms = await until(2, 15_000);
    assert.ok(ms < 10_000, `archived after ${ms} ms: the 60 s safety poll, not pollIntervalMs`);
    assert.deepEqual(proxy.commands(/^IDLE$/i), [], 'no IDLE to a server that does not offer it');
    assert.match(err, /does not offer IDLE: polling every 500 ms/);
  } finally {
    if (child.exitCode === null) {
      const closed = once(child, 'close');
      child.kill('SIGTERM');
      await closed;
    }
    ws.cleanup();
  }
});
