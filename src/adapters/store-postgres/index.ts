/** What a composition root imports of the PostgreSQL store (scale-out mode, issue 20). */
export { createPostgresStore, PostgresStore } from './postgres-store.js';
export { PostgresConnection } from './postgres-connection.js';
export { PostgresConnectionLeases } from './postgres-connection-leases.js';
export { mapPostgresError } from './postgres-error-map.js';
export { MIGRATIONS as POSTGRES_MIGRATIONS } from './postgres-schema.js';
export { DEFAULT_POOL_SIZE, type PostgresStoreOptions } from './postgres-store-config.js';
export { probePostgres } from './postgres-probe.js';
