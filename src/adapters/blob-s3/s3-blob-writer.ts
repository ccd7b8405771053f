/**
 * A writer of the S3 blob store. Durability is the server's: a blob is durable once its PUT (or
 * CompleteMultipartUpload and the copy to its content address) has succeeded, and `sync` waits
 * for every request in flight, so the caller commits the metadata only after all succeeded.
 *
 * - Bodies under `partBytes` are hashed while they arrive, then put in one request with
 *   `If-None-Match: *`: 412 means the object is there already (stored once, whoever stored it).
 *   The put resolves once the request is sent (at most `putsInFlight` at a time); its bytes are
 *   served from memory until the server acknowledges them.
 * - Larger bodies go by multipart upload to `incoming/<uuid>` in parts of `partBytes` (at most
 *   `partsInFlight` + 1 parts in memory), because the content address is known only at the end;
 *   then the object is copied server-side to its address (unless one is there) and the incoming
 *   object deleted. The put resolves after that.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  PutObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  CompleteMultipartUploadCommand,
  AbortMultipartUploadCommand,
  HeadObjectCommand,
  CopyObjectCommand,
  PutObjectRetentionCommand,
  type CompletedPart,
  type ObjectLockMode,
} from '@aws-sdk/client-s3';
import { MailsluiceError } from '../../core/errors/index.js';
import type { BlobWriter, PutResult } from '../../core/ports/blob-store.js';
import { isNotFound, isPreconditionFailed, mapS3Error, s3Code } from './s3-error-map.js';
import type { S3BlobStore } from './s3-blob-store.js';
import type { HeldBlob } from './s3-blob-store.js';
import { formatS3PackRef, s3BlobKey, s3PackKey } from './s3-blob-keys.js';
import { packRecordHeader, PACK_RECORD_HEADER_BYTES } from './s3-pack-record.js';
import { RecordSealer, SEAL_OVERHEAD, sealPayload, type DataKey } from '../crypto-node/record-cipher.js';
import { objectLockClass } from '../../core/archive/object-lock.js';
import { objectLockOf, removeObject } from './s3-object-lock.js';

/** A pack being filled: one per lock class (0 without Object Lock), readable from memory until acknowledged. */
interface OpenPack {
  key: string;
  parts: Buffer[];
  bytes: number;
  records: Map<number, HeldBlob>;
  /** The retain-until of its lock class (ms), or null: not locked. */
  lockUntil: number | null;
}

/** One multipart upload under way: parts sent with bounded concurrency, completed or aborted. */
class MultipartUpload {
  private readonly parts: CompletedPart[] = [];
  private readonly running = new Set<Promise<void>>();
  /** Part buffers whose upload has ended, reused: without it each 8 MiB part waits for a GC to be freed. */
  private readonly spare: Buffer[] = [];
  private error: unknown = null;

  private constructor(
    private readonly store: S3BlobStore,
    readonly key: string,
    private readonly uploadId: string,
  ) {}

  static async begin(store: S3BlobStore, key: string): Promise<MultipartUpload> {
    const res = await store.client.send(new CreateMultipartUploadCommand({ Bucket: store.config.bucket, Key: key }));
    return new MultipartUpload(store, key, res.UploadId!);
  }

  /** Sends one part; waits first while `partsInFlight` parts are being sent. */
  async add(body: Buffer): Promise<void> {
    while (this.running.size >= this.store.config.partsInFlight) await Promise.race(this.running);
    if (this.error) throw this.error;
    const PartNumber = this.parts.length + 1;
    const slot: CompletedPart = { PartNumber };
    this.parts.push(slot);
    const p = this.store.client
      .send(new UploadPartCommand({ Bucket: this.store.config.bucket, Key: this.key, UploadId: this.uploadId, PartNumber, Body: body, ContentLength: body.length }))
      .then(
        // The server answered after reading the whole body, so the buffer is free to fill again.
        (r) => void ((slot.ETag = r.ETag), this.spare.push(body)),
        (err: unknown) => void (this.error ??= err),
      )
      .finally(() => this.running.delete(p));
    this.running.add(p);
  }

  /** A buffer for the next part: one whose upload ended, or a new one. */
  nextBuffer(size: number): Buffer {
    const b = this.spare.pop();
    return b && b.length === size ? b : Buffer.allocUnsafe(size);
  }

  async complete(): Promise<void> {
    await Promise.all(this.running);
    if (this.error) throw this.error;
    await this.store.client.send(
      new CompleteMultipartUploadCommand({ Bucket: this.store.config.bucket, Key: this.key, UploadId: this.uploadId, MultipartUpload: { Parts: this.parts } }),
    );
  }

  /** Best effort: an upload left behind costs space until the bucket's lifecycle rule removes it, nothing else. */
  async abort(): Promise<void> {
    await Promise.all(this.running);
    await this.store.client.send(new AbortMultipartUploadCommand({ Bucket: this.store.config.bucket, Key: this.key, UploadId: this.uploadId })).catch(() => undefined);
  }
}

/** Thrown out of the S3 side of a put, so the body's own errors can be told apart and passed on unchanged. */
class S3Failure extends Error {
  constructor(readonly mapped: MailsluiceError) {
    super(mapped.message);
  }
}

/** A writer: puts with dedup, `sync` waiting for every request in flight, refusal after a failure. */
export class S3BlobWriter implements BlobWriter {
  /** SHA-256 of every blob this writer stored since it was opened (the port's in-writer dedup). */
  private readonly seen = new Set<string>();
  /** Single-request puts in flight; they never reject (a failure is kept in `failure`). */
  private readonly inflight = new Set<Promise<void>>();
  /**
   * The packs being filled, by lock class (0 without Object Lock): a pack holds the records of one
   * class only, so its lock is the latest retain-until of its records. Their bytes are readable
   * from memory (through the store's `pending`) until their PUT is acknowledged.
   */
  private readonly packs = new Map<number, OpenPack>();
  /** Bytes in all open packs; they are all sent once this reaches `packBytes`. */
  private packedBytes = 0;
  private failure: MailsluiceError | null = null;
  /** Whether the caller has seen `failure` itself: the first report is its own sentence, later ones say the writer is spent. */
  private failureReported = false;
  private closed = false;

  constructor(private readonly store: S3BlobStore) {}

  private usable(): void {
    if (this.closed) throw new MailsluiceError('STORE_WRITE_FAILED', 'this S3 blob writer is closed');
    if (this.failure && !this.failureReported) {
      this.failureReported = true;
      throw this.failure;
    }
    if (this.failure) {
      throw new MailsluiceError(this.failure.code, `this S3 blob writer is unusable after an earlier failure: ${this.failure.message}`, {
        cause: this.failure,
        retryable: this.failure.retryable,
        ...(this.failure.details ? { details: this.failure.details } : {}),
      });
    }
  }

  private fail(err: unknown, key: string): S3Failure {
    const mapped = mapS3Error(err, 'writing', this.store.where(key));
    if (!this.failure) {
      this.failure = mapped;
      // Thrown by the put that met it: reported. One in flight is reported by the next put or sync.
    }
    return new S3Failure(mapped);
  }

  /** The data key the next object or record is sealed with, or null (no encryption); a keyring failure fails the writer. */
  private async sealKey(): Promise<DataKey | null> {
    const ring = this.store.config.keyring;
    if (!ring?.encrypting) return null;
    try {
      return (await ring.sealKey()) ?? null;
    } catch (err) {
      const mapped = err instanceof MailsluiceError ? err : new MailsluiceError('STORE_WRITE_FAILED', `cannot take a data key from the archive's keyring: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      this.failure ??= mapped;
      throw new S3Failure(mapped);
    }
  }

  /** The retain-until of the lock class of a message kept until `retainUntil` (core's rule), or null without Object Lock. */
  private lockUntil(retainUntil: number | undefined): number | null {
    const lock = this.store.config.objectLock;
    return lock ? objectLockClass(Date.now(), lock.days, retainUntil) : null;
  }

  async put(body: AsyncIterable<Uint8Array>, known: (sha256: string) => boolean, options: { owned?: boolean; buffered?: boolean; retainUntil?: number } = {}): Promise<PutResult> {
    this.usable();
    const { partBytes } = this.store.config;
    const lockUntil = this.lockUntil(options.retainUntil);
    // A large body is sealed as it goes into its parts.
    let sealer: RecordSealer | null = null;
    const hash = createHash('sha256');
    let size = 0;
    let held: Buffer[] = [];
    let heldBytes = 0;
    // In an object: assigned inside the closures below, which the compiler's narrowing does not follow.
    const mp: { upload: MultipartUpload | null } = { upload: null };
    // Past partBytes the body is copied straight into part-sized buffers: one copy, no garbage per chunk.
    let part: Buffer | null = null;
    let partFill = 0;
    const incoming = `incoming/${randomUUID()}`;
    const send = async (full: Buffer): Promise<void> => {
      try {
        mp.upload ??= await MultipartUpload.begin(this.store, incoming);
        await mp.upload.add(full);
      } catch (err) {
        if (mp.upload) await mp.upload.abort();
        throw this.fail(err, incoming);
      }
    };
    const feed = async (bytes: Uint8Array): Promise<void> => {
      for (let off = 0; off < bytes.length; ) {
        const n = Math.min(partBytes - partFill, bytes.length - off);
        part!.set(bytes.subarray(off, off + n), partFill);
        partFill += n;
        off += n;
        if (partFill === partBytes) {
          await send(part!);
          part = mp.upload!.nextBuffer(partBytes);
          partFill = 0;
        }
      }
    };
    const it = body[Symbol.asyncIterator]();
    try {
      for (;;) {
        let step: IteratorResult<Uint8Array>;
        try {
          step = await it.next();
        } catch (bodyError) {
          if (mp.upload) await mp.upload.abort();
          throw bodyError; // the source's error, unchanged; nothing of the blob is kept
        }
        if (step.done) break;
        const c = step.value;
        hash.update(c);
        size += c.length;
        if (part) {
          await feed(sealer ? sealer.update(c) : c);
          continue;
        }
        // Not owned: the caller may reuse its buffer once we return to it, so keep a copy.
        const kept = options.owned ? Buffer.from(c.buffer, c.byteOffset, c.byteLength) : Buffer.from(c);
        held.push(kept);
        heldBytes += kept.length;
        if (heldBytes >= partBytes) {
          part = Buffer.allocUnsafe(partBytes);
          const dk = await this.sealKey();
          if (dk) {
            sealer = new RecordSealer(dk);
            await feed(sealer.head);
          }
          for (const h of held) await feed(sealer ? sealer.update(h) : h);
          held = [];
          heldBytes = 0;
        }
      }
      if (sealer) await feed(sealer.end());
      if (part && partFill > 0) {
        held = [part.subarray(0, partFill)];
        heldBytes = partFill;
      }
      const sha256 = hash.digest('hex');
      // Checked and marked in one synchronous step, so concurrent puts of the same bytes store it once.
      if (known(sha256) || this.seen.has(sha256)) {
        if (mp.upload) await mp.upload.abort();
        return { sha256, size, location: null };
      }
      this.seen.add(sha256);
      if (mp.upload) {
        const key = s3BlobKey(sha256, sealer !== null);
        await this.finishMultipart(mp.upload, held, heldBytes, key, lockUntil);
        return { sha256, size, location: { ref: key, storedSize: sealer ? size + SEAL_OVERHEAD : size } };
      }
      return { sha256, size, location: await this.place(held.length === 1 ? held[0]! : Buffer.concat(held, heldBytes), sha256, lockUntil) };
    } catch (err) {
      if (err instanceof S3Failure) {
        // The body is left mid-way: let its source clean up (close a fetch, free a buffer).
        await it.return?.().catch(() => undefined);
        if (err.mapped === this.failure) this.failureReported = true;
        throw err.mapped;
      }
      throw err;
    }
  }

  /** A body under `partBytes`, new to the store: packed when small (in its lock class's pack), else put alone at its address; sealed when encrypting. */
  private async place(data: Buffer, sha256: string, lockUntil: number | null): Promise<{ ref: string; storedSize: number }> {
    const { packBodyLimit, packBytes } = this.store.config;
    const dk = await this.sealKey();
    if (data.length > 0 && data.length <= packBodyLimit) {
      const location = this.append(data, sha256, dk, lockUntil);
      if (this.packedBytes >= packBytes) await this.flushPacks();
      return location;
    }
    const key = s3BlobKey(sha256, dk !== null);
    const stored = dk ? Buffer.concat(sealPayload(dk, [data])) : data;
    await this.startPut(key, stored, new Map([[0, { plain: data, stored: stored.length }]]), lockUntil);
    return { ref: key, storedSize: stored.length };
  }

  /** Sends the last part, completes, and moves the object to its content address. */
  private async finishMultipart(upload: MultipartUpload, held: Buffer[], heldBytes: number, key: string, lockUntil: number | null): Promise<void> {
    const { bucket } = this.store.config;
    const client = this.store.client;
    try {
      if (heldBytes > 0) await upload.add(held.length === 1 ? held[0]! : Buffer.concat(held, heldBytes));
      await upload.complete();
    } catch (err) {
      await upload.abort();
      throw this.fail(err, upload.key);
    }
    try {
      if (!(await this.exists(key))) {
        // The incoming object is never locked (it is deleted below); its copy at the address is.
        const copied = await client
          .send(new CopyObjectCommand({ Bucket: bucket, Key: key, CopySource: `${bucket}/${upload.key}`, IfNoneMatch: '*', ...this.lockParams(lockUntil) }))
          .then(
            () => true,
            (err: unknown) => {
              if (!isPreconditionFailed(err)) throw err;
              return false;
            },
          );
        if (copied) await this.lockCopy(key, lockUntil);
      }
    } catch (err) {
      throw this.fail(err, key);
    } finally {
      // The incoming object is garbage either way (every version of it, on a locked bucket); one
      // left behind (a crash here) holds no blob anyone references.
      await removeObject(client, this.store.config, upload.key).catch(() => undefined);
    }
  }

  /**
   * Locks a multipart body's copy at its address when the copy did not (Ceph RGW 16 takes no lock
   * headers on CopyObject; AWS does): PutObjectRetention, only ever lengthening a lock.
   */
  private async lockCopy(key: string, lockUntil: number | null): Promise<void> {
    const lock = this.store.config.objectLock;
    if (!lock || lockUntil === null) return;
    const have = await objectLockOf(this.store.client, this.store.config, key);
    if (have && have.retainUntil >= lockUntil) return;
    const Retention = { Mode: lock.mode, RetainUntilDate: new Date(lockUntil) };
    // The body S3 asks Content-MD5 of is the XML the SDK builds: computed by its middleware, not here.
    await this.store.client.send(new PutObjectRetentionCommand({ Bucket: this.store.config.bucket, Key: key, Retention }));
  }

  private async exists(key: string): Promise<boolean> {
    try {
      await this.store.client.send(new HeadObjectCommand({ Bucket: this.store.config.bucket, Key: key }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** Adds a small blob to the writer's pack of its lock class (opening one if needed), sealed with `dk` if given; its location is final at once. */
  private append(data: Buffer, sha256: string, dk: DataKey | null, lockUntil: number | null): { ref: string; storedSize: number } {
    const cls = lockUntil ?? 0;
    let p = this.packs.get(cls);
    if (!p) {
      p = { key: s3PackKey(randomUUID()), parts: [], bytes: 0, records: new Map(), lockUntil };
      this.packs.set(cls, p);
      this.store.pending.set(p.key, p.records);
    }
    const offset = p.bytes;
    const payload = dk ? sealPayload(dk, [data]) : [data];
    const stored = payload.reduce((n, b) => n + b.length, 0);
    p.parts.push(packRecordHeader(data.length, sha256, dk !== null), ...payload);
    p.records.set(offset, { plain: data, stored });
    p.bytes += PACK_RECORD_HEADER_BYTES + stored;
    this.packedBytes += PACK_RECORD_HEADER_BYTES + stored;
    return { ref: formatS3PackRef(p.key, offset, stored), storedSize: PACK_RECORD_HEADER_BYTES + stored };
  }

  /** Sends every pack being filled, each as one object. */
  private async flushPacks(): Promise<void> {
    const open = [...this.packs.values()];
    this.packs.clear();
    this.packedBytes = 0;
    for (const p of open) await this.startPut(p.key, Buffer.concat(p.parts, p.bytes), p.records, p.lockUntil);
  }

  /** The Object Lock parameters of a write locked until `lockUntil`, or none. */
  private lockParams(lockUntil: number | null): { ObjectLockMode?: ObjectLockMode; ObjectLockRetainUntilDate?: Date } {
    const lock = this.store.config.objectLock;
    return lock && lockUntil !== null ? { ObjectLockMode: lock.mode, ObjectLockRetainUntilDate: new Date(lockUntil) } : {};
  }

  /**
   * Starts a conditional single-request put once a slot is free. `records` (offset → bytes) is
   * what reads are served from until the server acknowledges it.
   */
  private async startPut(key: string, data: Buffer, records: Map<number, HeldBlob>, lockUntil: number | null): Promise<void> {
    while (this.inflight.size >= this.store.config.putsInFlight) await Promise.race(this.inflight);
    this.usable();
    const { pending } = this.store;
    pending.set(key, records);
    const p = this.putOnce(key, data, lockUntil)
      .catch((err: unknown) => void this.fail(err, key))
      .finally(() => {
        if (pending.get(key) === records) pending.delete(key);
        this.inflight.delete(p);
      });
    this.inflight.add(p);
  }

  private async putOnce(key: string, data: Buffer, lockUntil: number | null): Promise<void> {
    const lock = this.lockParams(lockUntil);
    // S3 asks a locked write for Content-MD5 (the SDK's own checksums are off: WHEN_REQUIRED).
    const md5 = lock.ObjectLockMode ? { ContentMD5: createHash('md5').update(data).digest('base64') } : {};
    const send = () =>
      this.store.client.send(new PutObjectCommand({ Bucket: this.store.config.bucket, Key: key, Body: data, ContentLength: data.length, IfNoneMatch: '*', ...lock, ...md5 }));
    try {
      await send();
    } catch (err) {
      if (isPreconditionFailed(err)) return; // the same bytes are there already
      // Another conditional put of the same key is in progress: once it ends, ours answers 412 or succeeds.
      if (s3Code(err) === 'ConditionalRequestConflict') {
        await new Promise((r) => setTimeout(r, 50));
        await send().catch((again: unknown) => {
          if (!isPreconditionFailed(again)) throw again;
        });
        return;
      }
      throw err;
    }
  }

  async sync(): Promise<void> {
    if (this.closed) throw new MailsluiceError('STORE_WRITE_FAILED', 'this S3 blob writer is closed');
    this.usable();
    await this.flushPacks();
    while (this.inflight.size > 0) await Promise.all(this.inflight);
    this.usable();
  }

  /**
   * Drops the pack being filled (never synced, so never committed), lets the requests in flight
   * end (their outcome no longer matters to anyone) and refuses further work.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.packs.values()) this.store.pending.delete(p.key);
    this.packs.clear();
    this.packedBytes = 0;
    while (this.inflight.size > 0) await Promise.all(this.inflight);
  }
}
