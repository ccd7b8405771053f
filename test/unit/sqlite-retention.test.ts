/**
 * The store's side of the purge (`SqliteRetention`, ADR 0037) on a real archive.db: why a row is
 * busy, a batch removed with its children and its audit record (a shared blob kept, a row busy
 * by then kept), purged source keys still answered as taken, and the full-text rows a crash left
 * removed at the next open, never the row of a message that took the id again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createSqliteStore } from '../../src/adapters/store-sqlite/index.js';
import type { TakenRecord } from '../../src/core/ports/drain-ledger.js';

const sha = (c: string): string => c.repeat(64);
const rec = (connection: string, i: number, hash: string): TakenRecord => ({
  connection,
  sourceKey: `imap:INBOX:1:${i}`,
  mailbox: 'INBOX',
  uidValidity: 1,
  uid: i,
  uidl: null,
  sha256: hash,
  size: 100 + i,
  blob: { ref: `pack-00000001:${i}:10`, storedSize: 10 },
  takenAt: 1000 + i,
});
const entry = (purged: readonly { id: number }[]) => ({ at: 1, who: 'test', origin: 'test', action: 'archive.purge', detail: { ids: purged.map((p) => p.id) } });

function ftsIds(dir: string): number[] {
  const db = new Database(join(dir, 'search.db'), { readonly: true });
  try {
    return db.prepare('SELECT rowid FROM messages_search ORDER BY rowid').pluck().all() as number[];
  } finally {
    db.close();
  }
}

test('busy rows, a batch removed whole with its record, a shared blob kept, purged keys still taken', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-retention-'));
  const store = createSqliteStore({ file: join(dir, 'archive.db') });
  try {
    // a: 1..5 on connection a; message 1's bytes also archived by connection b (6).
    await store.commitTaken([1, 2, 3, 4, 5].map((i) => rec('a', i, sha(String(i)))));
    await store.commitTaken([rec('b', 6, sha('1'))]);
    const db = store.connection().db;
    db.exec(`UPDATE messages SET parse_state = 1 WHERE id <> 2; UPDATE source_keys SET action_state = 1 WHERE message_id <> 3;
      INSERT INTO deliveries (id, message_id, connection, route, bus, next_at, state, created_at) VALUES
        ('a.r.1', 1, 'a', 'r', 1, 0, 'done', 0), ('a.r.4', 4, 'a', 'r', 1, 0, 'pending', 0), ('a.s.5', 5, 'a', 's', 1, 0, 'done', 0);`);
    await store.searchIndex.write([1, 2, 3, 4, 5, 6].map((id) => ({ id, subject: `s${id}`, from: 'x@y.z', to: '', cc: '', bcc: '', body: 'b', attachmentNames: '', hasAttachments: false })));
    const page = await store.retention.page(0, 10, { routes: true, addresses: true });
    assert.deepEqual(page.map((r) => [r.id, r.busy, r.routes]), [[1, null, ['r']], [2, 'pending', []], [3, 'pending', []], [4, 'pending', ['r']], [5, null, ['s']], [6, null, []]]);
    assert.deepEqual((await store.retention.page(4, 1, { routes: false, addresses: false })).map((r) => [r.id, r.routes, r.addresses]), [[5, undefined, undefined]]);

    const r = await store.retention.purgeBatch([1, 4, 5], entry);
    assert.deepEqual(r.purged.map((p) => p.id), [1, 5]);
    assert.equal(r.keptBusy, 1);
    assert.equal(r.blobsRemoved, 1, "message 1's blob stays: connection b's message 6 has the same bytes");
    assert.deepEqual(JSON.parse(r.record!.detail), { ids: [1, 5] });
    assert.deepEqual(db.prepare('SELECT id FROM messages ORDER BY id').pluck().all(), [2, 3, 4, 6]);
    assert.deepEqual(db.prepare('SELECT id FROM deliveries ORDER BY id').pluck().all(), ['a.r.4']);
    assert.deepEqual(db.prepare('SELECT sha256 FROM blobs ORDER BY sha256').pluck().all(), [sha('1'), sha('2'), sha('3'), sha('4')]);
    assert.deepEqual(db.prepare('SELECT sha256 FROM purged_blobs').pluck().all(), [sha('5')]);
    assert.equal(db.prepare('SELECT count(*) FROM source_keys WHERE message_id IN (1, 5)').pluck().get(), 0);
    assert.equal(db.pragma('foreign_keys', { simple: true }), 1, 'foreign keys on again');
    assert.deepEqual(ftsIds(dir), [2, 3, 4, 6]);
    assert.equal(db.prepare('SELECT count(*) FROM purged_search').pluck().get(), 0);
    // Taken and settled still: a message left on the server is not taken back.
    assert.deepEqual(await store.lookupTaken('a', ['imap:INBOX:1:1', 'imap:INBOX:1:5', 'imap:INBOX:1:9']), new Set(['imap:INBOX:1:1', 'imap:INBOX:1:5']));
    assert.deepEqual(await store.lookupSettled('a', ['imap:INBOX:1:5']), new Set(['imap:INBOX:1:5']));
    // Nothing left to remove: no record.
    const none = await store.retention.purgeBatch([1, 5], entry);
    assert.deepEqual([none.purged.length, none.record], [0, null]);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a journal report merged into another keeps it (linked) while it stays', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-retention-'));
  const store = createSqliteStore({ file: join(dir, 'archive.db') });
  try {
    await store.commitTaken([1, 2].map((i) => rec('a', i, sha(String(i)))));
    store.connection().db.exec("UPDATE messages SET parse_state = 1, journal_original = 'orig'; UPDATE messages SET merged_into = 1 WHERE id = 2; UPDATE source_keys SET action_state = 1");
    assert.deepEqual((await store.retention.page(0, 10, { routes: false, addresses: false })).map((r) => [r.id, r.busy]), [[1, 'linked'], [2, null]]);
    const r = await store.retention.purgeBatch([1, 2], entry);
    assert.deepEqual(r.purged.map((p) => p.id), [2]);
    assert.deepEqual((await store.retention.purgeBatch([1], entry)).purged.map((p) => p.id), [1], 'once the merged one is gone');
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('full-text rows a crash left are removed at the next open; a reused id keeps its new row', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-retention-'));
  let store = createSqliteStore({ file: join(dir, 'archive.db') });
  try {
    await store.commitTaken([1, 2, 3].map((i) => rec('a', i, sha(String(i)))));
    await store.searchIndex.write([1, 2, 3, 7].map((id) => ({ id, subject: `s${id}`, from: '', to: '', cc: '', bcc: '', body: 'b', attachmentNames: '', hasAttachments: false })));
    // As a crash leaves it: 7 purged (no row) with its text still there; 3 listed, but a message took id 3 again.
    store.connection().db.exec('INSERT INTO purged_search (id) VALUES (7), (3)');
    await store.close();
    store = createSqliteStore({ file: join(dir, 'archive.db') });
    assert.deepEqual(ftsIds(dir), [1, 2, 3]);
    assert.equal(store.connection().db.prepare('SELECT count(*) FROM purged_search').pluck().get(), 0);
    // The same through a purge's sweep (the service's, which does not reopen).
    await store.searchIndex.write([{ id: 9, subject: 's', from: '', to: '', cc: '', bcc: '', body: 'b', attachmentNames: '', hasAttachments: false }]);
    store.connection().db.exec('INSERT INTO purged_search (id) VALUES (9)');
    assert.equal(await store.retention.sweepSearch(), 1);
    assert.deepEqual(ftsIds(dir), [1, 2, 3]);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
