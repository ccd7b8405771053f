/**
 * A full disk under `start` (issue 12, item 9): the data directory is a small tmpfs, partly
 * taken by a filler file, and the mailbox holds more than the rest. The service must stay up,
 * say in its log that the disk is full and taking is paused, delete nothing it did not store,
 * and, once the filler is deleted, go on by itself until the mailbox is empty, every message
 * archived byte for byte. Before, the first failed write of the index stage ended the process
 * ("index stage failed; stopping"), a crash loop under a supervisor.
 *
 * Needs root (mount); skipped otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, statfsSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { assertArchiveHolds } from '../harness/archive.js';
import { imapConnection, makeWorkspace, spawnCli } from '../harness/cli.js';
import { makeMessage, sha256 } from '../harness/messages.js';

const dovecot = dovecotPerFile();
const MB = 1024 * 1024;

async function waitUntil(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const isRoot = process.getuid?.() === 0;

test('start on a full disk stays up, pauses taking, says so, and resumes by itself when space returns', { skip: !isRoot && 'needs root to mount a tmpfs' }, async () => {
  const mount = mkdtempSync(join(tmpdir(), 'ms-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m,mode=0700', 'tmpfs', mount]);
  try {
    // Leave about 6 MB free; the mailbox holds about 12 MB (staged raw: no compression on the way
    // in). One message per cycle, so the first ones are committed before the disk fills, and the
    // index stage then has results to save on a full disk (where `start` used to stop).
    const filler = join(mount, 'filler');
    const free = (): number => {
      const s = statfsSync(mount);
      return s.bavail * s.bsize;
    };
    writeFileSync(filler, Buffer.alloc(free() - 6 * MB, 1));
    const user = await dovecot.createUser();
    const messages = Array.from({ length: 5 }, (_, i) => makeMessage(i, { bodyBytes: 2000, attachmentBytes: 1_800_000 }));
    await dovecot.loadMaildir(user.username, messages);
    const ws = makeWorkspace({ dataDir: join(mount, 'data'), connections: [imapConnection(dovecot, user, { deletePolicy: 'delete-and-expunge', maxMessagesPerCycle: 1 })] });
    const child = spawnCli(['start'], ws);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    let exited = false;
    child.on('exit', () => (exited = true));
    try {
      await waitUntil(() => /the disk is full/.test(stderr) || exited, 60_000, `a disk-full line in the log (stderr: ${stderr.slice(-2000)})`);
      // Several retries' worth of time: still up, still paused, nothing taken that is not stored.
      await new Promise((r) => setTimeout(r, 5_000));
      assert.equal(exited, false, `the service must not exit on a full disk (stderr: ${stderr.slice(-3000)})`);
      assert.match(stderr, /taking is paused until space returns/);
      const left = await dovecot.messageCount(user.username);
      assert.ok(left > 0, 'not everything fits: some mail waits on the server');

      unlinkSync(filler);
      await waitUntil(async () => exited || (await dovecot.messageCount(user.username)) === 0, 120_000, `the mailbox to empty after space returned (stderr: ${stderr.slice(-3000)})`);
      assert.equal(exited, false, `the service must not exit (stderr: ${stderr.slice(-3000)})`);
    } finally {
      if (!exited) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    }
    await assertArchiveHolds(ws, new Map(messages.map((m) => [sha256(m), m])), 'after the disk filled and was freed');
    ws.cleanup();
  } finally {
    execFileSync('umount', ['-l', mount]);
    rmSync(mount, { recursive: true, force: true });
  }
});
