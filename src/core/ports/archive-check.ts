/**
 * What `mailsluice verify` and the background scrub read (ADR 0031), one role per port: the blob
 * store's records read back in the order they lie on disk ({@link BlobScanner}), and the
 * metadata's side of the archive, its blob catalogue and its index rows ({@link ArchiveIndexCheck}).
 * Neither decides what is a problem: `core/archive/archive-verify.ts` does.
 */

/** One record of the blob store as a scan found it. */
export interface ScannedBlob {
  /** Where it lies (the same syntax as `BlobLocation.ref`). */
  ref: string;
  /** The SHA-256 its record says it holds; null when the record's header cannot be read. */
  sha256: string | null;
  /** Raw size its record says. */
  size: number;
  /** Bytes as stored. */
  storedSize: number;
  /**
   * Null when every check held (for the file-system store: header and payload checksums, it
   * decompresses, its length and the SHA-256 of the decompressed bytes match the header); else
   * why not, in a sentence. A per-record check added later (an encrypted record's GCM tag) fails
   * here the same way.
   */
  problem: string | null;
}

/** A stretch of a pack (or whatever the store keeps) where no record could be read. */
export interface DamagedStretch {
  /** The file or container, as named in refs (`pack-00000003`). */
  container: string;
  /** First byte not read as a record. */
  from: number;
  /** The byte after the stretch (the next readable record, or the end). */
  to: number;
  /** Why. */
  why: string;
  /** True when nothing readable follows (a write cut short by a crash, which nothing references). */
  tail: boolean;
}

/** What a scan covered. */
export interface BlobScanTotals {
  /** Containers (packs) read. */
  containers: number;
  /** Records seen, good or bad. */
  records: number;
  /** Bytes read from disk. */
  bytesRead: number;
  /** Raw bytes the good records decompressed to. */
  rawBytes: number;
  /** Stretches that are not records. */
  damaged: DamagedStretch[];
}

/** How a scan goes. */
export interface BlobScanOptions {
  signal?: AbortSignal;
  /** Awaited after each read of `bytes` from disk: the scrub's rate limit. */
  pace?: (bytes: number) => Promise<void>;
  /** Told the bytes read so far and the bytes to read in all (the progress line). */
  progress?: (bytesRead: number, totalBytes: number) => void;
}

/** The blob store read back whole, at disk speed: every record in on-disk order, each verified. */
export interface BlobScanner {
  /**
   * Reads every record that exists when the scan starts and calls `visit` for each; bounded
   * memory (records are checked one at a time, large ones streamed).
   */
  scan(visit: (blob: ScannedBlob) => void, options?: BlobScanOptions): Promise<BlobScanTotals>;
  /** Where the record a catalogue ref names lies now (a store that moves bytes keeps its old refs resolving), or the ref itself. */
  resolve(ref: string): Promise<string>;
  /** Whether `ref` lies beyond what the last scan saw (written after it started): not judged. */
  newerThanScan(ref: string): boolean;
}

/** One row of the blob catalogue: a blob's address and where it was written. */
export interface CatalogueRow {
  sha256: string;
  ref: string;
  size: number;
  storedSize: number;
}

/** An archived message, as a problem report names it. */
export interface IndexedMessage {
  /** The row's id (the API's message id). */
  id: number;
  /** The SHA-256 of its raw bytes: the archive id. */
  sha256: string;
  connection: string;
  /** Its Message-ID header, once parsed. */
  messageId: string | null;
  subject: string | null;
}

/**
 * The metadata side of the archive as verification reads it, and the one write repair makes.
 * The catalogue and the messages are read a page at a time, in key order (keyset pagination: a
 * row committed meanwhile is seen once or not at all, never twice), so no read holds a 100,000-
 * message archive in one result or the event loop of a running service for one long query; an
 * adapter gives the event loop a turn before each page.
 */
export interface ArchiveIndexCheck {
  /** Up to `limit` rows of the blob catalogue whose SHA-256 sorts after `after` (null: from the first), in SHA-256 order. */
  cataloguePage(after: string | null, limit: number): Promise<CatalogueRow[]>;
  /** Up to `limit` archived messages (index rows) whose id is above `after`, in id order. */
  messagesPage(after: number, limit: number): Promise<IndexedMessage[]>;
  /** The catalogue rows of these blobs that exist now (any order; at most a page of hashes is asked at once). */
  catalogueRowsOf(sha256s: string[]): Promise<CatalogueRow[]>;
  /** The archived messages of these blobs. */
  messagesOf(sha256s: string[]): Promise<IndexedMessage[]>;
  /**
   * Indexes an intact blob again: its catalogue row (when missing) and, when no archived message
   * refers to it, a message row under `connection` queued for the parse (which indexes its
   * attributes and its text). Returns the id of the message that refers to it now (the new row,
   * or the one whose catalogue row was written again), or null when nothing was missing.
   */
  reindex(blob: CatalogueRow, connection: string, takenAt: number): Promise<number | null>;
  /**
   * Of these hashes, those whose catalogue row a purge removed (docs/retention.md): their records
   * wait in the packs for compaction, and are no orphans (a repair would bring a purged message back).
   */
  purged?(sha256s: string[]): Promise<Set<string>>;
}
