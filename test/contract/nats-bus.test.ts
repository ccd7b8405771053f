/**
 * The JetStream relay and wake-ups (`adapters/bus-nats`) against the real NATS at 127.0.0.1:4222
 * and a fresh PostgreSQL schema: a delivery is in the stream if and only if its row committed, a
 * round published again after a crash is deduplicated by `Nats-Msg-Id`, and the lanes' wake-ups
 * name the pairs with something new, each message to one worker. A stream of its own per test,
 * deleted after.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import pg from 'pg';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { createPostgresStore, type PostgresStore } from '../../src/adapters/store-postgres/index.js';
import { ensureStream, NatsOutboxRelay, NatsWakeups } from '../../src/adapters/bus-nats/index.js';
import { freshSchema } from '../harness/postgres.js';
import { storeQueuing } from './bus-harness.js';

const SERVERS = '127.0.0.1:4222';

async function withNatsAndPostgres(fn: (w: { store: PostgresStore; relay: NatsOutboxRelay; wakeups: NatsWakeups; stream: string; schema: { url: string; schema: string }; count: () => Promise<number> }) => Promise<void>): Promise<void> {
  const schema = await freshSchema();
  const nc = await connect({ servers: SERVERS });
  const stream = `ms_t_${randomBytes(5).toString('hex')}`;
  const store = await createPostgresStore({ url: schema.url, schema: schema.schema, poolSize: 4 });
  try {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    await ensureStream(jsm, stream, SERVERS);
    const relay = new NatsOutboxRelay({ db: store.connection, stream, batch: 50 }, js, SERVERS);
    const wakeups = new NatsWakeups(js, jsm, stream, SERVERS);
    await fn({ store, relay, wakeups, stream, schema, count: async () => (await jsm.streams.info(stream)).state.messages });
  } finally {
    await (await jetstreamManager(nc)).streams.delete(stream).catch(() => undefined);
    await nc.close();
    await store.close();
    await schema.drop();
  }
}

test('nats relay: a delivery is in the stream iff its row committed; a round published again is deduplicated by its id', async () => {
  await withNatsAndPostgres(async ({ store, relay, stream, schema, count }) => {
    const q = storeQueuing(() => store);
    const ids = await q.take('c', Array.from({ length: 120 }, (_, i) => ({ mailbox: 'INBOX', uidValidity: 1, uid: i + 1 })));
    // A save still open (not committed) while the relay runs: its delivery is not relayed.
    const open = new pg.Client({ connectionString: schema.url, options: `-c search_path=${schema.schema}` });
    await open.connect();
    try {
      await open.query('BEGIN');
      await open.query("INSERT INTO deliveries (id, message_id, connection, route, bus, next_at, created_at) VALUES ($1, $2, 'c', 'late', 0, 0, 0)", [`c.late.${ids[0]}`, ids[0]]);
      await q.route(ids.slice(0, 100).map((id) => ({ id, connection: 'c', routes: [{ route: 'r', bus: 0 }] })));
      let relayed = 0;
      for (let n = await relay.relayOnce(); n > 0; n = await relay.relayOnce()) relayed += n;
      assert.equal(relayed, 100, 'the committed rows, in rounds of 50');
      assert.equal(await count(), 100, `the stream ${stream} holds them`);
      await open.query('ROLLBACK');
    } finally {
      await open.end();
    }
    assert.equal(await relay.relayOnce(), 0, 'the rolled-back row never existed');
    assert.equal(await count(), 100);

    // A crash after the stream acknowledged a round and before it was recorded: published again, dropped by the stream.
    await store.connection.query('UPDATE deliveries SET relayed_at = NULL WHERE message_id <= $1', [ids[39]], 'test', true);
    assert.equal(await relay.relayOnce(), 40);
    assert.equal(await count(), 100, 'no copy: Nats-Msg-Id = the delivery id');
    await q.route(ids.slice(100).map((id) => ({ id, connection: 'c', routes: [{ route: 'r', bus: 0 }, { route: 's', bus: 1 }] })));
    assert.equal(await relay.relayOnce(), 40);
    assert.equal(await count(), 140);
  });
});

test('nats wake-ups: each lane reads the pairs with something new, each message by one worker', async () => {
  await withNatsAndPostgres(async ({ store, relay, wakeups }) => {
    const q = storeQueuing(() => store);
    for (const c of ['a', 'b']) {
      const ids = await q.take(c, Array.from({ length: 5 }, (_, i) => ({ mailbox: 'INBOX', uidValidity: 1, uid: i + 1 })));
      await q.route(ids.map((id) => ({ id, connection: c, routes: [{ route: 'r', bus: 0 }, { route: 's', bus: 1 }] })));
    }
    await wakeups.open(0);
    await wakeups.open(1);
    assert.equal(await relay.relayOnce(), 20);
    const first = await wakeups.next(0, 6, 1000);
    const second = await wakeups.next(0, 10, 1000);
    const key = (p: { connection: string; route: string }): string => `${p.connection}.${p.route}`;
    assert.deepEqual(first.map(key), ['a.r', 'b.r'], 'six messages of bus 0: five of a then one of b, as distinct pairs');
    assert.deepEqual(second.map(key), ['b.r'], 'the other four of b: each message went to one reader');
    assert.deepEqual((await wakeups.next(1, 100, 1000)).map(key), ['a.s', 'b.s']);
    assert.deepEqual(await wakeups.next(0, 10, 1000), [], 'nothing new');
  });
});
