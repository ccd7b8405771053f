/**
 * The lease plan (core/connection/lease-plan.ts): fair shares ⌊N/W⌋..⌈N/W⌉, gives up before
 * anyone takes, few moves on a join or a leave, stable once balanced, and the renewal times.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { leaseKeyOf, leaseTickMs, leaseTimes, planLeases, quotas } from '../../src/core/connection/lease-plan.js';
import { seededRandom } from '../harness/random.js';

const keys = (n: number): string[] => Array.from({ length: n }, (_, i) => `c${String(i).padStart(2, '0')}`);
const countOf = (holders: Map<string, string>, w: string): number => [...holders.values()].filter((h) => h === w).length;

/**
 * One round: each worker in turn reads the shared table, gives up what its plan says (released
 * at once) and takes free keys (a grant only when nobody holds the key, as the store grants).
 * Answers how many keys changed hands.
 */
function round(all: string[], workers: string[], holders: Map<string, string>): number {
  let moves = 0;
  for (const self of workers) {
    const plan = planLeases({ self, keys: all, workers, holders });
    for (const k of plan.giveUp) {
      assert.equal(holders.get(k), self, 'gives up only its own');
      holders.delete(k);
      moves++;
    }
    for (const k of plan.take) {
      assert.equal(holders.has(k), false, 'takes only a free key');
      holders.set(k, self);
      moves++;
    }
  }
  return moves;
}

function assertBalanced(all: string[], workers: string[], holders: Map<string, string>): void {
  const lo = Math.floor(all.length / workers.length);
  const hi = Math.ceil(all.length / workers.length);
  for (const w of workers) {
    const n = countOf(holders, w);
    assert.ok(n >= lo && n <= hi, `${w} holds ${n}, not within ${lo}..${hi}`);
  }
  assert.equal(all.filter((k) => workers.includes(holders.get(k) ?? '')).length, all.length, 'every key held by a live worker');
}

test('quotas: ⌈N/W⌉ for the N mod W workers holding most, ⌊N/W⌋ for the rest, summing to N', () => {
  const holders = new Map([['c00', 'b'], ['c01', 'b'], ['c02', 'c']]);
  const q = quotas(keys(10), ['a', 'b', 'c'], holders);
  assert.deepEqual(Object.fromEntries(q), { b: 4, c: 3, a: 3 });
  assert.deepEqual(Object.fromEntries(quotas(keys(2), ['a', 'b', 'c'], new Map())), { a: 1, b: 1, c: 0 });
  assert.deepEqual(Object.fromEntries(quotas([], ['a'], new Map())), { a: 0 });
});

test('a worker alone takes every free key, best first, and keeps them', () => {
  const all = keys(7);
  const plan = planLeases({ self: 'a', keys: all, workers: [], holders: new Map() });
  assert.equal(plan.quota, 7);
  assert.deepEqual([...plan.take].sort(), all);
  const holders = new Map(all.map((k) => [k, 'a']));
  assert.deepEqual(planLeases({ self: 'a', keys: all, workers: ['a'], holders }), { take: [], giveUp: [], quota: 7 });
});

test('a join: the holder gives up its excess first, the newcomer takes only after the release', () => {
  const all = keys(10);
  const holders = new Map(all.map((k) => [k, 'a']));
  const newcomer = planLeases({ self: 'b', keys: all, workers: ['a', 'b'], holders });
  assert.deepEqual(newcomer.take, [], 'nothing is free yet: b waits');
  const holder = planLeases({ self: 'a', keys: all, workers: ['a', 'b'], holders });
  assert.equal(holder.giveUp.length, 5);
  assert.deepEqual(holder.take, []);
  // The same keys on the next tick (their runs are stopping meanwhile).
  assert.deepEqual(planLeases({ self: 'a', keys: all, workers: ['a', 'b'], holders }).giveUp, holder.giveUp);
  for (const k of holder.giveUp) holders.delete(k);
  assert.deepEqual([...planLeases({ self: 'b', keys: all, workers: ['a', 'b'], holders }).take].sort(), [...holder.giveUp].sort());
});

test('a leave: the survivors take the dead worker\'s keys once they are free, and nothing else moves', () => {
  const all = keys(12);
  const workers = ['a', 'b', 'c'];
  const holders = new Map<string, string>();
  while (round(all, workers, holders) > 0);
  assertBalanced(all, workers, holders);
  const before = new Map(holders);
  // c dies: its heartbeat is gone, its leases expire (removed from the table).
  for (const [k, h] of [...holders]) if (h === 'c') holders.delete(k);
  const survivors = ['a', 'b'];
  assert.ok(round(all, survivors, holders) > 0);
  assertBalanced(all, survivors, holders);
  for (const [k, h] of before) if (h !== 'c') assert.equal(holders.get(k), h, `${k} stayed with ${h}`);
  assert.equal(round(all, survivors, holders), 0, 'stable');
});

test('keys no longer wanted are given up; a dead worker\'s unexpired lease is not taken', () => {
  const holders = new Map([['gone', 'a'], ['c00', 'x']]);
  const plan = planLeases({ self: 'a', keys: ['c00', 'c01'], workers: ['a'], holders });
  assert.deepEqual(plan.giveUp, ['gone']);
  assert.deepEqual(plan.take, ['c01'], 'c00 is still leased by x (dead, not expired)');
});

test('random joins and leaves: balanced within a few rounds every time, few moves, never two holders', () => {
  const random = seededRandom(20);
  const all = keys(23);
  const pool = ['w1', 'w2', 'w3', 'w4', 'w5'];
  let workers = ['w1'];
  const holders = new Map<string, string>();
  for (let step = 0; step < 60; step++) {
    const joining = random() < 0.5 || workers.length === 1;
    if (joining && workers.length < pool.length) workers = [...workers, pool.find((w) => !workers.includes(w))!];
    else {
      const dead = workers[Math.floor(random() * workers.length)]!;
      workers = workers.filter((w) => w !== dead);
      for (const [k, h] of [...holders]) if (h === dead) holders.delete(k);
    }
    // Each worker sees the others in its own order.
    const order = [...workers].sort(() => random() - 0.5);
    let rounds = 0;
    let moves = 0;
    for (let m = round(all, order, holders); m > 0; m = round(all, order, holders)) {
      moves += m;
      assert.ok(++rounds <= 4, `step ${step}: still moving after 4 rounds`);
    }
    assertBalanced(all, workers, holders);
    // A change of one worker moves about N/W keys (given up and taken: twice), not all of them.
    assert.ok(moves <= 2 * Math.ceil(all.length / workers.length) + 4, `step ${step}: ${moves} moves with ${workers.length} workers`);
  }
});

test('renewal at a third of the term, counted from the request; the worker stops counting on it before the store expires it', () => {
  assert.deepEqual(leaseTimes(1000, 6000), { renewAt: 3000, lostAt: 6400 });
  assert.deepEqual(leaseTimes(0, 60_000), { renewAt: 20_000, lostAt: 58_000 });
  assert.equal(leaseTickMs(6000), 1000);
  assert.equal(leaseKeyOf('journal'), 'journal');
  assert.equal(leaseKeyOf('journal', 'Archive/2026'), 'journal/Archive/2026');
});
