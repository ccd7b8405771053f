/**
 * The ConnectionLeases port's contract (ADR 0053): one holder per key at a time, a new and larger
 * token with every grant, renewals only under the current token and before expiry, releases only
 * by the holder, expiry after the term, heartbeats, one winner among racing acquirers, and (where
 * the harness can commit) a commit fenced by a lost token refused with `LEASE_LOST`. Terms are
 * real time, short; run against PostgreSQL (`postgres-connection-leases.test.ts`) and the
 * in-memory reference adapter.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isMailsluiceError } from '../../src/core/errors/index.js';
import type { CommitFence, ConnectionLeases } from '../../src/core/ports/connection-leases.js';

/** A lease store on fresh storage. */
export interface LeasesHarness {
  leases: ConnectionLeases;
  /** Commits something under `fence` the way the store's commits check it; rejects as they do. */
  commitUnder?(fence: CommitFence): Promise<void>;
  cleanup(): Promise<void>;
}

/** Builds a fresh lease store for one test. */
export type LeasesFactory = () => Promise<LeasesHarness>;

const LONG = 60_000;
/** A term that runs out within a test, long enough for the next few statements on a loaded machine. */
const SHORT = 1000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function withLeases(factory: LeasesFactory, fn: (h: LeasesHarness) => Promise<void>): Promise<void> {
  const h = await factory();
  try {
    await fn(h);
  } finally {
    await h.cleanup();
  }
}

/** Registers the lease store's contract tests for the adapter `name`. */
export function runConnectionLeasesContract(name: string, factory: LeasesFactory): void {
  test(`${name} leases: a free key is granted; held, it is refused to another; every grant has a larger token`, () =>
    withLeases(factory, async ({ leases }) => {
      const t1 = await leases.acquire('journal', 'w1', LONG);
      assert.ok(typeof t1 === 'number' && t1 > 0);
      assert.equal(await leases.acquire('journal', 'w2', LONG), null, 'held by w1');
      const t2 = await leases.acquire('journal/Sent', 'w2', LONG);
      assert.ok(t2! > t1!, 'tokens grow across keys');
      const t3 = await leases.acquire('journal', 'w1', LONG);
      assert.ok(t3! > t2!, 'the holder asking again gets a new token (its old run is fenced out)');
      assert.deepEqual(await leases.renew('w1', [{ key: 'journal', token: t1! }], LONG), new Set(), 'the old token is not renewed');
      const held = await leases.holdings();
      assert.deepEqual(held.map((l) => [l.key, l.holder, l.token]), [['journal', 'w1', t3], ['journal/Sent', 'w2', t2]]);
      for (const l of held) assert.ok(l.remainingMs > LONG - 5000 && l.remainingMs <= LONG, `remaining ${l.remainingMs}`);
    }));

  test(`${name} leases: renewal under the holder and token only; release by the holder only; then another holder gets a larger token`, () =>
    withLeases(factory, async ({ leases }) => {
      const a = (await leases.acquire('a', 'w1', 1000))!;
      const b = (await leases.acquire('b', 'w1', 1000))!;
      const renewed = await leases.renew('w1', [{ key: 'a', token: a }, { key: 'b', token: b + 100 }, { key: 'nope', token: a }], LONG);
      assert.deepEqual(renewed, new Set(['a']));
      assert.deepEqual(await leases.renew('w2', [{ key: 'a', token: a }], LONG), new Set(), 'not the holder');
      const remaining = (await leases.holdings()).find((l) => l.key === 'a')!.remainingMs;
      assert.ok(remaining > 30_000, `renewed for the new term (${remaining} ms left)`);
      await leases.release('a', 'w2', a);
      await leases.release('a', 'w1', a + 100);
      assert.equal(await leases.acquire('a', 'w2', LONG), null, 'a wrong holder or token releases nothing');
      await leases.release('a', 'w1', a);
      assert.deepEqual(await leases.renew('w1', [{ key: 'a', token: a }], LONG), new Set(), 'released: not renewed');
      const again = await leases.acquire('a', 'w2', LONG);
      assert.ok(again! > b);
      assert.deepEqual((await leases.holdings()).map((l) => [l.key, l.holder]), [['a', 'w2'], ['b', 'w1']]);
    }));

  test(`${name} leases: an unrenewed lease expires after its term; it is neither listed nor renewed, and another takes it`, () =>
    withLeases(factory, async ({ leases }) => {
      const t = (await leases.acquire('journal', 'w1', SHORT))!;
      assert.equal(await leases.acquire('journal', 'w2', SHORT), null);
      await sleep(SHORT + 200);
      assert.deepEqual(await leases.holdings(), []);
      assert.deepEqual(await leases.renew('w1', [{ key: 'journal', token: t }], LONG), new Set(), 'too late');
      const t2 = await leases.acquire('journal', 'w2', LONG);
      assert.ok(t2! > t);
    }));

  test(`${name} leases: heartbeats: live workers sorted, gone after their term or at once when they leave`, () =>
    withLeases(factory, async ({ leases }) => {
      assert.deepEqual(await leases.liveWorkers(), []);
      await leases.heartbeat('w2', LONG);
      await leases.heartbeat('w1', LONG);
      await leases.heartbeat('w3', SHORT);
      assert.deepEqual(await leases.liveWorkers(), ['w1', 'w2', 'w3']);
      await leases.leave('w2');
      await leases.leave('never-seen');
      await sleep(SHORT + 200);
      assert.deepEqual(await leases.liveWorkers(), ['w1']);
      await leases.heartbeat('w3', LONG);
      assert.deepEqual(await leases.liveWorkers(), ['w1', 'w3'], 'back with a new heartbeat');
    }));

  test(`${name} leases: of many workers racing for one key exactly one wins`, () =>
    withLeases(factory, async ({ leases }) => {
      for (let round = 0; round < 5; round++) {
        const key = `race-${round}`;
        const grants = await Promise.all(Array.from({ length: 8 }, (_, i) => leases.acquire(key, `w${i}`, LONG)));
        const winners = grants.flatMap((t, i) => (t === null ? [] : [`w${i}`]));
        assert.equal(winners.length, 1, `round ${round}: ${winners.join(', ')}`);
        assert.deepEqual((await leases.holdings()).find((l) => l.key === key)?.holder, winners[0]);
      }
    }));

  test(`${name} leases: a commit fenced by the current token passes; by a lost token it is refused with LEASE_LOST`, async (t) => {
    const h = await factory();
    try {
      if (!h.commitUnder) return t.skip('no commit to fence');
      const { leases } = h;
      const t1 = (await leases.acquire('journal', 'w1', SHORT))!;
      await h.commitUnder({ key: 'journal', token: t1 });
      await sleep(SHORT + 200);
      const t2 = (await leases.acquire('journal', 'w2', LONG))!;
      const refused = (fence: CommitFence): Promise<void> =>
        assert.rejects(h.commitUnder!(fence), (err: unknown) => isMailsluiceError(err, 'LEASE_LOST') && err.retryable === false);
      await refused({ key: 'journal', token: t1 });
      await h.commitUnder({ key: 'journal', token: t2 });
      await leases.release('journal', 'w2', t2);
      await refused({ key: 'journal', token: t2 });
      await refused({ key: 'never-leased', token: t2 });
    } finally {
      await h.cleanup();
    }
  });
}
