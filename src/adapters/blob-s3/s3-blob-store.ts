/**
 * The scale-out raw-message store: content-addressed objects in an S3-compatible bucket.
 *
 * A blob's key is `sha256/<h0h1>/<h2h3>/<sha256 hex>` of its raw bytes, and `BlobLocation.ref` is
 * that key: stored once whoever stores it, found again from the hash alone (issue 20's migration
 * and a lost metadata row both rely on that). Bytes are stored without compression; with the
 * archive's keyring they are sealed (`sealed/…` keys, `MSE1` records) in ADR 0033's format, and
 * with Object Lock every object is written locked (ADR 0049 says why and what is open). Reads hash every byte and compare with the
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
import { parseS3BlobRef, s3ObjectOf, type S3Object } from './s3-blob-keys.js';
import { PACK_RECORD_HEADER_BYTES, readPackRecordHeader, type PackRecordHeader } from './s3-pack-record.js';
import { RecordCipherError, openPayload, openStream } from '../crypto-node/record-cipher.js';
import type { ObjectRemoval } from '../../core/archive/object-lock.js';
import { checkObjectLock, objectLockOf, removeObject } from './s3-object-lock.js';

/** A blob whose PUT is not acknowledged yet, as reads are served it: its raw bytes and its payload's stored length. */
export interface HeldBlob {
  plain: Buffer;
  stored: number;
}

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
  readonly pending = new Map<string, Map<number, HeldBlob>>();

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
    await checkObjectLock(this.client, this.config);
  }

  /**
   * Removes the object `key` (a pack, or a blob stored alone) for the reclaim, once no row
   * references it (`core/archive/object-lock.ts` decides when): `deleted`, `missing`, or `locked`
   * with its retain-until when the server refuses because its Object Lock still runs.
   */
  removeObject(key: string): Promise<ObjectRemoval> {
    return removeObject(this.client, this.config, key);
  }

  /** The Object Lock the server holds on `key` (mode and retain-until, ms), or null. */
  objectLockOf(key: string): Promise<{ mode: string; retainUntil: number } | null> {
    return objectLockOf(this.client, this.config, key);
  }

  /** Endpoint and bucket for error sentences. */
  where(key?: string): { endpoint: string; bucket: string; key?: string } {
    return { endpoint: this.config.endpoint, bucket: this.config.bucket, ...(key ? { key } : {}) };
  }

  private objectOf(location: BlobLocation): S3Object {
    const obj = s3ObjectOf(location.ref);
    if (!obj) {
      throw new MailsluiceError('STORE_NOT_FOUND', `"${location.ref}" is not a blob of the S3 store (expected sha256/xx/yy/<sha256>, sealed/xx/yy/<sha256> or pack/<uuid>:<offset>:<length>)`, { details: { ref: location.ref } });
    }
    return obj;
  }

  private corrupt(ref: string, wanted: string, problem: string, details: Record<string, unknown> = {}): MailsluiceError {
    return new MailsluiceError('STORE_CORRUPT', `object ${ref} in bucket "${this.config.bucket}" on ${this.config.endpoint} does not hold the blob asked for: ${problem}`, {
      details: { ref, bucket: this.config.bucket, expected: wanted, ...details },
    });
  }

  /** The bytes not yet acknowledged by the server (in clear), if the ref is one of them. */
  private held(obj: S3Object): Buffer | undefined {
    const b = this.pending.get(obj.key)?.get(obj.offset);
    return b && (obj.length === null || b.stored === obj.length) ? b.plain : undefined;
  }

  /** GET of the whole object, or of a packed blob's byte range; a pack shorter than the ref is STORE_CORRUPT. */
  private async get(location: BlobLocation, obj: S3Object, wanted: string) {
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

  /** A packed blob's record header (its SHA-256 checked against `wanted` when given). */
  private header(ref: string, h: Buffer, stored: number, wanted: string | null): PackRecordHeader {
    const r = readPackRecordHeader(h, stored);
    if ('problem' in r) throw this.corrupt(ref, wanted ?? '(its header)', r.problem);
    if (wanted !== null && r.sha256 !== wanted) throw this.corrupt(ref, wanted, `its record header names ${r.sha256}, not ${wanted}`);
    return r;
  }

  /** Reads the keyring again when a sealed payload names a data key it lacks (another worker made it since). */
  private async knowKeyOf(payload: Buffer): Promise<void> {
    const ring = this.config.keyring;
    if (ring && payload.length >= 4 && !ring.keys.has(payload.readUInt32LE(0))) await ring.reload();
  }

  /** The raw bytes of a sealed payload; STORE_CORRUPT naming the ref when it does not open. */
  private async unseal(ref: string, wanted: string, payload: Buffer): Promise<Buffer> {
    await this.knowKeyOf(payload);
    const r = openPayload(this.config.keyring?.keys, payload);
    if (typeof r === 'string') throw this.corrupt(ref, wanted, r);
    return r;
  }

  /** `check` is accepted for the port's sake: S3 keeps no checksum of ours beside the bytes, so every read hashes them. */
  async read(location: BlobLocation, sha256: string): Promise<Buffer> {
    const obj = this.objectOf(location);
    const held = this.held(obj);
    let bytes: Buffer;
    let rawLength: number | null = null;
    if (held) bytes = Buffer.from(held);
    else {
      const res = await this.get(location, obj, sha256);
      try {
        bytes = Buffer.from(await res.Body!.transformToByteArray());
      } catch (err) {
        throw mapS3Error(err, 'reading', this.where(obj.key));
      }
      let sealed = obj.sealed;
      if (obj.length !== null) {
        if (bytes.length !== PACK_RECORD_HEADER_BYTES + obj.length) throw this.corrupt(location.ref, sha256, `${bytes.length} bytes came back where a ${PACK_RECORD_HEADER_BYTES + obj.length}-byte record is stored`);
        const h = this.header(location.ref, bytes.subarray(0, PACK_RECORD_HEADER_BYTES), obj.length, sha256);
        ({ sealed, rawLength } = h);
        bytes = bytes.subarray(PACK_RECORD_HEADER_BYTES);
      }
      if (sealed) bytes = await this.unseal(location.ref, sha256, bytes);
    }
    this.verify(location.ref, sha256, createHash('sha256').update(bytes).digest('hex'), bytes.length, rawLength);
    return bytes;
  }

  /**
   * Streams the blob in the socket's chunks (decrypted as they come when sealed); size, GCM tag
   * and hash are checked at the end (STORE_CORRUPT rejects the iteration). Without `sha256`, the
   * blob is checked against its address (stored alone) or its record header (packed).
   */
  async *stream(location: BlobLocation, sha256?: string): AsyncIterable<Uint8Array> {
    const obj = this.objectOf(location);
    const state: { wanted: string | null; header: PackRecordHeader | null } = { wanted: sha256 ?? parseS3BlobRef(obj.key), header: null };
    const hash = createHash('sha256');
    let size = 0;
    const held = this.held(obj);
    if (held) {
      hash.update(held);
      size = held.length;
      yield Buffer.from(held);
    } else {
      const body = (await this.get(location, obj, state.wanted ?? '')).Body as Readable;
      try {
        for await (const c of this.plain(location.ref, obj, body, state)) {
          hash.update(c);
          size += c.length;
          yield c;
        }
      } catch (err) {
        throw mapS3Error(err, 'reading', this.where(obj.key));
      } finally {
        body.destroy();
      }
      if (obj.length !== null && state.header === null) throw this.corrupt(location.ref, state.wanted ?? '(its header)', 'the record ends inside its header');
    }
    const got = hash.digest('hex');
    this.verify(location.ref, state.wanted ?? got, got, size, state.header?.rawLength ?? null);
  }

  /** A GET's body as the blob's raw bytes: a packed record's header taken off (and checked), a sealed payload opened. */
  private async *plain(ref: string, obj: S3Object, body: Readable, state: { wanted: string | null; header: PackRecordHeader | null }): AsyncGenerator<Buffer> {
    const payload = this.payload(ref, obj, body, state)[Symbol.asyncIterator]();
    const first = await payload.next();
    if (first.done) return;
    const rest = async function* (): AsyncGenerator<Buffer> {
      yield first.value;
      for (let n = await payload.next(); !n.done; n = await payload.next()) yield n.value;
    };
    if (!(obj.sealed || state.header?.sealed)) {
      yield* rest();
      return;
    }
    await this.knowKeyOf(first.value);
    try {
      yield* openStream(this.config.keyring?.keys, rest());
    } catch (err) {
      if (err instanceof RecordCipherError) throw this.corrupt(ref, state.wanted ?? '(its header)', err.message);
      throw err;
    }
  }

  /** The stored payload of a GET's body: after the 40-byte record header for a packed blob (which may arrive split over chunks). */
  private async *payload(ref: string, obj: S3Object, body: Readable, state: { wanted: string | null; header: PackRecordHeader | null }): AsyncGenerator<Buffer> {
    let header: Buffer | null = obj.length === null ? null : Buffer.alloc(0);
    for await (const chunk of body) {
      let c = chunk as Buffer;
      if (header !== null && obj.length !== null) {
        const need = PACK_RECORD_HEADER_BYTES - header.length;
        header = Buffer.concat([header, c.subarray(0, need)]);
        c = c.subarray(need);
        if (header.length < PACK_RECORD_HEADER_BYTES) continue;
        state.header = this.header(ref, header, obj.length, state.wanted);
        state.wanted = state.header.sha256;
        header = null;
        if (c.length === 0) continue;
      }
      yield c;
    }
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

/**
 * Opens the store and checks it (`check()`: reachable, keys accepted, bucket there, Object Lock
 * enabled on it when configured), closing it again when the check fails.
 */
export async function openS3BlobStore(options: S3BlobStoreOptions): Promise<S3BlobStore> {
  const store = createS3BlobStore(options);
  try {
    await store.check();
  } catch (err) {
    store.close();
    throw err;
  }
  return store;
}
