/**
 * The embedded raw-message store: content-addressed blobs in append-only pack files with group
 * commit (docs/adr/0001-blob-layout.md says why, with measurements). Writers (`fs-blob-writer.ts`)
 * append to packs of their own; reads run on the helper thread (`worker-pool.ts`) with cached
 * descriptors; large bodies staged raw by the drain are compressed later by the compactor
 * (`fs-compactor.ts`, ADR 0018), and a ref into a compacted staging pack is read through its
 * redirect record (`staging-redirect.ts`), so the locations the metadata holds never change.
 *
 * Refs: `pack-<id>:<offset>:<storedSize>` or `stage-<id>:<offset>:<storedSize>` (`pack-io.ts`).
 */
import { mkdir, open, readFile, readdir, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { MailsluiceError, isMailsluiceError } from '../../core/errors/index.js';
import type { BlobLocation, BlobStore, BlobWriter } from '../../core/ports/blob-store.js';
import type { CompressSchedule, CompressTotals } from '../../core/archive/compress-stage.js';
import type { Logger } from '../../core/ports/logger.js';
import { resolveFsBlobStoreConfig } from './fs-blob-store-config.js';
import type { FsBlobStoreConfig, FsBlobStoreOptions } from './fs-blob-store-config.js';
import { mapFsError } from './fs-error-map.js';
import { FsBlobWriter } from './fs-blob-writer.js';
import { encodePackHeader } from './pack-format.js';
import { PackReadError, PackReader } from './pack-reader.js';
import type { ReadFailure } from './pack-reader.js';
import { PACK_FILE, corrupt, formatFsBlobRef, packName, parseFsBlobRef, writeFully } from './pack-io.js';
import type { FsBlobRef } from './pack-io.js';
import { openPack, streamRecord } from './pack-stream.js';
import { REDIRECT_FILE, Redirects } from './staging-redirect.js';
import { runCompactor, type CompactorHost, type CompactorOptions, type StagingPack } from './fs-compactor.js';
import { workerPool } from './worker-pool.js';
import type { ArchiveKeyring } from './archive-keyring.js';
import { fsyncDirectory } from '../fs-node/fsync-directory.js';
import { writeFileAtomic } from '../fs-node/atomic-write.js';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../fs-node/private-files.js';

export { formatFsBlobRef, packName, parseFsBlobRef, type FsBlobRef } from './pack-io.js';

/**
 * The file that keeps the next pack id once a pack or redirect was deleted (ADR 0036): ids are
 * never used twice, since backups and other processes' caches know packs by name.
 */
export const NEXT_PACK_ID_FILE = 'next-pack-id';

/** The id `next-pack-id` keeps (0 when there is none). */
async function keptNextPackId(directory: string): Promise<number> {
  try {
    const n = Number((await readFile(join(directory, NEXT_PACK_ID_FILE), 'utf8')).trim());
    return Number.isSafeInteger(n) && n > 0 ? n : 0;
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return 0;
    throw mapFsError(err, 'reading', join(directory, NEXT_PACK_ID_FILE));
  }
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
  const redirects = new Redirects(config.directory);
  try {
    for (const name of await readdir(config.directory)) {
      const m = PACK_FILE.exec(name);
      if (m) maxId = Math.max(maxId, Number(m[2]));
      const r = REDIRECT_FILE.exec(name);
      if (r) {
        maxId = Math.max(maxId, Number(r[1]));
        redirects.know(Number(r[1]));
      }
    }
  } catch (err) {
    throw mapFsError(err, 'reading', config.directory);
  }
  return new FsBlobStore(config, Math.max(maxId + 1, await keptNextPackId(config.directory)), redirects, options.keyring ?? null);
}

/** A record sealed with a data key this store's keyring does not hold (read the keyring again, then it is corrupt). */
class UnknownDataKey extends Error {}

/** The file-system {@link BlobStore}; build it with {@link createFsBlobStore}. */
export class FsBlobStore implements BlobStore, CompactorHost {
  /** The resolved configuration. */
  readonly config: FsBlobStoreConfig;
  /** Where the records of compacted staging packs live now. */
  readonly redirects: Redirects;
  #nextPackId: number;
  /** Packs with a writer that may hold records not yet written (its write buffer). */
  readonly #liveWriters = new Map<number, FsBlobWriter>();
  /** Staging packs a writer still appends to: the compactor leaves them alone. */
  readonly #openStaging = new Set<number>();
  /** Writers not closed yet (their staging packs may be sealed for the compactor). */
  readonly #writers = new Set<FsBlobWriter>();
  /** Descriptor cache for reads on this thread (`compressionThreads: 0`). */
  readonly #inlineReader = new PackReader();
  #compacting = false;
  /** Where a blob's row points now (the metadata, handed in by the composition root): a read whose ref went stale asks it. */
  #relocate: ((sha256: string) => string | null) | null = null;
  /** The archive's keys (ADR 0033), or null: records written in clear. */
  readonly keyring: ArchiveKeyring | null;

  /** Use {@link createFsBlobStore}, which prepares the directory. */
  constructor(config: FsBlobStoreConfig, nextPackId: number, redirects = new Redirects(config.directory), keyring: ArchiveKeyring | null = null) {
    this.config = config;
    this.keyring = keyring;
    this.#nextPackId = nextPackId;
    this.redirects = redirects;
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

  /** Opens a writer; its pack file is created when it first writes. */
  async openWriter(): Promise<BlobWriter> {
    if (this.config.compressionThreads > 0) workerPool(this.config.compressionThreads).warm();
    const writer = new FsBlobWriter(this);
    this.#writers.add(writer);
    return writer;
  }

  /** @internal a writer closed. */
  writerClosed(writer: FsBlobWriter): void {
    this.#writers.delete(writer);
  }

  /** @internal lets the compactor take the staging packs whose records are all durable (see `FsBlobWriter.sealStaging`). */
  async sealIdleStaging(): Promise<void> {
    await Promise.all([...this.#writers].map((w) => w.sealStaging()));
  }

  /**
   * Compresses what the drain staged raw, in the background, until `schedule.stopping()` and
   * nothing is left (a drain) or `signal` aborts (the service); see `fs-compactor.ts`. One run
   * at a time per store.
   */
  async compact(schedule: CompressSchedule, logger: Logger, signal?: AbortSignal, options: CompactorOptions = {}): Promise<CompressTotals> {
    if (this.#compacting) throw new MailsluiceError('INTERNAL', 'the blob store is compacting already');
    this.#compacting = true;
    try {
      return await runCompactor(this, schedule, logger, signal, options);
    } finally {
      this.#compacting = false;
    }
  }

  /** @internal the staging packs in the directory, for the compactor. */
  async listStagingPacks(): Promise<StagingPack[]> {
    let names: string[];
    try {
      names = await readdir(this.config.directory);
    } catch (err) {
      throw mapFsError(err, 'reading', this.config.directory);
    }
    const out: StagingPack[] = [];
    for (const n of names) {
      const m = PACK_FILE.exec(n);
      if (!m || m[1] !== 'stage') continue;
      const packId = Number(m[2]);
      out.push({ packId, path: this.packPath(packId, true), open: this.#openStaging.has(packId) });
    }
    return out.sort((a, b) => a.packId - b.packId);
  }

  /** @internal a writer for the compactor: it writes normal packs only. */
  compactionWriter(): FsBlobWriter {
    return new FsBlobWriter(this);
  }

  /** @internal a compacted staging pack: closes the descriptors that read it, deletes it and fsyncs the directory. */
  async deleteStagingPack(packId: number): Promise<void> {
    if (this.#openStaging.has(packId)) throw new MailsluiceError('INTERNAL', `staging pack ${packName(packId, true)} still belongs to an open writer`);
    await this.deletePackFile(packId, true);
  }

  /** @internal a pack nothing reads any more: closes the descriptors that read it, deletes it and fsyncs the directory. */
  async deletePackFile(packId: number, staging: boolean): Promise<void> {
    if (!staging && this.#liveWriters.has(packId)) throw new MailsluiceError('INTERNAL', `pack ${packName(packId)} still belongs to an open writer`);
    const path = this.packPath(packId, staging);
    this.#inlineReader.evict(path);
    workerPool(this.config.compressionThreads).evict(path);
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

  /** @internal the normal packs a writer of this store may still append to. */
  writingPacks(): Set<number> {
    return new Set(this.#liveWriters.keys());
  }

  /** @internal keeps the next pack id on disk (before a pack or redirect is deleted: ids are never used twice). */
  async recordNextPackId(): Promise<void> {
    const path = join(this.config.directory, NEXT_PACK_ID_FILE);
    try {
      await writeFileAtomic(path, `${this.#nextPackId}\n`, PRIVATE_FILE_MODE);
    } catch (err) {
      throw mapFsError(err, 'writing', path);
    }
  }

  /**
   * Hands in where a blob's row points now (the metadata's `refOf`): a read of a ref whose pack
   * was rewritten and deleted since the reader looked it up (ADR 0036) is tried once more there.
   */
  setRelocator(relocate: (sha256: string) => string | null): void {
    this.#relocate = relocate;
  }

  /** @internal a writer let its staging pack go: the compactor may take it. */
  setStagingOpen(packId: number, open: boolean): void {
    if (open) this.#openStaging.add(packId);
    else this.#openStaging.delete(packId);
  }

  /**
   * Creates a new, empty pack exclusively ('wx'), so two writers, or two processes sharing
   * the directory by mistake, can never end up appending to the same file. A staging pack is
   * registered open before its file exists, so the compactor never takes one a writer is
   * starting. @internal used by writers
   */
  async createPack(staging = false): Promise<{ packId: number; path: string; fh: FileHandle }> {
    for (;;) {
      const packId = this.#nextPackId++;
      const path = this.packPath(packId, staging);
      if (staging) this.#openStaging.add(packId);
      let fh: FileHandle;
      try {
        fh = await open(path, 'wx', PRIVATE_FILE_MODE);
      } catch (err) {
        if (staging) this.#openStaging.delete(packId);
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

  /**
   * Reads a whole blob and verifies it (record header, payload CRC, size, SHA-256); STORE_CORRUPT
   * when anything does not match. The pack read, the checks and the decompression run on the read
   * thread with descriptors kept open, so the main thread only hands over the ref; with
   * `compressionThreads: 0` the same is done synchronously here. A ref into a compacted staging
   * pack is read where its redirect points.
   */
  async read(location: BlobLocation, sha256: string, options?: { check?: 'hash' | 'checksum' }): Promise<Buffer> {
    const ref = parseFsBlobRef(location.ref);
    const moved = ref.staging ? await this.redirects.lookup(ref) : null;
    try {
      try {
        return await this.#readAt(moved ?? ref, sha256, options);
      } catch (err) {
        const later = await this.#movedSince(ref, moved, err);
        return await this.#readAt(later, sha256, options);
      }
    } catch (err) {
      const now = this.#relocated(location.ref, sha256, err);
      if (!now) throw err;
      return this.read({ ref: now, storedSize: parseFsBlobRef(now).storedSize }, sha256, options);
    }
  }

  /**
   * After a read failed because its pack is gone: the blob's ref now, when the metadata says it
   * moved (its pack was rewritten, ADR 0036); null for any other failure.
   */
  #relocated(ref: string, sha256: string | undefined, err: unknown): string | null {
    if (!isMailsluiceError(err, 'STORE_NOT_FOUND') || !this.#relocate || sha256 === undefined) return null;
    const now = this.#relocate(sha256.toLowerCase());
    return now !== null && now !== ref ? now : null;
  }

  /**
   * After a read of a staging pack failed because the pack is gone: where the compactor (of this
   * store or another on the same directory) put the record. Anything else rethrows `err`.
   */
  async #movedSince(ref: FsBlobRef, moved: FsBlobRef | null, err: unknown): Promise<FsBlobRef> {
    if (!ref.staging || moved || !isMailsluiceError(err, 'STORE_NOT_FOUND')) throw err;
    const later = await this.redirects.lookup(ref, true);
    if (!later) throw err;
    return later;
  }

  async #readAt(ref: FsBlobRef, sha256: string, options?: { check?: 'hash' | 'checksum' }): Promise<Buffer> {
    try {
      return await this.#readOnce(ref, sha256, options);
    } catch (err) {
      if (!(err instanceof UnknownDataKey)) throw err;
      // A data key another process of the archive made since this one read the keyring.
      await this.keyring?.reload();
      try {
        return await this.#readOnce(ref, sha256, options);
      } catch (again) {
        throw again instanceof UnknownDataKey ? corrupt(again.message) : again;
      }
    }
  }

  async #readOnce(ref: FsBlobRef, sha256: string, options?: { check?: 'hash' | 'checksum' }): Promise<Buffer> {
    // A put is readable before sync: the buffered records of the pack's writer are written out first.
    if (!ref.staging) await this.#liveWriters.get(ref.packId)?.writeOutBuffered();
    const path = this.packPath(ref.packId, ref.staging === true);
    const refText = formatFsBlobRef(ref);
    const keys = this.keyring?.keys;
    const job = { path, offset: ref.offset, storedSize: ref.storedSize, sha256: sha256.toLowerCase(), ref: refText, hash: options?.check !== 'checksum', ...(keys ? { keys } : {}) };
    try {
      if (this.config.compressionThreads === 0) {
        const raw = this.#inlineReader.read({ ...job, id: 0 });
        return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
      }
      return await workerPool(this.config.compressionThreads).read(job);
    } catch (err) {
      const failure: ReadFailure | undefined = err instanceof PackReadError ? err.failure : undefined;
      if (!failure) throw corrupt(`blob ${job.sha256} at ${refText} in ${path} cannot be read`, err);
      if (failure.kind === 'corrupt') throw corrupt(failure.message);
      if (failure.kind === 'key') throw new UnknownDataKey(failure.message);
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
  stream(location: BlobLocation, sha256?: string): AsyncIterable<Uint8Array> {
    return this.#stream(location, sha256);
  }

  async *#stream(location: BlobLocation, sha256?: string): AsyncGenerator<Uint8Array> {
    // A data key another process made since: a stream cannot retry half way, so look first.
    await this.keyring?.reloadIfChanged();
    const ref = parseFsBlobRef(location.ref);
    const moved = ref.staging ? await this.redirects.lookup(ref) : null;
    let at = moved ?? ref;
    let fh: FileHandle;
    try {
      try {
        fh = await this.#openForRead(at);
      } catch (err) {
        at = await this.#movedSince(ref, moved, err);
        fh = await this.#openForRead(at);
      }
    } catch (err) {
      const now = this.#relocated(location.ref, sha256, err);
      if (!now) throw err;
      yield* this.#stream({ ref: now, storedSize: parseFsBlobRef(now).storedSize }, sha256);
      return;
    }
    yield* streamRecord(fh, this.packPath(at.packId, at.staging === true), at, formatFsBlobRef(at), this.keyring?.keys);
  }

  /** @internal streams the staged record `ref` as it is in its staging pack (the compactor's source). */
  async *streamStaged(ref: FsBlobRef): AsyncGenerator<Uint8Array> {
    const fh = await this.#openForRead(ref);
    yield* streamRecord(fh, this.packPath(ref.packId, true), ref, formatFsBlobRef(ref), this.keyring?.keys);
  }

  async #openForRead(ref: FsBlobRef): Promise<FileHandle> {
    if (!ref.staging) await this.#liveWriters.get(ref.packId)?.writeOutBuffered();
    return openPack(this.packPath(ref.packId, ref.staging === true));
  }
}
