/** Sources' synchronisation cursors on PostgreSQL (`SyncStateStore`): `sync_state`, one row per connection and folder (ADR 0047). */
import type { SyncStateStore } from '../../core/ports/sync-state-store.js';
import type { PostgresConnection } from './postgres-connection.js';

/** Keeps sync states in the deployment's schema. */
export class PostgresSyncStateStore implements SyncStateStore {
  constructor(private readonly conn: PostgresConnection) {}

  async get(connection: string, folder: string): Promise<string | undefined> {
    const rows = await this.conn.query<{ state: Buffer }>('SELECT state FROM sync_state WHERE connection = $1 AND folder = $2', [connection, folder], `reading the sync state of ${connection} ${folder}`);
    return rows[0]?.state.toString('utf8');
  }

  async put(connection: string, folder: string, state: string): Promise<void> {
    await this.conn.query(
      `INSERT INTO sync_state (connection, folder, state, updated_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (connection, folder) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
      [connection, folder, Buffer.from(state, 'utf8'), Date.now()],
      `saving the sync state of ${connection} ${folder}`,
      true,
    );
  }

  async drop(connection: string, folder: string): Promise<void> {
    await this.conn.query('DELETE FROM sync_state WHERE connection = $1 AND folder = $2', [connection, folder], `dropping the sync state of ${connection} ${folder}`, true);
  }
}
