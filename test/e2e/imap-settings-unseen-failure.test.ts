/**
 * IMAP setting unseenOnly, its failure half (SPEC "Connection settings": "a message that fails to
 * archive (e.g. disk full) is left flagged so it is not retried forever, and reported").
 *
 * Archiving really fails: `mailsluice drain` runs under a file size limit (`ulimit -f`, RLIMIT_FSIZE;
 * Node ignores SIGXFSZ, so a write past it fails with EFBIG, the same path as ENOSPC) that one
 * large message cannot fit into a pack file under, while the others can. Server state (flags,
 * what is left) is read with imapflow directly, the archive with `mailsluice export`.
 *
 * The designed outcome: the drain takes everything else, flags the failed message \Seen, leaves
 * it on the server without a server action, names it in the connection log and on stderr, prints
 * `failed` in its JSON summary and exits 1 with MESSAGES_NOT_ARCHIVED; later drains do not take it
 * (it is seen) but take new mail as usual.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startDovecot, type DovecotInstance } from '../harness/dovecot.js';
import { assertArchiveHolds } from '../harness/archive.js';
import { BIN, collectCli, makeWorkspace, runCli, imapConnection, type CliResult, type Workspace } from '../harness/cli.js';
import { makeMessage, sha256 } from '../harness/messages.js';
import { serverMessages } from '../harness/imap-proxy.js';

/** RLIMIT_FSIZE of the limited drains, in KiB (bash `ulimit -f` counts 1024-byte blocks). */
const FILE_LIMIT_KIB = 8 * 1024;

let dovecot: DovecotInstance;
before(async () => {
  dovecot = await startDovecot();
});
after(async () => {
  await dovecot?.stop();
});

/** Runs the CLI like `runCli`, but with every file it writes limited to `kib` KiB. */
function runCliLimited(args: string[], ws: Workspace, kib: number): Promise<CliResult> {
  return collectCli(
    spawn('bash', ['-c', `ulimit -f ${kib} && exec "$0" "$@"`, process.execPath, BIN, ...args, '--config', ws.configPath], {
      cwd: ws.dir,
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
}

interface Summary {
  taken: number;
  failed: number;
  connections: Record<string, { taken: number; failed: number; actioned: number; state: string }>;
}

function summaryOf(r: CliResult): Summary {
  return JSON.parse(r.stdout.trim()) as Summary;
}

/** Messages as the server holds them, by SHA-256 of their bytes. */
async function onServer(user: { username: string; password: string }): Promise<Map<string, { uid: number; flags: Set<string> }>> {
  return new Map((await serverMessages(dovecot, user)).map((m) => [sha256(m.source), { uid: m.uid, flags: m.flags }]));
}

/**
 * A small journal with one message too large for a pack file under the limit (~10 MB, streamed in
 * chunks) among small ones, one of 1–4 MiB (fetched whole) and one over 4 MiB that fits.
 */
function journal(tag: string): { raws: Buffer[]; poison: Buffer } {
  const small = (i: number): Buffer => makeMessage(i, { bodyBytes: 2000, tag });
  const poison = makeMessage(4, { attachmentBytes: 7_500_000, tag: `${tag} too large` });
  const raws = [small(1), small(2), makeMessage(3, { attachmentBytes: 1_200_000, tag }), poison, small(5), makeMessage(6, { attachmentBytes: 3_300_000, tag }), small(7)];
  assert.ok(poison.length > FILE_LIMIT_KIB * 1024, 'the poison message cannot fit under the limit');
  assert.ok(raws[5]!.length > 4 * 1024 * 1024 && raws[5]!.length < FILE_LIMIT_KIB * 1024 - 1024 * 1024, 'the other large one fits');
  return { raws, poison };
}

describe('unseenOnly: a message that fails to archive', { concurrency: true }, () => {
  test('is flagged \\Seen, left on the server, reported, and not taken again; the rest and later mail are taken', async () => {
    const user = await dovecot.createUser();
    const { raws, poison } = journal('leave');
    await dovecot.loadMaildir(user.username, raws);
    // leave: every message stays on the server, so what was flagged can be told from what was not.
    const ws = makeWorkspace({ connections: [imapConnection(dovecot, user, { unseenOnly: true, deletePolicy: 'leave' })] });
    try {
      const limited = await runCliLimited(['drain', '--json'], ws, FILE_LIMIT_KIB);
      // Everything else was done; exit 1 and one line say not everything could be archived.
      assert.equal(limited.code, 1, `${limited.stdout}\n${limited.stderr}`);
      assert.match(limited.stderr, /^mailsluice: MESSAGES_NOT_ARCHIVED: 1 message could not be archived \(journal: 1\)/m);
      const s = summaryOf(limited);
      assert.equal(s.failed, 1);
      assert.deepEqual({ taken: s.connections.journal!.taken, failed: s.connections.journal!.failed, state: s.connections.journal!.state }, { taken: 6, failed: 1, state: 'stopped' });

      const server = await onServer(user);
      assert.equal(server.size, raws.length, 'every message is still on the server');
      const poisonOnServer = server.get(sha256(poison))!;
      assert.ok(poisonOnServer.flags.has('\\Seen'), 'the failed message is flagged \\Seen');
      assert.ok(!poisonOnServer.flags.has('\\Deleted'), 'and given no server action');
      for (const raw of raws) if (raw !== poison) assert.ok(!server.get(sha256(raw))!.flags.has('\\Seen'), 'the others are untouched (leave, fetched with PEEK)');

      // Reported by key, with the archive's error, on stderr and in the connection log.
      const line = limited.stderr.split('\n').find((l) => l.includes('message could not be archived; left on the server flagged'));
      assert.ok(line, limited.stderr);
      const record = JSON.parse(line) as { key: string; code: string; error: string };
      assert.match(record.key, new RegExp(`^imap:INBOX:\\d+:${poisonOnServer.uid}$`));
      assert.equal(record.code, 'STORE_WRITE_FAILED');
      assert.match(record.error, /^file too large for the file system writing /);
      const logs = await runCli(['logs', 'journal'], ws);
      assert.equal(logs.code, 0, logs.stderr);
      assert.ok(logs.stdout.includes(record.key) && logs.stdout.includes('message could not be archived'), logs.stdout);

      // A normal drain takes nothing of it: it is seen.
      const again = await runCli(['drain', '--json'], ws);
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual([summaryOf(again).taken, summaryOf(again).failed], [0, 0]);
      assert.equal((await onServer(user)).size, raws.length);

      // New mail is taken as usual.
      const fresh = makeMessage(8, { bodyBytes: 2000, tag: 'leave fresh' });
      await dovecot.deliver(user.username, fresh);
      const later = await runCli(['drain', '--json'], ws);
      assert.equal(later.code, 0, later.stderr);
      assert.deepEqual([summaryOf(later).taken, summaryOf(later).failed], [1, 0]);

      // LMTP adds headers (Return-Path, Delivered-To, Received): the archive holds the bytes as served.
      const loaded = new Set(raws.map(sha256));
      const delivered = (await serverMessages(dovecot, user)).filter((m) => !loaded.has(sha256(m.source)));
      assert.equal(delivered.length, 1);
      assert.ok(!delivered[0]!.flags.has('\\Seen'));
      await assertArchiveHolds(ws, new Map([...raws.filter((r) => r !== poison), delivered[0]!.source].map((r) => [sha256(r), r])));
    } finally {
      ws.cleanup();
    }
  });

  test('with delete-and-expunge, it is the only message left on the server, flagged \\Seen and not deleted', async () => {
    const user = await dovecot.createUser();
    const { raws, poison } = journal('expunge');
    await dovecot.loadMaildir(user.username, raws);
    const ws = makeWorkspace({ connections: [imapConnection(dovecot, user, { unseenOnly: true })] });
    try {
      const limited = await runCliLimited(['drain', '--json'], ws, FILE_LIMIT_KIB);
      assert.equal(limited.code, 1, `${limited.stdout}\n${limited.stderr}`);
      assert.deepEqual([summaryOf(limited).taken, summaryOf(limited).failed], [6, 1]);
      const left = await serverMessages(dovecot, user);
      assert.deepEqual(left.map((m) => sha256(m.source)), [sha256(poison)]);
      assert.deepEqual([...left[0]!.flags].sort(), ['\\Seen']);

      const again = await runCli(['drain', '--json'], ws);
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual([summaryOf(again).taken, summaryOf(again).failed], [0, 0]);
      assert.equal((await serverMessages(dovecot, user)).length, 1);
      await assertArchiveHolds(ws, new Map(raws.filter((r) => r !== poison).map((r) => [sha256(r), r])));
    } finally {
      ws.cleanup();
    }
  });
});
