/**
 * The file-system blob store: the BlobStore contract, plus what only packs have (ref format,
 * truncation on dedup, rolling, torn tails, codecs) and the mapping of disk errors.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFile, mkdtemp, open, readdir, readlink, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { isMailsluiceError } from '../../src/core/errors/index.js';
import type { BlobLocation } from '../../src/core/ports/blob-store.js';
import { createFsBlobStore, mapFsError, parseFsBlobRef, scanPack } from '../../src/adapters/blob-fs/index.js';
import type { FsBlobStore, FsBlobStoreOptions } from '../../src/adapters/blob-fs/index.js';
import { RECORD_HEADER_SIZE, encodeRecordHeader } from '../../src/adapters/blob-fs/pack-format.js';
import { chunked, mailLike, runBlobStoreContract } from '../contract/blob-store.contract.js';

const never = (): boolean => false;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function freshDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'mailsluice-blob-test-'));
}

async function packFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.mspack')).sort().map((n) => join(dir, n));
}

/** Flips one payload byte of the record at `location`. */
async function flipByte(store: FsBlobStore, location: BlobLocation): Promise<void> {
  const ref = parseFsBlobRef(location.ref);
  const at = ref.offset + RECORD_HEADER_SIZE + Math.floor(ref.storedSize / 2);
  const fh = await open(store.packPath(ref.packId, ref.staging), 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0] = (b[0] ?? 0) ^ 0x20;
    await fh.write(b, 0, 1, at);
  } finally {
    await fh.close();
  }
}

/** Appends a header that promises 5,000 payload bytes followed by only 100: a crash mid-put. */
async function tearNewestPack(dir: string): Promise<string> {
  const newest = (await packFiles(dir)).at(-1);
  assert.ok(newest, 'there is a pack to tear');
  const payload = Buffer.alloc(5000, 7);
  const header = encodeRecordHeader({ codec: 'none', rawSize: 5000, storedSize: 5000, sha256: sha(payload), payloadCrc: 0 });
  await appendFile(newest, Buffer.concat([header, payload.subarray(0, 100)]));
  return newest;
}

/** A fresh directory and store per contract test; `extra` picks the variant. */
function fsStoreFixture(extra: Partial<FsBlobStoreOptions> = {}) {
  return async () => {
    const dir = await freshDir();
    const options: FsBlobStoreOptions = { directory: dir, ...extra };
    const store = await createFsBlobStore(options);
    return {
      store,
      cleanup: () => rm(dir, { recursive: true, force: true }),
      reopen: () => createFsBlobStore(options),
      corrupt: (location: BlobLocation) => flipByte(store, location),
      tearTail: async () => {
        await tearNewestPack(dir);
      },
    };
  };
}

runBlobStoreContract('fs', fsStoreFixture());

// The same contract with hashing and compression on the calling thread instead of the worker.
runBlobStoreContract('fs (compressionThreads 0)', fsStoreFixture({ compressionThreads: 0 }));

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await freshDir();
  try {
    await fn(dir);
  } finally {
    await chmod(dir, 0o700).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

test('fs: refs have the documented form pack-<id>:<offset>:<storedSize>', () =>
  withDir(async (dir) => {
    const store = await createFsBlobStore({ directory: dir });
    const w = await store.openWriter();
    const text = Buffer.from('Subject: report\r\n\r\n' + 'the quarterly report is attached, please review\r\n'.repeat(100));
    const a = await w.put(chunked(text), never);
    const b = await w.put(chunked(mailLike(6000, 2)), never);
    await w.sync();
    assert.ok(a.location && b.location);
    assert.match(a.location.ref, /^pack-\d{8}:16:\d+$/);
    assert.equal(a.location.ref, `pack-00000001:16:${a.location.storedSize}`);
    assert.equal(parseFsBlobRef(b.location.ref).offset, 16 + RECORD_HEADER_SIZE + a.location.storedSize);
    assert.ok(a.location.storedSize < text.length / 4, 'text is compressed');
    await w.close();
  }));

test('fs: dedup truncates the pack back, for buffered and streamed bodies', () =>
  withDir(async (dir) => {
    const store = await createFsBlobStore({ directory: dir, streamThresholdBytes: 64 * 1024 });
    const w = await store.openWriter();
    const small = mailLike(10_000, 3);
    const big = mailLike(3_000_000, 4);
    await w.put(chunked(small), never);
    await w.put(chunked(big), never);
    await w.sync();
    // The small body in the writer's pack, the big one (streamed) in its staging pack.
    const packs = await packFiles(dir);
    assert.equal(packs.length, 2);
    const sizes = async (): Promise<number[]> => Promise.all(packs.map(async (p) => (await stat(p)).size));
    const before = await sizes();
    assert.equal((await w.put(chunked(small), never)).location, null);
    assert.equal((await w.put(chunked(big), never)).location, null);
    const other = mailLike(2_000_000, 5);
    assert.equal((await w.put(chunked(other), (s) => s === sha(other))).location, null);
    assert.deepEqual(await sizes(), before, 'no duplicate bytes remain');
    let records = 0;
    for (const p of packs) {
      const scan = await scanPack(p);
      assert.equal(scan.tornTail, null);
      records += scan.records;
    }
    assert.equal(records, 2);
    await w.close();
  }));

test('fs: writers roll to a new pack at packRollBytes and every blob stays readable', () =>
  withDir(async (dir) => {
    const store = await createFsBlobStore({ directory: dir, packRollBytes: 64 * 1024 });
    const w = await store.openWriter();
    const blobs = Array.from({ length: 40 }, (_, i) => mailLike(8_000 + i * 100, 100 + i));
    const results = [];
    for (const b of blobs) results.push(await w.put(chunked(b), never));
    await w.sync();
    await w.close();
    const packs = await packFiles(dir);
    assert.ok(packs.length > 1, `rolled into ${packs.length} packs`);
    let records = 0;
    for (const p of packs) {
      const s = await scanPack(p);
      assert.equal(s.tornTail, null);
      records += s.records;
    }
    assert.equal(records, 40);
    const reopened = await createFsBlobStore({ directory: dir });
    for (const [i, r] of results.entries()) {
      assert.ok(r.location);
      assert.ok((await reopened.read(r.location, r.sha256)).equals(blobs[i] as Buffer));
    }
  }));

test('fs: a torn tail is detected by scanPack, and a new writer starts a new pack instead of appending', () =>
  withDir(async (dir) => {
    const store = await createFsBlobStore({ directory: dir });
    const w = await store.openWriter();
    const r = await w.put(chunked(mailLike(4000, 6)), never);
    await w.sync();
    const torn = await tearNewestPack(dir);
    const scan = await scanPack(torn);
    assert.equal(scan.records, 1);
    assert.ok(scan.tornTail, 'the torn record is reported');
    assert.equal(scan.fileSize - scan.validEnd, RECORD_HEADER_SIZE + 100);
    const restarted = await createFsBlobStore({ directory: dir });
    const w2 = await restarted.openWriter();
    const r2 = await w2.put(chunked(mailLike(4000, 7)), never);
    await w2.sync();
    assert.ok(r.location && r2.location);
    assert.notEqual(parseFsBlobRef(r2.location.ref).packId, parseFsBlobRef(r.location.ref).packId);
    assert.equal((await stat(torn)).size, scan.fileSize, 'the old pack is not appended to');
    assert.ok((await restarted.read(r.location, r.sha256)).equals(mailLike(4000, 6)));
    await w2.close();
    await w.close();
  }));

test('fs: blobs written with any codec are readable whatever is configured now', () =>
  withDir(async (dir) => {
    const written = [];
    for (const compression of [{ codec: 'none' as const }, { codec: 'deflate-raw' as const, level: 6 }, { codec: 'brotli' as const, level: 5 }]) {
      const store = await createFsBlobStore({ directory: dir, compression, streamThresholdBytes: 32 * 1024 });
      const w = await store.openWriter();
      for (const size of [3000, 500_000]) {
        const data = mailLike(size, size + compression.codec.length);
        written.push({ data, r: await w.put(chunked(data), never) });
      }
      await w.sync();
      await w.close();
    }
    const reader = await createFsBlobStore({ directory: dir });
    for (const { data, r } of written) {
      assert.ok(r.location);
      assert.ok((await reader.read(r.location, r.sha256)).equals(data));
      const parts: Buffer[] = [];
      for await (const c of reader.stream(r.location)) parts.push(Buffer.from(c));
      assert.ok(Buffer.concat(parts).equals(data));
    }
  }));

test('fs: a writer that wrote nothing leaves no pack behind', () =>
  withDir(async (dir) => {
    const store = await createFsBlobStore({ directory: dir });
    const w = await store.openWriter();
    await w.sync();
    await w.close();
    const w2 = await store.openWriter();
    const data = mailLike(100, 8);
    assert.equal((await w2.put(chunked(data), () => true)).location, null);
    await w2.close();
    assert.deepEqual(await packFiles(dir), []);
  }));

test('fs: a missing pack gives STORE_NOT_FOUND, a ref past its end STORE_CORRUPT', () =>
  withDir(async (dir) => {
    const store = await createFsBlobStore({ directory: dir });
    await assert.rejects(store.read({ ref: 'pack-00000099:16:10', storedSize: 10 }, sha(Buffer.from('x'))), (err) => isMailsluiceError(err, 'STORE_NOT_FOUND'));
    const w = await store.openWriter();
    await w.put(chunked(Buffer.from('x')), never);
    await w.sync();
    await w.close();
    // a ref past the end of an existing pack (e.g. a torn record or a wrong ref) is corrupt, and cheap to reject
    await assert.rejects(store.read({ ref: 'pack-00000001:16:999999999999', storedSize: 999999999999 }, sha(Buffer.from('x'))), (err) => isMailsluiceError(err, 'STORE_CORRUPT'));
  }));

test('fs error map: each errno becomes STORE_WRITE_FAILED with a sentence naming the problem and the path', () => {
  const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  const e = mapFsError(enospc, 'writing', '/data/blobs/pack-00000001.mspack');
  assert.equal(e.code, 'STORE_WRITE_FAILED');
  assert.equal(e.message, 'disk full writing /data/blobs/pack-00000001.mspack');
  assert.equal(e.retryable, true);
  assert.equal(e.cause, enospc);
  assert.equal(mapFsError(Object.assign(new Error('x'), { code: 'EACCES' }), 'creating', '/d').message, 'permission denied creating /d');
  assert.equal(mapFsError(Object.assign(new Error('x'), { code: 'EIO' }), 'syncing', '/d/p').message, 'I/O error (the disk may be failing) syncing /d/p');
  assert.equal(mapFsError(Object.assign(new Error('x'), { code: 'ENOENT' }), 'reading', '/d/p').code, 'STORE_NOT_FOUND');
});

test('fs: a store directory that cannot be created gives STORE_WRITE_FAILED naming it', () =>
  withDir(async (dir) => {
    const file = join(dir, 'not-a-directory');
    await writeFile(file, 'x');
    await assert.rejects(createFsBlobStore({ directory: join(file, 'blobs') }), (err) => {
      assert.ok(isMailsluiceError(err, 'STORE_WRITE_FAILED'));
      assert.equal(err.message, `a path component is not a directory creating ${join(file, 'blobs')}`);
      return true;
    });
  }));

test('fs: a read-only directory gives STORE_WRITE_FAILED on put', { skip: process.getuid?.() === 0 ? 'root ignores directory permissions' : false }, () =>
  withDir(async (dir) => {
    const store = await createFsBlobStore({ directory: dir });
    await chmod(dir, 0o500);
    const w = await store.openWriter();
    await assert.rejects(w.put(chunked(mailLike(100, 9)), never), (err) => {
      assert.ok(isMailsluiceError(err, 'STORE_WRITE_FAILED'));
      assert.match(err.message, /^permission denied creating .*pack-00000001\.mspack$/);
      return true;
    });
  }));

test('fs: a file size limit hit mid-put (as disk full would) gives STORE_WRITE_FAILED and fails the writer', () =>
  withDir(async (dir) => {
    // RLIMIT_FSIZE makes write() fail with EFBIG past 1 MiB (Node ignores SIGXFSZ), which
    // exercises the same path as ENOSPC without needing a full disk.
    const storeUrl = pathToFileURL(fileURLToPath(new URL('../../src/adapters/blob-fs/index.js', import.meta.url))).href;
    const script = `
      import { createFsBlobStore } from ${JSON.stringify(storeUrl)};
      const store = await createFsBlobStore({ directory: ${JSON.stringify(dir)}, compression: { codec: 'none' } });
      const w = await store.openWriter();
      const out = {};
      const body = async function* () { for (let i = 0; i < 40; i++) yield Buffer.alloc(65536, i); };
      try { await w.put(body(), () => false); out.put = 'ok'; } catch (e) { out.put = { code: e.code, message: e.message }; }
      try { await w.sync(); out.sync = 'ok'; } catch (e) { out.sync = { code: e.code, message: e.message }; }
      console.log(JSON.stringify(out));
    `;
    const { stdout } = await promisify(execFile)('bash', ['-c', 'ulimit -f 1024 && exec "$0" --input-type=module -e "$1"', process.execPath, script]);
    const out = JSON.parse(stdout) as { put: { code: string; message: string }; sync: { code: string; message: string } };
    assert.equal(out.put.code, 'STORE_WRITE_FAILED');
    // A streamed body: written raw to the writer's staging pack (ADR 0001, "Deferred compression").
    assert.match(out.put.message, /^file too large for the file system writing .*stage-00000001\.mspack$/);
    assert.equal(out.sync.code, 'STORE_WRITE_FAILED', 'a failed writer refuses to sync');
    assert.match(out.sync.message, /unusable after an earlier failure/);
  }));

test('fs: a stream abandoned early releases its file', () =>
  withDir(async (dir) => {
    const store = await createFsBlobStore({ directory: dir });
    const w = await store.openWriter();
    const r = await w.put(chunked(mailLike(3_000_000, 10)), never);
    await w.sync();
    await w.close();
    assert.ok(r.location);
    // Descriptors on this pack only: worker threads open and close their own meanwhile.
    const ref = parseFsBlobRef(r.location.ref);
    const pack = store.packPath(ref.packId, ref.staging);
    const fdsOnPack = async (): Promise<number> => {
      let n = 0;
      for (const fd of await readdir('/proc/self/fd')) if ((await readlink(join('/proc/self/fd', fd)).catch(() => '')) === pack) n++;
      return n;
    };
    const fdsBefore = await fdsOnPack();
    for (let i = 0; i < 5; i++) {
      for await (const chunk of store.stream(r.location)) {
        assert.ok(chunk.length > 0);
        break;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(await fdsOnPack(), fdsBefore);
  }));

test('fs: many buffered puts in flight land contiguously in one pack, identical with and without the worker', () =>
  withDir(async (dir) => {
    const refs: string[][] = [];
    for (const compressionThreads of [1, 0]) {
      const sub = join(dir, String(compressionThreads));
      const store = await createFsBlobStore({ directory: sub, compressionThreads });
      const w = await store.openWriter();
      // > 1 MiB of records, so the write buffer is written out while puts continue
      const blobs = Array.from({ length: 300 }, (_, i) => mailLike(4000 + ((i * 7919) % 26_000), 500 + i));
      const results = await Promise.all(blobs.map((b) => w.put(chunked(b, [1 << 20]), never)));
      await w.sync();
      refs.push(results.map((r) => r.location?.ref ?? ''));
      const [pack] = await packFiles(sub);
      assert.ok(pack);
      const scan = await scanPack(pack);
      assert.deepEqual({ records: scan.records, tornTail: scan.tornTail }, { records: 300, tornTail: null });
      assert.equal(scan.validEnd, (await stat(pack)).size, 'sync wrote every buffered record');
      for (const [i, r] of results.entries()) {
        assert.ok(r.location);
        assert.ok((await store.read(r.location, r.sha256)).equals(blobs[i] as Buffer));
      }
      await w.close();
    }
    assert.deepEqual(refs[0], refs[1], 'same records, same offsets');
  }));

async function* whole(data: Uint8Array): AsyncGenerator<Uint8Array> {
  yield data;
}

test('fs: a large body that arrives whole is hashed off-thread and staged raw; dedup, interleaving and read-back as for streamed ones', () =>
  withDir(async (dir) => {
    const store = await createFsBlobStore({ directory: dir });
    const w = await store.openWriter();
    const bigs = [1, 2, 3, 4, 5, 6].map((i) => mailLike(300_000 + i * 250_000, 10 + i));
    const smalls = [1, 2, 3].map((i) => mailLike(8_000 + i, 20 + i));
    // Whole bodies over the threshold, small ones and a streamed one, all in flight together.
    const streamed = mailLike(1_500_000, 30);
    const puts = await Promise.all([
      ...bigs.map((b) => w.put(whole(b), never)),
      ...smalls.map((b) => w.put(whole(b), never)),
      w.put(chunked(streamed), never),
      w.put(whole(bigs[0]!), never), // the same bytes twice in one batch: one record
    ]);
    await w.sync();
    const all = [...bigs, ...smalls, streamed];
    for (const [i, body] of all.entries()) {
      const p = puts[i]!;
      assert.equal(p.sha256, sha(body));
      assert.equal(p.size, body.length);
      assert.ok(p.location);
      if (body.length > 256 * 1024) assert.match(p.location.ref, /^stage-/);
      else assert.match(p.location.ref, /^pack-/);
      assert.ok((await store.read(p.location, p.sha256)).equals(body));
    }
    assert.equal(puts[all.length]!.location, null, 'a duplicate is not written again');
    assert.equal((await w.put(whole(bigs[1]!), (s) => s === sha(bigs[1]!))).location, null, 'known to the caller: not written');
    let records = 0;
    for (const p of await packFiles(dir)) {
      const scan = await scanPack(p);
      assert.equal(scan.tornTail, null);
      records += scan.records;
    }
    assert.equal(records, all.length);
    await w.close();
  }));

test('fs: out of file descriptors (EMFILE, a real RLIMIT_NOFILE) is STORE_RESOURCE_EXHAUSTED, retryable, never STORE_CORRUPT; it works again once descriptors are free', () =>
  withDir(async (dir) => {
    const storeUrl = pathToFileURL(fileURLToPath(new URL('../../src/adapters/blob-fs/index.js', import.meta.url))).href;
    const script = `
      import { openSync, closeSync } from 'node:fs';
      import { createFsBlobStore } from ${JSON.stringify(storeUrl)};
      const store = await createFsBlobStore({ directory: ${JSON.stringify(dir)}, compressionThreads: 0, streamThresholdBytes: 16 * 1024 });
      const w = await store.openWriter();
      const raw = Buffer.alloc(200 * 1024, 'staged body ');
      const put = await w.put((async function* () { yield raw; })(), () => false);
      await w.sync();
      await w.close();
      const out = { staged: put.location.ref.startsWith('stage-') };
      // The compactor as drain runs it, giving up at the first failure (the code it logs is its error's).
      let failed = null;
      const logger = { debug() {}, info() {}, warn() {}, error(_m, f) { failed = { code: f.code, retryable: true }; }, child() { return logger; } };
      const schedule = { clock: { now: () => Date.now(), sleep: async () => {} }, stopping: () => true, holdMs: async () => 0, idleMs: 0, retryInMs: () => null };
      const fds = [];
      try { for (;;) fds.push(openSync('/dev/null', 'r')); } catch (e) { out.exhausted = e.code; }
      const code = (e) => ({ code: e.code, retryable: e.retryable });
      try { await store.read(put.location, put.sha256); out.read = 'ok'; } catch (e) { out.read = code(e); }
      try { for await (const _ of store.stream(put.location)); out.stream = 'ok'; } catch (e) { out.stream = code(e); }
      try { await store.compact(schedule, logger); out.compact = failed ?? 'ok'; } catch (e) { out.compact = code(e); }
      try { await store.listStagingPacks(); out.list = 'ok'; } catch (e) { out.list = code(e); }
      for (const fd of fds) closeSync(fd);
      const totals = await store.compact(schedule, logger);
      out.after = totals.blobs === 1 && (await store.read(put.location, put.sha256)).equals(raw) && !(await store.listPacks()).some((p) => p.includes('stage-'));
      console.log(JSON.stringify(out));
    `;
    const { stdout } = await promisify(execFile)('bash', ['-c', 'ulimit -n 64 && exec "$0" --input-type=module -e "$1"', process.execPath, script]);
    const out = JSON.parse(stdout) as Record<string, unknown>;
    const exhausted = { code: 'STORE_RESOURCE_EXHAUSTED', retryable: true };
    assert.deepEqual(out, { staged: true, exhausted: 'EMFILE', read: exhausted, stream: exhausted, compact: exhausted, list: exhausted, after: true });
  }));
