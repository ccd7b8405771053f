/**
 * The sync-cursor policy (core/connection/sync-cursor.ts, ADR 0047) against a model server: a
 * folder whose items arrive over time, a delta state that names a position in its change log,
 * states that can be refused, listings cut at a limit, takes that fail and processes that die.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SyncCursorWalk } from '../../src/core/connection/sync-cursor.js';

/** A folder's change log; a state `<epoch>:<position>` is refused once the epoch moved on. */
class ModelServer {
  readonly log: string[] = [];
  epoch = 0;
  asked: Array<string | undefined> = [];
  add(n: number): void {
    for (let i = 0; i < n; i++) this.log.push(`k${this.log.length}`);
  }
  sync(state: string | undefined, max: number): { keys: string[]; state: string; last: boolean } | 'refused' {
    this.asked.push(state);
    let at = 0;
    if (state !== undefined) {
      const [e, p] = state.split(':').map(Number);
      if (e !== this.epoch) return 'refused';
      at = p!;
    }
    const keys = this.log.slice(at, at + max);
    return { keys, state: `${this.epoch}:${at + keys.length}`, last: at + keys.length >= this.log.length };
  }
}

/** One listing as a source runs it, the durable state in `store`. */
function list(server: ModelServer, store: { state?: string }, settled: ReadonlySet<string>, limit: number, pageSize: number): { offered: string[]; drops: number } {
  const walk = new SyncCursorWalk(store.state);
  const offered: string[] = [];
  let drops = 0;
  while (offered.length < limit) {
    const r = server.sync(walk.from, pageSize);
    if (r === 'refused') {
      const what = walk.rejected();
      if (!what.restart) throw new Error('refused');
      if (what.drop) {
        delete store.state;
        drops++;
      }
      continue;
    }
    const v = walk.page(r.keys, new Set(r.keys.filter((k) => settled.has(k))), r.state, limit - offered.length);
    if (v.advanceTo !== undefined) store.state = v.advanceTo;
    offered.push(...v.take);
    if (r.last) break;
  }
  return { offered, drops };
}

/** Every key before the durable state's position is settled: the cursor never passed one not archived. */
function assertNeverPassed(server: ModelServer, store: { state?: string }, settled: ReadonlySet<string>): void {
  if (store.state === undefined) return;
  const at = Number(store.state.split(':')[1]);
  for (const k of server.log.slice(0, at)) assert.ok(settled.has(k), `durable state ${store.state} passed ${k}, not settled`);
}

test('a page advances the durable state only once all its items are settled; until then the listing starts from the old state', () => {
  const server = new ModelServer();
  server.add(5);
  const store: { state?: string } = {};
  const settled = new Set<string>();
  let r = list(server, store, settled, 100, 10);
  assert.deepEqual(r.offered, ['k0', 'k1', 'k2', 'k3', 'k4']);
  assert.equal(store.state, undefined, 'nothing settled yet: nothing durable');
  for (const k of ['k0', 'k1', 'k3', 'k4']) settled.add(k); // k2 failed
  r = list(server, store, settled, 100, 10);
  assert.deepEqual(r.offered, ['k2'], 'the failed one again, the settled ones filtered');
  assert.equal(store.state, undefined);
  settled.add('k2');
  server.add(2);
  server.asked = [];
  r = list(server, store, settled, 100, 10);
  assert.deepEqual(r.offered, ['k5', 'k6']);
  assert.equal(store.state, undefined, 'the page with k5, k6 is not settled');
  settled.add('k5').add('k6');
  r = list(server, store, settled, 100, 10);
  assert.deepEqual(r.offered, []);
  assert.equal(store.state, '0:7');
  server.add(1);
  server.asked = [];
  r = list(server, store, settled, 100, 10);
  assert.deepEqual(r.offered, ['k7']);
  assert.deepEqual(server.asked, ['0:7'], 'one request, from the durable state: not a walk of the folder');
});

test('pages of a settled prefix advance one by one; a page not settled holds the state for the pages after it', () => {
  const server = new ModelServer();
  server.add(9);
  const store: { state?: string } = {};
  const settled = new Set(['k0', 'k1', 'k2', 'k3', 'k4', 'k6', 'k7', 'k8']);
  const r = list(server, store, settled, 100, 3);
  assert.deepEqual(r.offered, ['k5']);
  assert.equal(store.state, '0:3', 'k0..k2 passed; the page k3..k5 holds k5, so 0:6 and 0:9 are not durable');
});

test('a listing cut at the limit offers the rest next time and never passes them', () => {
  const server = new ModelServer();
  server.add(10);
  const store: { state?: string } = {};
  const settled = new Set<string>();
  const r1 = list(server, store, settled, 4, 3);
  assert.deepEqual(r1.offered, ['k0', 'k1', 'k2', 'k3']);
  r1.offered.forEach((k) => settled.add(k));
  const r2 = list(server, store, settled, 4, 3);
  assert.deepEqual(r2.offered, ['k4', 'k5', 'k6', 'k7']);
  assert.equal(store.state, '0:3');
  r2.offered.forEach((k) => settled.add(k));
  const r3 = list(server, store, settled, 4, 3);
  assert.deepEqual(r3.offered, ['k8', 'k9']);
  assert.equal(store.state, '0:6');
});

test('a state refused mid-way is dropped, the walk starts over with a full sync, and no key is offered twice in one listing', () => {
  const server = new ModelServer();
  server.add(6);
  const store: { state?: string } = {};
  const settled = new Set(['k0', 'k1', 'k2']);
  list(server, store, settled, 100, 3);
  assert.equal(store.state, '0:3');
  // The server refuses states from now on, after the listing's first page was read.
  const walk = new SyncCursorWalk(store.state);
  const p1 = server.sync(walk.from, 3);
  assert.ok(p1 !== 'refused');
  const v1 = walk.page(p1.keys, new Set(), p1.state, 100);
  assert.deepEqual(v1, { take: ['k3', 'k4', 'k5'] });
  server.add(1);
  server.epoch++;
  assert.equal(server.sync(walk.from, 3), 'refused');
  assert.deepEqual(walk.rejected(), { restart: true, drop: true });
  assert.equal(walk.from, undefined, 'a full sync');
  const full = server.sync(walk.from, 100);
  assert.ok(full !== 'refused');
  const v2 = walk.page(full.keys, settled, full.state, 100);
  assert.deepEqual(v2, { take: ['k6'] }, 'k0..k2 settled, k3..k5 offered already in this listing');
  // Refused again in the same listing: given up (the cycle fails and is retried).
  server.epoch++;
  assert.equal(server.sync(walk.from, 3), 'refused');
  assert.deepEqual(walk.rejected(), { restart: false });
});

test('a full sync refused is not retried in a loop', () => {
  const walk = new SyncCursorWalk(undefined);
  assert.deepEqual(walk.rejected(), { restart: false });
});

test('random arrivals, failures, limits, crashes and refused states: the cursor never passes an item not archived, and everything is archived exactly once', () => {
  let seed = 12345;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let run = 0; run < 40; run++) {
    const server = new ModelServer();
    const store: { state?: string } = {};
    const settled = new Set<string>();
    const archivedTimes = new Map<string, number>();
    for (let cycle = 0; cycle < 60; cycle++) {
      if (rnd() < 0.5) server.add(Math.floor(rnd() * 8));
      if (rnd() < 0.08) server.epoch++;
      const limit = 1 + Math.floor(rnd() * 10);
      let offered: string[];
      try {
        offered = list(server, store, settled, limit, 1 + Math.floor(rnd() * 5)).offered;
      } catch {
        continue; // refused twice in one listing: the cycle failed
      }
      assert.equal(new Set(offered).size, offered.length, 'no key twice in one listing');
      const crashAt = rnd() < 0.15 ? Math.floor(rnd() * (offered.length + 1)) : offered.length;
      for (const k of offered.slice(0, crashAt)) {
        if (rnd() < 0.1) continue; // failed to archive: tried again later
        assert.ok(!settled.has(k), `${k} offered though settled`);
        archivedTimes.set(k, (archivedTimes.get(k) ?? 0) + 1);
        settled.add(k);
      }
      assertNeverPassed(server, store, settled);
    }
    // Then the server stays quiet and every take succeeds: the backlog drains.
    for (let i = 0; i < 200; i++) {
      let offered: string[] = [];
      try {
        offered = list(server, store, settled, 50, 4).offered;
      } catch {
        continue;
      }
      for (const k of offered) {
        archivedTimes.set(k, (archivedTimes.get(k) ?? 0) + 1);
        settled.add(k);
      }
      if (offered.length === 0) break;
    }
    for (const k of server.log) assert.equal(archivedTimes.get(k), 1, `run ${run}: ${k} archived ${archivedTimes.get(k) ?? 0} times`);
    assertNeverPassed(server, store, settled);
    assert.equal(store.state, `${server.epoch}:${server.log.length}`, 'at rest, the durable state is the end of the log');
  }
});
