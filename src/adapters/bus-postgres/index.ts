/**
 * The scale-out buses on PostgreSQL: the `MessageBus`, `DeliveryAdmin` and `ResponseLedger` ports
 * on the `deliveries` table of the PostgreSQL store, shared by several workers. See README.md.
 */
import { PostgresBus } from './postgres-bus.js';
import { PostgresResponseLedger } from './postgres-response-ledger.js';
import type { PostgresBusOptions } from './postgres-bus-config.js';

export { PostgresBus, PostgresResponseLedger };
export type { PostgresBusConnection, PostgresBusOptions } from './postgres-bus-config.js';

/** The bus (dispatcher and operator sides) of one worker on the store's connection (`PostgresStore.connection`). */
export function createPostgresBus(options: PostgresBusOptions): PostgresBus {
  return new PostgresBus(options);
}

/** The response ledger on the store's connection (`PostgresStore.connection`). */
export function createPostgresResponseLedger(options: PostgresBusOptions): PostgresResponseLedger {
  return new PostgresResponseLedger(options);
}
