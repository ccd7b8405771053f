/**
 * The bus and response-ledger contracts on the SQLite adapter (`adapters/bus-sqlite`), on a real
 * `archive.db` whose deliveries the SQLite store queues (`saveParsed`, the outbox); a reopen is a
 * new store connection over the same file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../harness/sqlite-keep.js';
import { createSqliteStore, type SqliteStore } from '../../src/adapters/store-sqlite/index.js';
import { createSqliteBus, createSqliteResponseLedger } from '../../src/adapters/bus-sqlite/index.js';
import { runMessageBusContract, type BusHarness } from './message-bus.contract.js';
import { runResponseLedgerContract } from './response-ledger.contract.js';
import { storeQueuing } from './bus-harness.js';

async function open(): Promise<BusHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'ms-bus-contract-'));
  const file = join(dir, 'archive.db');
  let store: SqliteStore = createSqliteStore({ file });
  const h: BusHarness = {
    bus: createSqliteBus(store.connection()),
    ledger: createSqliteResponseLedger(store.connection()),
    ...storeQueuing(() => store),
    async reopen() {
      await store.close();
      store = createSqliteStore({ file });
      h.bus = createSqliteBus(store.connection());
      h.ledger = createSqliteResponseLedger(store.connection());
    },
    async close() {
      await store.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}

runMessageBusContract('sqlite', open);
runResponseLedgerContract('sqlite', open);
