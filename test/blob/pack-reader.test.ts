/**
 * Whole-blob reads with cached pack descriptors (pack-reader.ts, the read worker): records
 * appended after a pack was first read are found, a ref past the end is still STORE_CORRUPT,
 * and descriptors stay bounded and close again.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isMailsluiceError } from '../../src/core/errors/index.js';
import { createFsBlobStore, formatFsBlobRef, parseFsBlobRef } from '../../src/adapters/blob-fs/index.js';
import { PackReader } from '../../src/adapters/blob-fs/pack-reader.js';
import { chunked, mailLike } from '../contract/blob-store.contract.js';

const never = (): boolean => false;

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'mailsluice-reader-test-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function fdsUnder(dir: string): Promise<number> {
  let n = 0;
  for (const fd of await readdir('/proc/self/fd')) if ((await readlink(join('/proc/self/fd', fd)).catch(() => '')).startsWith(dir)) n++;
  return n;
}

for (const compressionThreads of [1, 0]) {
  test(`reader (threads ${compressionThreads}): a record appended after the pack was first read is found; a ref past the end is STORE_CORRUPT`, () =>
    withDir(async (dir) => {
      const store = await createFsBlobStore({ directory: dir, compressionThreads });
      const w = await store.openWriter();
      const a = mailLike(20_000, 1);
      const ra = await w.put(chunked(a), never);
      await w.sync();
      assert.ok(ra.location);
      assert.ok((await store.read(ra.location, ra.sha256)).equals(a));
      // Same pack, written after the descriptor and its size were cached.
      const b = mailLike(200_000, 2);
      const rb = await w.put(chunked(b), never);
      await w.sync();
      assert.ok(rb.location);
      assert.equal(parseFsBlobRef(rb.location.ref).packId, parseFsBlobRef(ra.location.ref).packId);
      assert.ok((await store.read(rb.location, rb.sha256)).equals(b));
      const past = parseFsBlobRef(rb.location.ref);
      const bad = { ref: formatFsBlobRef({ ...past, offset: past.offset + 1_000_000 }), storedSize: past.storedSize };
      await assert.rejects(store.read(bad, rb.sha256), (err) => isMailsluiceError(err, 'STORE_CORRUPT'));
      await assert.rejects(store.read(ra.location, rb.sha256), (err) => isMailsluiceError(err, 'STORE_CORRUPT'));
      const gone = { ref: formatFsBlobRef({ ...past, packId: past.packId + 50 }), storedSize: past.storedSize };
      await assert.rejects(store.read(gone, rb.sha256), (err) => isMailsluiceError(err, 'STORE_NOT_FOUND'));
      await w.close();
      await store.close();
    }));
}

test('PackReader keeps at most 16 descriptors, evicts and closes them', () =>
  withDir(async (dir) => {
    const store = await createFsBlobStore({ directory: dir, compressionThreads: 0 });
    const jobs = [];
    for (let i = 0; i < 20; i++) {
      const w = await store.openWriter();
      const r = await w.put(chunked(mailLike(5_000, i)), never);
      await w.sync();
      await w.close();
      assert.ok(r.location);
      const ref = parseFsBlobRef(r.location.ref);
      jobs.push({ id: i, path: store.packPath(ref.packId), offset: ref.offset, storedSize: ref.storedSize, sha256: r.sha256, ref: r.location.ref });
    }
    const reader = new PackReader();
    for (const j of jobs) assert.ok(Buffer.from(reader.read(j)).equals(mailLike(5_000, j.id)));
    assert.equal(reader.openCount, 16);
    assert.equal(await fdsUnder(dir), 16);
    reader.evict(jobs[19]!.path);
    assert.equal(reader.openCount, 15);
    reader.closeAll();
    assert.equal(reader.openCount, 0);
    assert.equal(await fdsUnder(dir), 0);
    // Usable again after closing.
    assert.ok(Buffer.from(reader.read(jobs[0]!)).equals(mailLike(5_000, 0)));
    reader.closeAll();
  }));

test('the read worker closes its pack descriptors by itself when reads stop', () =>
  withDir(async (dir) => {
    const store = await createFsBlobStore({ directory: dir });
    const w = await store.openWriter();
    const r = await w.put(chunked(mailLike(10_000, 3)), never);
    await w.sync();
    await w.close();
    assert.ok(r.location);
    assert.ok((await store.read(r.location, r.sha256)).equals(mailLike(10_000, 3)));
    assert.equal(await fdsUnder(dir), 1, 'kept open between reads');
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    assert.equal(await fdsUnder(dir), 0, 'closed when idle');
  }));
