/**
 * The MessageBus and DeliveryAdmin ports' contract: what the dispatcher, the CLI and the drain
 * summary rely on, which every bus adapter (SQLite, the in-memory reference) must pass. An
 * adapter's test file calls {@link runMessageBusContract} with a factory that opens fresh, empty
 * storage for each test. Deliveries are queued the way they are in production: a message is taken
 * (waiting to be parsed) and its parse result saved with its deliveries (the store's outbox).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MessageBus } from '../../src/core/ports/message-bus.js';
import type { DeliveryAdmin } from '../../src/core/ports/delivery-admin.js';
import type { ResponseLedger } from '../../src/core/ports/response-ledger.js';

/** Where a message was taken. */
export interface SourceKey {
  mailbox: string;
  uidValidity: number;
  uid: number | null;
  uidl?: string | null;
  /** The candidate key; default `imap:<mailbox>:<uidvalidity>:<uid>`, or `pop3:<uidl>` without a UID. */
  key?: string;
}

/** What a factory gives each test: the ports on one fresh storage, and the store's part in queuing deliveries. */
export interface BusHarness {
  bus: MessageBus & DeliveryAdmin;
  ledger: ResponseLedger;
  /** Takes one message of `connection` per key, each waiting to be parsed; returns their ids in order (ascending). */
  take(connection: string, keys: SourceKey[]): Promise<number[]>;
  /** Saves the parse results of these messages, each with a delivery `<connection>.<route>.<id>` per route, due at `createdAt` (the store's outbox). */
  route(entries: Array<{ id: number; connection: string; routes: Array<{ route: string; bus: number }> }>, createdAt?: number): Promise<void>;
  /** As after the process ended without a word: new ports over the same storage (`bus` and `ledger` replaced). */
  reopen(): Promise<void>;
  close(): Promise<void>;
}

/** `n` INBOX keys with UIDs from 1. */
export const inbox = (n: number, uidValidity = 7): SourceKey[] => Array.from({ length: n }, (_, i) => ({ mailbox: 'INBOX', uidValidity, uid: i + 1 }));

/** Takes `n` messages of `connection` and routes them all on `routes`; returns their ids. */
export async function queued(h: BusHarness, connection: string, n: number, routes: Array<{ route: string; bus: number }>, createdAt = 0): Promise<number[]> {
  const ids = await h.take(connection, inbox(n));
  await h.route(
    ids.map((id) => ({ id, connection, routes })),
    createdAt,
  );
  return ids;
}

/** Runs every case of the contract against the harness `open` builds. */
export function runMessageBusContract(name: string, open: () => Promise<BusHarness>): void {
  const it = (title: string, fn: (h: BusHarness) => Promise<void>): void => {
    test(`${name} bus contract: ${title}`, async () => {
      const h = await open();
      try {
        await fn(h);
      } finally {
        await h.close();
      }
    });
  };
  const key = (p: { connection: string; route: string }): string => `${p.connection}.${p.route}`;

  it('one head per pair and bus; retry-waiting, claimed and unparsed heads hold their pair back; the oldest due first', async (h) => {
    // Connection a: 6 messages; b: 4, of which the third stays unparsed (the barrier).
    const a = await h.take('a', inbox(6));
    const b = await h.take('b', inbox(4));
    const routesA = [
      { route: 'r1', bus: 0 },
      { route: 'r2', bus: 0 },
      { route: 'r3', bus: 1 },
    ];
    await h.route([...a.map((id) => ({ id, connection: 'a', routes: routesA })), ...b.filter((id) => id !== b[2]).map((id) => ({ id, connection: 'b', routes: [{ route: 'r1', bus: 0 }] }))]);
    const bus = h.bus;
    const due = async (n: number, now = 100): Promise<string[]> => (await bus.duePairs(n, now, 10)).map(key).sort();

    assert.deepEqual(await due(0), ['a.r1', 'a.r2', 'b.r1']);
    assert.deepEqual(await due(1), ['a.r3']);
    assert.deepEqual(await due(2), []);

    // a.r1's head waits for a retry at 500: the pair is not due until then, whatever is behind it.
    await bus.retryLater(`a.r1.${a[0]}`, 0, 1, 500, 'ACTION_UNAVAILABLE: 503');
    assert.deepEqual(await due(0), ['a.r2', 'b.r1']);
    assert.deepEqual(await due(0, 500), ['a.r1', 'a.r2', 'b.r1']);

    // a.r2 claimed (leased): not due while the lease holds.
    const claimed = await bus.claim(0, { connection: 'a', route: 'r2' }, 2, 1000);
    assert.deepEqual(
      claimed.map((d) => d.messageId),
      [a[0], a[1]],
    );
    assert.deepEqual(await due(0), ['b.r1']);
    assert.deepEqual(await due(0, 1000), ['a.r1', 'a.r2', 'b.r1'], 'a lease ends at its time');

    // b.r1: its first two deliveries done, the head is now behind the unparsed third message.
    await bus.doneMany([
      { id: `b.r1.${b[0]}`, at: 1, response: null },
      { id: `b.r1.${b[1]}`, at: 1, response: null },
    ]);
    assert.deepEqual(await due(0), []);
    assert.deepEqual(await bus.claim(0, { connection: 'b', route: 'r1' }, 10, 1000), [], 'nothing of b is claimable at or above the barrier');

    // Routed at last: its pair is due again, in message order.
    await h.route([{ id: b[2]!, connection: 'b', routes: [{ route: 'r1', bus: 0 }] }]);
    assert.deepEqual(
      (await bus.claim(0, { connection: 'b', route: 'r1' }, 10, 1000)).map((d) => d.messageId),
      [b[2], b[3]],
    );

    // The oldest head first, within the limit.
    await bus.release(claimed.map((d) => d.id));
    const ordered = await bus.duePairs(0, 600, 1);
    assert.equal(ordered.length, 1);
    assert.equal(key(ordered[0]!), 'a.r2', 'next_at 0 comes before a.r1 waiting until 500');
  });

  it('a claim takes one pair in message order, up to its limit, due or not, with the message behind each delivery', async (h) => {
    const ids = await h.take('c', [
      { mailbox: 'INBOX', uidValidity: 9, uid: 41 },
      { mailbox: 'INBOX', uidValidity: 9, uid: 42 },
      { mailbox: 'INBOX', uidValidity: 9, uid: 43 },
    ]);
    await h.route(ids.map((id) => ({ id, connection: 'c', routes: [{ route: 'r', bus: 0 }, { route: 'other', bus: 0 }] })));
    await h.bus.retryLater(`c.r.${ids[1]}`, 0, 1, 5000, 'ACTION_UNAVAILABLE: 503');
    const claimed = await h.bus.claim(0, { connection: 'c', route: 'r' }, 2, 100);
    assert.deepEqual(
      claimed.map((d) => [d.id, d.route, d.step, d.attempts, d.interrupted]),
      [
        [`c.r.${ids[0]}`, 'r', 0, 0, false],
        [`c.r.${ids[1]}`, 'r', 0, 1, false],
      ],
    );
    assert.equal(claimed[1]!.nextAt, 5000, 'not due, claimed all the same: the caller stops at it');
    const m = claimed[0]!.message;
    assert.deepEqual([m.mailbox, m.uidValidity, m.uid, m.uidl, m.parsed], ['INBOX', 9, 41, null, true]);
    assert.equal(typeof m.sha256, 'string');
    assert.equal(typeof m.blob.ref, 'string');
    assert.deepEqual(await h.bus.claim(1, { connection: 'c', route: 'r' }, 10, 100), [], 'another bus has none of them');
    // Claimed again (the lease is the caller's business): the rest of the pair follows.
    assert.deepEqual(
      (await h.bus.claim(0, { connection: 'c', route: 'r' }, 10, 100)).map((d) => d.messageId),
      ids,
    );
  });

  it('an attempt recorded started survives the process and is reported by the next claim until an outcome ends it', async (h) => {
    const ids = await queued(h, 'a', 3, [{ route: 'r', bus: 0 }]);
    const [d1, d2, d3] = ids.map((id) => `a.r.${id}`) as [string, string, string];
    await h.bus.claim(0, { connection: 'a', route: 'r' }, 10, 1000);
    await h.bus.attemptsStarted([d1, d2], []);
    // d1 succeeded (its done not written yet), d3 starts: one write unmarks d1 and marks d3.
    await h.bus.attemptsStarted([d3], [d1]);
    // The process dies here: no release, no outcome. A new one opens the same storage.
    await h.reopen();
    const bus = h.bus;
    assert.equal(await bus.releaseAll(), 3, "the dead process's claims are released");
    const claimed = await bus.claim(0, { connection: 'a', route: 'r' }, 10, 1000);
    assert.deepEqual(
      claimed.map((d) => [d.id, d.interrupted]),
      [
        [d1, false],
        [d2, true],
        [d3, true],
      ],
    );
    await bus.retryLater(d2, 0, 1, 0, 'DELIVERY_INTERRUPTED: x');
    await bus.deadLetter(d3, 0, 1, 0, 'DELIVERY_INTERRUPTED: x', null);
    await bus.replay({ ids: [d3] }, 0);
    const again = await bus.claim(0, { connection: 'a', route: 'r' }, 10, 1000);
    assert.deepEqual(
      again.map((d) => [d.id, d.interrupted, d.attempts]),
      [
        [d1, false, 0],
        [d2, false, 1],
        [d3, false, 0],
      ],
    );
    // A graceful stop gives the claim back: an attempt that was stopped does not count.
    await bus.attemptsStarted([d1], []);
    await bus.release([d1]);
    assert.equal((await bus.claim(0, { connection: 'a', route: 'r' }, 1, 1000))[0]?.interrupted, false);
    // A step done ends the mark too.
    await bus.attemptsStarted([d1], []);
    await bus.stepDone(d1, 1);
    assert.equal((await bus.claim(0, { connection: 'a', route: 'r' }, 1, 1000))[0]?.interrupted, false);
    assert.equal(await bus.releaseAll(), 3);
    assert.equal(await bus.releaseAll(), 0, 'nothing claimed, nothing released');
  });

  it('a step done moves the delivery on with its attempts reset; done records the response and the attempts of its last step', async (h) => {
    const [m1, m2] = await queued(h, 'a', 2, [{ route: 'r', bus: 0 }], 10);
    const [d1, d2] = [`a.r.${m1}`, `a.r.${m2}`];
    await h.bus.retryLater(d1, 0, 2, 10, 'ACTION_RECEIVER_ERROR: 503');
    await h.bus.stepDone(d1, 1);
    const [after] = await h.bus.list({ route: 'r', state: 'pending', limit: 1 });
    assert.deepEqual([after!.id, after!.step, after!.attempts, after!.lastError, after!.state], [d1, 1, 0, null, 'pending']);
    await h.bus.retryLater(d1, 1, 1, 10, 'ACTION_RECEIVER_ERROR: 503');
    await h.bus.doneMany([
      { id: d1, at: 50, response: { addFlags: ['$Done'] }, attempts: 2 },
      { id: d2, at: 51, response: null },
    ]);
    const done = await h.bus.list({ state: 'done' });
    assert.deepEqual(
      done.map((d) => [d.id, d.state, d.step, d.attempts, d.doneAt, d.lastError, d.response, d.createdAt]),
      [
        [d1, 'done', 1, 2, 50, null, { addFlags: ['$Done'] }, 10],
        [d2, 'done', 0, 0, 51, null, null, 10],
      ],
    );
    assert.deepEqual(await h.bus.duePairs(0, 1000, 10), [], 'nothing done is due');
    assert.deepEqual(await h.bus.claim(0, { connection: 'a', route: 'r' }, 10, 1000), [], 'nothing done is claimed');
    assert.equal(await h.bus.nextDue(0, ['r']), null);
  });

  it('a retry records the failure and when to try again; nextDue sees only pending deliveries of the configured routes', async (h) => {
    const [m1] = await queued(h, 'a', 1, [
      { route: 'r', bus: 0 },
      { route: 'gone', bus: 0 },
      { route: 'other', bus: 1 },
    ], 20);
    const d1 = `a.r.${m1}`;
    assert.equal(await h.bus.nextDue(0, []), null, 'no routes, nothing to wait for');
    assert.equal(await h.bus.nextDue(0, ['r']), 20);
    await h.bus.claim(0, { connection: 'a', route: 'r' }, 1, 1000);
    await h.bus.retryLater(d1, 0, 3, 700, 'ACTION_RECEIVER_ERROR: the receiver answered 503');
    const [r] = await h.bus.list({ route: 'r' });
    assert.deepEqual([r!.state, r!.step, r!.attempts, r!.nextAt, r!.lastError], ['pending', 0, 3, 700, 'ACTION_RECEIVER_ERROR: the receiver answered 503']);
    assert.equal(await h.bus.nextDue(0, ['r']), 700);
    assert.equal(await h.bus.nextDue(0, ['r', 'gone']), 20, 'the earliest of the routes asked about');
    assert.equal(await h.bus.nextDue(1, ['r']), null, 'another bus');
    assert.deepEqual((await h.bus.duePairs(0, 699, 10)).map(key), ['a.gone'], 'the retry waits, and its claim was released with it');
    assert.deepEqual((await h.bus.duePairs(0, 700, 10)).map(key).sort(), ['a.gone', 'a.r']);
  });

  it('dead letters are kept, listed, counted and replayed by id, by route or all, due at the replay with attempts reset', async (h) => {
    const ids = await queued(h, 'a', 3, [
      { route: 'r', bus: 0 },
      { route: 's', bus: 0 },
    ]);
    const [x, y, z] = ids.map((id) => `a.r.${id}`) as [string, string, string];
    const s1 = `a.s.${ids[0]}`;
    await h.bus.deadLetter(x, 1, 4, 30, 'ACTION_REJECTED: 400', { moveTo: 'Failed' });
    await h.bus.deadLetter(y, 0, 2, 31, 'ACTION_REJECTED: 400', null);
    await h.bus.deadLetter(s1, 0, 1, 32, 'ACTION_REJECTED: 422', null);
    await h.bus.doneMany([{ id: z, at: 33, response: null }]);
    const dead = await h.bus.list({ state: 'dead' });
    assert.deepEqual(
      dead.map((d) => [d.id, d.step, d.attempts, d.doneAt, d.lastError, d.response]),
      [
        [x, 1, 4, 30, 'ACTION_REJECTED: 400', { moveTo: 'Failed' }],
        [s1, 0, 1, 32, 'ACTION_REJECTED: 422', null],
        [y, 0, 2, 31, 'ACTION_REJECTED: 400', null],
      ],
      'in message order, then route',
    );
    assert.deepEqual(await h.bus.counts(), { r: { pending: 0, done: 1, dead: 2 }, s: { pending: 2, done: 0, dead: 1 } });
    assert.deepEqual(await h.bus.duePairs(0, 1000, 10), [{ connection: 'a', route: 's' }], "a dead head does not hold its pair back: s's next message is its head");

    assert.deepEqual(await h.bus.replay({ ids: [y, z, 'a.r.999999'] }, 500), [y], 'only dead letters are replayed');
    const [ry] = await h.bus.list({ state: 'pending', route: 'r' });
    assert.deepEqual([ry!.id, ry!.step, ry!.attempts, ry!.nextAt, ry!.doneAt, ry!.response], [y, 0, 0, 500, null, null], 'the failed step runs again');
    assert.deepEqual(await h.bus.replay({ allDead: true, route: 's' }, 600), [s1]);
    assert.deepEqual((await h.bus.replay({ allDead: true }, 700)).sort(), [x]);
    const [rx] = await h.bus.list({ state: 'pending', route: 'r' });
    assert.deepEqual([rx!.id, rx!.step, rx!.attempts, rx!.nextAt, rx!.response], [x, 1, 0, 700, null]);
    assert.deepEqual(await h.bus.replay({ allDead: true }, 800), []);
    assert.deepEqual(await h.bus.counts(), { r: { pending: 2, done: 1, dead: 0 }, s: { pending: 3, done: 0, dead: 0 } });
  });

  it('list filters by state, route and connection, in message order, at most its limit', async (h) => {
    const a = await queued(h, 'a', 2, [{ route: 'r', bus: 0 }]);
    const b = await queued(h, 'b', 2, [
      { route: 'r', bus: 0 },
      { route: 's', bus: 1 },
    ]);
    assert.deepEqual(
      (await h.bus.list({})).map((d) => d.id),
      [`a.r.${a[0]}`, `a.r.${a[1]}`, `b.r.${b[0]}`, `b.s.${b[0]}`, `b.r.${b[1]}`, `b.s.${b[1]}`],
    );
    assert.deepEqual(
      (await h.bus.list({ connection: 'b', route: 's' })).map((d) => [d.id, d.connection, d.route, d.bus, d.messageId]),
      [
        [`b.s.${b[0]}`, 'b', 's', 1, b[0]],
        [`b.s.${b[1]}`, 'b', 's', 1, b[1]],
      ],
    );
    assert.deepEqual(
      (await h.bus.list({ route: 'r', limit: 3 })).map((d) => d.id),
      [`a.r.${a[0]}`, `a.r.${a[1]}`, `b.r.${b[0]}`],
    );
    assert.deepEqual(await h.bus.list({ state: 'dead' }), []);
    assert.deepEqual(await h.bus.counts(), { r: { pending: 4, done: 0, dead: 0 }, s: { pending: 2, done: 0, dead: 0 } });
  });
}
