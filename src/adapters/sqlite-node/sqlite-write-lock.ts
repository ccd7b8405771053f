/**
 * Write transactions on archive.db that lock archive.db only.
 */
import type Database from 'better-sqlite3';
import { retain } from './sqlite-retain.js';

/** A write that changes nothing: enough for SQLite to take the main database's write lock. */
const LOCK_MAIN = 'UPDATE messages SET id = id WHERE 0';
const LOCKS = new WeakMap<Database.Database, Database.Statement>();

/**
 * Runs `fn` in a transaction that holds archive.db's write lock from its first statement, as
 * `BEGIN IMMEDIATE` does, but no other database's. `BEGIN IMMEDIATE` takes the write lock of every
 * attached database too, and the store's connections have search.db attached (for searches) while
 * the full-text writer thread writes search.db: a save of parse results (or any other write) then
 * waited for the index writer, and once failed with "database is locked" after the 10 s busy
 * timeout (an EWS drain under the CPU profiler). Nothing written here goes to search.db.
 */
export function immediateOnMain<T>(db: Database.Database, fn: () => T): T {
  let lock = LOCKS.get(db);
  if (!lock) {
    lock = retain(db.prepare(LOCK_MAIN));
    LOCKS.set(db, lock);
  }
  const take = lock;
  return db
    .transaction(() => {
      take.run();
      return fn();
    })
    .deferred();
}
