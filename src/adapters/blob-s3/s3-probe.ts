/**
 * The infrastructure check of the S3 bucket (`config check` and `test-connection` in scale-out
 * mode): the archive needs to write, so the check writes: one small probe object put and
 * deleted again, which proves the endpoint, the keys, the bucket and the write permission at once.
 */
import { randomBytes } from 'node:crypto';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createS3Client } from './s3-blob-store.js';
import { resolveS3BlobStoreConfig, type S3BlobStoreOptions } from './s3-blob-store-config.js';
import { mapS3Error } from './s3-error-map.js';

/** Under its own prefix, never a content address, so no reader of the archive ever lists it as a blob. */
const PROBE_PREFIX = 'mailsluice-probe/';

/** Puts and deletes a probe object; a sentence on success, the adapter's mapped `STORE_UNAVAILABLE` otherwise. */
export async function probeS3Bucket(options: Pick<S3BlobStoreOptions, 'endpoint' | 'bucket' | 'region' | 'accessKeyId' | 'secretAccessKey'>): Promise<string> {
  const config = resolveS3BlobStoreConfig({ ...options, requestTimeoutMs: 10_000, maxSockets: 1 });
  const client = createS3Client(config);
  const key = `${PROBE_PREFIX}${randomBytes(8).toString('hex')}`;
  const ctx = { endpoint: config.endpoint, bucket: config.bucket, key };
  try {
    try {
      await client.send(new PutObjectCommand({ Bucket: config.bucket, Key: key, Body: Buffer.from('mailsluice infrastructure check\n') }));
    } catch (err) {
      throw mapS3Error(err, 'writing', ctx);
    }
    try {
      await client.send(new DeleteObjectCommand({ Bucket: config.bucket, Key: key }));
    } catch (err) {
      throw mapS3Error(err, 'writing', ctx);
    }
    return `bucket "${config.bucket}" at ${config.endpoint} is writable (a probe object put and deleted)`;
  } finally {
    client.destroy();
  }
}
