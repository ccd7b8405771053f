/**
 * The store roles' contract suites run against the SQLite adapter (adapters/store-sqlite), each
 * test on a fresh `archive.db` in a temp directory; the outbox is read from its `deliveries` table.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import '../harness/sqlite-keep.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSqliteStore } from '../../src/adapters/store-sqlite/index.js';
import { TAKEN_PER_BUCKET_SQL } from '../../src/adapters/store-sqlite/sqlite-archive-reader.js';
import type { ArchiveRolesFactory, QueuedDelivery, StoreFactory } from './store-harness.js';
import { runDrainLedgerContract } from './drain-ledger.contract.js';
import { runParseQueueContract } from './parse-queue.contract.js';
import { runSearchIndexContract } from './search-index.contract.js';
import { runArchiveReaderContract } from './archive-reader.contract.js';
import { runHoldStoreContract } from './hold-store.contract.js';
import { runRetentionStoreContract } from './retention-store.contract.js';
import { runArchiveCheckContract } from './archive-check.contract.js';
import { runTlsMemoryContract } from './tls-memory.contract.js';

const factory: StoreFactory = async (options = {}) => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-store-contract-'));
  const file = join(dir, 'archive.db');
  const store = createSqliteStore({ file, ...options });
  return {
    store,
    async deliveries() {
      const db = new Database(file, { readonly: true });
      try {
        return db
          .prepare('SELECT id, message_id AS messageId, route, next_at AS dueAt, created_at AS createdAt FROM deliveries ORDER BY id')
          .all() as QueuedDelivery[];
      } finally {
        db.close();
      }
    },
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};

runDrainLedgerContract('sqlite', factory);
runParseQueueContract('sqlite', factory);
runSearchIndexContract('sqlite', factory);
runArchiveReaderContract('sqlite', factory);

/** The store with its archive roles; the scenes' two writes on a connection of their own. */
const rolesFactory: ArchiveRolesFactory = async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-store-roles-'));
  const file = join(dir, 'archive.db');
  const store = createSqliteStore({ file });
  const write = (fn: (db: Database.Database) => void): void => {
    const db = new Database(file);
    try {
      fn(db);
    } finally {
      db.close();
    }
  };
  return {
    store,
    holds: store.holds,
    retention: store.retention,
    check: store.check,
    async deliveries() {
      return store.connection().db.prepare('SELECT id, message_id AS messageId, route, next_at AS dueAt, created_at AS createdAt FROM deliveries ORDER BY id').all() as QueuedDelivery[];
    },
    async deliveryDone(ids) {
      write((db) => {
        for (const id of ids) db.prepare("UPDATE deliveries SET state = 'done' WHERE id = ?").run(id);
      });
    },
    async mergeInto(id, primary, original) {
      write((db) => {
        db.prepare('UPDATE messages SET journal_original = ? WHERE id IN (?, ?)').run(original, id, primary);
        db.prepare('UPDATE messages SET merged_into = ? WHERE id = ?').run(primary, id);
      });
    },
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};

runHoldStoreContract('sqlite', rolesFactory);
runRetentionStoreContract('sqlite', rolesFactory);
runArchiveCheckContract('sqlite', rolesFactory);

runTlsMemoryContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-store-tls-'));
  const file = join(dir, 'archive.db');
  let store = createSqliteStore({ file });
  return {
    memory: store,
    ledger: store,
    async reopen() {
      await store.close();
      store = createSqliteStore({ file });
      return { memory: store, ledger: store };
    },
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

test('sqlite: the throughput count reads the covering index messages_taken, not the rows', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-store-taken-'));
  const file = join(dir, 'archive.db');
  const store = createSqliteStore({ file });
  try {
    const db = new Database(file, { readonly: true });
    try {
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${TAKEN_PER_BUCKET_SQL}`).all(60_000, 0, 1) as Array<{ detail: string }>).map((r) => r.detail).join(' | ');
      assert.match(plan, /USING COVERING INDEX messages_taken \(taken_at>\? AND taken_at<\?\)/, plan);
    } finally {
      db.close();
    }
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
