/**
 * The embedded buses: the `MessageBus`, `DeliveryAdmin` and `ResponseLedger` ports on the
 * `deliveries` table of `archive.db`, on the store's own connection. See README.md.
 */
import { SqliteBus } from './sqlite-bus.js';
import { SqliteResponseLedger } from './sqlite-response-ledger.js';
import type { SqliteBusOptions } from './sqlite-bus-config.js';

export { SqliteBus, SqliteResponseLedger };
export { YIELD_BUSY_TIMEOUT_MS, type SqliteBusOptions } from './sqlite-bus-config.js';
export { mapSqliteError } from './sqlite-error-map.js';

/** The bus (dispatcher and operator sides) on the store's connection (`SqliteStore.connection()`). */
export function createSqliteBus(options: SqliteBusOptions): SqliteBus {
  return new SqliteBus(options);
}

/** The response ledger on the store's connection (`SqliteStore.connection()`). */
export function createSqliteResponseLedger(options: SqliteBusOptions): SqliteResponseLedger {
  return new SqliteResponseLedger(options);
}
