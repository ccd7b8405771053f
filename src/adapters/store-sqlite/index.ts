export { SqliteStore, createSqliteStore } from './sqlite-store.js';
export type { SqliteStoreOptions } from './sqlite-store-config.js';
export { mapSqliteError } from './sqlite-error-map.js';
export { SqliteBus } from './sqlite-bus.js';
