/**
 * The scale-out raw-message store: content-addressed objects in an S3-compatible bucket.
 *
 * A blob's key is `sha256/<h0h1>/<h2h3>/<sha256 hex>` of its raw bytes, and `BlobLocation.ref` is
 * that key: stored once whoever stores it, found again from the hash alone (issue 20's migration
 * and a lost metadata row both rely on that). Bytes are stored as given, without compression or
 * encryption (ADR 0049 says why and what is open). Reads hash every byte and compare with the
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
import { mapS3Error, s3Status } from './s3-error-map.js';
import { S3BlobWriter } from './s3-blob-writer.js';
import { parseS3BlobRef, s3ObjectOf } from './s3-blob-keys.js';
import { PACK_RECORD_HEADER_BYTES, readPackRecordHeader } from './s3-pack-record.js';

export { s3BlobKey, parseS3BlobRef, s3ObjectOf } from './s3-blob-keys.js';

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
  readonly pending = new Map<string, Map<number, Buffer>>();

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

  private objectOf(location: BlobLocation): { key: string; offset: number; length: number | null } {
    const obj = s3ObjectOf(location.ref);
    if (!obj) {
      throw new MailsluiceError('STORE_NOT_FOUND', `"${location.ref}" is not a blob of the S3 store (expected sha256/xx/yy/<sha256> or pack/<uuid>:<offset>:<length>)`, { details: { ref: location.ref } });
    }
    return obj;
  }

  private corrupt(ref: string, wanted: string, problem: string, details: Record<string, unknown> = {}): MailsluiceError {
    return new MailsluiceError('STORE_CORRUPT', `object ${ref} in bucket "${this.config.bucket}" on ${this.config.endpoint} does not hold the blob asked for: ${problem}`, {
      details: { ref, bucket: this.config.bucket, expected: wanted, ...details },
    });
  }

  /** The bytes not yet acknowledged by the server, if the ref is one of them. */
  private held(obj: { key: string; offset: number; length: number | null }): Buffer | undefined {
    const b = this.pending.get(obj.key)?.get(obj.offset);
    return b && (obj.length === null || b.length === obj.length) ? b : undefined;
  }

  /** GET of the whole object, or of a packed blob's byte range; a pack shorter than the ref is STORE_CORRUPT. */
  private async get(location: BlobLocation, obj: { key: string; offset: number; length: number | null }, wanted: string) {
    // A packed blob: its record, header included.
    const Range = obj.length === null ? undefined : `bytes=${obj.offset}-${obj.offset + PACK_RECORD_HEADER_BYTES + obj.length - 1}`;
    try {
      return await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: obj.key, ...(Range ? { Range } : {}) }));
    } catch (err) {
      if (s3Status(err) === 416) throw this.corrupt(location.ref, wanted, `the pack object ends before byte ${obj.offset + PACK_RECORD_HEADER_BYTES + (obj.length ?? 0)}`);
      throw mapS3Error(err, 'reading', this.where(obj.key));
    }
  }

  private verify(ref: string, wanted: string, got: string, size: number, length: number | null): void {
    if (length !== null && size !== length) throw this.corrupt(ref, wanted, `${size} bytes came back where ${length} are stored`, { size });
    if (got !== wanted) throw this.corrupt(ref, wanted, `its ${size} bytes hash to ${got}, not ${wanted}`, { actual: got, size });
  }

  /** For a packed blob, the SHA-256 its record header holds (checked against `wanted` when given). */
  private header(ref: string, h: Buffer, length: number, wanted: string | null): string {
    const r = readPackRecordHeader(h, length);
    if ('problem' in r) throw this.corrupt(ref, wanted ?? '(its header)', r.problem);
    if (wanted !== null && r.sha256 !== wanted) throw this.corrupt(ref, wanted, `its record header names ${r.sha256}, not ${wanted}`);
    return r.sha256;
  }

  /** `check` is accepted for the port's sake: S3 keeps no checksum of ours beside the bytes, so every read hashes them. */
  async read(location: BlobLocation, sha256: string): Promise<Buffer> {
    const obj = this.objectOf(location);
    const held = this.held(obj);
    let bytes: Buffer;
    if (held) bytes = Buffer.from(held);
    else {
      const res = await this.get(location, obj, sha256);
      try {
        bytes = Buffer.from(await res.Body!.transformToByteArray());
      } catch (err) {
        throw mapS3Error(err, 'reading', this.where(obj.key));
      }
      if (obj.length !== null) {
        if (bytes.length !== PACK_RECORD_HEADER_BYTES + obj.length) throw this.corrupt(location.ref, sha256, `${bytes.length} bytes came back where a ${PACK_RECORD_HEADER_BYTES + obj.length}-byte record is stored`);
        this.header(location.ref, bytes.subarray(0, PACK_RECORD_HEADER_BYTES), obj.length, sha256);
        bytes = bytes.subarray(PACK_RECORD_HEADER_BYTES);
      }
    }
    this.verify(location.ref, sha256, createHash('sha256').update(bytes).digest('hex'), bytes.length, obj.length);
    return bytes;
  }

  /**
   * Streams the blob in the socket's chunks; size and hash are checked at the end (STORE_CORRUPT
   * rejects the iteration). Without `sha256`, the blob is checked against its address (stored
   * alone) or its record header (packed).
   */
  async *stream(location: BlobLocation, sha256?: string): AsyncIterable<Uint8Array> {
    const obj = this.objectOf(location);
    let wanted = sha256 ?? parseS3BlobRef(obj.key);
    const hash = createHash('sha256');
    let size = 0;
    const held = this.held(obj);
    if (held) {
      hash.update(held);
      size = held.length;
      yield Buffer.from(held);
    } else {
      const body = (await this.get(location, obj, wanted ?? '')).Body as Readable;
      // A packed blob's header comes first; it may arrive split over chunks.
      let header: Buffer | null = obj.length === null ? null : Buffer.alloc(0);
      try {
        for await (const chunk of body) {
          let c = chunk as Buffer;
          if (header !== null && obj.length !== null) {
            const need = PACK_RECORD_HEADER_BYTES - header.length;
            header = Buffer.concat([header, c.subarray(0, need)]);
            c = c.subarray(need);
            if (header.length < PACK_RECORD_HEADER_BYTES) continue;
            wanted = this.header(location.ref, header, obj.length, wanted);
            header = null;
            if (c.length === 0) continue;
          }
          hash.update(c);
          size += c.length;
          yield c;
        }
      } catch (err) {
        throw mapS3Error(err, 'reading', this.where(obj.key));
      } finally {
        body.destroy();
      }
      if (header !== null) throw this.corrupt(location.ref, wanted ?? '(its header)', 'the record ends inside its header');
    }
    const got = hash.digest('hex');
    this.verify(location.ref, wanted ?? got, got, size, obj.length);
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
