/**
 * blob-fs's compactor (deferred compression of large bodies, ADR 0018) against the real pack-file
 * blob store and the real SQLite store: staged blobs end up compressed and byte-identical, read
 * through the refs the drain committed before, during and after (from another store on the same
 * directory too), the staging space is freed, a staging pack a writer holds is left alone, the
 * work waits behind the parse stage, resource errors pass, and a crash at any step (simulated
 * step by step, and by SIGKILL of a child) loses nothing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MailsluiceError } from '../../src/core/errors/index.js';
import { createFsBlobStore, mapFsError, type CompactorStep } from '../../src/adapters/blob-fs/index.js';
import { compact, markParsed, openArchive, realClock, seed, seedMessage, sha256, silent, stagedRows, verifyAll, type Archive } from './compactor-fixture.js';

async function withArchive(fn: (a: Archive) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'mailsluice-compactor-test-'));
  const a = await openArchive(dir);
  try {
    await fn(a);
  } finally {
    await a.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const blobFiles = async (a: Archive, prefix: string): Promise<string[]> => (await readdir(join(a.dir, 'blobs'))).filter((n) => n.startsWith(prefix));
const stagingFiles = async (a: Archive): Promise<string[]> => (await blobFiles(a, 'stage-')).filter((n) => n.endsWith('.mspack'));
const redirectFiles = async (a: Archive): Promise<string[]> => (await blobFiles(a, 'stage-')).filter((n) => n.endsWith('.redirect'));
async function diskBytes(a: Archive): Promise<number> {
  let n = 0;
  for (const f of await readdir(join(a.dir, 'blobs'))) n += (await stat(join(a.dir, 'blobs', f))).size;
  return n;
}
/** A second store on the same directory, opened now: it learns of compactions only from the disk. */
const otherStore = (a: Archive) => createFsBlobStore({ directory: join(a.dir, 'blobs') });

test('compactor: staged blobs are rewritten compressed, read byte-identical through their staged refs, and the staging space is freed', () =>
  withArchive(async (a) => {
    const expected = await seed(a, 12);
    await markParsed(a);
    const staged = await stagedRows(a);
    assert.equal(staged.length, 4, 'every third message is large and staged');
    assert.ok(staged.every((b) => b.storedSize === b.size), 'staged raw');
    assert.equal((await stagingFiles(a)).length, 1);
    const before = await diskBytes(a);
    const other = await otherStore(a);

    const totals = await compact(a);

    assert.equal(totals.blobs, 4);
    assert.equal(totals.containersDeleted, 1);
    assert.equal(totals.failed, 0);
    assert.ok(totals.storedBytes < totals.rawBytes * 0.9, `stored ${totals.storedBytes} of ${totals.rawBytes} raw`);
    assert.deepEqual(await stagingFiles(a), [], 'staging pack deleted');
    assert.equal((await redirectFiles(a)).length, 1, 'its redirect record stays');
    assert.equal((await stagedRows(a)).length, 4, 'the rows keep the refs the drain committed');
    const after = await diskBytes(a);
    assert.ok(after < before - (totals.stagedBytes - totals.storedBytes) / 2, `blob directory ${before} -> ${after} bytes (staged ${totals.stagedBytes}, now ${totals.storedBytes})`);
    assert.deepEqual(await verifyAll(a, expected), []);
    assert.deepEqual(await verifyAll({ ...a, blobs: other }, expected), [], 'a store opened before the compaction reads the moved blobs too');
    // Streaming the rewritten large blobs back is identical too, from either store.
    for (const s of [a.blobs, other]) {
      for await (const item of a.store.listForExport()) {
        const parts: Buffer[] = [];
        for await (const c of s.stream(item.blob)) parts.push(Buffer.from(c));
        assert.equal(sha256(Buffer.concat(parts)), item.sha256);
      }
    }
    await other.close();
    // A restart finds nothing left to do and still reads everything.
    const again = await openArchive(a.dir);
    assert.deepEqual(await verifyAll(again, expected), []);
    assert.deepEqual(await compact(again), { blobs: 0, rawBytes: 0, stagedBytes: 0, storedBytes: 0, containersDeleted: 0, failed: 0 });
    await again.close();
  }));

test('compactor: every blob reads byte-identical at every step of a compaction, from this store and from another', () =>
  withArchive(async (a) => {
    const expected = await seed(a, 9);
    await markParsed(a);
    const other = await otherStore(a);
    const steps: string[] = [];
    const checks: Promise<string[]>[] = [];
    await compact(a, {
      onStep: (step) => {
        steps.push(step);
        checks.push(verifyAll(a, expected), verifyAll({ ...a, blobs: other }, expected));
      },
    });
    assert.deepEqual(steps, ['copied', 'copied', 'copied', 'synced', 'redirected', 'deleted']);
    for (const bad of await Promise.all(checks)) assert.deepEqual(bad, []);
    await other.close();
  }));

test('compactor: a writer\'s staging pack is taken once everything in it is synced, never while a record waits for a sync; later commits of its refs read', () =>
  withArchive(async (a) => {
    const expected = await seed(a, 3); // message 0 staged by a closed writer
    await markParsed(a);
    const w = await a.blobs.openWriter();
    // seedMessage is not byte-stable between calls (dates): each body is kept for the check.
    const bodies = new Map<number, Buffer>();
    const large = (i: number) => (async function* () { yield bodies.set(i, seedMessage(i)).get(i)!; })();
    const commit = async (put: Awaited<ReturnType<typeof w.put>>, uid: number) => {
      await a.store.commitTaken([{ connection: 'c', sourceKey: `imap:INBOX:1:${uid}`, mailbox: 'INBOX', uidValidity: 1, uid, uidl: null, sha256: put.sha256, size: put.size, blob: put.location, takenAt: 0 }]);
      expected.set(put.sha256, bodies.get(uid - 1)!);
      await markParsed(a);
    };
    // Synced, not committed yet (the drain commits after the sync): the pack is sealed and taken.
    const first = await w.put(large(30), () => false);
    await w.sync();
    assert.ok(first.location?.ref.startsWith('stage-'));
    const t1 = await compact(a);
    assert.equal(t1.blobs, 2);
    assert.equal(t1.containersDeleted, 2, 'the closed writer\'s staging pack and the open writer\'s, sealed');
    await commit(first, 31);
    assert.deepEqual(await verifyAll(a, expected), [], 'committed after the compaction: read through the redirect');
    // Put, not synced: the pack the writer opened for it is left alone.
    const second = await w.put(large(33), () => false);
    assert.equal((await compact(a)).blobs, 0, 'a record waiting for a sync keeps its pack');
    assert.equal((await stagingFiles(a)).length, 1);
    await w.sync();
    await commit(second, 34);
    assert.deepEqual(await verifyAll(a, expected), []);
    const t2 = await compact(a);
    assert.equal(t2.blobs, 1);
    assert.deepEqual(await stagingFiles(a), []);
    // The writer goes on staging into a new pack.
    const third = await w.put(large(36), () => false);
    await w.sync();
    await commit(third, 37);
    await w.close();
    assert.equal((await compact(a)).blobs, 1);
    assert.deepEqual(await stagingFiles(a), []);
    assert.deepEqual(await verifyAll(a, expected), []);
  }));

test('compactor: a crash after the copies are durable, or after the redirect, loses nothing, and the next run finishes', () =>
  withArchive(async (a) => {
    const expected = await seed(a, 9);
    await markParsed(a);
    const crashAt = (at: CompactorStep) => (step: CompactorStep) => {
      if (step === at) throw new MailsluiceError('INTERNAL', `simulated crash after ${step}`);
    };
    // Copies written and synced, then "crash": the rows still read the staging pack.
    await assert.rejects(compact(a, { onStep: crashAt('synced') }), /simulated crash after synced/);
    assert.equal((await stagingFiles(a)).length, 1);
    assert.deepEqual(await redirectFiles(a), []);
    assert.deepEqual(await verifyAll(a, expected), []);
    // Redirect durable, then "crash" before the staging pack is deleted: both read.
    await assert.rejects(compact(a, { onStep: crashAt('redirected') }), /simulated crash after redirected/);
    assert.equal((await stagingFiles(a)).length, 1);
    assert.equal((await redirectFiles(a)).length, 1);
    assert.deepEqual(await verifyAll(a, expected), []);
    const restarted = await openArchive(a.dir);
    assert.deepEqual(await verifyAll(restarted, expected), []);
    // The next run only deletes the staging pack: its redirect is whole.
    const totals = await compact(restarted);
    assert.equal(totals.blobs, 0);
    assert.equal(totals.containersDeleted, 1);
    assert.deepEqual(await stagingFiles(restarted), []);
    assert.deepEqual(await verifyAll(restarted, expected), []);
    assert.deepEqual(await verifyAll(a, expected), []);
    await restarted.close();
  }));

test('compactor: SIGKILL at any point of a run loses nothing, and the next run finishes', { timeout: 120_000 }, async () => {
  const child = fileURLToPath(new URL('./compactor-child.js', import.meta.url));
  // 6 staged blobs in one staging pack: 6 copies, the sync, the redirect, the delete.
  for (const killAfter of [1, 4, 6, 7, 8]) {
    const dir = await mkdtemp(join(tmpdir(), 'mailsluice-compactor-crash-'));
    try {
      let a = await openArchive(dir);
      const expected = await seed(a, 18);
      await markParsed(a);
      await a.close();
      // Kill after the n-th step line (plus a random few ms, to land anywhere in the next step).
      const p = spawn(process.execPath, [child, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
      let lines = 0;
      const ended = new Promise<string>((resolve) => {
        p.stdout.on('data', (d: Buffer) => {
          lines += (d.toString().match(/^step/gm) ?? []).length;
          if (lines >= killAfter && p.exitCode === null) setTimeout(() => p.kill('SIGKILL'), Math.floor(Math.random() * 20));
        });
        p.on('exit', (code, sig) => resolve(sig ?? String(code)));
      });
      const how = await ended;
      a = await openArchive(dir);
      assert.deepEqual(await verifyAll(a, expected), [], `after the child ended (${how}, ${lines} steps)`);
      const totals = await compact(a);
      assert.equal(totals.failed, 0);
      assert.deepEqual((await readdir(join(dir, 'blobs'))).filter((n) => n.startsWith('stage-') && !n.endsWith('.redirect')), []);
      assert.deepEqual(await verifyAll(a, expected), []);
      await a.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
});

test('compactor: a staging pack left by a crashed drain (a torn tail) is compacted, its tail dropped', () =>
  withArchive(async (a) => {
    const expected = await seed(a, 6);
    await markParsed(a);
    // A torn record after the last sync: a header hole and some payload, as a crash leaves it.
    const [name] = await stagingFiles(a);
    const { appendFile } = await import('node:fs/promises');
    await appendFile(join(a.dir, 'blobs', name!), Buffer.concat([Buffer.alloc(64), Buffer.alloc(5000, 'x')]));
    const totals = await compact(a);
    assert.equal(totals.failed, 0);
    assert.equal(totals.blobs, 2);
    assert.deepEqual(await stagingFiles(a), []);
    assert.deepEqual(await verifyAll(a, expected), []);
  }));

test('compactor: a staging pack damaged before its end stays staged and readable, and is reported', () =>
  withArchive(async (a) => {
    const expected = await seed(a, 6); // two staged blobs
    await markParsed(a);
    const [first] = (await stagedRows(a)).sort((x, y) => (x.ref < y.ref ? -1 : 1));
    const [name] = await stagingFiles(a);
    const offset = Number(first!.ref.split(':')[1]);
    // Bit rot in the first record's payload: the scan stops there, but a valid record follows.
    const { open } = await import('node:fs/promises');
    const fh = await open(join(a.dir, 'blobs', name!), 'r+');
    await fh.write(Buffer.from('rot'), 0, 3, offset + 64 + 100);
    await fh.close();
    const errors: string[] = [];
    const totals = await compact(a, { logger: { ...silent, error: (m: string) => void errors.push(m) } });
    assert.equal(totals.failed, 1);
    assert.equal(totals.containersDeleted, 0);
    assert.equal((await stagingFiles(a)).length, 1, 'kept');
    assert.equal(errors.length, 1);
    expected.delete(first!.sha256);
    const bad = await verifyAll(a, expected);
    assert.deepEqual(bad.filter((b) => !b.startsWith(first!.sha256)), [], 'every other blob reads');
  }));

test('compactor: nothing is compacted while any message waits to be parsed, and a drain waits for that', () =>
  withArchive(async (a) => {
    const expected = await seed(a, 6); // messages 0 and 3 large, staged
    const staged = await stagedRows(a);
    assert.equal(staged.length, 2);
    const [first, second] = staged.map((b) => b.sha256) as [string, string];
    // The first blob is taken again by another connection (dedup: no new blob), not parsed yet there.
    await a.store.commitTaken([{ connection: 'd', sourceKey: 'imap:INBOX:1:1', mailbox: 'INBOX', uidValidity: 1, uid: 1, uidl: null, sha256: first, size: expected.get(first)!.length, blob: null, takenAt: 0 }]);
    await markParsed(a, (m) => m.connection === 'c' && m.sha256 !== second);
    let allParsed = false as boolean;
    const steps: Array<{ step: string; allParsed: boolean }> = [];
    let finished = false;
    const run = compact(a, { parsePollMs: 10, parseWaitMs: 60_000, onStep: (step) => void steps.push({ step, allParsed }) }).finally(() => (finished = true));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(steps.length, 0, 'nothing taken while messages wait to be parsed');
    assert.equal(finished, false, 'the drain\'s run keeps going while staged blobs wait for the parse stage');
    await markParsed(a, (m) => m.connection === 'd');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(steps.length, 0, 'nothing taken while a message waits to be parsed');
    assert.equal(finished, false);
    allParsed = true;
    await markParsed(a);
    const totals = await run;
    assert.ok(steps.length > 0 && steps.every((s) => s.allParsed), JSON.stringify(steps));
    assert.equal(totals.blobs, 2);
    assert.equal(totals.containersDeleted, 1);
    assert.deepEqual(await stagingFiles(a), []);
    assert.deepEqual(await verifyAll(a, expected), []);
  }));

test('compactor: when parsing does not move for parseWaitMs, staged blobs are compacted unparsed, and a drain ends', () =>
  withArchive(async (a) => {
    const expected = await seed(a, 6); // two staged blobs, no message parsed (a failed index stage)
    let now = 1_000_000;
    const clock = { now: () => now, sleep: async (ms: number) => void (now += ms) };
    const warnings: string[] = [];
    const logger = { ...silent, warn: (msg: string) => void warnings.push(msg) };
    const totals = await compact(a, { clock, logger, parseWaitMs: 30_000 });
    assert.ok(now - 1_000_000 >= 30_000, `waited ${now - 1_000_000} ms for the parse stage first`);
    assert.ok(now - 1_000_000 < 31_000, `then stopped waiting (${now - 1_000_000} ms)`);
    assert.equal(totals.blobs, 2);
    assert.equal(totals.containersDeleted, 1);
    assert.equal(warnings.length, 1, warnings.join('; '));
    assert.deepEqual(await stagingFiles(a), []);
    assert.deepEqual(await verifyAll(a, expected), []);
  }));

test('compactor: too many open files (EMFILE) is a resource error that passes, never corruption: it waits, tries again and finishes', () =>
  withArchive(async (a) => {
    const expected = await seed(a, 6);
    await markParsed(a);
    // What the file system says when the process (a script, once) has used up its descriptors.
    const emfile = (syscall: string, path: string): Error => Object.assign(new Error(`EMFILE: too many open files, ${syscall} '${path}'`), { code: 'EMFILE', syscall, path });
    const store = a.blobs as unknown as Record<string, (...args: never[]) => unknown>;
    const list = a.blobs.listStagingPacks.bind(a.blobs);
    const streamStaged = a.blobs.streamStaged.bind(a.blobs);
    let listFailures = 1;
    let readFailures = 1;
    store['listStagingPacks'] = async () => {
      if (listFailures-- > 0) throw mapFsError(emfile('scandir', a.dir), 'reading', a.dir);
      return list();
    };
    store['streamStaged'] = ((ref: Parameters<typeof streamStaged>[0]) =>
      (async function* () {
        if (readFailures-- > 0) throw mapFsError(emfile('open', 'stage'), 'reading', 'stage');
        yield* streamStaged(ref);
      })()) as never;
    const warnings: string[] = [];
    const logger = { ...silent, warn: (msg: string, f?: Record<string, unknown>) => void warnings.push(`${msg} ${String(f?.['code'])}`), error: (msg: string) => void warnings.push(`ERROR ${msg}`) };
    const totals = await compact(a, { clock: realClock, logger });
    assert.equal(totals.failed, 0, 'no blob was set aside as unreadable');
    assert.equal(totals.blobs, 2, 'every staged blob was compressed after all');
    assert.deepEqual(await stagingFiles(a), []);
    assert.deepEqual(warnings, ['compress stage failed for now; trying again later STORE_RESOURCE_EXHAUSTED', 'compress stage failed for now; trying again later STORE_RESOURCE_EXHAUSTED']);
    assert.deepEqual(await verifyAll(a, expected), []);
  }));
