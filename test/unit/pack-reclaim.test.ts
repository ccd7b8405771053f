/**
 * The core's reclaim policy (ADR 0036): which packs a run rewrites or deletes, in which order,
 * and which it never touches (a writer's, a redirect's target, one written too recently).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RECLAIM_QUIET_MS, deadBytesOf, planReclaim, untouchable, type PackUsage } from '../../src/core/archive/pack-reclaim.js';

const NOW = 1_800_000_000_000;
const pack = (packId: number, liveBytes: number, over: Partial<PackUsage> = {}): PackUsage => ({
  packId,
  fileBytes: 16 + 1000,
  liveBytes,
  liveRecords: liveBytes > 0 ? 1 : 0,
  plainRecords: 0,
  modifiedAt: NOW - RECLAIM_QUIET_MS - 1,
  writing: false,
  redirected: false,
  ...over,
});

test('pack reclaim: a pack more than a quarter dead is rewritten, one at most a quarter dead is left, an empty one deleted first', () => {
  const steps = planReclaim([pack(1, 800), pack(2, 740), pack(3, 0), pack(4, 750), pack(5, 100)], { purpose: 'space', now: NOW });
  assert.deepEqual(
    steps.map((s) => [s.packId, s.action, s.deadBytes]),
    [
      [3, 'delete', 1000],
      [5, 'rewrite', 900],
      [2, 'rewrite', 260],
    ],
  );
  assert.equal(deadBytesOf(pack(4, 750)), 250);
});

test('pack reclaim: a writer\'s pack, a staging redirect\'s target and a pack written within the quiet time are never touched, even empty', () => {
  const packs = [pack(1, 0, { writing: true }), pack(2, 0, { redirected: true }), pack(3, 0, { modifiedAt: NOW - 1000 }), pack(4, 0)];
  assert.deepEqual(planReclaim(packs, { purpose: 'space', now: NOW }).map((s) => s.packId), [4]);
  assert.equal(untouchable(packs[0]!, { purpose: 'space', now: NOW }), 'a writer may still append to it');
  assert.equal(untouchable(packs[2]!, { purpose: 'space', now: NOW }), 'written too recently');
  // With no quiet time asked (a command that holds the data directory): only the writer and the redirect stay.
  assert.deepEqual(planReclaim(packs, { purpose: 'space', now: NOW, quietMs: 0 }).map((s) => s.packId), [3, 4]);
});

test('pack reclaim: encrypting rewrites every pack with a live record in clear, in pack order, however little of it is dead', () => {
  const packs = [pack(7, 1000, { plainRecords: 3 }), pack(2, 1000), pack(5, 500, { plainRecords: 1 }), pack(9, 0)];
  assert.deepEqual(
    planReclaim(packs, { purpose: 'encrypt', now: NOW }).map((s) => [s.packId, s.action]),
    [
      [9, 'delete'],
      [5, 'rewrite'],
      [7, 'rewrite'],
    ],
  );
  // The same packs for space: only the half-dead one.
  assert.deepEqual(planReclaim(packs, { purpose: 'space', now: NOW }).map((s) => s.packId), [9, 5]);
});

test('pack reclaim: the threshold can be set; ties go to the older pack', () => {
  const packs = [pack(3, 880), pack(1, 880)];
  assert.deepEqual(planReclaim(packs, { purpose: 'space', now: NOW }), []);
  assert.deepEqual(planReclaim(packs, { purpose: 'space', now: NOW, deadFraction: 0.1 }).map((s) => s.packId), [1, 3]);
});
