/**
 * The bus and response-ledger contracts on the PostgreSQL adapter (`adapters/bus-postgres`), on
 * the `deliveries` table the PostgreSQL store queues (`saveParsed`, the outbox), a fresh schema
 * per test on a real server (test/harness/postgres.ts); a reopen is a new pool and a new worker.
 * Plus what only several workers on one schema have: two buses on two pools claiming at once keep
 * every pair's mailbox order and never hold one delivery together; `releaseAll` leaves a live
 * worker's claims alone; a worker whose lease ran out records nothing over the new holder's work.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPostgresStore, type PostgresStore } from '../../src/adapters/store-postgres/index.js';
import { createPostgresBus, createPostgresResponseLedger, type PostgresBus } from '../../src/adapters/bus-postgres/index.js';
import type { ClaimedDelivery, DeliveryPair } from '../../src/core/ports/message-bus.js';
import { freshSchema, type TestSchema } from '../harness/postgres.js';
import { runMessageBusContract, type BusHarness } from './message-bus.contract.js';
import { runResponseLedgerContract } from './response-ledger.contract.js';
import { storeQueuing } from './bus-harness.js';

async function open(): Promise<BusHarness> {
  const schema = await freshSchema();
  const opts = { url: schema.url, schema: schema.schema, poolSize: 4 };
  let store = await createPostgresStore(opts);
  const h: BusHarness = {
    bus: createPostgresBus({ db: store.connection }),
    ledger: createPostgresResponseLedger({ db: store.connection }),
    ...storeQueuing(() => store),
    async reopen() {
      await store.close();
      store = await createPostgresStore(opts);
      h.bus = createPostgresBus({ db: store.connection });
      h.ledger = createPostgresResponseLedger({ db: store.connection });
    },
    async close() {
      await store.close().catch(() => undefined);
      await schema.drop();
    },
  };
  return h;
}

runMessageBusContract('postgres', open);
runResponseLedgerContract('postgres', open);

/** Two workers (two stores, two pools, two buses) on one fresh schema, the first queuing. */
async function twoWorkers(fn: (w: { a: PostgresBus; b: PostgresBus; queue: ReturnType<typeof storeQueuing>; schema: TestSchema }) => Promise<void>): Promise<void> {
  const schema = await freshSchema();
  const stores: PostgresStore[] = [];
  try {
    for (let i = 0; i < 2; i++) stores.push(await createPostgresStore({ url: schema.url, schema: schema.schema, poolSize: 6 }));
    const [sa, sb] = stores as [PostgresStore, PostgresStore];
    await fn({ a: createPostgresBus({ db: sa.connection, workerId: 'worker-a' }), b: createPostgresBus({ db: sb.connection, workerId: 'worker-b' }), queue: storeQueuing(() => sa), schema });
  } finally {
    for (const s of stores) await s.close().catch(() => undefined);
    await schema.drop();
  }
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('postgres bus: two workers claiming at once keep every pair in message order and never hold one delivery together', async () => {
  await twoWorkers(async ({ a, b, queue }) => {
    const connections = ['c1', 'c2', 'c3'];
    const routes = [
      { route: 'r1', bus: 0 },
      { route: 'r2', bus: 0 },
    ];
    const perPair = 40;
    const expected = new Map<string, number[]>();
    for (const c of connections) {
      const ids = await queue.take(c, Array.from({ length: perPair }, (_, i) => ({ mailbox: 'INBOX', uidValidity: 1, uid: i + 1 })));
      await queue.route(ids.map((id) => ({ id, connection: c, routes })));
      for (const r of routes) expected.set(`${c}.${r.route}`, ids);
    }
    const total = expected.size * perPair;
    // Who holds what, as the workers see it (one process: JavaScript's order is the real order).
    const holder = new Map<string, string>();
    const worked = new Map<string, number[]>();
    const claims = { 'worker-a': 0, 'worker-b': 0 } as Record<string, number>;
    const doubles: string[] = [];
    let done = 0;
    let retries = 0;
    const seeded = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);

    const workPair = async (w: PostgresBus, pair: DeliveryPair, random: () => number): Promise<void> => {
      const claimed: ClaimedDelivery[] = await w.claim(0, pair, 5, Date.now() + 60_000);
      if (claimed.length > 0) claims[w.workerId]!++;
      for (const d of claimed) {
        const other = holder.get(d.id);
        if (other !== undefined) doubles.push(`${d.id} claimed by ${w.workerId} while ${other} held it`);
        holder.set(d.id, w.workerId);
      }
      const finished: Array<{ id: string; at: number; response: null }> = [];
      let k = 0;
      for (; k < claimed.length; k++) {
        const d = claimed[k]!;
        await pause(random() * 2);
        if (random() < 0.1) {
          // A failed attempt, due again at once: the pair goes on from it, on whichever worker.
          holder.delete(d.id);
          await w.retryLater(d.id, 0, d.attempts + 1, Date.now(), 'ACTION_UNAVAILABLE: 503');
          retries++;
          k++;
          break;
        }
        const key = `${d.connection}.${d.route}`;
        worked.set(key, [...(worked.get(key) ?? []), d.messageId]);
        finished.push({ id: d.id, at: Date.now(), response: null });
      }
      const rest = claimed.slice(k).map((d) => d.id);
      for (const f of finished) holder.delete(f.id);
      for (const id of rest) holder.delete(id);
      await w.doneMany(finished);
      await w.release(rest);
      done += finished.length;
    };

    const run = async (w: PostgresBus, seed: number): Promise<void> => {
      const random = seeded(seed);
      const deadline = Date.now() + 60_000;
      while (done < total) {
        assert.ok(Date.now() < deadline, `stuck at ${done} of ${total}`);
        const pairs = await w.duePairs(0, Date.now(), 6);
        if (pairs.length === 0) {
          await pause(2);
          continue;
        }
        // Several pairs at once per worker, as a dispatcher lane's concurrency.
        await Promise.all(pairs.slice(0, 3).map((p) => workPair(w, p, random)));
      }
    };
    await Promise.all([run(a, 7), run(b, 11)]);

    assert.deepEqual(doubles, []);
    assert.equal(done, total);
    for (const [key, ids] of expected) assert.deepEqual(worked.get(key), ids, `${key} worked in message order, each once`);
    assert.ok(claims['worker-a']! > 0 && claims['worker-b']! > 0, `both workers claimed: ${JSON.stringify(claims)}`);
    assert.ok(retries > 0, 'some pairs went on after a retry');
    assert.deepEqual(await a.counts(), { r1: { pending: 0, done: total / 2, dead: 0 }, r2: { pending: 0, done: total / 2, dead: 0 } });
  });
});

test("postgres bus: a live worker's claim holds its pair for the other; releaseAll gives back only its own and expired claims; a lost claim records nothing", async () => {
  await twoWorkers(async ({ a, b, queue }) => {
    const ids = await queue.take('c', Array.from({ length: 3 }, (_, i) => ({ mailbox: 'INBOX', uidValidity: 1, uid: i + 1 })));
    await queue.route(ids.map((id) => ({ id, connection: 'c', routes: [{ route: 'r', bus: 0 }, { route: 's', bus: 0 }] })));
    const pair = (route: string): DeliveryPair => ({ connection: 'c', route });
    const far = Date.now() + 60_000;

    assert.deepEqual((await a.claim(0, pair('r'), 2, far)).map((d) => d.messageId), ids.slice(0, 2));
    assert.deepEqual(await b.claim(0, pair('r'), 10, far), [], "the head is a's: b takes nothing of the pair, not even what is behind");
    assert.deepEqual((await b.duePairs(0, Date.now(), 10)).map((p) => p.route), ['s'], "a's pair is not due for b");
    assert.equal(await b.releaseAll(), 0, "b leaves a live worker's claims alone");
    assert.equal(await a.releaseAll(), 2, 'a gives back its own');
    const rb = await b.claim(0, pair('r'), 10, far);
    assert.deepEqual(rb.map((d) => d.messageId), ids, 'released: b takes the pair');
    await b.release(rb.map((d) => d.id));

    // a's claim of s runs out (a paused past its lease); b takes s over and a's late outcomes are refused.
    const short = Date.now() + 150;
    const [s1] = await a.claim(0, pair('s'), 1, short);
    await a.attemptsStarted([s1!.id], []);
    assert.deepEqual(await b.claim(0, pair('s'), 10, far), [], 'held while the lease runs');
    await pause(200);
    assert.equal(await b.releaseAll(), 1, 'an expired claim of another worker is released');
    const taken = await b.claim(0, pair('s'), 1, far);
    assert.deepEqual(taken.map((d) => [d.id, d.interrupted]), [[s1!.id, true]], "b takes it over, a's attempt reported interrupted");
    await a.doneMany([{ id: s1!.id, at: 1, response: null }]);
    await a.retryLater(s1!.id, 0, 5, 0, 'ACTION_UNAVAILABLE: late');
    await a.release([s1!.id]);
    const [row] = await b.list({ route: 's', limit: 1 });
    assert.deepEqual([row!.state, row!.attempts, row!.lastError], ['pending', 0, null], "nothing a recorded after it lost the claim");
    await b.doneMany([{ id: s1!.id, at: 2, response: { addFlags: ['$B'] } }]);
    const [after] = await a.list({ route: 's', limit: 1 });
    assert.deepEqual([after!.state, after!.doneAt, after!.response], ['done', 2, { addFlags: ['$B'] }]);
  });
});
