/**
 * What the bus and the response ledger share on the store's connection: statements that are never
 * left to the garbage collector, and a write that waits for another connection's lock the way the
 * connection was opened for.
 */
import type Database from 'better-sqlite3';
import { retain } from '../sqlite-node/sqlite-retain.js';
import { mapSqliteError } from './sqlite-error-map.js';
import { YIELD_BUSY_TIMEOUT_MS, type SqliteBusOptions } from './sqlite-bus-config.js';

/** A prepared statement of this adapter. */
export type Stmt = Database.Statement<unknown[], unknown>;

/** The statements of one connection, and the way its writes wait for a lock. */
export class SqliteStatements {
  readonly db: Database.Database;
  private readonly waitForLocks: 'block' | 'yield';
  private readonly stmts: Record<string, Stmt> = {};

  constructor(options: SqliteBusOptions) {
    this.db = options.db;
    this.waitForLocks = options.waitForLocks;
  }

  /**
   * Every statement comes from here and lives as long as the process, never left to the garbage
   * collector: better-sqlite3 12 on Node 24.19+ aborts the process when an idle GC finalizes a
   * Statement (see `sqlite-node/sqlite-retain.ts`). The few dynamic SQL texts (list filters,
   * routes of a lane) are bounded.
   */
  stmt(sql: string): Stmt {
    let s = this.stmts[sql];
    if (!s) {
      s = retain(this.db.prepare(sql));
      this.stmts[sql] = s;
    }
    return s;
  }

  /**
   * Runs `fn`, mapping its failure to the catalogue. On a `yield` connection (no busy timeout) a
   * write that meets another connection's lock is tried again after short asynchronous waits
   * (0.25 ms doubling to 16 ms), so the thread serves its other work meanwhile instead of sleeping
   * in SQLite's busy handler, whose sleeps of 1, 2, 5, 10 ms... had kept the dispatcher thread
   * ~0.45 s per 5,000 deliveries waiting for the index stage's commits.
   */
  async run<T>(doing: string, fn: () => T): Promise<T> {
    const deadline = Date.now() + YIELD_BUSY_TIMEOUT_MS;
    for (let waitMs = 0.25; ; waitMs = Math.min(waitMs * 2, 16)) {
      try {
        return fn();
      } catch (err) {
        if (this.waitForLocks === 'yield' && (err as { code?: string } | null)?.code === 'SQLITE_BUSY' && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, waitMs));
          continue;
        }
        throw mapSqliteError(err, doing);
      }
    }
  }
}
