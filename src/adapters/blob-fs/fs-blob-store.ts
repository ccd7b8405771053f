/**
 * The embedded raw-message store: content-addressed blobs in append-only pack files with group
 * commit (docs/adr/0001-blob-layout.md says why, with measurements).
 *
 * - Each writer appends to a pack of its own, created when it first writes, so concurrent
 *   connections never interleave and never share a file position.
 * - `put` hashes and compresses the body as it streams; nothing is fsynced per message.
 * - `sync` is the group commit: one fdatasync of the writer's pack, plus one fsync of the
 *   directory if the writer created a pack since the last sync.
 * - A writer never appends to a pack that existed before it, so a torn record left by a crash
 *   is always at the very end of a pack nobody writes to any more; it is never referenced (the
 *   metadata commit comes after `sync`) and is skipped by {@link scanPack}.
 *
 * Blob refs have the form `pack-<id>:<offset>:<storedSize>`, e.g. `pack-00000003:16:2210`:
 * the pack file `pack-00000003.mspack` in the store directory, the byte offset of the record
 * header in it, and the length of the stored (compressed) payload that follows the 64-byte header.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pipeline as pipelineCb } from 'node:stream';
import type { Transform } from 'node:stream';
import {
  constants as zc,
  crc32,
  createBrotliCompress,
  createBrotliDecompress,
  createDeflateRaw,
  createInflateRaw,
} from 'node:zlib';
import { MailsluiceError } from '../../core/errors/index.js';
import type { BlobLocation, BlobStore, BlobWriter, PutResult, StagingContainer } from '../../core/ports/blob-store.js';
import { resolveFsBlobStoreConfig } from './fs-blob-store-config.js';
import type { FsBlobStoreConfig, FsBlobStoreOptions } from './fs-blob-store-config.js';
import { mapFsError } from './fs-error-map.js';
import { compressInline, compressPool } from './compress-pool.js';
import type { CompressedRecord } from './compress-pool.js';
import {
  PACK_HEADER_SIZE,
  RECORD_HEADER_SIZE,
  decodeRecordHeader,
  encodePackHeader,
  encodeRecordHeader,
} from './pack-format.js';
import type { CodecName, RecordHeader } from './pack-format.js';
import { PackReadError, PackReader } from './pack-reader.js';
import type { ReadFailure } from './pack-reader.js';
import { readPool } from './read-pool.js';
import { fsyncDirectory } from '../fs-node/fsync-directory.js';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../fs-node/private-files.js';


const PACK_FILE = /^(pack|stage)-(\d{8,})\.mspack$/;
const REF = /^(pack|stage)-(\d{8,}):(\d+):(\d+)$/;
const STAGING_PREFIX = /^stage-(\d{8,}):$/;
/** Coalesce compressor output into writes of about this size: fewer syscalls, bounded memory. */
const WRITE_COALESCE_BYTES = 1024 * 1024;
/**
 * Records of buffered puts are copied into a write buffer of this size and written with one
 * write when it fills or at sync, instead of one threadpool write per message (ADR 0001).
 */
const STAGE_BYTES = 1024 * 1024;
/** Read size when streaming a blob back. */
const READ_CHUNK_BYTES = 256 * 1024;

/** A parsed blob ref. */
export interface FsBlobRef {
  /** Pack number. */
  packId: number;
  /** A staging pack (`stage-<id>`: large bodies stored raw until the compress stage rewrites them). */
  staging?: boolean;
  /** Offset of the record header in the pack. */
  offset: number;
  /** Length of the stored payload. */
  storedSize: number;
}

/** Formats a pack id as its name inside refs and file names (`pack-00000007`, `stage-00000008`). */
export function packName(packId: number, staging = false): string {
  return `${staging ? 'stage' : 'pack'}-${String(packId).padStart(8, '0')}`;
}

/** Builds the ref string stored in the metadata database for a record. */
export function formatFsBlobRef(ref: FsBlobRef): string {
  return `${packName(ref.packId, ref.staging === true)}:${ref.offset}:${ref.storedSize}`;
}

/** Parses a ref; a string that is not one gives STORE_NOT_FOUND (no blob can live there). */
export function parseFsBlobRef(ref: string): FsBlobRef {
  const m = REF.exec(ref);
  const packId = Number(m?.[2]);
  const offset = Number(m?.[3]);
  const storedSize = Number(m?.[4]);
  if (!m || !Number.isSafeInteger(packId) || !Number.isSafeInteger(offset) || !Number.isSafeInteger(storedSize) || offset < PACK_HEADER_SIZE) {
    throw new MailsluiceError('STORE_NOT_FOUND', `"${ref}" is not a blob ref of the file-system store ((pack|stage)-<id>:<offset>:<storedSize>)`);
  }
  return m[1] === 'stage' ? { packId, staging: true, offset, storedSize } : { packId, offset, storedSize };
}

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

function corrupt(message: string, cause?: unknown): MailsluiceError {
  return new MailsluiceError('STORE_CORRUPT', message, cause === undefined ? {} : { cause });
}

function compressorStream(codec: CodecName, level: number): Transform | null {
  if (codec === 'brotli') return createBrotliCompress({ params: { [zc.BROTLI_PARAM_QUALITY]: level, [zc.BROTLI_PARAM_MODE]: zc.BROTLI_MODE_TEXT } });
  if (codec === 'deflate-raw') return createDeflateRaw({ level });
  return null;
}

function decompressorStream(codec: CodecName): Transform | null {
  if (codec === 'brotli') return createBrotliDecompress();
  if (codec === 'deflate-raw') return createInflateRaw();
  return null;
}

/** Writes every byte of `buffers` at `position`, looping over short writes. */
async function writeFully(fh: FileHandle, buffers: Buffer[], position: number): Promise<number> {
  let total = 0;
  let pending = buffers.filter((b) => b.length > 0);
  while (pending.length > 0) {
    const { bytesWritten } = await fh.writev(pending, position + total);
    if (bytesWritten === 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
    total += bytesWritten;
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const b of pending) {
      if (skip >= b.length) skip -= b.length;
      else {
        rest.push(skip > 0 ? b.subarray(skip) : b);
        skip = 0;
      }
    }
    pending = rest;
  }
  return total;
}

/** Reads exactly `length` bytes at `position`, or fewer only at end of file. */
async function readFully(fh: FileHandle, buf: Buffer, length: number, position: number): Promise<number> {
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

/**
 * Opens (creating if needed) a file-system blob store. The directory's own entry is fsynced
 * when it is created, so the first batch does not depend on an unsynced mkdir.
 */
export async function createFsBlobStore(options: FsBlobStoreOptions): Promise<FsBlobStore> {
  const config = resolveFsBlobStoreConfig({ ...options, directory: resolve(options.directory) });
  let created: string | undefined;
  try {
    created = await mkdir(config.directory, { recursive: true, mode: PRIVATE_DIR_MODE });
    if (created !== undefined) await fsyncDirectory(dirname(created));
  } catch (err) {
    throw mapFsError(err, 'creating', config.directory);
  }
  let maxId = 0;
  try {
    for (const name of await readdir(config.directory)) {
      const m = PACK_FILE.exec(name);
      if (m) maxId = Math.max(maxId, Number(m[2]));
    }
  } catch (err) {
    throw mapFsError(err, 'reading', config.directory);
  }
  return new FsBlobStore(config, maxId + 1);
}

/** The file-system {@link BlobStore}; build it with {@link createFsBlobStore}. */
export class FsBlobStore implements BlobStore {
  /** The resolved configuration. */
  readonly config: FsBlobStoreConfig;
  #nextPackId: number;
  /** Packs with a writer that may hold records not yet written (its write buffer). */
  readonly #liveWriters = new Map<number, FsBlobWriter>();
  /** Staging packs of writers not closed yet: records in them may still be committed. */
  readonly #openStaging = new Set<number>();
  /** Descriptor cache for reads on this thread (`compressionThreads: 0`). */
  readonly #inlineReader = new PackReader();

  /** Use {@link createFsBlobStore}, which prepares the directory. */
  constructor(config: FsBlobStoreConfig, nextPackId: number) {
    this.config = config;
    this.#nextPackId = nextPackId;
  }

  /** Path of a pack file (a staging pack with `staging`). */
  packPath(packId: number, staging = false): string {
    return join(this.config.directory, `${packName(packId, staging)}.mspack`);
  }

  /** Paths of all pack files, staging packs included, oldest first (for scans and index rebuilds). */
  async listPacks(): Promise<string[]> {
    const names = await readdir(this.config.directory);
    const id = (n: string): number => Number(PACK_FILE.exec(n)?.[2]);
    return names
      .filter((n) => PACK_FILE.test(n))
      .sort((a, b) => id(a) - id(b))
      .map((n) => join(this.config.directory, n));
  }

  /** The staging packs in the directory; `open` while a writer of this store may still commit records in them. */
  async listStagingContainers(): Promise<StagingContainer[]> {
    let names: string[];
    try {
      names = await readdir(this.config.directory);
    } catch (err) {
      throw mapFsError(err, 'reading', this.config.directory);
    }
    const out: StagingContainer[] = [];
    for (const n of names) {
      const m = PACK_FILE.exec(n);
      if (!m || m[1] !== 'stage') continue;
      const packId = Number(m[2]);
      out.push({ refPrefix: `${packName(packId, true)}:`, open: this.#openStaging.has(packId) });
    }
    return out.sort((a, b) => (a.refPrefix < b.refPrefix ? -1 : 1));
  }

  /**
   * Deletes a staging pack and fsyncs the directory. The caller has checked that no committed
   * row references it; a pack a writer of this store may still commit records in is refused.
   */
  async deleteStagingContainer(refPrefix: string): Promise<void> {
    const m = STAGING_PREFIX.exec(refPrefix);
    if (!m) throw new MailsluiceError('STORE_NOT_FOUND', `"${refPrefix}" is not a staging pack of the file-system store (stage-<id>:)`);
    const packId = Number(m[1]);
    if (this.#openStaging.has(packId)) {
      throw new MailsluiceError('STORE_WRITE_FAILED', `staging pack ${packName(packId, true)} still belongs to an open writer; not deleted`, { retryable: true });
    }
    const path = this.packPath(packId, true);
    this.#inlineReader.evict(path);
    readPool().evict(path);
    try {
      await unlink(path);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') throw mapFsError(err, 'writing', path);
    }
    try {
      await fsyncDirectory(this.config.directory);
    } catch (err) {
      throw mapFsError(err, 'syncing', this.config.directory);
    }
  }

  /** @internal a writer created a staging pack (open) or was closed (`false`). */
  setStagingOpen(packId: number, open: boolean): void {
    if (open) this.#openStaging.add(packId);
    else this.#openStaging.delete(packId);
  }

  /** Opens a writer; its pack file is created when it first writes. */
  async openWriter(): Promise<BlobWriter> {
    if (this.config.compressionThreads > 0) compressPool(this.config.compressionThreads).warm();
    return new FsBlobWriter(this);
  }

  /**
   * Creates a new, empty pack exclusively ('wx'), so two writers, or two processes sharing
   * the directory by mistake, can never end up appending to the same file.
   * @internal used by writers
   */
  async createPack(staging = false): Promise<{ packId: number; path: string; fh: FileHandle }> {
    for (;;) {
      const packId = this.#nextPackId++;
      const path = this.packPath(packId, staging);
      let fh: FileHandle;
      try {
        fh = await open(path, 'wx', PRIVATE_FILE_MODE);
      } catch (err) {
        if ((err as { code?: string }).code === 'EEXIST') continue;
        throw mapFsError(err, 'creating', path);
      }
      try {
        await writeFully(fh, [encodePackHeader()], 0);
      } catch (err) {
        await fh.close().catch(() => undefined);
        throw mapFsError(err, 'writing', path);
      }
      return { packId, path, fh };
    }
  }

  /** @internal a writer appends to `packId` (or stopped, with `null`). */
  setLiveWriter(packId: number, writer: FsBlobWriter | null): void {
    if (writer) this.#liveWriters.set(packId, writer);
    else this.#liveWriters.delete(packId);
  }

  /** A put is readable before sync: write out the buffered records of the pack's writer first. */
  async #writeOutBuffered(packId: number): Promise<void> {
    await this.#liveWriters.get(packId)?.writeOutBuffered();
  }

  /**
   * Reads a whole blob and verifies it (record header, payload CRC, size, SHA-256); STORE_CORRUPT
   * when anything does not match. The pack read, the checks and the decompression run on the read
   * worker ({@link readPool}) with descriptors kept open, so the main thread only hands over the
   * ref; with `compressionThreads: 0` the same is done synchronously here.
   */
  async read(location: BlobLocation, sha256: string, options?: { check?: 'hash' | 'checksum' }): Promise<Buffer> {
    const ref = parseFsBlobRef(location.ref);
    if (!ref.staging) await this.#writeOutBuffered(ref.packId);
    const path = this.packPath(ref.packId, ref.staging === true);
    const job = { path, offset: ref.offset, storedSize: ref.storedSize, sha256: sha256.toLowerCase(), ref: location.ref, hash: options?.check !== 'checksum' };
    try {
      if (this.config.compressionThreads === 0) {
        const raw = this.#inlineReader.read({ ...job, id: 0 });
        return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
      }
      return await readPool().read(job);
    } catch (err) {
      const failure: ReadFailure | undefined = err instanceof PackReadError ? err.failure : undefined;
      if (!failure) throw corrupt(`blob ${job.sha256} at ${location.ref} in ${path} cannot be read`, err);
      if (failure.kind === 'corrupt') throw corrupt(failure.message);
      throw mapFsError(Object.assign(new Error(failure.message), failure.code === undefined ? {} : { code: failure.code }), 'reading', path);
    }
  }

  /**
   * Closes the pack descriptors this store keeps open for reads (they also close by themselves
   * after a few seconds without reads). The store stays usable: a later read opens them again.
   */
  async close(): Promise<void> {
    this.#inlineReader.closeAll();
  }

  /**
   * Streams a blob back decompressed, in bounded memory. Integrity is checked as it flows: a
   * mismatch (payload CRC, size or SHA-256 against the record header) rejects the iteration with
   * STORE_CORRUPT at the end, so a consumer must not treat the bytes as good before it finishes.
   */
  stream(location: BlobLocation): AsyncIterable<Uint8Array> {
    return this.#stream(location);
  }

  async *#stream(location: BlobLocation): AsyncGenerator<Uint8Array> {
    const ref = parseFsBlobRef(location.ref);
    if (!ref.staging) await this.#writeOutBuffered(ref.packId);
    const path = this.packPath(ref.packId, ref.staging === true);
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      throw mapFsError(err, 'reading', path);
    }
    try {
      await checkExtent(fh, ref, path);
      const hbuf = Buffer.alloc(RECORD_HEADER_SIZE);
      let got: number;
      try {
        got = await readFully(fh, hbuf, RECORD_HEADER_SIZE, ref.offset);
      } catch (err) {
        throw mapFsError(err, 'reading', path);
      }
      const header = checkHeader(hbuf.subarray(0, got), ref, path);
      let crc = 0;
      const fileChunks = async function* (): AsyncGenerator<Buffer> {
        const end = ref.offset + RECORD_HEADER_SIZE + ref.storedSize;
        for (let pos = ref.offset + RECORD_HEADER_SIZE; pos < end; ) {
          const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, end - pos));
          let n: number;
          try {
            n = await readFully(fh, buf, buf.length, pos);
          } catch (err) {
            throw mapFsError(err, 'reading', path);
          }
          if (n < buf.length) throw corrupt(`record at offset ${ref.offset} of ${path} is cut short`);
          crc = crc32(buf, crc);
          pos += n;
          yield buf;
        }
      };
      const hash = createHash('sha256');
      let size = 0;
      const decompressor = decompressorStream(header.codec);
      let source: AsyncIterable<Buffer>;
      let pipeError: unknown;
      if (decompressor) {
        source = pipelineCb(Readable.from(fileChunks()), decompressor, (err) => {
          if (err) pipeError = err;
        });
      } else {
        source = fileChunks();
      }
      try {
        for await (const chunk of source) {
          size += chunk.length;
          if (size > header.rawSize) throw corrupt(`blob at ${location.ref} in ${path} is longer than its recorded ${header.rawSize} bytes`);
          hash.update(chunk);
          yield chunk;
        }
      } catch (err) {
        if (err instanceof MailsluiceError) throw err;
        throw corrupt(`blob at ${location.ref} in ${path} does not decompress`, err);
      } finally {
        if (decompressor && !decompressor.destroyed) decompressor.destroy();
      }
      if (pipeError) throw corrupt(`blob at ${location.ref} in ${path} does not decompress`, pipeError);
      if (crc >>> 0 !== header.payloadCrc) throw corrupt(`payload checksum of record at offset ${ref.offset} of ${path} does not match`);
      if (size !== header.rawSize) throw corrupt(`blob at ${location.ref} in ${path} is ${size} bytes, expected ${header.rawSize}`);
      const actual = hash.digest('hex');
      if (actual !== header.sha256) throw corrupt(`blob at ${location.ref} in ${path} hashes to ${actual}, expected ${header.sha256}`);
    } finally {
      await fh.close();
    }
  }
}

/** Rejects a ref that points past the end of its pack before anything is allocated for it. */
async function checkExtent(fh: FileHandle, ref: FsBlobRef, path: string): Promise<void> {
  let size: number;
  try {
    size = (await fh.stat()).size;
  } catch (err) {
    throw mapFsError(err, 'reading', path);
  }
  if (ref.offset + RECORD_HEADER_SIZE + ref.storedSize > size) {
    throw corrupt(`record at offset ${ref.offset} of ${path} (${ref.storedSize} stored bytes) runs past the end of the pack (${size} bytes)`);
  }
}

function checkHeader(buf: Buffer, ref: FsBlobRef, path: string): RecordHeader {
  const header = decodeRecordHeader(buf);
  if (typeof header === 'string') throw corrupt(`${header} at offset ${ref.offset} of ${path}`);
  if (header.storedSize !== ref.storedSize) {
    throw corrupt(`record at offset ${ref.offset} of ${path} stores ${header.storedSize} bytes, the ref says ${ref.storedSize}`);
  }
  return header;
}

/** The pack a writer is appending to. */
interface OpenPack {
  packId: number;
  path: string;
  fh: FileHandle;
  /** Where the next record goes: the pack's logical end, buffered records included. */
  pos: number;
  /** Bytes written since the last datasync began (see {@link EARLY_SYNC_BYTES}). */
  unsynced?: number;
  /** A datasync started early, in the background, if one runs. */
  early?: Promise<void> | null;
  /** Set when the pack is being closed: no early sync may start on its handle any more. */
  closing?: boolean;
}

/**
 * Written-but-unsynced bytes after which a pack gets a datasync in the background: the group
 * commit's own datasync then finds most pages already on disk instead of flushing a whole batch
 * (tens of MB on mixed mail) while the drain waits for it. A failed early sync fails the writer,
 * as any failed sync does.
 */
const EARLY_SYNC_BYTES = 8 * 1024 * 1024;

/**
 * A writer: owns at most one open pack at a time and appends records to it. After any write or
 * sync failure it refuses further work (fsync errors may have discarded dirty pages, so nothing
 * written since the last good sync can be trusted); close it and open a new one.
 *
 * Buffered puts are hashed and compressed off the main thread ({@link compressPool}) and their
 * finished records are copied into a write buffer (`#stage`) that is written with one write
 * when it passes {@link STAGE_BYTES}, before a streamed put, a pack roll, a read of the pack, a
 * sync or a close. `sync` therefore still covers every put that has resolved.
 */
class FsBlobWriter implements BlobWriter {
  readonly #store: FsBlobStore;
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
  /** Records not yet written, for the pack's bytes from `#stageStart` on. */
  #stage: Buffer | null = null;
  #stageLen = 0;
  #stageStart = 0;
  /** The write of the previous stage, if still running (at most one: bounded memory). */
  #writing: Promise<void> | null = null;
  /** The staging pack large bodies are streamed to raw (ADR 0001, "Deferred compression"). */
  #stagingPack: OpenPack | null = null;
  #stagingDirty = false;
  /** Every staging pack this writer created: its records may be committed until the writer closes. */
  readonly #stagingIds: number[] = [];
  /** Writes of whole staged records in flight (each at an offset reserved under the lock). */
  readonly #stagingWrites = new Set<Promise<void>>();

  constructor(store: FsBlobStore) {
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

  /** Counts bytes written to `pack`, and starts an early datasync past {@link EARLY_SYNC_BYTES}. */
  #wrote(pack: OpenPack, bytes: number): void {
    pack.unsynced = (pack.unsynced ?? 0) + bytes;
    if (pack.unsynced < EARLY_SYNC_BYTES || pack.early || pack.closing || this.#failed) return;
    pack.unsynced = 0;
    pack.early = pack.fh.datasync().then(
      () => {
        pack.early = null;
      },
      (err: unknown) => {
        pack.early = null;
        this.#fail(err, 'syncing', pack.path);
      },
    );
  }

  /** Starts writing the stage (after the previous stage's write, which it waits for). Call under the lock. */
  async #startStageWrite(pack: OpenPack): Promise<void> {
    if (this.#writing) await this.#writing;
    if (this.#stageLen === 0 || !this.#stage) return;
    const buf = this.#stage.subarray(0, this.#stageLen);
    const at = this.#stageStart;
    this.#stage = null;
    this.#stageLen = 0;
    const writing = writeFully(pack.fh, [buf], at).then(
      () => {
        if (this.#writing === writing) this.#writing = null;
        this.#wrote(pack, buf.length);
      },
      (err: unknown) => {
        if (this.#writing === writing) this.#writing = null;
        throw this.#fail(err, 'writing', pack.path);
      },
    );
    writing.catch(() => undefined); // surfaced by the next put/sync through #failed
    this.#writing = writing;
  }

  /** Writes out every buffered record and waits for it. Call under the lock. */
  async #writeStage(pack: OpenPack): Promise<void> {
    await this.#startStageWrite(pack);
    if (this.#writing) await this.#writing;
  }

  /** @internal lets a read of this writer's pack see records not yet written. */
  async writeOutBuffered(): Promise<void> {
    if (this.#stageLen === 0 && !this.#writing) return;
    await this.#withLock(async () => {
      const pack = this.#pack;
      if (pack && !this.#failed) await this.#writeStage(pack);
    });
  }

  /** Returns the pack to append to, rolling to a new one at the size limit. Call under the lock. */
  async #currentPack(): Promise<OpenPack> {
    const pack = this.#pack;
    if (pack && pack.pos < this.#store.config.packRollBytes) return pack;
    if (pack) {
      // Make the full pack durable now, so that sync() only ever has one pack to flush.
      pack.closing = true;
      await this.#writeStage(pack);
      try {
        await pack.early;
        await pack.fh.datasync();
        await pack.fh.close();
      } catch (err) {
        throw this.#fail(err, 'syncing', pack.path);
      }
      this.#store.setLiveWriter(pack.packId, null);
      this.#pack = null;
    }
    let created;
    try {
      created = await this.#store.createPack();
    } catch (err) {
      this.#failed ??= err as MailsluiceError;
      throw err;
    }
    this.#pack = { ...created, pos: PACK_HEADER_SIZE };
    this.#store.setLiveWriter(created.packId, this);
    this.#newPack = true;
    return this.#pack;
  }

  /** Returns the staging pack to stream raw bodies to, rolling like {@link #currentPack}. Call under the lock. */
  async #currentStagingPack(): Promise<OpenPack> {
    const pack = this.#stagingPack;
    if (pack && pack.pos < this.#store.config.packRollBytes) return pack;
    if (pack) {
      pack.closing = true;
      await this.#stagingWritesDone();
      if (this.#failed) throw this.#failed;
      try {
        await pack.early;
        await pack.fh.datasync();
        await pack.fh.close();
      } catch (err) {
        throw this.#fail(err, 'syncing', pack.path);
      }
      // Still registered as open: records in it may not be committed yet.
      this.#stagingPack = null;
    }
    let created;
    try {
      created = await this.#store.createPack(true);
    } catch (err) {
      this.#failed ??= err as MailsluiceError;
      throw err;
    }
    this.#store.setStagingOpen(created.packId, true);
    this.#stagingIds.push(created.packId);
    this.#stagingPack = { ...created, pos: PACK_HEADER_SIZE };
    this.#newPack = true;
    return this.#stagingPack;
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

  /** See {@link BlobWriter.recompress}: into this writer's normal pack, verified against `sha256`. */
  async recompress(location: BlobLocation, sha256: string): Promise<BlobLocation> {
    this.#assertUsable();
    const want = sha256.toLowerCase();
    const once = async (codec: CodecName | undefined): Promise<PutResult> =>
      this.#putStream([], 0, createHash('sha256'), this.#store.stream(location)[Symbol.asyncIterator](), () => false, { staging: false, expectSha: want, codec });
    let r = await once(undefined);
    if (r.location && r.location.storedSize >= r.size && this.#store.config.compression.codec !== 'none') {
      // Not smaller (already-compressed content): keep it raw, but in a normal pack.
      const rewound = await this.#withLock(async () => {
        const pack = this.#pack;
        if (!pack || !r.location || this.#failed) return false;
        const ref = parseFsBlobRef(r.location.ref);
        // Only if nothing was appended after it meanwhile; otherwise the bigger copy stays.
        if (ref.packId !== pack.packId || pack.pos !== ref.offset + RECORD_HEADER_SIZE + ref.storedSize || this.#stageLen > 0) return false;
        await this.#rewind(pack, ref.offset);
        return true;
      });
      if (rewound) r = await once('none');
    }
    if (!r.location) throw new MailsluiceError('INTERNAL', `recompressing blob ${want} wrote nothing`);
    return r.location;
  }

  async #putWhole(raw: Buffer, known: (sha256: string) => boolean, owned: boolean): Promise<PutResult> {
    const { compression, compressionThreads } = this.#store.config;
    let rec: CompressedRecord;
    try {
      rec =
        compressionThreads === 0
          ? compressInline(raw, compression.codec, compression.level)
          : await compressPool(compressionThreads).compress(raw, compression.codec, compression.level, owned);
    } catch (err) {
      this.#failed ??= new MailsluiceError('STORE_WRITE_FAILED', 'hashing and compressing a blob failed', { cause: err });
      throw this.#failed;
    }
    const { sha256, size } = rec;
    this.#assertUsable();
    if (this.#seen.has(sha256) || known(sha256)) return { sha256, size, location: null };
    // Claimed now, synchronously with the check, so a concurrent put of the same bytes dedups
    // against this one. Any failure from here on marks the writer failed, so that dedup can
    // never point at bytes that did not make it to disk.
    this.#seen.add(sha256);
    return this.#withLock(async () => {
      this.#assertUsable();
      const pack = await this.#currentPack();
      const offset = pack.pos;
      const length = rec.length;
      if (this.#stageLen > 0 && this.#stageLen + length > STAGE_BYTES) await this.#startStageWrite(pack);
      if (length > STAGE_BYTES) {
        // Too big to buffer (a large streamThresholdBytes): written on its own, in order.
        await this.#writeStage(pack);
        try {
          await writeFully(pack.fh, rec.parts, offset);
        } catch (err) {
          throw this.#fail(err, 'writing', pack.path);
        }
      } else {
        if (this.#stageLen === 0) {
          this.#stage ??= Buffer.allocUnsafeSlow(STAGE_BYTES);
          this.#stageStart = offset;
        }
        for (const part of rec.parts) {
          part.copy(this.#stage as Buffer, this.#stageLen);
          this.#stageLen += part.length;
        }
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
    let rec: CompressedRecord;
    try {
      rec = await compressPool(this.#store.config.compressionThreads).compress(raw, 'none', 0, owned);
    } catch (err) {
      this.#failed ??= new MailsluiceError('STORE_WRITE_FAILED', 'hashing a blob failed', { cause: err });
      throw this.#failed;
    }
    const { sha256, size } = rec;
    this.#assertUsable();
    if (this.#seen.has(sha256) || known(sha256)) return { sha256, size, location: null };
    this.#seen.add(sha256);
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

  async #putStream(
    head: Buffer[],
    headSize: number,
    hash: ReturnType<typeof createHash>,
    it: AsyncIterator<Uint8Array>,
    known: (sha256: string) => boolean,
    mode: { staging: boolean; expectSha?: string; codec?: CodecName | undefined },
  ): Promise<PutResult> {
    let bodyFailed = false;
    let knownFailed = false;
    let bodyDone = false;
    let size = headSize;
    const source = async function* (): AsyncGenerator<Buffer> {
      try {
        for (const c of head) yield c;
        head.length = 0; // let the buffered head be collected as soon as it is compressed
        for (;;) {
          let r: IteratorResult<Uint8Array>;
          try {
            r = await it.next();
          } catch (err) {
            bodyFailed = true;
            throw err;
          }
          if (r.done) break;
          const chunk = asBuffer(r.value);
          hash.update(chunk);
          size += chunk.length;
          yield chunk;
        }
        bodyDone = true;
      } finally {
        // Release the source (e.g. abort a fetch) when the store side failed first.
        if (!bodyDone && !bodyFailed) await it.return?.();
      }
    };
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
      // The header goes in last, over a hole: until then the record reads as torn (zero magic).
      let pos = start + RECORD_HEADER_SIZE;
      let crc = 0;
      // Staged: raw, no compression CPU on the critical path (the compress stage does it later).
      const codec: CodecName = mode.staging ? 'none' : (mode.codec ?? this.#store.config.compression.codec);
      const { level } = this.#store.config.compression;
      const sink = async (chunks: AsyncIterable<Buffer>): Promise<void> => {
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
        for await (const c of chunks) {
          crc = crc32(c, crc);
          pending.push(c);
          pendingLen += c.length;
          if (pendingLen >= WRITE_COALESCE_BYTES) await flush();
        }
        await flush();
      };
      try {
        const compressor = compressorStream(codec, level);
        if (compressor) await pipeline(Readable.from(source()), compressor, sink);
        else await sink(source());
        const sha256 = hash.digest('hex');
        if (mode.expectSha !== undefined && sha256 !== mode.expectSha) {
          bodyFailed = true;
          throw corrupt(`blob read back for recompression hashes to ${sha256}, expected ${mode.expectSha}`);
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
          return { sha256, size, location: null };
        }
        const storedSize = pos - start - RECORD_HEADER_SIZE;
        const header = encodeRecordHeader({ codec, rawSize: size, storedSize, sha256, payloadCrc: crc });
        try {
          await writeFully(pack.fh, [header], start);
        } catch (err) {
          throw this.#fail(err, 'writing', pack.path);
        }
        pack.pos = pos;
        if (mode.expectSha === undefined) this.#seen.add(sha256);
        if (mode.staging) this.#stagingDirty = true;
        else this.#dirty = true;
        const ref = formatFsBlobRef({ packId: pack.packId, ...(mode.staging ? { staging: true } : {}), offset: start, storedSize });
        return { sha256, size, location: { ref, storedSize } };
      } catch (err) {
        if (this.#failed) throw err instanceof MailsluiceError ? err : this.#failed;
        // Not a store failure so far: drop the partial record and keep the writer usable.
        await this.#rewind(pack, start);
        // The body (the mailbox source) or the caller's `known` failed: their error, passed on unchanged.
        if (bodyFailed || knownFailed) throw err;
        // Anything else (a compressor error) is the store's.
        throw this.#fail(err, 'writing', pack.path);
      }
    });
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
      const pack = this.#pack;
      const staging = this.#stagingPack;
      const flushes: Promise<void>[] = [];
      if (pack && this.#dirty) {
        flushes.push(
          (async () => {
            await this.#writeStage(pack);
            try {
              await pack.early;
              pack.unsynced = 0;
              // fdatasync also persists the file size, which is all the metadata appended data needs.
              await pack.fh.datasync();
            } catch (err) {
              throw this.#fail(err, 'syncing', pack.path);
            }
          })(),
        );
      }
      if (staging && this.#stagingDirty) {
        flushes.push(
          (async () => {
            await this.#stagingWritesDone();
            if (this.#failed) throw this.#failed;
            try {
              await staging.early;
              staging.unsynced = 0;
              await staging.fh.datasync();
            } catch (err) {
              throw this.#fail(err, 'syncing', staging.path);
            }
          })(),
        );
      }
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

  /** Closes the pack file (removing it if it holds no record); does not sync. Idempotent. */
  close(): Promise<void> {
    return this.#withLock(async () => {
      if (this.#closed) return;
      this.#closed = true;
      const staging = this.#stagingPack;
      this.#stagingPack = null;
      if (staging) {
        staging.closing = true;
        await this.#stagingWritesDone();
        await staging.early?.catch(() => undefined);
        await staging.fh.close().catch(() => undefined);
        if (staging.pos === PACK_HEADER_SIZE && !this.#failed) await unlink(staging.path).catch(() => undefined);
      }
      // Whatever of its records was not committed by now never will be: the compress stage may
      // delete these packs once no committed row references them.
      for (const id of this.#stagingIds) this.#store.setStagingOpen(id, false);
      const pack = this.#pack;
      this.#pack = null;
      if (!pack) return;
      pack.closing = true;
      // Not a sync, but what was put stays readable (and a failure here is reported by no one:
      // unsynced puts may be lost).
      if (!this.#failed) await this.#writeStage(pack).catch(() => undefined);
      else await this.#writing?.catch(() => undefined);
      this.#store.setLiveWriter(pack.packId, null);
      await pack.early?.catch(() => undefined);
      await pack.fh.close().catch(() => undefined);
      if (pack.pos === PACK_HEADER_SIZE && !this.#failed) await unlink(pack.path).catch(() => undefined);
    });
  }
}
