/**
 * The one in-flight byte budget (core/memory/byte-budget.ts): it bounds what the stages hold at
 * once, lets a request larger than the budget through alone, grants in request order, and lets
 * an aborted wait go; and the index stage, handed one, never parses more than fits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ByteBudget, PARSE_CHARGE_FACTOR } from '../../src/core/memory/byte-budget.js';
import { runIndexStage } from '../../src/core/archive/index-stage.js';
import { MemoryStore } from '../reference/memory-store.js';
import type { BlobStore } from '../../src/core/ports/blob-store.js';
import type { MessageParser, ParseOutcome } from '../../src/core/ports/message-parser.js';
import type { Logger } from '../../src/core/ports/logger.js';
import { createMemoryParser } from '../reference/memory-parser.js';

const MB = 1024 * 1024;
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('concurrent holders never exceed the budget', async () => {
  const budget = new ByteBudget(160 * MB);
  let holding = 0;
  let most = 0;
  await Promise.all(
    Array.from({ length: 10 }, () =>
      budget.with(60 * MB, async () => {
        holding++;
        most = Math.max(most, holding);
        await tick();
        await tick();
        holding--;
      }),
    ),
  );
  assert.equal(most, 2, 'two 60 MB holders fit in 160 MB, a third never');
  assert.ok(budget.peak <= budget.capacity);
  assert.equal(budget.inUse, 0);
  assert.equal(budget.waiting, 0);
});

test('a request larger than the budget is granted alone, once everything else is released', async () => {
  const budget = new ByteBudget(100);
  const small = budget.tryAcquire(30);
  assert.ok(small);
  let bigHeld = false;
  const big = budget.acquire(500).then((release) => {
    bigHeld = true;
    return release;
  });
  await tick();
  assert.equal(bigHeld, false, 'waits while anything is held');
  // Behind the big one in line: not granted before it, even though 30 + 10 fits.
  assert.equal(budget.tryAcquire(10), null);
  let laterHeld = false;
  const later = budget.acquire(10).then((r) => {
    laterHeld = true;
    return r;
  });
  small();
  const releaseBig = await big;
  await tick();
  assert.equal(bigHeld, true);
  assert.equal(laterHeld, false, 'nothing else while the oversized request holds the whole budget');
  assert.equal(budget.inUse, 100);
  releaseBig();
  (await later)();
  assert.equal(laterHeld, true);
  assert.equal(budget.inUse, 0);
});

test('releasing twice gives the bytes back once', () => {
  const budget = new ByteBudget(100);
  const a = budget.tryAcquire(60)!;
  a();
  a();
  assert.equal(budget.inUse, 0);
  assert.ok(budget.tryAcquire(100));
});

test('an aborted wait leaves the line and holds nothing; those behind it move up', async () => {
  const budget = new ByteBudget(100);
  const held = budget.tryAcquire(80)!;
  const ac = new AbortController();
  const big = budget.acquire(90, ac.signal);
  const small = budget.acquire(20);
  ac.abort(new Error('stopped'));
  await assert.rejects(big, /stopped/);
  const r = await small; // 80 + 20 fits once the 90 no longer waits ahead of it
  assert.equal(budget.inUse, 100);
  r();
  held();
  assert.equal(budget.inUse, 0);
  assert.equal(budget.waiting, 0);
});

test('the index stage with a budget parses only what fits at once', async () => {
  const size = 60 * MB;
  // The reference store (test/reference/memory-store.ts) holds the queue: six 60 MB messages.
  const store = new MemoryStore();
  await store.commitTaken(
    Array.from({ length: 6 }, (_, i) => ({
      connection: 'c',
      sourceKey: `pop3:${i}`,
      mailbox: 'INBOX',
      uidValidity: 0,
      uid: null,
      uidl: String(i),
      sha256: String(i).padStart(64, '0'),
      size,
      blob: { ref: `r${i}`, storedSize: size },
      takenAt: 0,
    })),
  );
  let reading = 0;
  let mostAtOnce = 0;
  const blobs = {
    // The bytes are not really allocated: the budget is asked before the read.
    read: async () => {
      reading++;
      mostAtOnce = Math.max(mostAtOnce, reading);
      return Buffer.alloc(8);
    },
  } as unknown as BlobStore;
  // The reference parser, with a 5 ms parse and a count of the messages read and not yet parsed.
  const reference = createMemoryParser();
  const parser: MessageParser = {
    parse: async (raw, totalSize): Promise<ParseOutcome> => {
      await new Promise((r) => setTimeout(r, 5));
      reading--;
      return reference.parse(raw, totalSize);
    },
    close: () => reference.close(),
  };
  const silent = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent } as unknown as Logger;
  const budget = new ByteBudget(size * PARSE_CHARGE_FACTOR + 10 * MB);
  const totals = await runIndexStage(
    { store, blobs, parser, logger: silent, clock: { now: () => 0, sleep: (ms: number) => new Promise((r) => setTimeout(r, ms)) }, concurrency: 16, budget },
    () => true,
  );
  assert.equal(totals.parsed, 6);
  assert.equal(reference.parses, 6, 'the reference parser read each message once');
  assert.equal(mostAtOnce, 1, 'sixteen lanes, one 60 MB message in memory at a time');
  assert.equal(budget.inUse, 0);
  assert.equal(await store.countUnparsed(), 0, 'every result saved');
});
