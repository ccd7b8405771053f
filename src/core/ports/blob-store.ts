/** Where a blob lives; opaque outside the blob adapter except for persistence. */
export interface BlobLocation {
  /** Adapter-specific locator (e.g. "pack-000001:4096:2210"). */
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
  /** Where it was written, or null when the writer found it already stored (dedup). */
  location: BlobLocation | null;
}

/** A writer for a batch: writes are durable only after `sync()` resolves. */
export interface BlobWriter {
  /** Streams one blob in; `known(sha)` says whether it is already stored, so it is not kept twice. */
  put(body: AsyncIterable<Uint8Array>, known: (sha256: string) => boolean): Promise<PutResult>;
  /** Makes every blob put so far durable (data and directory entries fsynced). */
  sync(): Promise<void>;
  /** Releases the writer's files. */
  close(): Promise<void>;
}

/** Content-addressed raw message storage. */
export interface BlobStore {
  /** Opens a writer that owns its own append target, so writers never interleave. */
  openWriter(): Promise<BlobWriter>;
  /** Reads a whole blob back, verifying its hash. */
  read(location: BlobLocation, sha256: string): Promise<Buffer>;
  /** Streams a blob back (for export of large messages). */
  stream(location: BlobLocation): AsyncIterable<Uint8Array>;
}
