/**
 * S3 Object Lock on the store's bucket (issue 20, item 2; ADR 0049): the check that the bucket
 * can lock at all, an object's lock as the server holds it, and the removal of an object that
 * ends as an outcome (`core/archive/object-lock.ts`'s `ObjectRemoval`) when the server refuses it
 * because the object is still locked.
 *
 * A bucket with Object Lock is versioned: a DeleteObject without a version only adds a delete
 * marker and leaves every locked byte where it was (and the blob unreadable). Removal therefore
 * deletes the object's versions one by one, which is what the lock protects and the server refuses
 * while it runs.
 */
import {
  GetObjectLockConfigurationCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  DeleteObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { MailsluiceError } from '../../core/errors/index.js';
import type { ObjectRemoval } from '../../core/archive/object-lock.js';
import type { S3BlobStoreConfig } from './s3-blob-store-config.js';
import { isNotFound, mapS3Error, s3Code, s3Status } from './s3-error-map.js';

function where(config: S3BlobStoreConfig, key?: string) {
  return { endpoint: config.endpoint, bucket: config.bucket, ...(key ? { key } : {}) };
}

/**
 * With `objectLock` configured: the bucket must have Object Lock enabled (it can only be turned
 * on at creation, or on a versioned bucket), else CONFIG_INVALID naming the bucket. Without it:
 * nothing is asked.
 */
export async function checkObjectLock(client: S3Client, config: S3BlobStoreConfig): Promise<void> {
  if (!config.objectLock) return;
  let enabled: string | undefined;
  try {
    const r = await client.send(new GetObjectLockConfigurationCommand({ Bucket: config.bucket }));
    enabled = r.ObjectLockConfiguration?.ObjectLockEnabled;
  } catch (err) {
    if (s3Code(err) !== 'ObjectLockConfigurationNotFoundError' && s3Status(err) !== 404) throw mapS3Error(err, 'checking', where(config));
  }
  if (enabled !== 'Enabled') {
    throw new MailsluiceError(
      'CONFIG_INVALID',
      `S3 blob store: objectLock is set (${config.objectLock.mode}, ${config.objectLock.days} days) but bucket "${config.bucket}" on ${config.endpoint} does not have Object Lock enabled; create the bucket with Object Lock (ObjectLockEnabledForBucket, \`--object-lock-enabled-for-bucket\`) or remove objectLock`,
      { retryable: false, details: { bucket: config.bucket, endpoint: config.endpoint } },
    );
  }
}

/** An object's lock as the server holds it (its current version), or null when it has none. */
export async function objectLockOf(client: S3Client, config: S3BlobStoreConfig, key: string, versionId?: string): Promise<{ mode: string; retainUntil: number } | null> {
  try {
    const h = await client.send(new HeadObjectCommand({ Bucket: config.bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }));
    return h.ObjectLockMode && h.ObjectLockRetainUntilDate ? { mode: h.ObjectLockMode, retainUntil: h.ObjectLockRetainUntilDate.getTime() } : null;
  } catch (err) {
    if (isNotFound(err)) return null;
    throw mapS3Error(err, 'reading', where(config, key));
  }
}

/** The version ids of `key` (delete markers included); `['null']` style ids on an unversioned bucket. */
async function versionsOf(client: S3Client, config: S3BlobStoreConfig, key: string): Promise<string[]> {
  const ids: string[] = [];
  let KeyMarker: string | undefined;
  let VersionIdMarker: string | undefined;
  for (;;) {
    const r = await client.send(new ListObjectVersionsCommand({ Bucket: config.bucket, Prefix: key, KeyMarker, VersionIdMarker }));
    for (const v of [...(r.Versions ?? []), ...(r.DeleteMarkers ?? [])]) if (v.Key === key && v.VersionId) ids.push(v.VersionId);
    if (!r.IsTruncated) return ids;
    KeyMarker = r.NextKeyMarker;
    VersionIdMarker = r.NextVersionIdMarker;
  }
}

/**
 * Removes an object (every version of it on a locked bucket). A version the server refuses to
 * delete because its lock still runs is the outcome `locked` with its retain-until, not an error;
 * the versions deleted before it stay deleted (the locked one still holds the bytes). Any other
 * refusal is the mapped error.
 */
export async function removeObject(client: S3Client, config: S3BlobStoreConfig, key: string): Promise<ObjectRemoval> {
  try {
    if (!config.objectLock) {
      await client.send(new DeleteObjectCommand({ Bucket: config.bucket, Key: key }));
      return { outcome: 'deleted' };
    }
    const versions = await versionsOf(client, config, key);
    if (versions.length === 0) return { outcome: 'missing' };
    for (const VersionId of versions) {
      try {
        await client.send(new DeleteObjectCommand({ Bucket: config.bucket, Key: key, VersionId }));
      } catch (err) {
        if (s3Status(err) !== 403 && s3Code(err) !== 'AccessDenied') throw err;
        const lock = await objectLockOf(client, config, key, VersionId);
        return { outcome: 'locked', retainUntil: lock?.retainUntil ?? null };
      }
    }
    return { outcome: 'deleted' };
  } catch (err) {
    throw mapS3Error(err, 'writing', where(config, key));
  }
}
