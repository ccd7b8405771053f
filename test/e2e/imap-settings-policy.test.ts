/**
 * IMAP settings, part 4: what happens on the server. deletePolicy (each of them), expungeEvery,
 * maxMessagesPerCycle, unseenOnly, mailbox, and a UIDVALIDITY change. Server state (flags,
 * folders, counts) is read with imapflow or doveadm directly; the commands mailsluice sent are
 * read from the proxy.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { type TestUser } from '../harness/dovecot.js';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { makeWorkspace, runCli, imapConnection, type Workspace } from '../harness/cli.js';
import { makeMessage, sha256 } from '../harness/messages.js';
import { serverMessages, withImap, commandOf, type ImapProxy } from '../harness/imap-proxy.js';

const execFileP = promisify(execFile);

const dovecot = dovecotPerFile();

function messages(n: number, tag: string, start = 0): Buffer[] {
  return Array.from({ length: n }, (_, i) => makeMessage(start + i, { bodyBytes: 1500, tag }));
}

async function userWith(n: number, tag = 'policy'): Promise<{ user: TestUser; raws: Buffer[] }> {
  const user = await dovecot.createUser();
  const raws = messages(n, tag);
  await dovecot.loadMaildir(user.username, raws);
  return { user, raws };
}

/** A workspace whose connection goes through a fresh recording proxy (security none, so commands are readable). */
async function setup(user: TestUser, extra: Record<string, unknown> = {}): Promise<{ ws: Workspace; proxy: ImapProxy }> {
  const proxy = await dovecot.proxy({ targetPort: dovecot.imapPort });
  const ws = makeWorkspace({ connections: [imapConnection({ host: proxy.host, imapPort: proxy.port, imapsPort: dovecot.imapsPort, caCertPath: dovecot.caCertPath }, user, { security: 'none', ...extra })] });
  return { ws, proxy };
}

interface Summary {
  taken: number;
  connections: Record<string, { taken: number; cycles: number; actioned: number }>;
}

async function drain(ws: Workspace): Promise<Summary> {
  const r = await runCli(['drain', '--json'], ws);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim()) as Summary;
}

async function archived(ws: Workspace): Promise<number> {
  const r = await runCli(['stats', '--json'], ws);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { messages: number }).messages;
}

/** Number of messages in an IMAP sequence set such as "1:10,12". */
function setSize(set: string): number {
  return set.split(',').reduce((n, part) => {
    const [a, b] = part.split(':').map(Number);
    return n + (b === undefined ? 1 : Math.abs(b - a!) + 1);
  }, 0);
}

/** The sequence set of each `UID <verb> <set> …` command the client sent. */
function uidCommandSets(proxy: ImapProxy, verb: RegExp): string[] {
  return proxy
    .clientLines()
    .map(commandOf)
    .filter((c) => /^UID /i.test(c) && verb.test(c.split(' ')[1] ?? ''))
    .map((c) => c.split(' ')[2] ?? '');
}

describe('deletePolicy', { concurrency: true }, () => {
  test('delete-and-expunge: every message is gone from the server', async () => {
    const { user } = await userWith(5);
    const { ws, proxy } = await setup(user, { deletePolicy: 'delete-and-expunge' });
    try {
      assert.equal((await drain(ws)).taken, 5);
      assert.equal(await dovecot.messageCount(user.username), 0);
      assert.ok(uidCommandSets(proxy, /^EXPUNGE$/i).length >= 1, 'UID EXPUNGE expected');
      assert.deepEqual(proxy.commands(/^EXPUNGE\b/i), [], 'never a plain EXPUNGE');
    } finally {
      ws.cleanup();
    }
  });

  test('delete: messages stay, flagged \\Deleted, and are not taken again', async () => {
    const { user } = await userWith(5);
    const { ws, proxy } = await setup(user, { deletePolicy: 'delete' });
    try {
      assert.equal((await drain(ws)).taken, 5);
      const left = await serverMessages(dovecot, user);
      assert.equal(left.length, 5);
      for (const m of left) assert.ok(m.flags.has('\\Deleted'), `UID ${m.uid} flags ${[...m.flags].join(' ')}`);
      assert.deepEqual(proxy.commands(/EXPUNGE/i), [], 'delete must not expunge');
      assert.equal((await drain(ws)).taken, 0);
      assert.equal(await archived(ws), 5);
    } finally {
      ws.cleanup();
    }
  });

  test('mark-seen: messages stay, flagged \\Seen (not \\Deleted), and are not taken twice', async () => {
    const { user } = await userWith(5);
    const { ws, proxy } = await setup(user, { deletePolicy: 'mark-seen' });
    try {
      assert.equal((await drain(ws)).taken, 5);
      const left = await serverMessages(dovecot, user);
      assert.equal(left.length, 5);
      for (const m of left) {
        assert.ok(m.flags.has('\\Seen'), `UID ${m.uid} must be \\Seen`);
        assert.ok(!m.flags.has('\\Deleted'));
      }
      assert.deepEqual(proxy.commands(/EXPUNGE/i), []);
      assert.equal((await drain(ws)).taken, 0);
      assert.equal(await archived(ws), 5);
    } finally {
      ws.cleanup();
    }
  });

  test('move: messages end up in moveTo, byte for byte, and INBOX is empty', async () => {
    const { user, raws } = await userWith(5);
    await dovecot.createMailbox(user.username, 'Processed');
    const { ws } = await setup(user, { deletePolicy: 'move', moveTo: 'Processed' });
    try {
      assert.equal((await drain(ws)).taken, 5);
      assert.equal(await dovecot.messageCount(user.username, 'INBOX'), 0);
      const moved = await serverMessages(dovecot, user, 'Processed');
      assert.deepEqual(moved.map((m) => sha256(m.source)).sort(), raws.map((r) => sha256(r)).sort());
      for (const m of moved) assert.ok(!m.flags.has('\\Deleted'));
    } finally {
      ws.cleanup();
    }
  });

  test('leave: everything stays untouched; a second drain takes nothing; only new mail is taken', async () => {
    const { user, raws } = await userWith(5);
    const { ws, proxy } = await setup(user, { deletePolicy: 'leave' });
    try {
      assert.equal((await drain(ws)).taken, 5);
      const left = await serverMessages(dovecot, user);
      assert.deepEqual(left.map((m) => sha256(m.source)), raws.map((r) => sha256(r)));
      for (const m of left) assert.equal(m.flags.size, 0, `UID ${m.uid} must keep no flags, has ${[...m.flags].join(' ')}`);
      assert.deepEqual(uidCommandSets(proxy, /^STORE$/i), [], 'leave must not change flags');
      assert.equal((await drain(ws)).taken, 0);
      await dovecot.deliverMany(user.username, messages(3, 'later', 100));
      const third = await drain(ws);
      assert.equal(third.taken, 3);
      assert.equal(await archived(ws), 8);
      assert.equal(await dovecot.messageCount(user.username), 8);
    } finally {
      ws.cleanup();
    }
  });
});

describe('batching', { concurrency: true }, () => {
  test('expungeEvery 10: 25 messages are expunged in UID EXPUNGEs of at most 10 (0 = one per cycle)', async () => {
    const { user } = await userWith(25);
    const { ws, proxy } = await setup(user, { expungeEvery: 10 });
    const { user: control } = await userWith(25);
    const { ws: wsControl, proxy: proxyControl } = await setup(control, { expungeEvery: 0 });
    try {
      assert.equal((await drain(ws)).taken, 25);
      assert.equal(await dovecot.messageCount(user.username), 0);
      const sets = uidCommandSets(proxy, /^EXPUNGE$/i);
      assert.deepEqual(sets.map(setSize), [10, 10, 5], `UID EXPUNGE sets: ${sets.join(' ')}`);
      assert.deepEqual(proxy.commands(/^EXPUNGE\b/i), []);

      assert.equal((await drain(wsControl)).taken, 25);
      assert.deepEqual(uidCommandSets(proxyControl, /^EXPUNGE$/i).map(setSize), [25]);
    } finally {
      ws.cleanup();
      wsControl.cleanup();
    }
  });

  test('maxMessagesPerCycle 10: 25 messages take 3 cycles of at most 10', async () => {
    const { user } = await userWith(25);
    const { ws, proxy } = await setup(user, { maxMessagesPerCycle: 10 });
    try {
      const s = await drain(ws);
      assert.equal(s.taken, 25);
      assert.equal(await dovecot.messageCount(user.username), 0);
      const bodyFetches = proxy.commands(/^UID FETCH .*BODY\.PEEK\[\]/i).map((c) => commandOf(c).split(' ')[2]!);
      assert.deepEqual(bodyFetches.map(setSize), [10, 10, 5], bodyFetches.join(' '));
      // Three cycles that took something, and the one that found the mailbox empty.
      assert.equal(s.connections.journal!.cycles, 4);
    } finally {
      ws.cleanup();
    }
  });

  test('unseenOnly: seen messages stay, unseen ones are taken', async () => {
    const { user, raws } = await userWith(6);
    await withImap(dovecot, user, 'INBOX', async (c) => {
      await c.messageFlagsAdd('2,5', ['\\Seen'], { uid: true });
    });
    const { ws } = await setup(user, { unseenOnly: true });
    try {
      assert.equal((await drain(ws)).taken, 4);
      const left = await serverMessages(dovecot, user);
      assert.deepEqual(left.map((m) => m.uid), [2, 5]);
      assert.deepEqual(left.map((m) => sha256(m.source)), [sha256(raws[1]!), sha256(raws[4]!)]);
      assert.equal((await drain(ws)).taken, 0);
    } finally {
      ws.cleanup();
    }
  });

  test('unseenOnly with 2,500 scattered unseen UIDs: every command line stays under 8 KB, and every unseen message is taken', async () => {
    // Every other message seen: the unseen UIDs are 1,3,5,…,4999, a sequence set of ~12,000
    // characters that cannot be shortened, so fetch and expunge must split it.
    const { user } = await userWith(5000, 'scatter');
    const seen = Array.from({ length: 2500 }, (_, i) => 2 * (i + 1));
    await withImap(dovecot, user, 'INBOX', async (c) => {
      for (let i = 0; i < seen.length; i += 500) await c.messageFlagsAdd(seen.slice(i, i + 500).join(','), ['\\Seen'], { uid: true });
    });
    const { ws, proxy } = await setup(user, { unseenOnly: true, maxMessagesPerCycle: 5000 });
    try {
      assert.equal((await drain(ws)).taken, 2500);
      const longest = Math.max(...proxy.clientLines().map((l) => Buffer.byteLength(l)));
      assert.ok(longest <= 8192, `longest command line ${longest} bytes`);
      const fetched = uidCommandSets(proxy, /^FETCH$/i).filter((set) => set.includes(','));
      assert.ok(fetched.length >= 2, `the body fetch was split: ${fetched.length} FETCH commands with scattered sets`);
      assert.equal(fetched.reduce((n, set) => n + setSize(set), 0), 2500);
      assert.ok(uidCommandSets(proxy, /^EXPUNGE$/i).length >= 2, 'the UID EXPUNGE was split');
      const left = await serverMessages(dovecot, user);
      assert.deepEqual(left.map((m) => m.uid), seen);
      assert.equal(await archived(ws), 2500);
    } finally {
      ws.cleanup();
    }
  });
});

describe('mailbox', { concurrency: true }, () => {
  test('a non-INBOX folder is drained and INBOX is left alone', async () => {
    const user = await dovecot.createUser();
    await dovecot.deliverMany(user.username, messages(2, 'inbox'));
    await dovecot.createMailbox(user.username, 'Journal');
    const journal = messages(3, 'journal', 10);
    await withImap(dovecot, user, 'INBOX', async (c) => {
      for (const raw of journal) await c.append('Journal', raw);
    });
    const { ws } = await setup(user, { mailbox: 'Journal' });
    try {
      assert.equal((await drain(ws)).taken, 3);
      assert.equal(await dovecot.messageCount(user.username, 'Journal'), 0);
      assert.equal(await dovecot.messageCount(user.username, 'INBOX'), 2);
      const search = await runCli(['search', 'journal', '--json'], ws);
      assert.equal(search.code, 0, search.stderr);
      assert.equal(search.stdout.trim().split('\n').filter(Boolean).length, 3);
    } finally {
      ws.cleanup();
    }
  });

  test('a list of folders: each is drained (same connection in the archive), a copy in both is stored once, both end empty', async () => {
    const user = await dovecot.createUser();
    const inbox = messages(3, 'inbox');
    await dovecot.createMailbox(user.username, 'Journal');
    // Appended, not delivered: delivery adds headers, and the copy must be the same bytes.
    const journal = [...messages(2, 'journal', 10), inbox[0]!];
    await withImap(dovecot, user, 'INBOX', async (c) => {
      for (const raw of inbox) await c.append('INBOX', raw);
      for (const raw of journal) await c.append('Journal', raw);
    });
    const { ws, proxy } = await setup(user, { mailbox: ['INBOX', 'Journal'] });
    try {
      const s = await drain(ws);
      assert.equal(s.taken, 6, 'every message of both folders is taken');
      assert.deepEqual(Object.keys(s.connections).sort(), ['journal/INBOX', 'journal/Journal']);
      assert.equal(s.connections['journal/INBOX']!.taken, 3);
      assert.equal(s.connections['journal/Journal']!.taken, 3);
      assert.equal(await dovecot.messageCount(user.username, 'INBOX'), 0);
      assert.equal(await dovecot.messageCount(user.username, 'Journal'), 0);
      // Six taken; the byte-identical copy in Journal is the same archived message of the same
      // connection (content-hash dedup), stored once.
      const stats = await runCli(['stats', '--json'], ws);
      const st = JSON.parse(stats.stdout) as { messages: number; blobs: number; connections: Record<string, unknown> };
      assert.equal(st.messages, 5);
      assert.equal(st.blobs, 5);
      assert.deepEqual(Object.keys(st.connections), ['journal'], 'one connection in the archive');
      assert.ok(proxy.commands(/^SELECT "?Journal"?$/i).length >= 1, 'Journal was selected');
      assert.equal((await drain(ws)).taken, 0);
    } finally {
      ws.cleanup();
    }
  });

  test('a missing mailbox fails with SOURCE_MAILBOX_NOT_FOUND and touches nothing', async () => {
    const { user } = await userWith(2);
    const { ws } = await setup(user, { mailbox: 'NoSuchFolder' });
    try {
      const r = await runCli(['drain'], ws);
      assert.notEqual(r.code, 0);
      const lines = r.stderr.split('\n').filter((l) => l.startsWith('mailsluice: '));
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /^mailsluice: SOURCE_MAILBOX_NOT_FOUND: .*NoSuchFolder/);
      assert.equal(await dovecot.messageCount(user.username), 2);
    } finally {
      ws.cleanup();
    }
  });
});

describe('UIDVALIDITY', () => {
  test('a UIDVALIDITY change archives nothing twice, and new mail is still taken', async () => {
    const { user } = await userWith(4);
    const { ws } = await setup(user, { deletePolicy: 'leave' });
    try {
      assert.equal((await drain(ws)).taken, 4);
      assert.equal(await archived(ws), 4);
      const before = await withImap(dovecot, user, 'INBOX', async (c) => (c.mailbox as { uidValidity: bigint }).uidValidity);
      await execFileP('doveadm', ['-c', dovecot.configPath, 'mailbox', 'update', '-u', user.username, '--uid-validity', String(Number(before) + 1000), 'INBOX']);
      const after = await withImap(dovecot, user, 'INBOX', async (c) => (c.mailbox as { uidValidity: bigint }).uidValidity);
      assert.notEqual(after, before, 'Dovecot must report a new UIDVALIDITY');

      await drain(ws);
      assert.equal(await archived(ws), 4, 'the same 4 messages under new UIDs must not be archived again');
      await dovecot.deliverMany(user.username, messages(2, 'after-uidvalidity', 50));
      const third = await drain(ws);
      assert.equal(third.taken, 2);
      assert.equal(await archived(ws), 6);
      assert.equal((await drain(ws)).taken, 0);
    } finally {
      ws.cleanup();
    }
  });
});
