/**
 * The dispatcher with fakes (an in-memory bus, the reference action of test/reference answering as
 * each test scripts it, the real clock with short back-offs): mailbox order per pair, head-of-line per pair only, steps resumed where they
 * failed, dead letters, stable idempotency keys.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runDispatcher, type RouteRuntime } from '../../src/core/bus/dispatcher.js';
import type { ActionOutcome } from '../../src/core/ports/scenario-action.js';
import type { BlobStore } from '../../src/core/ports/blob-store.js';
import { MailsluiceError } from '../../src/core/errors/index.js';
import { systemClock } from '../../src/adapters/clock-system/index.js';
import { JsonlLogger } from '../../src/adapters/logger-jsonl/index.js';
import { MemoryBus } from '../reference/memory-bus.js';
import { MemoryAction, type Decide } from '../reference/memory-action.js';

const blobs = { read: async () => Buffer.from('raw'), stream: async function* () {} } as unknown as BlobStore;
const logger = new JsonlLogger([]);

/** The reference action (test/reference), answering each call with `decide(call, calls)` and recording every call. */
const scripted = (decide: Decide): MemoryAction => new MemoryAction({ decide });

const retryable = (): ActionOutcome => ({ ok: false, error: new MailsluiceError('ACTION_RECEIVER_ERROR', 'the receiver answered 503') });
const refused = (): ActionOutcome => ({ ok: false, error: new MailsluiceError('ACTION_REJECTED', 'the receiver refused the delivery with 400') });

function run(bus: MemoryBus, routes: RouteRuntime[], concurrency = 4) {
  return runDispatcher(
    { bus, blobs, routes, clock: systemClock, random: () => 0.5, logger, tuning: { concurrency, backoff: { baseMs: 5, maxMs: 20 }, pollMs: 2, claimBatch: 3 } },
    { untilIdle: { finished: () => true, retryHorizonMs: 10_000 } },
  );
}

test('one pair keeps mailbox order even when deliveries are retried, with one key per delivery and step', async () => {
  const bus = new MemoryBus();
  for (let i = 1; i <= 10; i++) bus.add('j', 'hook', 0, i);
  // Every third message fails twice before it succeeds.
  const action = scripted((c) => (Number(c.subject.split(' ')[1]) % 3 === 0 && c.attempt < 3 ? retryable() : { ok: true }));
  const totals = await run(bus, [{ name: 'hook', connection: 'j', bus: 0, steps: [{ action, maxAttempts: 5 }] }]);
  const firstArrival = [...new Set(action.calls.map((c) => c.subject))];
  assert.deepEqual(firstArrival, Array.from({ length: 10 }, (_, i) => `message ${i + 1}`));
  const succeeded = action.calls.filter((c) => !(Number(c.subject.split(' ')[1]) % 3 === 0 && c.attempt < 3)).map((c) => c.subject);
  assert.deepEqual(succeeded, firstArrival, 'deliveries complete in mailbox order');
  for (const c of action.calls) assert.equal(c.key, `j.hook.${c.subject.split(' ')[1]}.0`);
  assert.deepEqual(totals.routes.hook, { delivered: 10, dead: 0, retries: 6 });
  assert.ok(bus.rows.every((r) => r.state === 'done'));
  // What an action sees: saved attributes plus Source and ArchiveId.
  const m = action.calls[0]!.message;
  assert.deepEqual(m.Source, { Connection: 'j', Mailbox: 'INBOX', UidValidity: 7, Uid: 1 });
  assert.equal(m.ArchiveId, 'sha-1');
  assert.deepEqual(m.To, []);
});

test('a failing pair holds back only itself: another route on the same bus is delivered meanwhile', async () => {
  const bus = new MemoryBus();
  for (let i = 1; i <= 5; i++) {
    bus.add('j', 'stuck', 0, i);
    bus.add('j', 'fine', 0, i);
  }
  const stuck = scripted(() => retryable());
  const fine = scripted(() => ({ ok: true }));
  const totals = await run(bus, [
    { name: 'stuck', connection: 'j', bus: 0, steps: [{ action: stuck, maxAttempts: 4 }] },
    { name: 'fine', connection: 'j', bus: 0, steps: [{ action: fine, maxAttempts: 4 }] },
  ]);
  assert.equal(fine.calls.length, 5);
  assert.equal(totals.routes.fine!.delivered, 5);
  // The stuck route tried message 1 until it was dead, then went on: dead letters do not block.
  assert.equal(totals.routes.stuck!.dead, 5);
  assert.deepEqual(
    stuck.calls.map((c) => c.subject),
    ['message 1', 'message 1', 'message 1', 'message 1', 'message 2', 'message 2', 'message 2', 'message 2', 'message 3', 'message 3', 'message 3', 'message 3', 'message 4', 'message 4', 'message 4', 'message 4', 'message 5', 'message 5', 'message 5', 'message 5'],
    'message N+1 never starts while message N is pending',
  );
  assert.ok(bus.rows.filter((r) => r.route === 'stuck').every((r) => r.state === 'dead' && r.attempts === 4 && r.lastError?.startsWith('ACTION_RECEIVER_ERROR')));
});

test('a non-retryable failure is dead at once; the error response is recorded; replay resumes at the failed step', async () => {
  const bus = new MemoryBus();
  bus.add('j', 'two', 0, 1);
  bus.add('j', 'two', 0, 2);
  const first = scripted(() => ({ ok: true }));
  let fixed = false;
  const second = scripted(() => (fixed ? { ok: true, response: { addFlags: ['$Done'] } } : refused()));
  const route: RouteRuntime = {
    name: 'two',
    connection: 'j',
    bus: 0,
    steps: [
      { action: first, maxAttempts: 3 },
      { action: second, maxAttempts: 3 },
    ],
    response: { addFlags: ['$Routed'] },
    errorResponse: { moveTo: 'Failed' },
  };
  await run(bus, [route]);
  assert.equal(second.calls.length, 2, 'one attempt each: 400 is not retried');
  assert.deepEqual(bus.rows.map((r) => [r.state, r.step, r.response]), [
    ['dead', 1, { moveTo: 'Failed' }],
    ['dead', 1, { moveTo: 'Failed' }],
  ]);
  fixed = true;
  assert.deepEqual(await bus.replay({ allDead: true }, 0), ['j.two.1', 'j.two.2']);
  await run(bus, [route]);
  assert.equal(first.calls.length, 2, 'step 0 is not run again: it was recorded done');
  assert.deepEqual(second.calls.map((c) => c.key), ['j.two.1.1', 'j.two.2.1', 'j.two.1.1', 'j.two.2.1'], 'the replay sends the same keys');
  assert.deepEqual(bus.rows.map((r) => [r.state, r.response]), [
    ['done', { addFlags: ['$Done'] }],
    ['done', { addFlags: ['$Done'] }],
  ]);
});

test('buses are separate lanes: a slow bus does not hold back another', async () => {
  const bus = new MemoryBus();
  for (let i = 1; i <= 3; i++) bus.add('j', 'slow', 1, i);
  for (let i = 1; i <= 20; i++) bus.add('j', 'fast', 0, i);
  const doneAt: Record<string, number[]> = { slow: [], fast: [] };
  const slow = scripted(async () => {
    await new Promise((r) => setTimeout(r, 150));
    doneAt.slow!.push(Date.now());
    return { ok: true };
  });
  const fast = scripted(() => {
    doneAt.fast!.push(Date.now());
    return { ok: true };
  });
  const started = Date.now();
  await run(
    bus,
    [
      { name: 'slow', connection: 'j', bus: 1, steps: [{ action: slow, maxAttempts: 1 }] },
      { name: 'fast', connection: 'j', bus: 0, steps: [{ action: fast, maxAttempts: 1 }] },
    ],
    1,
  );
  assert.equal(doneAt.fast!.length, 20);
  assert.ok(Math.max(...doneAt.fast!) - started < 150, `bus 0 finished ${Math.max(...doneAt.fast!) - started} ms after the start, while bus 1's first took 150 ms`);
  assert.ok(Math.max(...doneAt.slow!) - started >= 450);
});

test('a stop mid-attempt records nothing: the delivery runs again, under the same key', async () => {
  const bus = new MemoryBus();
  bus.add('j', 'hook', 0, 1);
  const ac = new AbortController();
  // The reference action ends a held call at the abort, as a retryable failure (ACTION_TIMEOUT).
  const hanging = scripted(() => {
    setTimeout(() => ac.abort(), 20);
    return new Promise<ActionOutcome>(() => undefined);
  });
  await runDispatcher({ bus, blobs, routes: [{ name: 'hook', connection: 'j', bus: 0, steps: [{ action: hanging, maxAttempts: 1 }] }], clock: systemClock, random: () => 0, logger }, { signal: ac.signal });
  const row = bus.get('j.hook.1');
  assert.deepEqual([row.state, row.attempts, row.leaseUntil], ['pending', 0, 0], 'not counted as an attempt, not dead, claim released');
});

test('an attempt is recorded started before its action runs; one whose process died counts, and the message is dead-lettered after maxAttempts', async () => {
  const bus = new MemoryBus();
  for (let i = 1; i <= 3; i++) bus.add('j', 'hook', 0, i);
  const seenStarted: boolean[] = [];
  const action = scripted((c) => {
    seenStarted.push(bus.get(c.ctx.deliveryId).started);
    return { ok: true };
  });
  // Message 2 "killed its runner" twice before: each run recorded its attempt started and died.
  Object.assign(bus.get('j.hook.2'), { attempts: 1, started: true });
  const totals = await run(bus, [{ name: 'hook', connection: 'j', bus: 0, steps: [{ action, maxAttempts: 2 }] }]);
  assert.deepEqual(seenStarted, [true, true], 'every action ran with its attempt already recorded');
  assert.deepEqual(action.calls.map((c) => c.subject), ['message 1', 'message 3'], 'the message that killed its runner is not run a third time');
  const dead = bus.get('j.hook.2');
  assert.equal(dead.state, 'dead');
  assert.equal(dead.attempts, 2);
  assert.match(dead.lastError ?? '', /^DELIVERY_INTERRUPTED: attempt 2 of step 0 never ended/);
  assert.deepEqual(totals.routes.hook, { delivered: 2, dead: 1, retries: 0 });
  assert.ok(bus.rows.every((r) => !r.started), 'no mark outlives its outcome');
});

test('an interrupted attempt with attempts left is retried, and a done delivery is unmarked before the next start', async () => {
  const bus = new MemoryBus();
  for (let i = 1; i <= 2; i++) bus.add('j', 'hook', 0, i);
  bus.get('j.hook.1').started = true;
  const action = scripted(() => ({ ok: true }));
  const totals = await run(bus, [{ name: 'hook', connection: 'j', bus: 0, steps: [{ action, maxAttempts: 3 }] }]);
  assert.deepEqual(totals.routes.hook, { delivered: 2, dead: 0, retries: 1 });
  assert.equal(action.calls.find((c) => c.subject === 'message 1')?.attempt, 2, 'the interrupted attempt was counted');
  // Message 2's start write also unmarks message 1 (done, its `done` not written yet).
  const w = bus.startWrites.find(([started]) => started.includes('j.hook.2'));
  assert.ok(w && w[1].includes('j.hook.1'), JSON.stringify(bus.startWrites));
});
