/**
 * Whether `b` spans the whole of an ordinary `ArrayBuffer` of its own (not a view into a larger
 * or pooled one, nor shared memory): such bytes can be transferred to another thread without
 * detaching anyone else's, which is what `BlobWriter.put`'s `owned` and the thread hand-offs of
 * the blob store and the parser rely on.
 */
export function ownsItsMemory(b: Uint8Array): boolean {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer;
}

/**
 * Where a blob lives; opaque outside the blob adapter except for persistence. The location `put`
 * returns stays valid for as long as the blob is kept, whatever the store does with its bytes
 * later (an adapter that moves them, such as blob-fs compressing large bodies after the drain,
 * keeps resolving the old location).
 */
export interface BlobLocation {
  /** Adapter-specific locator (e.g. "pack-00000001:4096:2210"). */
  ref: string;
  /** Bytes as stored (compressed). */
  storedSize: number;
}

/** The result of writing one raw message. */
export interface PutResult {
  /** Hex SHA-256 of the raw bytes. */
  sha256: string;
  /** Raw size in bytes. */
  size: number;
  /**
   * Where it was written, or null when it was not written again (dedup): `known(sha256)` said it
   * is already stored, or this writer already put the same bytes since it was opened (the earlier
   * put's result carries the location and must be committed with, or before, this one).
   */
  location: BlobLocation | null;
}

/**
 * A writer for a batch: writes are durable only after `sync()` resolves. After a write or sync
 * failure (STORE_WRITE_FAILED) a writer refuses all further work: close it and open a new one.
 */
export interface BlobWriter {
  /**
   * Streams one blob in; `known(sha)` says whether it is already stored, so it is not kept twice.
   * If `body` throws, its error is passed on unchanged and nothing of the blob is kept.
   * `owned`: the chunks are the caller's to give away and it never reads them again, so the
   * writer may hand their memory to another thread instead of copying it (it is then detached).
   * `buffered`: every chunk is in memory already, so the writer may take them all at once.
   * `retainUntil`: until when (ms since the epoch) the message must be kept, when the caller knows
   * it; a store that locks its objects (S3 Object Lock, `core/archive/object-lock.ts`) locks the
   * object that holds it at least that long. Others ignore it.
   */
  put(body: AsyncIterable<Uint8Array>, known: (sha256: string) => boolean, options?: { owned?: boolean; buffered?: boolean; retainUntil?: number }): Promise<PutResult>;
  /** Makes every blob whose put has resolved durable (data and directory entries fsynced). */
  sync(): Promise<void>;
  /** Releases the writer's files; does not sync (unsynced puts may be lost). */
  close(): Promise<void>;
}

/** Content-addressed raw message storage. */
export interface BlobStore {
  /** Opens a writer that owns its own append target, so writers never interleave. */
  openWriter(): Promise<BlobWriter>;
  /**
   * Reads a whole blob back, verifying its hash (STORE_CORRUPT on mismatch, STORE_NOT_FOUND if
   * absent). `check: 'checksum'` verifies what the store keeps beside the bytes (that the record
   * holds this blob, and its checksum) without hashing the bytes again: for a reader that only
   * needs torn or corrupted storage caught, such as the index stage reading what was just written.
   * A location that went stale (its pack rewritten since the metadata was read, ADR 0036) is
   * looked up again by `sha256` and read there.
   */
  read(location: BlobLocation, sha256: string, options?: { check?: 'hash' | 'checksum' }): Promise<Buffer>;
  /**
   * Streams a blob back in bounded memory (for export of large messages); an integrity failure
   * rejects the iteration at its end. With `sha256`, a location that went stale (the store
   * rewrote its pack since it was read from the metadata) is looked up again, as `read` does.
   */
  stream(location: BlobLocation, sha256?: string): AsyncIterable<Uint8Array>;
}
