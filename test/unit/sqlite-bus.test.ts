/**
 * The SQLite bus beside the store's migrations: routed messages keep no bodies in `archive.db`,
 * and an archive an older version wrote still has its deliveries to claim once migrated. What the
 * bus does on its own (what is due, claims, marks, dead letters, responses) is held by the
 * contracts in `test/contract/` (`sqlite-bus.test.ts`).
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
import { createSqliteBus } from '../../src/adapters/bus-sqlite/index.js';
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
    const claimed = await createSqliteBus(store.connection()).claim(0, { connection: 'a', route: 'r1' }, 10, 0);
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
