/**
 * The in-memory bodies hand-off (ADR 0011): what the index stage posts is found by the
 * dispatcher's lookup even before the port's message event ran, each entry serves its deliveries
 * and is then dropped, and a dispatcher far behind holds a bounded amount.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { BodiesCache, bodiesSink } from '../../src/adapters/bodies-messageport/index.js';
import { runDispatcher } from '../../src/core/bus/dispatcher.js';
import type { BlobStore } from '../../src/core/ports/blob-store.js';
import { systemClock } from '../../src/adapters/clock-system/index.js';
import { JsonlLogger } from '../../src/adapters/logger-jsonl/index.js';
import { MemoryBus } from '../reference/memory-bus.js';
import { MemoryAction } from '../reference/memory-action.js';

const bodies = (n: number): string => JSON.stringify({ TextBody: `text of ${n}`, HtmlBody: '' });

test('an entry posted a moment ago is found at once, without waiting for the message event', () => {
  const { port1, port2 } = new MessageChannel();
  const cache = new BodiesCache(port2);
  try {
    bodiesSink(port1).handOver([{ messageId: 7, bodiesJson: bodies(7), uses: 1 }]);
    // No await in between: the entry is still queued on the port, the lookup takes it from there.
    assert.equal(cache.take(7), bodies(7));
    assert.equal(cache.take(8), undefined);
  } finally {
    cache.close();
    port1.close();
  }
});

test('an entry serves as many deliveries as it was handed over for, then is gone', () => {
  const { port1, port2 } = new MessageChannel();
  const cache = new BodiesCache(port2);
  try {
    bodiesSink(port1).handOver([
      { messageId: 1, bodiesJson: bodies(1), uses: 2 },
      { messageId: 2, bodiesJson: bodies(2), uses: 1 },
    ]);
    assert.equal(cache.take(1), bodies(1));
    assert.equal(cache.take(2), bodies(2));
    assert.equal(cache.take(1), bodies(1));
    assert.equal(cache.take(1), undefined, 'a third delivery of message 1 parses it again');
    assert.equal(cache.size, 0);
  } finally {
    cache.close();
    port1.close();
  }
});

test('beyond its bound the oldest entries are dropped first', () => {
  const { port1, port2 } = new MessageChannel();
  const one = bodies(100).length;
  const cache = new BodiesCache(port2, one * 3);
  try {
    const sink = bodiesSink(port1);
    for (let id = 100; id < 110; id++) sink.handOver([{ messageId: id, bodiesJson: bodies(id), uses: 1 }]);
    assert.equal(cache.take(109), bodies(109));
    assert.equal(cache.take(100), undefined, 'the oldest was dropped');
    assert.ok(cache.size <= 3, `holds ${cache.size} entries, more than its bound allows`);
  } finally {
    cache.close();
    port1.close();
  }
});

test('the dispatcher hands a scenario the bodies handed over, with no parser and none saved', async () => {
  const bus = new MemoryBus();
  for (let i = 1; i <= 3; i++) bus.add('j', 'hook', 0, i);
  const { port1, port2 } = new MessageChannel();
  const cache = new BodiesCache(port2);
  bodiesSink(port1).handOver([1, 2, 3].map((i) => ({ messageId: i, bodiesJson: bodies(i), uses: 1 })));
  const action = new MemoryAction();
  try {
    await runDispatcher(
      {
        bus,
        blobs: { read: async () => Buffer.from('raw') } as unknown as BlobStore,
        bodies: cache,
        routes: [{ name: 'hook', connection: 'j', bus: 0, steps: [{ action, maxAttempts: 1 }] }],
        clock: systemClock,
        random: () => 0.5,
        logger: new JsonlLogger([]),
        tuning: { pollMs: 2 },
      },
      { untilIdle: { finished: () => true, retryHorizonMs: 1000 } },
    );
  } finally {
    cache.close();
    port1.close();
  }
  assert.deepEqual(
    action.calls.map((c) => c.message.TextBody),
    ['text of 1', 'text of 2', 'text of 3'],
  );
});
