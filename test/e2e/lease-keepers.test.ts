/**
 * Three `LeaseKeeper`s (app/lease-keeper.ts) on one real PostgreSQL schema in one process, each
 * over a store of its own (its own pool, as separate workers have), a 2 s term: ten connection
 * keys spread evenly after a join; a keeper stopped without releasing (a crash) has its keys taken
 * by the others within term + tick; a paused keeper loses its keys, its fence goes null and a
 * commit with its old token is refused with LEASE_LOST; a clean stop hands its keys over at once.
 * Every run commits a message every 50 ms under its fence, so the tokens recorded with the rows
 * show that no two workers ever committed for one connection in overlapping leases.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { createPostgresStore, type PostgresStore } from '../../src/adapters/store-postgres/index.js';
import { systemClock } from '../../src/adapters/clock-system/index.js';
import { LeaseKeeper, type GrantedLease } from '../../src/app/lease-keeper.js';
import { isMailsluiceError } from '../../src/core/errors/index.js';
import type { Logger } from '../../src/core/ports/logger.js';
import { freshSchema, type TestSchema } from '../harness/postgres.js';
import { taken } from '../contract/store-harness.js';

const TERM_MS = 2000;
const KEYS = Array.from({ length: 10 }, (_, i) => `c${i}`);
const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One worker: its store, its keeper, and whether its runs are frozen (a paused process). */
interface Worker {
  name: string;
  store: PostgresStore;
  keeper: LeaseKeeper;
  frozen: boolean;
}

/** What the runs did: each grant's worker by token, commits refused. */
const grants = new Map<number, string>();
const refused: Array<{ worker: string; key: string; token: number }> = [];
/** Runs that found their fence gone before their signal aborted (the local deadline passed first). */
let fencedLocally = 0;
let nextMessage = 0;

async function runOn(w: Worker, lease: GrantedLease): Promise<void> {
  grants.set(lease.token, w.name);
  while (!lease.signal.aborted) {
    if (!w.frozen) {
      const fence = w.keeper.fence(lease.key);
      if (!fence) {
        fencedLocally++;
        return;
      }
      const n = ++nextMessage;
      try {
        await w.store.commitTaken([taken(lease.key, n, n)], undefined, fence);
      } catch (err) {
        if (!isMailsluiceError(err, 'LEASE_LOST')) throw err;
        refused.push({ worker: w.name, key: lease.key, token: fence.token });
        return;
      }
    }
    await systemClock.sleep(50, lease.signal);
  }
}

async function worker(s: TestSchema, name: string): Promise<Worker> {
  const store = await createPostgresStore({ url: s.url, schema: s.schema, poolSize: 4 });
  const w = { name, store, frozen: false } as Worker;
  w.keeper = new LeaseKeeper({ leases: store.leases, worker: name, keys: () => KEYS, run: (l) => runOn(w, l), termMs: TERM_MS, clock: systemClock, logger: silent });
  return w;
}

/** Who holds what, by the table: holder → keys. */
async function spread(store: PostgresStore): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const l of await store.leases.holdings()) out.set(l.holder, [...(out.get(l.holder) ?? []), l.key]);
  return out;
}

/** Waits (polling every 20 ms, at most `withinMs`) until `ok` holds of the spread; answers how long it took. */
async function until(store: PostgresStore, withinMs: number, ok: (s: Map<string, string[]>) => boolean, what: string): Promise<number> {
  const start = Date.now();
  for (;;) {
    const s = await spread(store);
    if (ok(s)) return Date.now() - start;
    if (Date.now() - start > withinMs) assert.fail(`${what} not within ${withinMs} ms: ${JSON.stringify(Object.fromEntries(s))}`);
    await sleep(20);
  }
}

const counts = (s: Map<string, string[]>, names: string[]): number[] => names.map((n) => s.get(n)?.length ?? 0);
const evenAmong = (names: string[]) => (s: Map<string, string[]>): boolean => {
  const c = counts(s, names);
  const lo = Math.floor(KEYS.length / names.length);
  return c.reduce((a, b) => a + b, 0) === KEYS.length && c.every((x) => x === lo || x === lo + 1);
};

test('lease keepers on one PostgreSQL: even spread after a join, takeover after a crash within term + tick, a paused worker fenced out, a clean stop handed over at once', async () => {
  const s = await freshSchema();
  const [a, b, c] = [await worker(s, 'a'), await worker(s, 'b'), await worker(s, 'c')];
  const tick = a.keeper.tickMs;
  try {
    a.keeper.start();
    await until(a.store, 3000, (m) => counts(m, ['a'])[0] === KEYS.length, 'a alone holds every key');
    b.keeper.start();
    c.keeper.start();
    const joined = await until(a.store, 4 * TERM_MS, evenAmong(['a', 'b', 'c']), 'an even spread over a, b, c');
    await sleep(3 * tick);
    assert.ok(evenAmong(['a', 'b', 'c'])(await spread(a.store)), 'and it stays even');

    // c crashes: its runs stop, its leases are left to expire, its heartbeat goes stale. Timed
    // from when its last tick (heartbeat, renewals) has ended: that is when it last spoke.
    await c.keeper.stop({ release: false });
    const crashedAt = Date.now();
    const tookOver = await until(a.store, TERM_MS + tick + 2000, (m) => evenAmong(['a', 'b'])(m) && !m.has('c'), 'a and b holding every key');
    const failover = Date.now() - crashedAt;
    assert.ok(failover <= TERM_MS + tick + 700, `the crashed worker's keys were taken in ${failover} ms (term ${TERM_MS} + tick ${tick})`);

    // b pauses (SIGSTOP-like): its timers and runs stop, its process keeps what it believed.
    const pausedKeys = b.keeper.holding();
    const fences = pausedKeys.map((k) => b.keeper.fence(k)!);
    assert.ok(fences.length >= 4 && fences.every((f) => f !== null));
    b.frozen = true;
    b.keeper.pause();
    await until(a.store, TERM_MS + tick + 2000, (m) => counts(m, ['a'])[0] === KEYS.length, 'a holding every key while b is paused');
    // b resumes: its local deadline has passed, and the store refuses its old tokens.
    assert.deepEqual(pausedKeys.map((k) => b.keeper.fence(k)), pausedKeys.map(() => null), 'fence() is null once the term ran out');
    for (const f of fences) {
      const n = ++nextMessage;
      await assert.rejects(b.store.commitTaken([taken(f.key, n, n)], { connection: f.key, mailbox: 'INBOX', uidValidity: 1, lastUid: n }, f), (e: unknown) => isMailsluiceError(e, 'LEASE_LOST'));
      assert.equal(await b.store.getWatermark(f.key, 'INBOX'), null, 'nothing of the refused commit stored');
    }
    await b.keeper.stop({ release: false });

    // A clean stop releases and leaves: c comes back and a hands it its share without waiting for a term.
    c.keeper = new LeaseKeeper({ leases: c.store.leases, worker: 'c2', keys: () => KEYS, run: (l) => runOn(c, l), termMs: TERM_MS, clock: systemClock, logger: silent });
    c.name = 'c2';
    c.keeper.start();
    await until(a.store, 4 * TERM_MS, evenAmong(['a', 'c2']), 'an even spread over a and c2');
    const stoppedAt = Date.now();
    await a.keeper.stop({ release: true });
    await until(c.store, TERM_MS, (m) => counts(m, ['c2'])[0] === KEYS.length, 'c2 holding every key after a clean stop');
    const handover = Date.now() - stoppedAt;
    assert.ok(handover < TERM_MS, `a clean stop handed over in ${handover} ms, less than a term`);
    assert.deepEqual(await c.store.leases.liveWorkers(), ['c2'], 'a left; b and c expired');
    await c.keeper.stop({ release: true });
    assert.deepEqual(await c.store.leases.holdings(), []);

    // The tokens: per connection, in commit (id) order, never going back; each token one worker's.
    const rows = await messageTokens(s);
    assert.ok(rows.length > 50, `${rows.length} commits`);
    const last = new Map<string, number>();
    for (const r of rows) {
      assert.ok(r.lease_token !== null && grants.has(r.lease_token), `row ${r.id}: a token some grant gave`);
      assert.ok(r.lease_token >= (last.get(r.connection) ?? 0), `row ${r.id} of ${r.connection}: token ${r.lease_token} after ${last.get(r.connection)}: two holders at once`);
      last.set(r.connection, r.lease_token);
    }
    const perToken = new Map<number, Set<string>>();
    for (const r of rows) perToken.set(r.lease_token!, (perToken.get(r.lease_token!) ?? new Set()).add(r.connection));
    for (const [token, conns] of perToken) assert.equal(conns.size, 1, `token ${token} fenced one connection`);
    process.stdout.write(`# lease keepers: join spread in ${joined} ms, failover in ${failover} ms (polled ${tookOver} ms), clean handover in ${handover} ms, ${rows.length} fenced commits, ${fencedLocally} runs ended by a null fence, ${refused.length} refused at the store (${JSON.stringify(refused)}), tick ${tick} ms\n`);
  } finally {
    for (const w of [a, b, c]) {
      w.keeper.pause();
      await w.store.close().catch(() => undefined);
    }
    await s.drop();
  }
});

async function messageTokens(s: TestSchema): Promise<Array<{ id: number; connection: string; lease_token: number | null }>> {
  const client = new pg.Client({ connectionString: s.url, options: `-c search_path=${s.schema}` });
  await client.connect();
  try {
    return (await client.query('SELECT id::int AS id, connection, lease_token::int AS lease_token FROM messages ORDER BY id')).rows;
  } finally {
    await client.end();
  }
}
