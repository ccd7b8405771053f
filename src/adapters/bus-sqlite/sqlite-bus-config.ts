import type Database from 'better-sqlite3';

/** Options of the SQLite bus and response ledger. */
export interface SqliteBusOptions {
  /**
   * The store's open connection to `archive.db` (`SqliteStore.connection()`), not one of its own:
   * the store queues deliveries in the transaction that saves a parse result, and two connections
   * of one thread would wait on each other's locks.
   */
  db: Database.Database;
  /**
   * How a write waits for a lock another connection holds, as the connection was opened for (the
   * store sets its busy timeout): `block`, inside SQLite (the thread sleeps); `yield`, short
   * asynchronous waits so the thread serves its other work meanwhile (the dispatcher's HTTP).
   */
  waitForLocks: 'block' | 'yield';
}

/** How long a `yield` connection keeps trying a write whose lock another connection holds (as `block`'s busy timeout). */
export const YIELD_BUSY_TIMEOUT_MS = 10_000;
