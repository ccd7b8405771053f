/** Options of the PostgreSQL bus and response ledger, with reasons. */
import type { PostgresConnection } from '../store-postgres/postgres-connection.js';

/**
 * What the bus runs its statements on: the store's connection (`PostgresStore.connection`), its
 * pool and its schema, handed over by the composition root as bus-sqlite is handed the store's
 * `archive.db` connection. Its `query` and `tx` map every failure to the catalogue.
 */
export type PostgresBusConnection = Pick<PostgresConnection, 'query' | 'tx'>;

/** What `createPostgresBus` and `createPostgresResponseLedger` take. */
export interface PostgresBusOptions {
  db: PostgresBusConnection;
  /**
   * This worker's name, recorded as the holder of its claims (`deliveries.claimed_by`): another
   * worker never claims past a delivery this one holds while its lease runs, and `releaseAll`
   * gives back only this worker's claims and expired ones. Unique per running process; a worker
   * restarted under the same name takes its own claims back at once. Default: a random UUID.
   */
  workerId?: string;
  /** The time leases are compared with (ms since the epoch); default `Date.now`. Workers' clocks must agree within a lease's margin. */
  now?: () => number;
}
