/**
 * The store roles' contract suites run against the in-memory reference adapter
 * (test/reference/memory-store.ts), which the unit tests use in place of a store.
 */
import { MemoryStore } from '../reference/memory-store.js';
import type { StoreFactory } from './store-harness.js';
import { runDrainLedgerContract } from './drain-ledger.contract.js';
import { runParseQueueContract } from './parse-queue.contract.js';
import { runSearchIndexContract } from './search-index.contract.js';
import { runArchiveReaderContract } from './archive-reader.contract.js';

const factory: StoreFactory = async (options = {}) => {
  const store = new MemoryStore(options);
  return {
    store,
    deliveries: async () => store.deliveries().map((d) => ({ id: d.id, messageId: d.messageId, route: d.route, dueAt: d.dueAt, createdAt: d.createdAt })),
    cleanup: () => store.close(),
  };
};

runDrainLedgerContract('memory', factory);
runParseQueueContract('memory', factory);
runSearchIndexContract('memory', factory);
runArchiveReaderContract('memory', factory);
