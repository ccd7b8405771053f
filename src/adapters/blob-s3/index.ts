/**
 * The scale-out raw-message store: content-addressed objects in an S3-compatible bucket, puts
 * durable when the server acknowledged them, reads verified by SHA-256. See README.md and
 * docs/adr/0049-s3-raw-store.md.
 */
export { createS3BlobStore, openS3BlobStore, createS3Client, S3BlobStore, s3BlobKey, parseS3BlobRef, s3ObjectOf } from './s3-blob-store.js';
export { resolveS3BlobStoreConfig, type S3BlobStoreConfig, type S3BlobStoreOptions, type S3ObjectLockOptions } from './s3-blob-store-config.js';
export { mapS3Error, type S3Operation, type S3ErrorContext } from './s3-error-map.js';
export { probeS3Bucket } from './s3-probe.js';
