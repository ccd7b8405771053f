/**
 * The sync-state store: a source's opaque synchronisation cursor (EWS `SyncFolderItems`'
 * `SyncState`, Microsoft Graph's delta link) kept durably per connection and folder, so a source
 * whose items stay on the server lists only what changed since, not the whole folder, every
 * cycle (ADR 0047). When a state may be written is core's decision (`core/connection/sync-cursor.ts`);
 * this port only keeps it.
 */

/** Where sources keep their synchronisation cursors, by connection and folder. */
export interface SyncStateStore {
  /** The state last put for this connection and folder, or undefined when there is none. */
  get(connection: string, folder: string): Promise<string | undefined>;
  /** Replaces the state of this connection and folder; durable when it resolves. */
  put(connection: string, folder: string, state: string): Promise<void>;
  /** Forgets the state of this connection and folder (the server refused it); no error when there is none. */
  drop(connection: string, folder: string): Promise<void>;
}
