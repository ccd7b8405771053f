import { DEFAULT_JOURNAL_SETTLE_MS } from '../../core/message/journal-merge.js';

/** Options of the embedded SQLite metadata store. */
export interface SqliteStoreOptions {
  /** Path of the database file. */
  file: string;
  /** Open read-only (for `stats`, `search`, `export` while a service runs). */
  readonly?: boolean;
  /**
   * How long the deliveries of an unwrapped Exchange journal report wait before they are due when
   * more mail of its connection is still waiting to be parsed (it may hold another report of the
   * same original, bifurcation, which is then merged into the message before a route sees it;
   * docs/journal-reports.md). Default {@link DEFAULT_JOURNAL_SETTLE_MS}; 0 never holds. A report
   * saved with nothing waiting behind it, and all other mail, is due at once.
   */
  journalSettleMs?: number;
  /**
   * SQLite's `synchronous` for this connection. `full` (default): every commit is on disk when it
   * returns. `normal`: in WAL mode a commit is safe from a process crash at once and from a power
   * cut once the next full commit (another connection's) syncs the log; only for a connection
   * whose writes may be lost on a power cut without breaking a promise (the dispatcher's: a
   * delivery not recorded done is sent again under the same key, ADR 0007).
   */
  synchronous?: 'full' | 'normal';
  /**
   * How this connection's bus waits for a write lock another connection holds: `block` (default,
   * SQLite's 10 s busy timeout: the thread sleeps) or `yield` (short asynchronous waits, so the
   * thread does its other work meanwhile; for the dispatcher's thread, see `bus-sqlite`).
   */
  waitForLocks?: 'block' | 'yield';
  /**
   * The key of the archive's databases (ADR 0035; 32 bytes): `archive.db` and `search.db` are
   * opened with it (a file still in clear without it), and every file this store creates is
   * encrypted with it. Absent or null: in clear. Which key, and when, is the app's (`app/archive-keys.ts`).
   */
  key?: Uint8Array | null;
}

/** Default of {@link SqliteStoreOptions.journalSettleMs}: the core's settle window (core/message/journal-merge.ts). */
export { DEFAULT_JOURNAL_SETTLE_MS };
