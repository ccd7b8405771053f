/**
 * Sources' synchronisation cursors on SQLite (`SyncStateStore`): the `sync_state` table of
 * `archive.db`, one row per connection and folder (ADR 0047).
 */
import type { SyncStateStore } from '../../core/ports/sync-state-store.js';
import type { SqliteConnection } from './sqlite-connection.js';
import { mapSqliteError } from './sqlite-error-map.js';
import { immediateOnMain } from '../sqlite-node/sqlite-write-lock.js';

/** Keeps sync states on the shared connection. */
export class SqliteSyncStateStore implements SyncStateStore {
  constructor(private readonly conn: SqliteConnection) {}

  async get(connection: string, folder: string): Promise<string | undefined> {
    try {
      // An older archive opened read-only has no table: nothing stored.
      if (!this.conn.hasTable('sync_state')) return undefined;
      const row = this.conn.stmt('SELECT state FROM sync_state WHERE connection = ? AND folder = ?').pluck().get(connection, folder) as string | undefined;
      return row ?? undefined;
    } catch (err) {
      throw mapSqliteError(err, `reading the sync state of ${connection} ${folder}`);
    }
  }

  /**
   * Written with a full fsync (the connection's default): the state is put only once everything
   * it passes is committed, and one lost in a power cut would only cost a longer listing, but
   * nothing here is frequent enough (once per listing page that advanced) to be worth less.
   */
  async put(connection: string, folder: string, state: string): Promise<void> {
    const s = this.conn.stmt(
      `INSERT INTO sync_state (connection, folder, state, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (connection, folder) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
    );
    try {
      immediateOnMain(this.conn.db, () => s.run(connection, folder, state, Date.now()));
    } catch (err) {
      throw mapSqliteError(err, `saving the sync state of ${connection} ${folder}`);
    }
  }

  async drop(connection: string, folder: string): Promise<void> {
    const s = this.conn.stmt('DELETE FROM sync_state WHERE connection = ? AND folder = ?');
    try {
      immediateOnMain(this.conn.db, () => s.run(connection, folder));
    } catch (err) {
      throw mapSqliteError(err, `dropping the sync state of ${connection} ${folder}`);
    }
  }
}
