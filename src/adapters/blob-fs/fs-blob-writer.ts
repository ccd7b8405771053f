/**
 * A writer of the file-system blob store (ADR 0001): owns at most one open pack (and one staging
 * pack) at a time and appends records to it.
 *
 * - `put` hashes and compresses a buffered body on the compression thread and copies the finished
 *   record into a write buffer (`open-pack.ts`) that is written with one write when it fills,
 *   before a streamed put, a pack roll, a read of the pack, a sync or a close.
 *   A body over `streamThresholdBytes` is streamed: into the staging pack raw (codec none; the
 *   compactor compresses it later, ADR 0018), or compressed into the pack.
 * - `sync` is the group commit: one fdatasync per pack written since the last sync, plus one fsync
 *   of the directory if a pack was created, so it covers every put that has resolved.
 * - A writer never appends to a pack that existed before it, so a torn record left by a crash is
 *   always at the very end of a pack nobody writes to any more; it is never referenced (the
 *   metadata commit comes after `sync`) and is skipped by `scanPack`.
 * - After any write or sync failure it refuses further work (fsync errors may have discarded
 *   dirty pages, so nothing written since the last good sync can be trusted); close it and open a
 *   new one.
 */
import { createHash } from 'node:crypto';
import { bodySource } from './body-source.js';
import { unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { WRITE_BUFFER_BYTES, WriteBuffer, countWritten } from './open-pack.js';
import type { OpenPack } from './open-pack.js';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import { MailsluiceError } from '../../core/errors/index.js';
import type { BlobLocation, BlobWriter, PutResult } from '../../core/ports/blob-store.js';
import { mapFsError } from './fs-error-map.js';
import { compressInline, workerPool } from './worker-pool.js';
import type { CompressedRecord } from './worker-pool.js';
import { PACK_HEADER_SIZE, RECORD_HEADER_SIZE, encodeRecordHeader } from './pack-format.js';
import type { CodecName, RecordHeader } from './pack-format.js';
import { asBuffer, compressorStream, corrupt, formatFsBlobRef, parseFsBlobRef, writeFully } from './pack-io.js';
import { fsyncDirectory } from '../fs-node/fsync-directory.js';
import type { FsBlobStoreConfig } from './fs-blob-store-config.js';
import type { ArchiveKeyring } from './archive-keyring.js';
import { SEAL_OVERHEAD, sealStream } from '../crypto-node/record-cipher.js';
import type { DataKey } from '../crypto-node/record-cipher.js';

/** Coalesce compressor output into writes of about this size: fewer syscalls, bounded memory. */
const WRITE_COALESCE_BYTES = 1024 * 1024;
/** What a writer needs of its store. */
export interface WriterHost {
  readonly config: FsBlobStoreConfig;
  /** The archive's keys: new records are encrypted when it has a master key (ADR 0033). */
  readonly keyring: ArchiveKeyring | null;
  /** Creates a new, empty pack exclusively. */
  createPack(staging?: boolean): Promise<{ packId: number; path: string; fh: FileHandle }>;
  /** A writer appends to `packId` (or stopped, with `null`): reads of it write the buffer out first. */
  setLiveWriter(packId: number, writer: FsBlobWriter | null): void;
  /** A writer let its staging pack go (`false`): the compactor may take it. */
  setStagingOpen(packId: number, open: boolean): void;
  /** A writer closed. */
  writerClosed(writer: FsBlobWriter): void;
}

/** A writer of the file-system store; see the module comment. */
export class FsBlobWriter implements BlobWriter {
  readonly #store: WriterHost;
  #pack: OpenPack | null = null;
  /** A pack was created since the last sync, so the directory must be fsynced too. */
  #newPack = false;
  #dirty = false;
  /** Shas this writer has put since it was opened (dedup within uncommitted batches). */
  readonly #seen = new Set<string>();
  #failed: MailsluiceError | null = null;
  #closed = false;
  /** Serialises appends, syncs and close; compression of small bodies runs outside it. */
  #lock: Promise<unknown> = Promise.resolve();
  /** Records of buffered puts not written yet. */
  readonly #buffer = new WriteBuffer(
    (pack, bytes) => this.#wrote(pack, bytes),
    (err, pack) => this.#fail(err, 'writing', pack.path),
  );
  /** The staging pack large bodies are streamed to raw (ADR 0001, "Deferred compression"). */
  #stagingPack: OpenPack | null = null;
  #stagingDirty = false;
  /** Writes of whole staged records in flight (each at an offset reserved under the lock). */
  readonly #stagingWrites = new Set<Promise<void>>();

  constructor(store: WriterHost) {
    this.#store = store;
  }

  #withLock<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => undefined);
    return run;
  }

  #assertUsable(): void {
    if (this.#closed) throw new MailsluiceError('STORE_WRITE_FAILED', 'blob writer is closed', { retryable: false });
    if (this.#failed) {
      throw new MailsluiceError('STORE_WRITE_FAILED', `blob writer is unusable after an earlier failure: ${this.#failed.message}`, { cause: this.#failed });
    }
  }

  #fail(err: unknown, operation: 'writing' | 'creating' | 'syncing', path: string): MailsluiceError {
    const mapped = mapFsError(err, operation, path);
    this.#failed ??= mapped;
    return mapped;
  }

  /** Counts bytes written to `pack` (for its early datasync). */
  #wrote(pack: OpenPack, bytes: number): void {
    countWritten(pack, bytes, this.#failed !== null, (err) => this.#fail(err, 'syncing', pack.path));
  }

  /** Writes out every buffered record and waits for it. Call under the lock. */
  #writeStage(pack: OpenPack): Promise<void> {
    return this.#buffer.writeOut(pack);
  }

  /** @internal lets a read of this writer's pack see records not yet written. */
  async writeOutBuffered(): Promise<void> {
    if (!this.#buffer.pending) return;
    await this.#withLock(async () => {
      const pack = this.#pack;
      if (pack && !this.#failed) await this.#writeStage(pack);
    });
  }

  /** Finishes a full pack: written out, durable and closed (its records stay readable). Call under the lock. */
  async #finishFull(pack: OpenPack, staging: boolean): Promise<void> {
    pack.closing = true;
    await this.#datasync(pack, staging);
    try {
      await pack.fh.close();
    } catch (err) {
      throw this.#fail(err, 'syncing', pack.path);
    }
  }

  /** Creates this writer's next pack (a staging one with `staging`). Call under the lock. */
  async #openNew(staging: boolean): Promise<OpenPack> {
    let created;
    try {
      created = await this.#store.createPack(staging);
    } catch (err) {
      this.#failed ??= err as MailsluiceError;
      throw err;
    }
    this.#newPack = true;
    return { ...created, pos: PACK_HEADER_SIZE };
  }

  /** Returns the pack to append to, rolling to a new one at the size limit. Call under the lock. */
  async #currentPack(): Promise<OpenPack> {
    const pack = this.#pack;
    if (pack && pack.pos < this.#store.config.packRollBytes) return pack;
    if (pack) {
      // Make the full pack durable now, so that sync() only ever has one pack to flush.
      await this.#finishFull(pack, false);
      this.#store.setLiveWriter(pack.packId, null);
      this.#pack = null;
    }
    const next = await this.#openNew(false);
    this.#pack = next;
    this.#store.setLiveWriter(next.packId, this);
    return next;
  }

  /**
   * Returns the staging pack to stream raw bodies to, rolling like {@link #currentPack}. The store
   * registers a staging pack open before creating it, and the compactor leaves it alone until this
   * writer lets it go: when it rolls (synced whole), is sealed ({@link sealStaging}) or the writer
   * closes. Records in it that are committed later read through the compactor's redirect: every
   * record it held when let go was durable. Call under the lock.
   */
  async #currentStagingPack(): Promise<OpenPack> {
    const pack = this.#stagingPack;
    if (pack && pack.pos < this.#store.config.packRollBytes) return pack;
    if (pack) {
      await this.#finishFull(pack, true);
      this.#stagingPack = null;
      this.#store.setStagingOpen(pack.packId, false);
    }
    const next = await this.#openNew(true);
    this.#stagingPack = next;
    return next;
  }

  /**
   * Lets the compactor take the staging pack when everything in it is durable (synced since its
   * last record) and nothing is being written to it: it is closed, and the next large body opens
   * a new one. Otherwise (records waiting for a sync, a failed writer) does nothing. @internal
   */
  async sealStaging(): Promise<void> {
    if (!this.#stagingPack || this.#stagingDirty || this.#stagingWrites.size > 0) return;
    await this.#withLock(async () => {
      const pack = this.#stagingPack;
      if (!pack || this.#stagingDirty || this.#stagingWrites.size > 0 || this.#failed || this.#closed) return;
      pack.closing = true;
      await pack.early?.catch(() => undefined);
      await pack.fh.close().catch(() => undefined);
      this.#stagingPack = null;
      this.#store.setStagingOpen(pack.packId, false);
    });
  }

  /** Streams one blob in; see {@link BlobWriter.put}. */
  async put(body: AsyncIterable<Uint8Array>, known: (sha256: string) => boolean, options?: { owned?: boolean; buffered?: boolean }): Promise<PutResult> {
    this.#assertUsable();
    const { streamThresholdBytes, stageLargeBodies, compressionThreads } = this.#store.config;
    const it = body[Symbol.asyncIterator]();
    const head: Buffer[] = [];
    let size = 0;
    let done = false;
    // Buffer up to the threshold: most mail ends here and is hashed and compressed in one job. A
    // body the caller has whole in memory is taken whole, in the pieces it came in.
    const whole = options?.buffered === true;
    while (whole || size <= streamThresholdBytes) {
      const r = await it.next();
      if (r.done) {
        done = true;
        break;
      }
      const chunk = asBuffer(r.value);
      head.push(chunk);
      size += chunk.length;
    }
    const owned = options?.owned === true;
    if (done && size <= streamThresholdBytes) return this.#putWhole(head.length === 1 ? (head[0] as Buffer) : Buffer.concat(head, size), known, owned && head.length === 1);
    if (stageLargeBodies && compressionThreads > 0 && (whole || head.length === 1)) {
      // A large body fetched whole (bulk): if it ends here, hashing and checksumming it run on
      // the compression thread, and its pieces go there and back without being copied when owned.
      if (!done) {
        const r = await it.next();
        if (r.done) done = true;
        else {
          const chunk = asBuffer(r.value);
          head.push(chunk);
          size += chunk.length;
        }
      }
      if (done) return this.#putWholeStaged(head, known, owned);
    }
    const hash = createHash('sha256');
    for (const c of head) hash.update(c);
    return this.#putStream(head, size, hash, it, known, { staging: this.#store.config.stageLargeBodies });
  }

  /**
   * Writes a compressed copy of a blob read from `source` (the compactor's staged record) into
   * this writer's normal pack, verified against `sha256` as it streams (STORE_CORRUPT and nothing
   * kept on a mismatch); stored raw when brotli does not make it smaller. Durable after `sync`.
   */
  async copyCompressed(source: () => AsyncIterable<Uint8Array>, sha256: string): Promise<BlobLocation> {
    this.#assertUsable();
    const want = sha256.toLowerCase();
    const once = async (codec: CodecName | undefined): Promise<PutResult> =>
      this.#putStream([], 0, createHash('sha256'), source()[Symbol.asyncIterator](), () => false, { staging: false, expectSha: want, codec });
    let r = await once(undefined);
    const overhead = this.#store.keyring?.encrypting === true ? SEAL_OVERHEAD : 0;
    if (r.location && r.location.storedSize - overhead >= r.size && this.#store.config.compression.codec !== 'none') {
      // Not smaller (already-compressed content): keep it raw, but in a normal pack.
      const location = r.location;
      const rewound = await this.#withLock(async () => {
        const pack = this.#pack;
        if (!pack || this.#failed) return false;
        const ref = parseFsBlobRef(location.ref);
        // Only if nothing was appended after it meanwhile; otherwise the bigger copy stays.
        if (ref.packId !== pack.packId || pack.pos !== ref.offset + RECORD_HEADER_SIZE + ref.storedSize || this.#buffer.length > 0) return false;
        await this.#rewind(pack, ref.offset);
        return true;
      });
      if (rewound) r = await once('none');
    }
    if (!r.location) throw new MailsluiceError('INTERNAL', `compressing blob ${want} wrote nothing`);
    return r.location;
  }

  /** The data key the next record is sealed with, or undefined (no encryption); a keyring failure fails the writer. */
  async #sealKey(): Promise<DataKey | undefined> {
    const keyring = this.#store.keyring;
    if (!keyring?.encrypting) return undefined;
    try {
      return await keyring.sealKey();
    } catch (err) {
      this.#failed ??= new MailsluiceError('STORE_WRITE_FAILED', 'making a data key failed', { cause: err });
      throw this.#failed;
    }
  }

  /**
   * Runs the thread's (or the inline) hashing and compression, then claims the blob for this
   * writer, or returns the put's result when it is a duplicate. Claimed synchronously with the
   * check, so a concurrent put of the same bytes dedups against this one; any failure from here
   * on marks the writer failed, so that dedup can never point at bytes that did not make it to disk.
   */
  async #claim(work: () => CompressedRecord | Promise<CompressedRecord>, what: string, known: (sha256: string) => boolean): Promise<CompressedRecord | PutResult> {
    let rec: CompressedRecord;
    try {
      rec = await work();
    } catch (err) {
      this.#failed ??= new MailsluiceError('STORE_WRITE_FAILED', `${what} a blob failed`, { cause: err });
      throw this.#failed;
    }
    this.#assertUsable();
    if (this.#seen.has(rec.sha256) || known(rec.sha256)) return { sha256: rec.sha256, size: rec.size, location: null };
    this.#seen.add(rec.sha256);
    return rec;
  }

  async #putWhole(raw: Buffer, known: (sha256: string) => boolean, owned: boolean): Promise<PutResult> {
    const { compression, compressionThreads } = this.#store.config;
    const seal = await this.#sealKey();
    const claimed = await this.#claim(
      () =>
        compressionThreads === 0
          ? compressInline(raw, compression.codec, compression.level, seal)
          : workerPool(compressionThreads).compress(raw, compression.codec, compression.level, owned, seal),
      'hashing and compressing',
      known,
    );
    if (!('parts' in claimed)) return claimed;
    const rec = claimed;
    const { sha256, size } = rec;
    return this.#withLock(async () => {
      this.#assertUsable();
      const pack = await this.#currentPack();
      const offset = pack.pos;
      const length = rec.length;
      if (this.#buffer.length > 0 && this.#buffer.length + length > WRITE_BUFFER_BYTES) await this.#buffer.startWrite(pack);
      if (length > WRITE_BUFFER_BYTES) {
        // Too big to buffer (a large streamThresholdBytes): written on its own, in order.
        await this.#writeStage(pack);
        try {
          await writeFully(pack.fh, rec.parts, offset);
        } catch (err) {
          throw this.#fail(err, 'writing', pack.path);
        }
      } else {
        this.#buffer.add(rec.parts, offset);
      }
      pack.pos += length;
      this.#dirty = true;
      return { sha256, size, location: { ref: formatFsBlobRef({ packId: pack.packId, offset, storedSize: rec.storedSize }), storedSize: rec.storedSize } };
    });
  }

  /**
   * A large body already whole in memory, staged raw (ADR 0001, "Deferred compression"): SHA-256
   * and CRC-32 are computed on the compression thread, which returns the finished record; the
   * write goes to the staging pack at a reserved offset outside the lock, and the put resolves
   * once it is written (readable), like every put.
   */
  async #putWholeStaged(raw: Buffer[], known: (sha256: string) => boolean, owned: boolean): Promise<PutResult> {
    const seal = await this.#sealKey();
    const claimed = await this.#claim(() => workerPool(this.#store.config.compressionThreads).compress(raw, 'none', 0, owned, seal), 'hashing', known);
    if (!('parts' in claimed)) return claimed;
    const rec = claimed;
    const { sha256, size } = rec;
    const { pack, offset, writing } = await this.#withLock(async () => {
      this.#assertUsable();
      const pack = await this.#currentStagingPack();
      const offset = pack.pos;
      pack.pos += rec.length;
      this.#stagingDirty = true;
      const writing = writeFully(pack.fh, rec.parts, offset).then(
        () => undefined,
        (err: unknown) => {
          throw this.#fail(err, 'writing', pack.path);
        },
      );
      const tracked = writing.then(
        () => void this.#stagingWrites.delete(tracked),
        () => void this.#stagingWrites.delete(tracked),
      );
      this.#stagingWrites.add(tracked);
      return { pack, offset, writing };
    });
    await writing;
    this.#wrote(pack, rec.length);
    const ref = formatFsBlobRef({ packId: pack.packId, staging: true, offset, storedSize: rec.storedSize });
    return { sha256, size, location: { ref, storedSize: rec.storedSize } };
  }

  /** Waits for the staged writes started outside the lock (before a sync, roll, rewind or close). */
  async #stagingWritesDone(): Promise<void> {
    while (this.#stagingWrites.size > 0) await Promise.allSettled([...this.#stagingWrites]);
  }

  /**
   * Streams a body into a record at the end of the pack (the staging pack raw with `staging`),
   * compressing as it goes; the record header goes in last. Dedup is checked once the hash is
   * known, and a duplicate is cut off again. A failure of the body or of `known` passes their
   * error on unchanged and keeps the writer usable; a failure of the store fails the writer.
   */
  async #putStream(
    head: Buffer[],
    headSize: number,
    hash: ReturnType<typeof createHash>,
    it: AsyncIterator<Uint8Array>,
    known: (sha256: string) => boolean,
    mode: { staging: boolean; expectSha?: string; codec?: CodecName | undefined },
  ): Promise<PutResult> {
    const body = bodySource(head, headSize, hash, it);
    const seal = await this.#sealKey();
    return this.#withLock(async () => {
      this.#assertUsable();
      let pack: OpenPack;
      if (mode.staging) pack = await this.#currentStagingPack();
      else {
        pack = await this.#currentPack();
        // Buffered records first: the streamed record is written in place and may be cut off again.
        await this.#writeStage(pack);
      }
      const start = pack.pos;
      // Staged: raw, no compression CPU on the critical path (the compactor does it later).
      const codec: CodecName = mode.staging ? 'none' : (mode.codec ?? this.#store.config.compression.codec);
      let knownFailed = false;
      try {
        const { end, crc } = await this.#appendPayload(pack, codec, body.chunks, seal);
        const sha256 = hash.digest('hex');
        if (mode.expectSha !== undefined && sha256 !== mode.expectSha) {
          body.failed = true;
          throw corrupt(`blob read back for compression hashes to ${sha256}, expected ${mode.expectSha}`);
        }
        let isKnown: boolean;
        try {
          isKnown = (mode.expectSha === undefined && this.#seen.has(sha256)) || known(sha256);
        } catch (err) {
          knownFailed = true;
          throw err;
        }
        if (isKnown) {
          await this.#rewind(pack, start);
          return { sha256, size: body.size, location: null };
        }
        const header = { codec, rawSize: body.size, sha256, payloadCrc: crc, ...(seal ? { encrypted: true } : {}) };
        const location = await this.#sealRecord(pack, start, end, header, mode.staging);
        if (mode.expectSha === undefined) this.#seen.add(sha256);
        return { sha256, size: body.size, location };
      } catch (err) {
        if (this.#failed) throw err instanceof MailsluiceError ? err : this.#failed;
        // Not a store failure so far: drop the partial record and keep the writer usable.
        await this.#rewind(pack, start);
        // The body (the mailbox source) or the caller's `known` failed: their error, passed on unchanged.
        if (body.failed || knownFailed) throw err;
        // Anything else (a compressor error) is the store's.
        throw this.#fail(err, 'writing', pack.path);
      }
    });
  }

  /**
   * Writes the payload of the record starting at `pack.pos`, leaving a hole for its header (until
   * the header is written the record reads as torn: zero magic), encrypted with `seal` after
   * compression. Returns where it ends and its CRC.
   */
  async #appendPayload(pack: OpenPack, codec: CodecName, chunks: AsyncIterable<Buffer>, seal: DataKey | undefined): Promise<{ end: number; crc: number }> {
    let pos = pack.pos + RECORD_HEADER_SIZE;
    let crc = 0;
    const sink = async (plain: AsyncIterable<Buffer>): Promise<void> => {
      const source = seal ? sealStream(seal, plain) : plain;
      let pending: Buffer[] = [];
      let pendingLen = 0;
      const flush = async (): Promise<void> => {
        if (pendingLen === 0) return;
        try {
          pos += await writeFully(pack.fh, pending, pos);
        } catch (err) {
          throw this.#fail(err, 'writing', pack.path);
        }
        pending = [];
        pendingLen = 0;
      };
      for await (const c of source) {
        crc = crc32(c, crc);
        pending.push(c);
        pendingLen += c.length;
        if (pendingLen >= WRITE_COALESCE_BYTES) await flush();
      }
      await flush();
    };
    const compressor = compressorStream(codec, this.#store.config.compression.level);
    if (compressor) await pipeline(Readable.from(chunks), compressor, sink);
    else await sink(chunks);
    return { end: pos, crc };
  }

  /** Writes the header of the streamed record `start`..`end`, which makes it whole; returns its location. */
  async #sealRecord(pack: OpenPack, start: number, end: number, h: Omit<RecordHeader, 'storedSize'>, staging: boolean): Promise<BlobLocation> {
    const storedSize = end - start - RECORD_HEADER_SIZE;
    try {
      await writeFully(pack.fh, [encodeRecordHeader({ ...h, storedSize })], start);
    } catch (err) {
      throw this.#fail(err, 'writing', pack.path);
    }
    pack.pos = end;
    if (staging) this.#stagingDirty = true;
    else this.#dirty = true;
    return { ref: formatFsBlobRef({ packId: pack.packId, ...(staging ? { staging: true } : {}), offset: start, storedSize }), storedSize };
  }

  /** Cuts a record that must not stay (dedup or failed body) off the end of the pack. */
  async #rewind(pack: OpenPack, start: number): Promise<void> {
    if (pack === this.#stagingPack) await this.#stagingWritesDone();
    try {
      await pack.fh.truncate(start);
    } catch (err) {
      throw this.#fail(err, 'writing', pack.path);
    }
    pack.pos = start;
  }

  /** Group commit; see {@link BlobWriter.sync}. */
  sync(): Promise<void> {
    return this.#withLock(async () => {
      this.#assertUsable();
      const flushes: Promise<void>[] = [];
      if (this.#pack && this.#dirty) flushes.push(this.#datasync(this.#pack, false));
      if (this.#stagingPack && this.#stagingDirty) flushes.push(this.#datasync(this.#stagingPack, true));
      const settled = await Promise.allSettled(flushes);
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      if (this.#newPack) {
        // A new file is reachable after a power cut only once its directory entry is on disk.
        try {
          await fsyncDirectory(this.#store.config.directory);
        } catch (err) {
          throw this.#fail(err, 'syncing', this.#store.config.directory);
        }
      }
      this.#dirty = false;
      this.#stagingDirty = false;
      this.#newPack = false;
    });
  }

  /** Writes out what is pending for `pack` and fdatasyncs it (which also persists the file size, all appended data needs). */
  async #datasync(pack: OpenPack, staging: boolean): Promise<void> {
    if (staging) {
      await this.#stagingWritesDone();
      if (this.#failed) throw this.#failed;
    } else {
      await this.#writeStage(pack);
    }
    try {
      await pack.early;
      pack.unsynced = 0;
      await pack.fh.datasync();
    } catch (err) {
      throw this.#fail(err, 'syncing', pack.path);
    }
  }

  /** Closes the pack file (removing it if it holds no record); does not sync. Idempotent. */
  close(): Promise<void> {
    return this.#withLock(async () => {
      if (this.#closed) return;
      this.#closed = true;
      this.#store.writerClosed(this);
      const staging = this.#stagingPack;
      this.#stagingPack = null;
      if (staging) {
        staging.closing = true;
        await this.#stagingWritesDone();
        await staging.early?.catch(() => undefined);
        await staging.fh.close().catch(() => undefined);
        if (staging.pos === PACK_HEADER_SIZE && !this.#failed) await unlink(staging.path).catch(() => undefined);
        // Whatever of its records was not synced by now never will be: the compactor may take it.
        this.#store.setStagingOpen(staging.packId, false);
      }
      const pack = this.#pack;
      this.#pack = null;
      if (!pack) return;
      pack.closing = true;
      // Not a sync, but what was put stays readable (and a failure here is reported by no one:
      // unsynced puts may be lost).
      if (!this.#failed) await this.#writeStage(pack).catch(() => undefined);
      else await this.#buffer.settled();
      this.#store.setLiveWriter(pack.packId, null);
      await pack.early?.catch(() => undefined);
      await pack.fh.close().catch(() => undefined);
      if (pack.pos === PACK_HEADER_SIZE && !this.#failed) await unlink(pack.path).catch(() => undefined);
    });
  }
}
