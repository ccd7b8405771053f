export { SqliteStore, createSqliteStore } from './sqlite-store.js';
export type { SqliteStoreOptions } from './sqlite-store-config.js';
export { mapSqliteError } from './sqlite-error-map.js';
export { lockDataDir, dataDirHeld, LOCK_FILE, LOCK_HOLDER_FILE, type DataDirLock, type LockHolder } from './data-dir-lock.js';
export { snapshotDatabase, trimSearchCopy, blobRefsOf } from './sqlite-backup.js';
export { encryptDatabaseFile, databaseFileState, type DatabaseKey } from './sqlite-cipher.js';
