/**
 * The SQLite bus's choice of what is due (store-sqlite/sqlite-bus.ts, `duePairs`): one head per
 * (connection, route) pair of a bus, lowest pending message first; a head that waits for its
 * retry, is claimed, or stands at or above its connection's parse barrier makes its whole pair
 * not due; the oldest due first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS } from '../../src/adapters/store-sqlite/sqlite-schema.js';
import '../harness/sqlite-keep.js';
import { createSqliteStore } from '../../src/adapters/store-sqlite/index.js';
import type { TakenRecord } from '../../src/core/ports/message-store.js';
import type { MessageAttributes } from '../../src/core/message/attributes.js';

const attrs = { From: null, To: [], Cc: [], Bcc: [], Subject: 's', ReceivedDate: null, GlobalMessageId: '', InReplyTo: '', References: [], TextBody: '', HtmlBody: '', Attachments: [], CustomHeaders: [] } as unknown as MessageAttributes;

function taken(connection: string, i: number): TakenRecord {
  return {
    connection,
    sourceKey: `imap:INBOX:7:${i}`,
    mailbox: 'INBOX',
    uidValidity: 7,
    uid: i,
    uidl: null,
    sha256: `${connection}${i}`.padStart(64, '0'),
    size: 10,
    blob: { ref: `pack-00000001:${i}:10`, storedSize: 10 },
    takenAt: 0,
  };
}

test('sqlite bus: one head per pair and bus; retry-waiting, claimed and unparsed heads hold their pair back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-bus-'));
  const store = createSqliteStore({ file: join(dir, 'archive.db') });
  try {
    // Connection a: 6 messages; b: 4, of which the third stays unparsed (the barrier).
    await store.commitTaken([1, 2, 3, 4, 5, 6].map((i) => taken('a', i)));
    await store.commitTaken([1, 2, 3, 4].map((i) => taken('b', i)));
    const all = await store.listUnparsed(100);
    const of = (c: string): number[] => all.filter((m) => m.connection === c).map((m) => m.id);
    const [a, b] = [of('a'), of('b')];
    const routesOf: Record<string, Array<{ route: string; bus: number }>> = {
      a: [
        { route: 'r1', bus: 0 },
        { route: 'r2', bus: 0 },
        { route: 'r3', bus: 1 },
      ],
      b: [{ route: 'r1', bus: 0 }],
    };
    const parsedIds = all.filter((m) => !(m.connection === 'b' && m.id === b[2])).map((m) => m.id);
    await store.saveParsed(
      all
        .filter((m) => parsedIds.includes(m.id))
        .map((m) => ({
          id: m.id,
          outcome: { ok: true as const, attributes: attrs },
          deliveries: routesOf[m.connection]!.map(({ route, bus }) => ({ id: `${m.connection}.${route}.${m.id}`, messageId: m.id, connection: m.connection, route, bus, createdAt: m.id })),
        })),
    );
    const bus = store.bus();
    const key = (p: { connection: string; route: string }): string => `${p.connection}.${p.route}`;
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
    assert.deepEqual(claimed.map((d) => d.messageId), [a[0], a[1]]);
    assert.deepEqual(await due(0), ['b.r1']);

    // b.r1: its first two deliveries done, the head is now behind the unparsed third message.
    await bus.doneMany([
      { id: `b.r1.${b[0]}`, at: 1, response: null },
      { id: `b.r1.${b[1]}`, at: 1, response: null },
    ]);
    assert.deepEqual(await due(0), []);
    const claimB = await bus.claim(0, { connection: 'b', route: 'r1' }, 10, 1000);
    assert.deepEqual(claimB, [], 'nothing of b is claimable at or above the barrier');

    // The oldest head first, within the limit.
    await bus.release(claimed.map((d) => d.id));
    const ordered = await bus.duePairs(0, 600, 1);
    assert.equal(ordered.length, 1);
    assert.equal(key(ordered[0]!), 'a.r2', 'next_at 0 comes before a.r1 waiting until 500');
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite store: routed messages leave no bodies in archive.db, and opening an archive an older version wrote drops the bodies it kept', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-bus-'));
  const file = join(dir, 'archive.db');
  const bodiesColumn = (): Array<{ id: number; bodies: string | null }> => {
    const db = new Database(file, { readonly: true });
    try {
      return db.prepare('SELECT id, bodies FROM messages ORDER BY id').all() as Array<{ id: number; bodies: string | null }>;
    } finally {
      db.close();
    }
  };
  let store = createSqliteStore({ file });
  try {
    await store.commitTaken([1, 2].map((i) => taken('a', i)));
    const [m1, m2] = await store.listUnparsed(10);
    const withBodies = { ...attrs, TextBody: 'the text', HtmlBody: '<p>the text</p>' } as MessageAttributes;
    await store.saveParsed(
      [m1!, m2!].map((m) => ({
        id: m.id,
        outcome: { ok: true as const, attributes: withBodies },
        deliveries: ['r1', 'r2'].map((route) => ({ id: `a.${route}.${m.id}`, messageId: m.id, connection: 'a', route, bus: 0, createdAt: 0 })),
      })),
    );
    await store.close();
    assert.deepEqual(bodiesColumn(), [
      { id: m1!.id, bodies: null },
      { id: m2!.id, bodies: null },
    ]);

    // As an archive from before the in-memory hand-off: bodies kept for pending deliveries, with
    // the index that served dropping them, before the migration that drops them (and without
    // what later migrations added).
    const old = new Database(file);
    const version = MIGRATIONS.findIndex((m) => m.includes('DROP INDEX IF EXISTS deliveries_pending_by_message'));
    old.exec(`UPDATE messages SET bodies = '{"TextBody":"kept","HtmlBody":""}';
      CREATE INDEX deliveries_pending_by_message ON deliveries(message_id) WHERE state = 'pending';
      ALTER TABLE deliveries DROP COLUMN started;
      PRAGMA user_version = ${version};`);
    old.close();

    store = createSqliteStore({ file });
    const claimed = await store.bus().claim(0, { connection: 'a', route: 'r1' }, 10, 0);
    assert.deepEqual(claimed.map((d) => d.messageId), [m1!.id, m2!.id], 'the deliveries are still there to claim');
    await store.close();
    assert.deepEqual(bodiesColumn(), [
      { id: m1!.id, bodies: null },
      { id: m2!.id, bodies: null },
    ]);
    const db = new Database(file, { readonly: true });
    try {
      assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
      assert.equal(db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'deliveries_pending_by_message'").pluck().get(), 0);
    } finally {
      db.close();
    }
  } finally {
    await store.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite bus: an attempt recorded started survives the process and is reported by the next claim until an outcome ends it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-bus-'));
  const file = join(dir, 'archive.db');
  let store = createSqliteStore({ file });
  try {
    await store.commitTaken([1, 2, 3].map((i) => taken('a', i)));
    const ms = await store.listUnparsed(10);
    await store.saveParsed(ms.map((m) => ({ id: m.id, outcome: { ok: true as const, attributes: attrs }, deliveries: [{ id: `a.r.${m.id}`, messageId: m.id, connection: 'a', route: 'r', bus: 0, createdAt: 0 }] })));
    const [d1, d2, d3] = ms.map((m) => `a.r.${m.id}`);
    let bus = store.bus();
    await bus.claim(0, { connection: 'a', route: 'r' }, 10, 1000);
    await bus.attemptsStarted([d1!, d2!], []);
    // d1 succeeded (its done not written yet), d3 starts: one write unmarks d1 and marks d3.
    await bus.attemptsStarted([d3!], [d1!]);
    // The process dies here: no release, no outcome (closing records neither). A new one opens the archive.
    await store.close();
    store = createSqliteStore({ file });
    bus = store.bus();
    await bus.releaseAll();
    const claimed = await bus.claim(0, { connection: 'a', route: 'r' }, 10, 1000);
    assert.deepEqual(claimed.map((d) => [d.id, d.interrupted]), [[d1, false], [d2, true], [d3, true]]);
    await bus.retryLater(d2!, 0, 1, 0, 'DELIVERY_INTERRUPTED: x');
    await bus.deadLetter(d3!, 0, 1, 0, 'DELIVERY_INTERRUPTED: x', null);
    await bus.replay({ ids: [d3!] }, 0);
    const again = await bus.claim(0, { connection: 'a', route: 'r' }, 10, 1000);
    assert.deepEqual(again.map((d) => [d.id, d.interrupted, d.attempts]), [[d1, false, 0], [d2, false, 1], [d3, false, 0]]);
    // A graceful stop gives the claim back: an attempt that was stopped does not count.
    await bus.attemptsStarted([d1!], []);
    await bus.release([d1!]);
    assert.equal((await bus.claim(0, { connection: 'a', route: 'r' }, 1, 1000))[0]?.interrupted, false);
  } finally {
    await store.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});
