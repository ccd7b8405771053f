/**
 * The embedded raw-message store: content-addressed, compressed blobs in append-only pack files
 * with group commit, large bodies compressed after the drain by its own compactor. See README.md,
 * docs/adr/0001-blob-layout.md and docs/adr/0018-blob-fs-compacts-its-own-staging.md.
 */
export { createFsBlobStore, FsBlobStore, formatFsBlobRef, parseFsBlobRef, packName, type FsBlobRef } from './fs-blob-store.js';
export { resolveFsBlobStoreConfig, type FsBlobCompression, type FsBlobStoreConfig, type FsBlobStoreOptions } from './fs-blob-store-config.js';
export { mapFsError, errnoCode, type FsOperation } from './fs-error-map.js';
export { scanPack, type PackScan, type ScannedRecord, type RecordHeader, type CodecName } from './pack-format.js';
export { FsBlobScanner } from './pack-verify.js';
export type { CompactorOptions, CompactorStep } from './fs-compactor.js';
export { backupExtents, type BlobExtents } from './backup-extents.js';
export { ArchiveKeyring, generateMasterKeyFile, loadMasterKey, masterKeyId, writeMasterKeyFile, type MasterKeySource } from './keyring.js';
export { FsPackRewriter, type ReclaimCopyStep } from './pack-reclaim.js';
export { NEXT_PACK_ID_FILE } from './fs-blob-store.js';
