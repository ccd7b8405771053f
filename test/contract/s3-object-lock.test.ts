/**
 * S3 Object Lock on blob-s3 against a real Ceph RADOS Gateway (issue 20, item 2; ADR 0049): the
 * bucket checked at open, every object written locked for its lock class (packs by class), the
 * multipart's incoming object left unlocked so it can go, and the removal of a locked object
 * refused by the server as the outcome `locked` while the blob stays readable. GOVERNANCE only:
 * the harness throws the cluster away at the end, and the retain-until header is what is checked.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { HeadObjectCommand, ListObjectVersionsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { isMailsluiceError } from '../../src/core/errors/index.js';
import { createS3BlobStore, openS3BlobStore, s3ObjectOf, type S3BlobStoreOptions } from '../../src/adapters/blob-s3/index.js';
import { objectLockClass } from '../../src/core/archive/object-lock.js';
import { chunked, mailLike } from './blob-store.contract.js';
import { cephRgwPerFile } from '../harness/ceph-rgw.js';

const ceph = cephRgwPerFile();
const never = (): boolean => false;
const DAY = 86_400_000;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function options(bucket: string, over: Partial<S3BlobStoreOptions> = {}): S3BlobStoreOptions {
  return { endpoint: ceph.endpoint, bucket, accessKeyId: ceph.accessKeyId, secretAccessKey: ceph.secretAccessKey, ...over };
}

async function versions(bucket: string): Promise<string[]> {
  const s3 = ceph.client();
  try {
    const r = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket }));
    return [...(r.Versions ?? []), ...(r.DeleteMarkers ?? [])].map((v) => v.Key!).sort();
  } finally {
    s3.destroy();
  }
}

test('s3 object lock: a bucket without Object Lock is refused at open, naming the bucket; a locked bucket opens', async () => {
  const plain = await ceph.createBucket('nolock');
  await assert.rejects(
    openS3BlobStore(options(plain, { objectLock: { mode: 'GOVERNANCE', days: 1 } })),
    (e) => isMailsluiceError(e, 'CONFIG_INVALID') && e.message.includes(`bucket "${plain}" on ${ceph.endpoint} does not have Object Lock enabled`),
  );
  // Without objectLock the same bucket is fine: nothing is asked.
  (await openS3BlobStore(options(plain))).close();
  const locked = await ceph.createBucket('lock', { objectLock: true });
  (await openS3BlobStore(options(locked, { objectLock: { mode: 'GOVERNANCE', days: 1 } }))).close();
  assert.throws(() => createS3BlobStore(options(locked, { objectLock: { mode: 'FOREVER' as 'GOVERNANCE', days: 1 } })), (e) => isMailsluiceError(e, 'CONFIG_INVALID') && /objectLock\.mode/.test(e.message));
  assert.throws(() => createS3BlobStore(options(locked, { objectLock: { mode: 'COMPLIANCE', days: 0 } })), (e) => isMailsluiceError(e, 'CONFIG_INVALID') && /objectLock\.days/.test(e.message));
});

test('s3 object lock: every object is written locked until its class; packs hold one class; the removal of a locked object is refused and reported', async () => {
  const bucket = await ceph.createBucket('worm', { objectLock: true });
  const store = await openS3BlobStore(options(bucket, { objectLock: { mode: 'GOVERNANCE', days: 2 } }));
  const s3 = ceph.client();
  try {
    const t0 = Date.now();
    const w = await store.openWriter();
    const seven = t0 + 7 * 365 * DAY; // a message the policy keeps for seven years
    const bodies = [mailLike(4096, 1), mailLike(5000, 2), mailLike(6000, 3), mailLike(300_000, 4), mailLike(12 * 1024 * 1024, 5)];
    const rs = [
      await w.put(chunked(bodies[0]!), never),
      await w.put(chunked(bodies[1]!), never, { retainUntil: seven }),
      await w.put(chunked(bodies[2]!), never, { retainUntil: t0 + DAY }), // shorter than the floor: the floor wins
      await w.put(chunked(bodies[3]!), never, { retainUntil: seven }),
      await w.put(chunked(bodies[4]!, [65536]), never),
    ];
    await w.sync();
    await w.close();
    const floor = objectLockClass(t0, 2);
    const want = [floor, objectLockClass(t0, 2, seven), floor, objectLockClass(t0, 2, seven), floor];
    const keys = rs.map((r) => s3ObjectOf(r.location!.ref)!.key);
    assert.equal(keys[0], keys[2], 'the two messages of the floor class share a pack');
    assert.notEqual(keys[0], keys[1], 'a seven-year message is packed apart');
    for (const [i, key] of keys.entries()) {
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      assert.equal(head.ObjectLockMode, 'GOVERNANCE', key);
      assert.equal(head.ObjectLockRetainUntilDate?.getTime(), want[i], `${key}: retain-until`);
      assert.deepEqual(await store.objectLockOf(key), { mode: 'GOVERNANCE', retainUntil: want[i] });
    }
    // Multipart went through an unlocked incoming/ object, which is gone (every version of it).
    const all = await versions(bucket);
    assert.deepEqual(all.filter((k) => k.startsWith('incoming/')), [], all.join(', '));
    // The purge's reclaim asks to remove a locked object: the server refuses, the store says so, the blob stays.
    for (const [i, key] of [keys[0]!, keys[3]!, keys[4]!].entries()) {
      const r = await store.removeObject(key);
      assert.deepEqual(r, { outcome: 'locked', retainUntil: [floor, want[3], floor][i] }, key);
    }
    for (const [i, r] of rs.entries()) assert.equal(sha(await store.read(r.location!, r.sha256)), sha(bodies[i]!), 'still readable after the refused removal');
    assert.deepEqual(await store.removeObject('pack/00000000-0000-0000-0000-000000000000'), { outcome: 'missing' });
  } finally {
    store.close();
    s3.destroy();
  }
});

test('s3 object lock: an object whose lock ended is removed with every version of it', async () => {
  const bucket = await ceph.createBucket('expired', { objectLock: true });
  const store = await openS3BlobStore(options(bucket, { objectLock: { mode: 'GOVERNANCE', days: 1 } }));
  const s3 = ceph.client();
  try {
    // Written through the API with a lock of two seconds: the store's own locks are a day at least.
    const Key = 'pack/11111111-1111-1111-1111-111111111111';
    const Body = mailLike(1000, 9);
    const until = new Date(Date.now() + 2000);
    const md5 = createHash('md5').update(Body).digest('base64');
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body, ContentLength: Body.length, ContentMD5: md5, ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: until }));
    const early = await store.removeObject(Key);
    assert.equal(early.outcome, 'locked');
    assert.deepEqual(await versions(bucket), [Key]);
    await new Promise((r) => setTimeout(r, Math.max(0, until.getTime() - Date.now()) + 1500));
    assert.deepEqual(await store.removeObject(Key), { outcome: 'deleted' });
    assert.deepEqual(await versions(bucket), [], 'no version and no delete marker left');
  } finally {
    store.close();
    s3.destroy();
  }
});
