/** The Object Lock decisions of the S3 raw store (core/archive/object-lock.ts; ADR 0049). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OBJECT_QUIET_MS, afterObjectRemoval, objectLockClass, objectReclaimStep } from '../../src/core/archive/object-lock.js';

const DAY = 86_400_000;
const now = Date.UTC(2026, 11, 7, 17, 30);

test('a lock class is the later of the floor and the message retain-until, rounded up to midnight UTC', () => {
  assert.equal(objectLockClass(now, 1), Date.UTC(2026, 11, 9));
  assert.equal(objectLockClass(now, 1, now + 10 * DAY), Date.UTC(2026, 11, 18));
  assert.equal(objectLockClass(now, 30, now + DAY), Date.UTC(2027, 0, 7), 'a retention shorter than the floor gets the floor');
  // Messages of one day and one retention share a class (a pack).
  assert.equal(objectLockClass(Date.UTC(2026, 11, 7, 0, 1), 1), objectLockClass(Date.UTC(2026, 11, 7, 23, 59), 1));
  assert.equal(objectLockClass(Date.UTC(2026, 11, 7), 1), Date.UTC(2026, 11, 8), 'midnight itself stays');
});

test('the reclaim keeps live and recent objects, waits for a lock, deletes the rest', () => {
  const old = now - 2 * OBJECT_QUIET_MS;
  assert.deepEqual(objectReclaimStep({ live: 1, retainUntil: null, modifiedAt: old }, now), { action: 'keep', why: 'live' });
  assert.deepEqual(objectReclaimStep({ live: 0, retainUntil: null, modifiedAt: now - 1000 }, now), { action: 'keep', why: 'recent' });
  assert.deepEqual(objectReclaimStep({ live: 0, retainUntil: now + DAY, modifiedAt: old }, now), { action: 'wait', until: now + DAY });
  assert.deepEqual(objectReclaimStep({ live: 0, retainUntil: now, modifiedAt: old }, now), { action: 'delete' });
  assert.deepEqual(objectReclaimStep({ live: 0, retainUntil: null, modifiedAt: old }, now), { action: 'delete' });
});

test('a refused removal is retried after its retain-until; deleted and missing are gone alike', () => {
  assert.deepEqual(afterObjectRemoval({ outcome: 'deleted' }, now), { state: 'gone' });
  assert.deepEqual(afterObjectRemoval({ outcome: 'missing' }, now), { state: 'gone' });
  assert.deepEqual(afterObjectRemoval({ outcome: 'locked', retainUntil: now + DAY }, now), { state: 'retry', at: now + DAY });
  assert.deepEqual(afterObjectRemoval({ outcome: 'locked', retainUntil: null }, now), { state: 'retry', at: now }, 'unknown: the next run');
  assert.deepEqual(afterObjectRemoval({ outcome: 'locked', retainUntil: now - 1 }, now), { state: 'retry', at: now }, 'a server clock behind ours');
});
