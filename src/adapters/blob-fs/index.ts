/**
 * The embedded raw-message store: content-addressed, compressed blobs in append-only pack files
 * with group commit. See README.md and docs/adr/0001-blob-layout.md.
 */
export { createFsBlobStore, FsBlobStore, formatFsBlobRef, parseFsBlobRef, packName, type FsBlobRef } from './fs-blob-store.js';
export { resolveFsBlobStoreConfig, type FsBlobCompression, type FsBlobStoreConfig, type FsBlobStoreOptions } from './fs-blob-store-config.js';
export { mapFsError, errnoCode, type FsOperation } from './fs-error-map.js';
export { scanPack, type PackScan, type ScannedRecord, type RecordHeader, type CodecName } from './pack-format.js';
