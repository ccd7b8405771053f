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
import { mapFsError } from '../../src/adapters/blob-fs/index.js';
import { markParsed, openArchive, realClock, seed, seedMessage, sha256, silent, verifyAll, type Archive } from './compress-fixture.js';

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
    await markParsed(a);
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
    await markParsed(a);
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
    await markParsed(a);
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
    await markParsed(a);
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
    await markParsed(a);
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
      await markParsed(a);
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

test('compress stage: nothing is taken while any message waits to be parsed, and a drain waits for that', () =>
  withArchive(async (a) => {
    const expected = await seed(a, 6); // messages 0 and 3 large, staged
    const staged = await a.store.listStagedBlobs(100);
    assert.equal(staged.length, 2);
    const [first, second] = staged.map((b) => b.sha256) as [string, string];
    // The first blob is taken again by another connection (dedup: no new blob), not parsed yet there.
    await a.store.commitTaken([{ connection: 'd', sourceKey: 'imap:INBOX:1:1', mailbox: 'INBOX', uidValidity: 1, uid: 1, uidl: null, sha256: first, size: expected.get(first)!.length, blob: null, takenAt: 0 }]);
    // Everything of connection c parsed except the second staged blob's message.
    await markParsed(a, (m) => m.connection === 'c' && m.sha256 !== second);
    assert.deepEqual(await a.store.listStagedBlobs(100, '', { parsedOnly: true }), [], 'each staged blob has a message waiting');
    assert.deepEqual(await a.store.stagedParseBacklog(), { stagedBlobs: 2, unparsedMessages: 2 });

    // Every relocation is checked against the parse queue at the moment it happens.
    const relocated: string[] = [];
    const early: string[] = [];
    const store = new Proxy(a.store, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (prop === 'relocateBlobs') {
          return async (...args: Parameters<typeof target.relocateBlobs>) => {
            const waiting = new Set((await target.listUnparsed(100_000)).map((m) => m.sha256));
            for (const m of args[0]) {
              relocated.push(m.sha256);
              if (waiting.has(m.sha256)) early.push(m.sha256);
            }
            return target.relocateBlobs(...args);
          };
        }
        return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(target) : v;
      },
    });
    let finished = false;
    const run = runCompressStage({ ...deps(a), store, deleteGraceMs: 0, parsePollMs: 10, parseWaitMs: 60_000 }, () => true).finally(() => (finished = true));
    const until = async (what: () => boolean, label: string): Promise<void> => {
      for (const t0 = Date.now(); !what(); await new Promise((r) => setTimeout(r, 10))) if (Date.now() - t0 > 10_000) assert.fail(label);
    };

    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(relocated, [], 'nothing taken while every staged blob has a message waiting');
    assert.equal(finished, false, 'the drain\'s stage keeps going while staged blobs wait for the parse stage');

    // The first blob's messages are all parsed now, but the second's is not: compression gives
    // the parse stage the CPU until its queue is empty, so neither moves yet.
    await markParsed(a, (m) => m.connection === 'd');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(relocated, [], 'nothing taken while a message waits to be parsed');
    assert.equal((await a.store.listStagedBlobs(100)).length, 2, 'both blobs are still staged');
    assert.equal(finished, false);

    await markParsed(a);
    const totals = await run;
    await until(() => finished, 'the drain\'s stage ends');
    assert.deepEqual(relocated, [first, second]);
    assert.deepEqual(early, [], 'no blob moved while a message referencing it waited to be parsed');
    assert.equal(totals.blobs, 2);
    assert.equal(totals.containersDeleted, 1);
    assert.deepEqual(await a.store.listStagedBlobs(100), []);
    assert.deepEqual(await stagingFiles(a), []);
    assert.deepEqual(await verifyAll(a, expected), []);
  }));

test('compress stage: when parsing does not move for parseWaitMs, staged blobs are taken unparsed once, and a drain ends', () =>
  withArchive(async (a) => {
    const expected = await seed(a, 6); // two staged blobs, no message parsed (a failed index stage)
    let now = 1_000_000;
    const clock = { now: () => now, sleep: async (ms: number) => void (now += ms) };
    const warnings: string[] = [];
    const logger = { ...silent, warn: (msg: string) => void warnings.push(msg) };
    const totals = await runCompressStage({ ...deps(a), clock, logger, deleteGraceMs: 0, parseWaitMs: 30_000 }, () => true);
    assert.ok(now - 1_000_000 >= 30_000, `waited ${now - 1_000_000} ms for the parse stage first`);
    assert.ok(now - 1_000_000 < 31_000, `then stopped waiting (${now - 1_000_000} ms)`);
    assert.equal(totals.blobs, 2);
    assert.equal(totals.containersDeleted, 1);
    assert.equal(warnings.length, 1, warnings.join('; '));
    assert.deepEqual(await a.store.listStagedBlobs(100), []);
    assert.deepEqual(await verifyAll(a, expected), []);
  }));

test('compress stage: too many open files (EMFILE) is a resource error that passes, never corruption: the stage waits, tries again and finishes', () =>
  withArchive(async (a) => {
    const expected = await seed(a, 6);
    await markParsed(a);
    // What the file system says when the process (a script, once) has used up its descriptors.
    const emfile = (syscall: string, path: string): Error => Object.assign(new Error(`EMFILE: too many open files, ${syscall} '${path}'`), { code: 'EMFILE', syscall, path });
    let recompressFailures = 1;
    let listFailures = 1;
    const blobs = new Proxy(a.blobs, {
      get(target, prop, receiver) {
        if (prop === 'openWriter') {
          return async () => {
            const w = await target.openWriter();
            return new Proxy(w, {
              get(wt, wp) {
                if (wp === 'recompress') {
                  return async (loc: { ref: string }, sha: string) => {
                    if (recompressFailures-- > 0) throw mapFsError(emfile('open', loc.ref), 'reading', loc.ref);
                    return wt.recompress(loc as never, sha);
                  };
                }
                const v = Reflect.get(wt, wp) as unknown;
                return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(wt) : v;
              },
            });
          };
        }
        if (prop === 'listStagingContainers') {
          return async () => {
            if (listFailures-- > 0) throw mapFsError(emfile('scandir', a.dir), 'reading', a.dir);
            return target.listStagingContainers();
          };
        }
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(target) : v;
      },
    });
    const warnings: string[] = [];
    const logger = { ...silent, warn: (msg: string, f?: Record<string, unknown>) => void warnings.push(`${msg} ${String(f?.['code'])}`), error: (msg: string) => void warnings.push(`ERROR ${msg}`) };
    const totals = await runCompressStage({ ...deps(a), blobs, logger, deleteGraceMs: 0 }, () => true);
    assert.equal(totals.failed, 0, 'no blob was set aside as unreadable');
    assert.equal(totals.blobs, 2, 'every staged blob was compressed after all');
    assert.deepEqual(await a.store.listStagedBlobs(100), []);
    assert.deepEqual(warnings, ['compress stage failed for now; trying again later STORE_RESOURCE_EXHAUSTED', 'compress stage failed for now; trying again later STORE_RESOURCE_EXHAUSTED']);
    assert.deepEqual(await verifyAll(a, expected), []);
  }));
