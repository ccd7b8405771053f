/**
 * The compress stage (deferred compression of large bodies) against the real pack-file blob store
 * and the real SQLite store: staged blobs end up compressed and byte-identical, emptied staging
 * packs are deleted only when no row references them and no writer holds them, and a crash at
 * any step (simulated step by step, and by SIGKILL of a child) loses nothing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { collectStaging, runCompressStage } from '../../src/core/archive/compress-stage.js';
import { STAGING_REF_PREFIX } from '../../src/core/ports/blob-store.js';
import { openArchive, realClock, seed, seedMessage, sha256, silent, verifyAll, type Archive } from './compress-fixture.js';

async function withArchive(fn: (a: Archive) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'mailsluice-compress-test-'));
  const a = await openArchive(dir);
  try {
    await fn(a);
  } finally {
    await a.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const stagingFiles = async (a: Archive): Promise<string[]> => (await readdir(join(a.dir, 'blobs'))).filter((n) => n.startsWith('stage-'));
const deps = (a: Archive) => ({ store: a.store, blobs: a.blobs, logger: silent, clock: realClock });

test('compress stage: staged blobs are rewritten compressed, byte-identical, and the staging pack is deleted', () =>
  withArchive(async (a) => {
    const expected = await seed(a, 12);
    const staged = await a.store.listStagedBlobs(100);
    assert.equal(staged.length, 4, 'every third message is large and staged');
    assert.ok(staged.every((b) => b.blob.ref.startsWith(STAGING_REF_PREFIX) && b.blob.storedSize === b.size), 'staged raw');
    assert.equal((await stagingFiles(a)).length, 1);
    const before = await a.store.stats();

    const totals = await runCompressStage({ ...deps(a), deleteGraceMs: 0 }, () => true);

    assert.equal(totals.blobs, 4);
    assert.equal(totals.containersDeleted, 1);
    assert.equal(totals.failed, 0);
    assert.ok(totals.storedBytes < totals.rawBytes * 0.9, `stored ${totals.storedBytes} of ${totals.rawBytes} raw`);
    assert.deepEqual(await a.store.listStagedBlobs(100), []);
    assert.deepEqual(await stagingFiles(a), [], 'staging pack deleted');
    assert.deepEqual(await a.blobs.listStagingContainers(), []);
    const after = await a.store.stats();
    assert.ok(after.storedBytes < before.storedBytes, `stored bytes ${before.storedBytes} -> ${after.storedBytes}`);
    assert.deepEqual(await verifyAll(a, expected), []);
    // Streaming the rewritten large blobs back is identical too.
    for await (const item of a.store.listForExport()) {
      const parts: Buffer[] = [];
      for await (const c of a.blobs.stream(item.blob)) parts.push(Buffer.from(c));
      assert.equal(sha256(Buffer.concat(parts)), item.sha256);
    }
  }));

test('compress stage: a staging pack of a writer still open is never deleted, and its later commits stay readable', () =>
  withArchive(async (a) => {
    const expected = await seed(a, 3); // message 0 staged by a closed writer
    const w = await a.blobs.openWriter();
    const raw = seedMessage(30); // large: staged by the open writer, synced, not committed yet
    const put = await w.put((async function* () { yield raw; })(), () => false);
    await w.sync();
    assert.ok(put.location?.ref.startsWith(STAGING_REF_PREFIX));
    const totals = await runCompressStage({ ...deps(a), deleteGraceMs: 0 }, () => true);
    assert.equal(totals.blobs, 1);
    assert.equal(totals.containersDeleted, 1, 'only the closed writer\'s staging pack');
    assert.equal((await stagingFiles(a)).length, 1, 'the open writer\'s staging pack stays');
    // The drain commits it now: it must be readable, and the next run compresses it.
    await a.store.commitTaken([{ connection: 'c', sourceKey: 'imap:INBOX:1:31', mailbox: 'INBOX', uidValidity: 1, uid: 31, uidl: null, sha256: put.sha256, size: put.size, blob: put.location, takenAt: 0 }]);
    expected.set(put.sha256, raw);
    assert.deepEqual(await verifyAll(a, expected), []);
    await runCompressStage({ ...deps(a), deleteGraceMs: 0 }, () => true);
    assert.equal((await stagingFiles(a)).length, 1, 'still held by the open writer');
    await w.close();
    assert.equal(await collectStaging(deps(a), 0), 1);
    assert.deepEqual(await stagingFiles(a), []);
    assert.deepEqual(await verifyAll(a, expected), []);
  }));

test('compress stage: a crash between the compressed copy and the ref update, or before the delete, loses nothing', () =>
  withArchive(async (a) => {
    const expected = await seed(a, 9);
    const staged = await a.store.listStagedBlobs(100);
    assert.equal(staged.length, 3);
    // Step 1 only: compressed copies written and synced, then "crash" (no ref update).
    const w = await a.blobs.openWriter();
    const copies = [];
    for (const b of staged) copies.push({ sha256: b.sha256, from: b.blob, to: await w.recompress(b.blob, b.sha256) });
    await w.sync();
    await w.close();
    assert.equal((await a.store.listStagedBlobs(100)).length, 3, 'rows still point at the staged copies');
    assert.deepEqual(await verifyAll(a, expected), []);
    // Steps 1 and 2 for the first blob: ref moved, then "crash" before the staging pack is deleted.
    assert.equal(await a.store.relocateBlobs([copies[0]!]), 1);
    assert.equal(await a.store.relocateBlobs([copies[0]!]), 0, 'a row that moved already is left alone');
    assert.equal((await stagingFiles(a)).length, 1);
    assert.equal(await a.store.countBlobRefs((await a.blobs.listStagingContainers())[0]!.refPrefix), 2);
    assert.deepEqual(await verifyAll(a, expected), []);
    // Nothing is deleted while a row still references the pack.
    assert.equal(await collectStaging(deps(a), 0), 0);
    assert.equal((await stagingFiles(a)).length, 1);
    // Restart: the stage redoes what is left and deletes the pack.
    const totals = await runCompressStage({ ...deps(a), deleteGraceMs: 0 }, () => true);
    assert.equal(totals.blobs, 2);
    assert.equal(totals.containersDeleted, 1);
    assert.deepEqual(await stagingFiles(a), []);
    assert.deepEqual(await verifyAll(a, expected), []);
  }));

test('compress stage: the grace period keeps an emptied staging pack for readers holding old refs', () =>
  withArchive(async (a) => {
    const expected = await seed(a, 3);
    const [old] = await a.store.listStagedBlobs(1);
    assert.ok(old);
    let now = 1_000_000;
    const clock = { now: () => now, sleep: async () => {} };
    const t = await runCompressStage({ ...deps(a), clock, deleteGraceMs: 60_000 }, () => true);
    assert.equal(t.containersDeleted, 0);
    assert.ok((await a.blobs.read(old.blob, old.sha256)).equals(expected.get(old.sha256)!), 'an old ref still reads');
    const seen = new Map<string, number>();
    assert.equal(await collectStaging({ ...deps(a), clock }, 60_000, seen), 0);
    now += 60_000;
    assert.equal(await collectStaging({ ...deps(a), clock }, 60_000, seen), 1);
    assert.deepEqual(await verifyAll(a, expected), []);
  }));

test('compress stage: SIGKILL at any point of a run loses nothing, and the next run finishes', { timeout: 120_000 }, async () => {
  const child = fileURLToPath(new URL('./compress-stage-child.js', import.meta.url));
  for (const killAfter of [1, 2, 4]) {
    const dir = await mkdtemp(join(tmpdir(), 'mailsluice-compress-crash-'));
    try {
      let a = await openArchive(dir);
      const expected = await seed(a, 18); // 6 staged blobs
      await a.close();
      // Kill after the n-th relocation line (plus a random few ms, to land anywhere in the next blob).
      const p = spawn(process.execPath, [child, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
      let lines = 0;
      const ended = new Promise<string>((resolve) => {
        p.stdout.on('data', (d: Buffer) => {
          lines += (d.toString().match(/^relocated/gm) ?? []).length;
          if (lines >= killAfter && p.exitCode === null) setTimeout(() => p.kill('SIGKILL'), Math.floor(Math.random() * 20));
        });
        p.on('exit', (code, sig) => resolve(sig ?? String(code)));
      });
      const how = await ended;
      if (process.env.COMPRESS_CRASH_DEBUG) console.error(`child ended: ${how} after ${lines} relocations`);
      a = await openArchive(dir);
      assert.deepEqual(await verifyAll(a, expected), [], `after the child ended (${how}, ${lines} relocations)`);
      const totals = await runCompressStage({ store: a.store, blobs: a.blobs, logger: silent, clock: realClock, deleteGraceMs: 0 }, () => true);
      assert.equal(totals.failed, 0);
      assert.deepEqual(await a.store.listStagedBlobs(100), []);
      assert.deepEqual((await readdir(join(dir, 'blobs'))).filter((n) => n.startsWith('stage-')), []);
      assert.deepEqual(await verifyAll(a, expected), []);
      await a.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
});
