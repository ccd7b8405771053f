export { SqliteStore, createSqliteStore } from './sqlite-store.js';
export type { SqliteStoreOptions } from './sqlite-store-config.js';
export { mapSqliteError } from './sqlite-error-map.js';
export { lockDataDir, dataDirHeld, LOCK_FILE, LOCK_HOLDER_FILE, type DataDirLock, type LockHolder } from './data-dir-lock.js';
export { snapshotDatabase, trimSearchCopy, blobRefsOf, BLOB_REF_PAGE_ROWS } from './sqlite-backup.js';
export { SqliteBlobRefs } from './sqlite-blob-refs.js';
export { takeReclaimLock, RECLAIM_LOCK_FILE, type ReclaimLock } from './reclaim-lock.js';
export { encryptDatabaseFile, databaseFileState, type DatabaseKey } from './sqlite-cipher.js';
