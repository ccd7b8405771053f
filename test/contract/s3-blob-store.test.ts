/**
 * The BlobStore contract on blob-s3 against a real S3 server (a private Ceph RADOS Gateway,
 * test/harness/ceph-rgw.ts), plus what only an object store has: multipart for large bodies,
 * dedup by conditional put, damage done through the S3 API itself, and the operator's three
 * first errors (wrong keys, missing bucket, dead endpoint) as catalogue codes with a sentence.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { test } from 'node:test';
import {
  GetObjectCommand,
  PutObjectCommand,
  ListObjectsV2Command,
  ListMultipartUploadsCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  HeadObjectCommand,
} from '@aws-sdk/client-s3';
import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMailsluiceError } from '../../src/core/errors/index.js';
import { createS3BlobStore, parseS3BlobRef, s3ObjectOf, type S3BlobStore, type S3BlobStoreOptions } from '../../src/adapters/blob-s3/index.js';
import { ArchiveKeyring } from '../../src/adapters/blob-fs/keyring.js';
import type { PutResult } from '../../src/core/ports/blob-store.js';
import { runBlobStoreContract, chunked, mailLike } from './blob-store.contract.js';
import { cephRgwPerFile } from '../harness/ceph-rgw.js';
import { freePort } from '../harness/free-port.js';

const ceph = cephRgwPerFile();
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const never = (): boolean => false;

function options(bucket: string, over: Partial<S3BlobStoreOptions> = {}): S3BlobStoreOptions {
  return { endpoint: ceph.endpoint, bucket, accessKeyId: ceph.accessKeyId, secretAccessKey: ceph.secretAccessKey, ...over };
}

async function listKeys(bucket: string): Promise<string[]> {
  const s3 = ceph.client();
  try {
    const keys: string[] = [];
    let ContinuationToken: string | undefined;
    do {
      const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken }));
      keys.push(...(r.Contents ?? []).map((c) => c.Key!));
      ContinuationToken = r.NextContinuationToken;
    } while (ContinuationToken);
    return keys.sort();
  } finally {
    s3.destroy();
  }
}

async function openUploads(bucket: string): Promise<number> {
  const s3 = ceph.client();
  try {
    return (await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads?.length ?? 0;
  } finally {
    s3.destroy();
  }
}

/** The contract's harness on a fresh bucket; with `keyring`, every store of it encrypts with it. */
function contractOn(keyring?: () => Promise<ArchiveKeyring>) {
  return async () => {
    const bucket = await ceph.createBucket('contract');
    const ring = keyring ? await keyring() : undefined;
    const open = () => createS3BlobStore(options(bucket, ring ? { keyring: ring } : {}));
    const stores: S3BlobStore[] = [open()];
    const s3 = ceph.client();
    return {
      store: stores[0]!,
      cleanup: async () => {
        for (const s of stores) s.close();
        s3.destroy();
      },
      reopen: async () => {
        const s = open();
        stores.push(s);
        return s;
      },
      // Bit rot as S3 would show it: the object replaced through the API with one of the blob's bytes flipped.
      corrupt: async (location: { ref: string }) => {
        const obj = s3ObjectOf(location.ref)!;
        const got = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: obj.key }))).Body!.transformToByteArray());
        got[obj.offset + Math.floor((obj.length ?? got.length) / 2)]! ^= 0x01;
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: obj.key, Body: got, ContentLength: got.length }));
      },
      // A crash mid-put: a multipart upload begun, one part sent, never completed.
      tearTail: async () => {
        const Key = `incoming/${randomUUID()}`;
        const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key }));
        const Body = mailLike(5 * 1024 * 1024, 99);
        await s3.send(new UploadPartCommand({ Bucket: bucket, Key, UploadId, PartNumber: 1, Body, ContentLength: Body.length }));
      },
    };
  };
}

const keyDirs: string[] = [];
process.once('exit', () => keyDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** A keyring with a random master key in a directory of its own (removed when the process ends). */
async function freshKeyring(): Promise<{ dir: string; master: Buffer; ring: ArchiveKeyring }> {
  const dir = await mkdtemp(join(tmpdir(), 'ms-s3-keys-'));
  keyDirs.push(dir);
  const master = randomBytes(32);
  return { dir, master, ring: await ArchiveKeyring.open(dir, master) };
}

runBlobStoreContract('s3 (Ceph RGW)', contractOn());
runBlobStoreContract('s3 (Ceph RGW), encrypted at rest', contractOn(async () => (await freshKeyring()).ring));

test('s3: a 100 MB body goes by multipart, comes back byte-identical, in bounded memory', async (t) => {
  const bucket = await ceph.createBucket('big');
  const store = createS3BlobStore(options(bucket));
  try {
    const total = 100 * 1024 * 1024;
    const template = mailLike(64 * 1024, 21);
    const expect = createHash('sha256');
    const body = async function* (): AsyncGenerator<Uint8Array> {
      for (let i = 0, made = 0; made < total; i++, made += template.length) {
        const c = Buffer.from(template);
        c.writeUInt32LE(i, 0); // every chunk differs, so nothing can be shared
        expect.update(c);
        yield c;
      }
    };
    globalThis.gc?.();
    const base = process.memoryUsage().rss;
    let peak = base;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    let putS = 0;
    let readS = 0;
    let r;
    try {
      let t0 = performance.now();
      const w = await store.openWriter();
      r = await w.put(body(), never);
      await w.sync();
      await w.close();
      putS = (performance.now() - t0) / 1000;
      assert.equal(r.size, total);
      assert.equal(r.sha256, expect.digest('hex'));
      assert.ok(r.location);
      t0 = performance.now();
      const back = createHash('sha256');
      let n = 0;
      for await (const c of store.stream(r.location, r.sha256)) {
        back.update(c);
        n += c.length;
      }
      readS = (performance.now() - t0) / 1000;
      assert.equal(n, total);
      assert.equal(back.digest('hex'), r.sha256, 'the bytes read back hash to what was put');
    } finally {
      clearInterval(timer);
    }
    const growthMB = (Math.max(peak, process.memoryUsage().rss) - base) / 1024 / 1024;
    t.diagnostic(`100 MB multipart: put ${(100 / putS).toFixed(1)} MB/s, stream back ${(100 / readS).toFixed(1)} MB/s, peak RSS growth ${growthMB.toFixed(1)} MB`);
    assert.ok(growthMB < 64, `peak RSS grew by ${growthMB.toFixed(1)} MB for a 100 MB body`);
    // One object at the content address; no incoming object, no upload left open.
    assert.deepEqual(await listKeys(bucket), [r.location.ref]);
    assert.equal(await openUploads(bucket), 0);
    const s3 = ceph.client();
    try {
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: r.location.ref }));
      assert.equal(head.ContentLength, total);
    } finally {
      s3.destroy();
    }
  } finally {
    store.close();
  }
});

test('s3: small messages go into one pack object per sync; larger ones alone at their content address', async () => {
  const bucket = await ceph.createBucket('pack');
  const store = createS3BlobStore(options(bucket));
  try {
    const w = await store.openWriter();
    const small = Array.from({ length: 100 }, (_, i) => mailLike(4096 + i, 70 + i));
    const rs = [];
    for (const b of small) rs.push(await w.put(chunked(b), never));
    const alone = await w.put(chunked(mailLike(300_000, 69)), never);
    await w.sync();
    const keys = await listKeys(bucket);
    const packs = keys.filter((k) => k.startsWith('pack/'));
    assert.equal(packs.length, 1, `one pack object for 100 small messages, got ${keys.join(', ')}`);
    assert.ok(alone.location && parseS3BlobRef(alone.location.ref) === alone.sha256, 'a 300 KB body is stored at its content address');
    assert.deepEqual(keys, [...packs, alone.location.ref].sort());
    for (const [i, r] of rs.entries()) {
      assert.ok(r.location && r.location.ref.startsWith(`${packs[0]}:`));
      assert.ok((await store.read(r.location, r.sha256)).equals(small[i]!));
    }
    await w.close();
  } finally {
    store.close();
  }
});

test('s3: dedup: the same content from two writers is one object (If-None-Match keeps the first); a known small blob adds no pack', async () => {
  const bucket = await ceph.createBucket('dedup');
  const a = createS3BlobStore(options(bucket));
  const b = createS3BlobStore(options(bucket));
  const s3 = ceph.client();
  try {
    const medium = mailLike(300_000, 31);
    const large = mailLike(12 * 1024 * 1024, 32);
    const small = mailLike(4096, 33);
    const wa = await a.openWriter();
    const rma = await wa.put(chunked(medium), never);
    const rla = await wa.put(chunked(large, [65536]), never);
    const rsa = await wa.put(chunked(small), never);
    await wa.sync();
    assert.ok(rma.location && rla.location && rsa.location);
    const before = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: rma.location.ref }));
    const keysBefore = await listKeys(bucket);
    // Another worker, which does not know the two large blobs, stores the same bytes again.
    const wb = await b.openWriter();
    const rmb = await wb.put(chunked(medium), never);
    const rlb = await wb.put(chunked(large, [65536]), never);
    const rsb = await wb.put(chunked(small), (s) => s === rsa.sha256);
    await wb.sync();
    assert.deepEqual(rmb.location, rma.location, 'the same content has the same address');
    assert.deepEqual(rlb.location, rla.location);
    assert.equal(rsb.location, null, 'a small blob the metadata knows is not packed again');
    assert.deepEqual(await listKeys(bucket), keysBefore, 'no second object, nothing under incoming/, no new pack');
    assert.equal(keysBefore.length, 3);
    const after = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: rma.location.ref }));
    assert.equal(after.ETag, before.ETag);
    assert.equal(after.LastModified?.getTime(), before.LastModified?.getTime(), 'If-None-Match: * left the first object as it was');
    assert.equal(await openUploads(bucket), 0);
    await wa.close();
    await wb.close();
  } finally {
    a.close();
    b.close();
    s3.destroy();
  }
});

test('s3: an object replaced through the S3 API is caught by the hash on read, with the object named', async () => {
  const bucket = await ceph.createBucket('swap');
  const store = createS3BlobStore(options(bucket));
  const s3 = ceph.client();
  try {
    for (const size of [30_000, 300_000]) { // packed, alone
      const data = mailLike(size, 41);
      const w = await store.openWriter();
      const r = await w.put(chunked(data), never);
      await w.sync();
      await w.close();
      assert.ok(r.location);
      const key = s3ObjectOf(r.location.ref)!.key;
      const objectBytes = (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ContentLength!;
      const other = mailLike(objectBytes, 42); // the object's whole content, same length, other bytes
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: other, ContentLength: other.length }));
      const corrupt = (err: unknown) => {
        assert.ok(isMailsluiceError(err, 'STORE_CORRUPT'), String(err));
        assert.ok(err.message.startsWith(`object ${r.location!.ref} in bucket "${bucket}"`), err.message);
        // Stored alone: the bytes' hash; packed: the record header is checked first.
        const why = size > 256 * 1024 ? `hash to ${sha(other)}, not ${r.sha256}` : 'no record header at the ref\'s offset (the pack was changed)';
        assert.ok(err.message.endsWith(why), err.message);
        return true;
      };
      await assert.rejects(store.read(r.location, r.sha256), corrupt);
      await assert.rejects(async () => {
        for await (const _ of store.stream(r.location!, r.sha256)) void _;
      }, corrupt);
      // A pack cut short: the blob's range is no longer there.
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: other.subarray(0, 10), ContentLength: 10 }));
      await assert.rejects(store.read(r.location, r.sha256), (e) => isMailsluiceError(e, 'STORE_CORRUPT'));
    }
  } finally {
    store.close();
    s3.destroy();
  }
});

/** Puts one small blob and syncs; the error the writer gives, or null. */
async function putAndSync(store: S3BlobStore): Promise<unknown> {
  try {
    const w = await store.openWriter();
    await w.put(chunked(mailLike(4096, 51)), never);
    await w.sync();
    await w.close();
    return null;
  } catch (err) {
    return err;
  }
}

function expectUnavailable(err: unknown, reason: string, sentence: RegExp): void {
  assert.ok(isMailsluiceError(err, 'STORE_UNAVAILABLE'), `expected STORE_UNAVAILABLE, got ${String((err as Error)?.stack ?? err)}`);
  assert.equal(err.details?.['reason'], reason);
  assert.match(err.message, sentence);
}

test('s3: wrong keys, a missing bucket and a dead endpoint each give STORE_UNAVAILABLE with a clear sentence', async () => {
  const bucket = await ceph.createBucket('errors');
  const cases: { label: string; over: Partial<S3BlobStoreOptions>; reason: string; sentence: RegExp; retryable: boolean }[] = [
    { label: 'unknown access key', over: { accessKeyId: 'NOSUCHKEY0000000000' }, reason: 'access-denied', sentence: /refused mailsluice .*: the access key id is unknown to the server; check accessKeyId/, retryable: false },
    { label: 'wrong secret', over: { secretAccessKey: 'wrong-secret-0000000000000000000000000000' }, reason: 'access-denied', sentence: /refused mailsluice .*: the secret access key does not match the access key id/, retryable: false },
    { label: 'missing bucket', over: { bucket: 'no-such-bucket-here' }, reason: 'no-such-bucket', sentence: /^bucket "no-such-bucket-here" does not exist on http:\/\/127\.0\.0\.1:\d+; create it/, retryable: false },
    { label: 'dead endpoint', over: { endpoint: `http://127.0.0.1:${await freePort()}` }, reason: 'unreachable', sentence: /^cannot reach the S3 endpoint http:\/\/127\.0\.0\.1:\d+ \(connection refused: nothing listens there\)/, retryable: true },
  ];
  for (const c of cases) {
    const store = createS3BlobStore(options(bucket, c.over));
    try {
      const err = await putAndSync(store);
      expectUnavailable(err, c.reason, c.sentence);
      assert.equal((err as { retryable: boolean }).retryable, c.retryable, `${c.label}: retryable`);
      await assert.rejects(store.check(), (e) => (expectUnavailable(e, c.reason, c.sentence), true), `${c.label}: check()`);
      if (c.reason !== 'no-such-bucket') {
        const ref = { ref: `sha256/ab/cd/ab${'cd'.repeat(31)}`, storedSize: 1 };
        await assert.rejects(store.read(ref, parseS3BlobRef(ref.ref)!), (e) => (expectUnavailable(e, c.reason, c.sentence), true), `${c.label}: read`);
      }
    } finally {
      store.close();
    }
  }
  assert.deepEqual(await listKeys(bucket), [], 'nothing was stored by the refused writers');
});

test('s3: a writer whose put failed refuses further work with the same code, and a new writer works', async () => {
  const bucket = await ceph.createBucket('refuse');
  const dead = createS3BlobStore(options(bucket, { endpoint: `http://127.0.0.1:${await freePort()}` }));
  try {
    const w = await dead.openWriter();
    await w.put(chunked(mailLike(100, 61)), never); // resolves once sent
    await assert.rejects(w.sync(), (e) => isMailsluiceError(e, 'STORE_UNAVAILABLE'));
    await assert.rejects(w.put(chunked(mailLike(100, 62)), never), (e) => isMailsluiceError(e, 'STORE_UNAVAILABLE') && /unusable after an earlier failure/.test(e.message));
    await w.close();
  } finally {
    dead.close();
  }
  const live = createS3BlobStore(options(bucket));
  try {
    assert.equal(await putAndSync(live), null);
  } finally {
    live.close();
  }
});

/** The whole object `key` as RGW holds it. */
async function rawObject(bucket: string, key: string): Promise<Buffer> {
  const s3 = ceph.client();
  try {
    return Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());
  } finally {
    s3.destroy();
  }
}

test('s3: encrypted at rest: packed records, objects alone and multipart bodies are stored sealed, read back verified, and need the keyring', async () => {
  const bucket = await ceph.createBucket('sealed');
  const { dir, master, ring } = await freshKeyring();
  const store = createS3BlobStore(options(bucket, { keyring: ring }));
  const bodies = [mailLike(4096, 81), mailLike(300_000, 82), mailLike(12 * 1024 * 1024, 83)];
  try {
    const w = await store.openWriter();
    const rs: PutResult[] = [];
    for (const b of bodies) rs.push(await w.put(chunked(b, [65536]), never));
    // Readable before sync, from memory.
    assert.ok((await store.read(rs[0]!.location!, rs[0]!.sha256)).equals(bodies[0]!));
    await w.sync();
    await w.close();
    const keys = await listKeys(bucket);
    assert.equal(keys.length, 3, keys.join(', '));
    for (const [i, r] of rs.entries()) {
      const body = bodies[i]!;
      assert.ok(r.location);
      const obj = s3ObjectOf(r.location.ref)!;
      const raw = await rawObject(bucket, obj.key);
      if (i === 0) {
        assert.equal(raw.subarray(obj.offset, obj.offset + 4).toString('latin1'), 'MSE1', 'a sealed record is marked in its header');
        assert.equal(obj.length, body.length + 32, 'the ref names the sealed payload: 16 bytes of key and nonce, 16 of tag');
      } else {
        assert.ok(r.location.ref.startsWith('sealed/'), r.location.ref);
        assert.equal(parseS3BlobRef(r.location.ref), r.sha256);
        assert.equal(raw.length, body.length + 32);
      }
      // What RGW holds is not the message: no 64-byte run of it appears in the object.
      for (const at of [0, Math.floor(body.length / 2), body.length - 64]) {
        assert.equal(raw.indexOf(body.subarray(at, at + 64)), -1, `plaintext at ${at} of body ${i} found in the stored object`);
      }
      assert.equal(sha(await store.read(r.location, r.sha256)), r.sha256);
      const back = createHash('sha256');
      for await (const c of store.stream(r.location)) back.update(c);
      assert.equal(back.digest('hex'), r.sha256, 'streamed and decrypted, verified by the record header or the address');
    }
    // Another worker opening the same keyring reads them; a store without the keys refuses them as corrupt.
    const other = createS3BlobStore(options(bucket, { keyring: await ArchiveKeyring.open(dir, master) }));
    const blind = createS3BlobStore(options(bucket));
    try {
      for (const r of rs) {
        assert.equal(sha(await other.read(r.location!, r.sha256)), r.sha256);
        await assert.rejects(blind.read(r.location!, r.sha256), (e) => isMailsluiceError(e, 'STORE_CORRUPT') && /no master key is configured/.test(e.message));
      }
    } finally {
      other.close();
      blind.close();
    }
    // A byte of a sealed object changed: the GCM tag catches it, in a whole read and a stream.
    const alone = rs[1]!.location!.ref;
    const raw = await rawObject(bucket, alone);
    raw[100]! ^= 0x01;
    const s3 = ceph.client();
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: alone, Body: raw, ContentLength: raw.length })).finally(() => s3.destroy());
    const tagFails = (e: unknown) => isMailsluiceError(e, 'STORE_CORRUPT') && /GCM tag does not match/.test((e as Error).message);
    await assert.rejects(store.read(rs[1]!.location!, rs[1]!.sha256), tagFails);
    await assert.rejects(async () => {
      for await (const _ of store.stream(rs[1]!.location!, rs[1]!.sha256)) void _;
    }, tagFails);
  } finally {
    store.close();
  }
});

test('s3: a writer whose keyring fails gives that error and refuses further work', async () => {
  const bucket = await ceph.createBucket('ringfail');
  const ring = { encrypting: true, keys: new Map<number, Uint8Array>(), reload: async () => {}, sealKey: async () => { throw new Error('disk full writing the keyring'); } };
  const store = createS3BlobStore(options(bucket, { keyring: ring }));
  try {
    const w = await store.openWriter();
    await assert.rejects(w.put(chunked(mailLike(100, 91)), never), (e) => isMailsluiceError(e, 'STORE_WRITE_FAILED') && /disk full writing the keyring/.test(e.message));
    await assert.rejects(w.sync(), (e) => isMailsluiceError(e, 'STORE_WRITE_FAILED'));
    await w.close();
  } finally {
    store.close();
  }
  assert.deepEqual(await listKeys(bucket), []);
});
