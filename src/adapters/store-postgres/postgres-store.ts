/**
 * `PostgresStore`: the store roles on PostgreSQL over one `PostgresConnection` (the pool, the
 * deployment's schema), each role in its own file as in store-sqlite. Opened by
 * `createPostgresStore`, which migrates the schema first (once, under an advisory lock).
 */
import { PostgresConnection } from './postgres-connection.js';
import { PostgresSyncStateStore } from './postgres-sync-state.js';
import { PostgresTokenStore } from './postgres-token-store.js';
import { PostgresAuditLog } from './postgres-audit-log.js';
import type { PostgresStoreOptions } from './postgres-store-config.js';

/** Every role built so far, on one pool. */
export class PostgresStore {
  readonly syncState: PostgresSyncStateStore;
  readonly tokens: PostgresTokenStore;
  readonly audit: PostgresAuditLog;

  constructor(readonly connection: PostgresConnection) {
    this.syncState = new PostgresSyncStateStore(connection);
    this.tokens = new PostgresTokenStore(connection);
    this.audit = new PostgresAuditLog(connection);
  }

  /** Closes the pool. */
  async close(): Promise<void> {
    await this.connection.close();
  }
}

/** Opens the store: the pool, then the schema migrated (STORE_UNAVAILABLE when the server cannot be reached). */
export async function createPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const conn = new PostgresConnection(options);
  try {
    await conn.migrate();
  } catch (err) {
    await conn.close().catch(() => undefined);
    throw err;
  }
  return new PostgresStore(conn);
}
