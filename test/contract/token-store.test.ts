/**
 * The token store's contract run against SQLite (adapters/store-sqlite, a fresh `archive.db` per
 * test) and the in-memory reference adapter (test/reference/memory-token-store.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../harness/sqlite-keep.js';
import { createSqliteStore } from '../../src/adapters/store-sqlite/index.js';
import { MemoryTokenStore } from '../reference/memory-token-store.js';
import { runTokenStoreContract } from './token-store.contract.js';

runTokenStoreContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-tokens-contract-'));
  const store = createSqliteStore({ file: join(dir, 'archive.db') });
  return {
    tokens: store.tokens,
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

runTokenStoreContract('memory', async () => ({ tokens: new MemoryTokenStore(), cleanup: async () => undefined }));
