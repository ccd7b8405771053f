/**
 * Switching a database to WAL, when other processes open the same new file at the same moment.
 */
import type Database from 'better-sqlite3';
import { pragma } from './sqlite-retain.js';

/** How long {@link enterWalMode} keeps trying, as long as the connections' busy timeout. */
const WAL_SWITCH_WAIT_MS = 10_000;

/**
 * `PRAGMA journal_mode = WAL`, tried again while another connection holds the lock the switch
 * needs. SQLite answers SQLITE_BUSY to the switch at once, without its busy handler, when two
 * connections that both read the file race to change its journal mode (its deadlock avoidance):
 * four processes opening one new archive lost that race now and then in CI ("database is locked"
 * from openSearchDb, the sqlite-store test's flake). A file in WAL already returns at once.
 */
export function enterWalMode(db: Database.Database): void {
  const until = Date.now() + WAL_SWITCH_WAIT_MS;
  for (let pause = 2; ; pause = Math.min(pause * 2, 50)) {
    try {
      pragma(db, 'journal_mode = WAL');
      return;
    } catch (err) {
      if ((err as { code?: string } | null)?.code !== 'SQLITE_BUSY' || Date.now() >= until) throw err;
    }
    // A synchronous pause: this runs while a store opens, before it serves anything.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pause);
  }
}
