/**
 * The BlobStore port's contract: every adapter (file system, S3, in-memory) must pass it.
 * An adapter's test file calls {@link runBlobStoreContract} with a factory that builds a store
 * on fresh, empty storage for each test.
 */
import { createHash, randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { isMailsluiceError } from '../../src/core/errors/index.js';
import type { BlobLocation, BlobStore, PutResult } from '../../src/core/ports/blob-store.js';

/** What a factory gives each test. Only `store` and `cleanup` are required. */
export interface BlobStoreHarness {
  /** A store on fresh, empty storage. */
  store: BlobStore;
  /** Removes the storage. */
  cleanup(): Promise<void>;
  /** A new store instance over the same storage, as after a process restart. */
  reopen?(): Promise<BlobStore>;
  /** Damages one stored byte of the blob at `location` (bit rot). */
  corrupt?(location: BlobLocation): Promise<void>;
  /** Leaves a partially written record at the end of what the last writer wrote (a crash mid-put). */
  tearTail?(): Promise<void>;
  /** True for a store that keeps blobs in memory by design (the reference adapter): the bounded-memory case cannot apply. */
  wholeInMemory?: boolean;
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const never = (): boolean => false;

/** Yields `data` in chunks of the given sizes, cycling through them (uneven, like a socket). */
export async function* chunked(data: Buffer, sizes: number[] = [1, 7, 4096, 65536, 13]): AsyncGenerator<Uint8Array> {
  let i = 0;
  for (let p = 0; p < data.length; i++) {
    const n = sizes[i % sizes.length] ?? 4096;
    // A Uint8Array view (not a Buffer), as the port allows.
    yield new Uint8Array(data.buffer, data.byteOffset + p, Math.min(n, data.length - p));
    p += n;
  }
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/** Deterministic mail-like bytes: text lines with some binary runs. */
export function mailLike(size: number, seed = 1): Buffer {
  const b = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = i % 78 === 76 ? 13 : i % 78 === 77 ? 10 : (i >> 12) % 5 === 0 ? x >>> 24 : 32 + ((x >>> 16) % 90);
  }
  return b;
}

function expectCode(code: 'STORE_CORRUPT' | 'STORE_NOT_FOUND' | 'STORE_WRITE_FAILED') {
  return (err: unknown): boolean => {
    assert.ok(isMailsluiceError(err, code), `expected ${code}, got ${String((err as Error)?.stack ?? err)}`);
    return true;
  };
}

async function putOne(store: BlobStore, data: Buffer): Promise<PutResult> {
  const w = await store.openWriter();
  const r = await w.put(chunked(data), never);
  await w.sync();
  await w.close();
  return r;
}

/** Registers the contract's tests for one adapter. */
export function runBlobStoreContract(name: string, make: () => Promise<BlobStoreHarness>): void {
  const withStore = (title: string, fn: (h: BlobStoreHarness, t: TestContext) => Promise<void>): void => {
    test(`${name}: ${title}`, async (t) => {
      const h = await make();
      try {
        await fn(h, t);
      } finally {
        await h.cleanup();
      }
    });
  };

  const samples: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['1 byte', Buffer.from('x')],
    ['CRLF text', Buffer.from('From: a@example.com\r\nSubject: hi\r\n\r\nline 1\r\n.\r\n\r\n', 'latin1')],
    ['binary', randomBytes(70_000)],
    ['5 MB', mailLike(5 * 1024 * 1024, 5)],
  ];
  for (const [label, data] of samples) {
    withStore(`round trip, byte for byte: ${label}`, async ({ store }) => {
      const w = await store.openWriter();
      const r = await w.put(chunked(data), never);
      assert.equal(r.sha256, sha(data));
      assert.equal(r.size, data.length);
      assert.ok(r.location, 'a new blob has a location');
      assert.equal(typeof r.location.ref, 'string');
      await w.sync();
      assert.ok((await store.read(r.location, r.sha256)).equals(data), 'read returns the same bytes');
      assert.ok((await collect(store.stream(r.location))).equals(data), 'stream returns the same bytes');
      await w.close();
    });
  }

  withStore('a put is readable before sync (sync only adds durability)', async ({ store }) => {
    const data = mailLike(20_000, 2);
    const w = await store.openWriter();
    const r = await w.put(chunked(data), never);
    assert.ok(r.location);
    assert.ok((await store.read(r.location, r.sha256)).equals(data));
    await w.close();
  });

  withStore('dedup: known blobs and repeats within a writer are not stored again', async ({ store }) => {
    const a = mailLike(10_000, 3);
    const big = mailLike(600_000, 4);
    const w = await store.openWriter();
    const seen: string[] = [];
    const first = await w.put(chunked(a), (s) => (seen.push(s), false));
    assert.deepEqual(seen, [sha(a)], 'known() is asked with the sha of the raw bytes');
    assert.ok(first.location);
    const again = await w.put(chunked(a), never);
    assert.equal(again.location, null, 'the same writer does not store a blob twice');
    assert.equal(again.sha256, sha(a));
    assert.equal(again.size, a.length);
    const known = await w.put(chunked(big), (s) => s === sha(big));
    assert.equal(known.location, null, 'a blob the caller knows is not stored');
    const bigFirst = await w.put(chunked(big), never);
    assert.ok(bigFirst.location);
    assert.equal((await w.put(chunked(big), never)).location, null);
    const after = await w.put(chunked(Buffer.from('after dedup')), never);
    assert.ok(after.location);
    await w.sync();
    assert.ok((await store.read(first.location, sha(a))).equals(a));
    assert.ok((await store.read(bigFirst.location, sha(big))).equals(big));
    assert.equal((await store.read(after.location, after.sha256)).toString(), 'after dedup');
    await w.close();
  });

  withStore('concurrent puts of the same bytes on one writer store them once', async ({ store }) => {
    const data = mailLike(8_000, 6);
    const w = await store.openWriter();
    const results = await Promise.all([1, 2, 3].map(() => w.put(chunked(data), never)));
    assert.equal(results.filter((r) => r.location !== null).length, 1);
    await w.sync();
    await w.close();
  });

  withStore('sync, then a new store instance on the same storage reads everything', async (h) => {
    assert.ok(h.reopen, 'harness provides reopen');
    const blobs = [mailLike(1, 7), mailLike(30_000, 8), mailLike(900_000, 9)];
    const w = await h.store.openWriter();
    const results: PutResult[] = [];
    for (const b of blobs) results.push(await w.put(chunked(b), never));
    await w.sync();
    await w.close();
    const again = await h.reopen();
    for (const [i, r] of results.entries()) {
      assert.ok(r.location);
      assert.ok((await again.read(r.location, r.sha256)).equals(blobs[i] as Buffer));
    }
    // A writer of the new instance works alongside the old data.
    const r2 = await putOne(again, mailLike(5_000, 10));
    assert.ok(r2.location);
    assert.ok((await again.read(r2.location, r2.sha256)).equals(mailLike(5_000, 10)));
  });

  withStore('a damaged byte gives STORE_CORRUPT from read and stream', async (h) => {
    assert.ok(h.corrupt, 'harness provides corrupt');
    for (const data of [mailLike(20_000, 11), mailLike(700_000, 12)]) {
      const r = await putOne(h.store, data);
      assert.ok(r.location);
      await h.corrupt(r.location);
      await assert.rejects(h.store.read(r.location, r.sha256), expectCode('STORE_CORRUPT'));
      await assert.rejects(collect(h.store.stream(r.location)), expectCode('STORE_CORRUPT'));
    }
  });

  withStore('reading with the wrong sha256 gives STORE_CORRUPT', async ({ store }) => {
    const r = await putOne(store, mailLike(1000, 13));
    assert.ok(r.location);
    await assert.rejects(store.read(r.location, sha(Buffer.from('other'))), expectCode('STORE_CORRUPT'));
  });

  withStore('an unknown location gives STORE_NOT_FOUND', async ({ store }) => {
    await assert.rejects(store.read({ ref: 'no-such-blob', storedSize: 1 }, sha(Buffer.from('x'))), expectCode('STORE_NOT_FOUND'));
    await assert.rejects(collect(store.stream({ ref: 'no-such-blob', storedSize: 1 })), expectCode('STORE_NOT_FOUND'));
  });

  withStore('concurrent writers do not interleave', async ({ store }) => {
    const writers = await Promise.all([0, 1, 2, 3].map(() => store.openWriter()));
    const expected = new Map<string, Buffer>();
    const results = await Promise.all(
      writers.map(async (w, wi) => {
        const out: PutResult[] = [];
        for (let i = 0; i < 40; i++) {
          // mostly small, one large per writer, so streamed and buffered puts overlap
          const data = mailLike(i === 20 ? 800_000 : 500 + ((i * 7919 + wi * 104729) % 30_000), 1000 + wi * 100 + i);
          expected.set(sha(data), data);
          out.push(await w.put(chunked(data, [4096, 333]), never));
        }
        await w.sync();
        return out;
      }),
    );
    for (const r of results.flat()) {
      assert.ok(r.location);
      assert.ok((await store.read(r.location, r.sha256)).equals(expected.get(r.sha256) as Buffer));
    }
    assert.equal(new Set(results.flat().map((r) => r.location?.ref)).size, 160, 'every blob has its own location');
    await Promise.all(writers.map((w) => w.close()));
  });

  withStore('a body that fails mid-stream leaves the writer usable and stores nothing', async ({ store }) => {
    const w = await store.openWriter();
    const boom = new Error('connection reset');
    for (const size of [1000, 2_000_000]) {
      const failing = async function* (): AsyncGenerator<Uint8Array> {
        yield* chunked(mailLike(size, 14));
        throw boom;
      };
      await assert.rejects(w.put(failing(), never), (err) => err === boom);
    }
    const ok = await w.put(chunked(mailLike(3000, 15)), never);
    assert.ok(ok.location);
    await w.sync();
    assert.ok((await store.read(ok.location, ok.sha256)).equals(mailLike(3000, 15)));
    await w.close();
  });

  withStore('a torn record left by a crash does not disturb readers or new writers', async (h) => {
    assert.ok(h.tearTail && h.reopen, 'harness provides tearTail and reopen');
    const before = mailLike(12_000, 16);
    const w = await h.store.openWriter();
    const r1 = await w.put(chunked(before), never);
    await w.sync();
    // crash: the writer is never closed, and its last record is half written
    await h.tearTail();
    const again = await h.reopen();
    assert.ok(r1.location);
    assert.ok((await again.read(r1.location, r1.sha256)).equals(before));
    const after = mailLike(9_000, 17);
    const w2 = await again.openWriter();
    const r2 = await w2.put(chunked(after), never);
    await w2.sync();
    await w2.close();
    assert.ok(r2.location);
    assert.ok((await again.read(r2.location, r2.sha256)).equals(after));
    assert.ok((await again.read(r1.location, r1.sha256)).equals(before));
    await w.close();
  });

  withStore('bounded memory: a 100 MB body never sits whole in memory', async ({ store, wholeInMemory }, t) => {
    if (wholeInMemory) {
      t.skip('this store keeps every blob in memory by design');
      return;
    }
    const total = 100 * 1024 * 1024;
    const template = mailLike(64 * 1024, 18);
    let made = 0;
    const body = async function* (): AsyncGenerator<Uint8Array> {
      for (let i = 0; made < total; i++) {
        const c = Buffer.from(template);
        c.writeUInt32LE(i, 0); // every chunk differs, so nothing can be shared
        made += c.length;
        yield c;
      }
    };
    globalThis.gc?.();
    const base = process.memoryUsage().rss;
    let peak = base;
    const timer = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 5);
    try {
      const w = await store.openWriter();
      const r = await w.put(body(), never);
      await w.sync();
      assert.equal(r.size, total);
      assert.ok(r.location);
      // Streaming it back must be bounded too.
      let n = 0;
      for await (const c of store.stream(r.location)) n += c.length;
      assert.equal(n, total);
      await w.close();
    } finally {
      clearInterval(timer);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    const extraMB = (peak - base) / 1024 / 1024;
    t.diagnostic(`peak RSS growth for a 100 MB body: ${extraMB.toFixed(1)} MB`);
    // Whole in memory would be over 100 MB; a streamed body costs buffers and garbage the GC has
    // not caught up with yet: ~20-36 MB on Node 20, up to ~48 MB on Node 24.
    assert.ok(extraMB < 64, `peak RSS grew by ${extraMB.toFixed(1)} MB for a 100 MB body`);
  });
}
