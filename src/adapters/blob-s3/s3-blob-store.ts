/**
 * The scale-out raw-message store: content-addressed objects in an S3-compatible bucket.
 *
 * A blob's key is `sha256/<h0h1>/<h2h3>/<sha256 hex>` of its raw bytes, and `BlobLocation.ref` is
 * that key: stored once whoever stores it, found again from the hash alone (issue 20's migration
 * and a lost metadata row both rely on that). Bytes are stored as given, without compression or
 * encryption (ADR 0047e says why and what is open). Reads hash every byte and compare with the
 * SHA-256 asked for, so a damaged or swapped object is STORE_CORRUPT, never served.
 */
import { createHash } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';
import { S3Client, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { MailsluiceError } from '../../core/errors/index.js';
import type { BlobLocation, BlobStore, BlobWriter } from '../../core/ports/blob-store.js';
import { resolveS3BlobStoreConfig, type S3BlobStoreConfig, type S3BlobStoreOptions } from './s3-blob-store-config.js';
import { mapS3Error } from './s3-error-map.js';
import { S3BlobWriter } from './s3-blob-writer.js';
import { parseS3BlobRef } from './s3-blob-keys.js';

export { s3BlobKey, parseS3BlobRef } from './s3-blob-keys.js';

/** Builds the SDK client as the store uses it: path-style, checksums only when required, keep-alive. */
export function createS3Client(config: S3BlobStoreConfig): S3Client {
  const agent = { keepAlive: true, maxSockets: config.maxSockets };
  return new S3Client({
    endpoint: config.endpoint,
    region: config.region,
    // Ceph RGW, MinIO and most on-premises servers are addressed by path, not by bucket host name.
    forcePathStyle: true,
    credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
    // The SDK's default CRC32 trailers are not understood by every S3-compatible server (RGW 16
    // refuses them); integrity is the SHA-256 the store checks itself on every read.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      httpAgent: new HttpAgent(agent),
      httpsAgent: new HttpsAgent(agent),
      requestTimeout: config.requestTimeoutMs,
      connectionTimeout: Math.min(config.requestTimeoutMs, 10_000),
    },
  });
}

/** Content-addressed raw message storage in one S3 bucket. */
export class S3BlobStore implements BlobStore {
  readonly client: S3Client;
  /**
   * Bytes of single-request puts sent but not yet acknowledged, by key: a put resolves once its
   * request is under way, and a read before the acknowledgement is served from here (the port
   * lets a put be read before `sync`).
   */
  readonly pending = new Map<string, Buffer>();

  constructor(readonly config: S3BlobStoreConfig) {
    this.client = createS3Client(config);
  }

  async openWriter(): Promise<BlobWriter> {
    return new S3BlobWriter(this);
  }

  /**
   * Checks that the endpoint answers, the keys are accepted and the bucket exists (for
   * `config check` and start-up); STORE_UNAVAILABLE with the reason otherwise.
   */
  async check(): Promise<void> {
    try {
      // A listing, not HeadBucket: HEAD answers carry no body, so a refusal would come without its S3 code.
      await this.client.send(new ListObjectsV2Command({ Bucket: this.config.bucket, MaxKeys: 1 }));
    } catch (err) {
      throw mapS3Error(err, 'checking', this.where());
    }
  }

  /** Endpoint and bucket for error sentences. */
  where(key?: string): { endpoint: string; bucket: string; key?: string } {
    return { endpoint: this.config.endpoint, bucket: this.config.bucket, ...(key ? { key } : {}) };
  }

  private keyOf(location: BlobLocation): string {
    if (parseS3BlobRef(location.ref) === null) {
      throw new MailsluiceError('STORE_NOT_FOUND', `"${location.ref}" is not a blob of the S3 store (expected sha256/xx/yy/<sha256>)`, { details: { ref: location.ref } });
    }
    return location.ref;
  }

  private corrupt(key: string, wanted: string, got: string, size: number): MailsluiceError {
    return new MailsluiceError('STORE_CORRUPT', `object ${key} in bucket "${this.config.bucket}" on ${this.config.endpoint} does not hold the blob asked for: its ${size} bytes hash to ${got}, not ${wanted}`, {
      details: { key, bucket: this.config.bucket, expected: wanted, actual: got, size },
    });
  }

  /** `check` is accepted for the port's sake: S3 keeps no checksum of ours beside the bytes, so every read hashes them. */
  async read(location: BlobLocation, sha256: string): Promise<Buffer> {
    const key = this.keyOf(location);
    const held = this.pending.get(key);
    let bytes: Buffer;
    if (held) bytes = Buffer.from(held);
    else {
      try {
        const res = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: key }));
        bytes = Buffer.from(await res.Body!.transformToByteArray());
      } catch (err) {
        throw mapS3Error(err, 'reading', this.where(key));
      }
    }
    const got = createHash('sha256').update(bytes).digest('hex');
    if (got !== sha256) throw this.corrupt(key, sha256, got, bytes.length);
    return bytes;
  }

  /** Streams the object in the socket's chunks; the hash is checked at the end (STORE_CORRUPT rejects the iteration). */
  async *stream(location: BlobLocation, sha256?: string): AsyncIterable<Uint8Array> {
    const key = this.keyOf(location);
    const wanted = sha256 ?? parseS3BlobRef(key)!;
    const hash = createHash('sha256');
    let size = 0;
    const held = this.pending.get(key);
    if (held) {
      hash.update(held);
      size = held.length;
      yield Buffer.from(held);
    } else {
      let body: Readable;
      try {
        const res = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: key }));
        body = res.Body as Readable;
      } catch (err) {
        throw mapS3Error(err, 'reading', this.where(key));
      }
      try {
        for await (const chunk of body) {
          const c = chunk as Buffer;
          hash.update(c);
          size += c.length;
          yield c;
        }
      } catch (err) {
        throw mapS3Error(err, 'reading', this.where(key));
      } finally {
        body.destroy();
      }
    }
    const got = hash.digest('hex');
    if (got !== wanted) throw this.corrupt(key, wanted, got, size);
  }

  /** Closes the client's sockets. */
  close(): void {
    this.client.destroy();
  }
}

/** Opens the store on an existing bucket; options are validated (CONFIG_INVALID). Does not contact the server: call `check()` for that. */
export function createS3BlobStore(options: S3BlobStoreOptions): S3BlobStore {
  return new S3BlobStore(resolveS3BlobStoreConfig(options));
}
