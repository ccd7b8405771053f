/**
 * The bus and response-ledger contracts on the in-memory reference adapters
 * (`test/reference/memory-bus.ts`, `memory-response-ledger.ts`), which the unit tests use: held to
 * the same cases as the SQLite adapter, so a unit test's bus behaves as production's does. A
 * reopen keeps the rows, as a database file would.
 */
import { MemoryBus } from '../reference/memory-bus.js';
import { MemoryResponseLedger } from '../reference/memory-response-ledger.js';
import { runMessageBusContract, type BusHarness } from './message-bus.contract.js';
import { runResponseLedgerContract } from './response-ledger.contract.js';

async function open(): Promise<BusHarness> {
  const bus = new MemoryBus();
  return {
    bus,
    ledger: new MemoryResponseLedger(bus),
    async take(connection, keys) {
      return keys.map((k) => bus.take(connection, k));
    },
    async route(entries, createdAt = 0) {
      for (const e of entries) bus.route(e.id, e.routes, createdAt);
    },
    async reopen() {},
    async close() {},
  };
}

runMessageBusContract('memory', open);
runResponseLedgerContract('memory', open);
