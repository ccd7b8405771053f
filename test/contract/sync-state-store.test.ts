/**
 * The sync-state store's contract run against SQLite (adapters/store-sqlite, a fresh `archive.db`
 * per test, reopened for the durability test) and the in-memory reference adapter
 * (test/reference/memory-sync-state.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../harness/sqlite-keep.js';
import { createSqliteStore, type SqliteStore } from '../../src/adapters/store-sqlite/index.js';
import { MemorySyncStateStore } from '../reference/memory-sync-state.js';
import { runSyncStateStoreContract } from './sync-state-store.contract.js';

runSyncStateStoreContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-sync-state-contract-'));
  const file = join(dir, 'archive.db');
  let store: SqliteStore = createSqliteStore({ file });
  return {
    states: store.syncState,
    async reopen() {
      await store.close();
      store = createSqliteStore({ file });
      return store.syncState;
    },
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

runSyncStateStoreContract('memory', async () => ({ states: new MemorySyncStateStore(), cleanup: async () => undefined }));
