/**
 * `LeaseKeeper` over the in-memory reference lease store (real time, short terms): a worker
 * beside many free keys takes them over several ticks without losing one to a slow store, and a
 * key given up stays leased until its run has ended (renewed meanwhile), only then another's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { systemClock } from '../../src/adapters/clock-system/index.js';
import { LeaseKeeper, type GrantedLease } from '../../src/app/lease-keeper.js';
import type { Logger } from '../../src/core/ports/logger.js';
import { MemoryConnectionLeases } from '../reference/memory-connection-leases.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A logger that counts the leases lost. */
function counting(): { logger: Logger; lost: string[] } {
  const lost: string[] = [];
  const logger: Logger = { debug() {}, info() {}, error() {}, warn: (msg, f) => void (msg.startsWith('lease lost') && lost.push(String(f?.['key']))), child: () => logger };
  return { logger, lost };
}

test('lease keeper: a hundred free keys behind a slow store are taken over several ticks, none lost', async () => {
  const leases = new MemoryConnectionLeases();
  const acquire = leases.acquire.bind(leases);
  leases.acquire = async (...args) => {
    await sleep(60); // a slow grant: a hundred in one go would outlast the term
    return acquire(...args);
  };
  const keys = Array.from({ length: 100 }, (_, i) => `k${i}`);
  const { logger, lost } = counting();
  const keeper = new LeaseKeeper({ leases, worker: 'a', keys: () => keys, run: (l) => new Promise<void>((r) => l.signal.addEventListener('abort', () => r())), termMs: 1200, clock: systemClock, logger });
  keeper.start();
  try {
    const start = Date.now();
    while (keeper.holding().length < keys.length) {
      assert.ok(Date.now() - start < 8000, `holds ${keeper.holding().length} after 8 s`);
      await sleep(50);
    }
    await sleep(1500); // more than a term: every lease renewed at least once
    assert.deepEqual(lost, []);
    assert.equal((await leases.holdings()).length, keys.length);
    assert.ok(keys.every((k) => keeper.fence(k) !== null));
  } finally {
    await keeper.stop({ release: true });
  }
  assert.deepEqual(await leases.holdings(), [], 'released on a clean stop');
  assert.deepEqual(await leases.liveWorkers(), []);
});

test('lease keeper: a key given up is renewed until its run ended, released only then, and taken by the newcomer after', async () => {
  const leases = new MemoryConnectionLeases();
  const keys = ['k0', 'k1', 'k2', 'k3'];
  const endedWhileHeld: Array<{ key: string; holder: string | undefined }> = [];
  /** A's runs take 1.5 s (more than the term) to stop once aborted. */
  const slowStop = async (l: GrantedLease): Promise<void> => {
    await new Promise<void>((r) => l.signal.addEventListener('abort', () => r()));
    await sleep(1500);
    endedWhileHeld.push({ key: l.key, holder: (await leases.holdings()).find((h) => h.key === l.key)?.holder });
  };
  const quick = (l: GrantedLease): Promise<void> => new Promise<void>((r) => l.signal.addEventListener('abort', () => r()));
  const a = new LeaseKeeper({ leases, worker: 'a', keys: () => keys, run: slowStop, termMs: 900, clock: systemClock, logger: counting().logger });
  const b = new LeaseKeeper({ leases, worker: 'b', keys: () => keys, run: quick, termMs: 900, clock: systemClock, logger: counting().logger });
  a.start();
  try {
    while (a.holding().length < 4) await sleep(20);
    b.start();
    await sleep(700);
    assert.equal(b.holding().length, 0, 'b waits while a stops the runs of the keys it gives up');
    assert.equal((await leases.holdings()).filter((h) => h.holder === 'a').length, 4, 'still leased to a, past its term');
    const start = Date.now();
    while (b.holding().length < 2) {
      assert.ok(Date.now() - start < 4000, 'b takes its share once released');
      await sleep(20);
    }
    assert.equal(a.holding().length, 2);
    assert.deepEqual(endedWhileHeld.map((e) => e.holder), ['a', 'a'], 'each run ended while its lease was still a\'s');
  } finally {
    await b.stop({ release: true });
    await a.stop({ release: true });
  }
});
