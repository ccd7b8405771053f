/** The archive reader: what `stats`, `export` and the API read of the archive's metadata. */
import type { Attachment } from '../message/attributes.js';
import type { BlobLocation } from './blob-store.js';

/** Counts for `stats`. */
export interface ArchiveStats {
  /**
   * Messages taken from mailboxes (SPEC: "a journal report and its unwrapped original count
   * once"). Every journal report counts, also one merged into another report of the same
   * original (bifurcation): it was taken from the mailbox and is archived raw.
   */
  messages: number;
  bytes: number;
  blobs: number;
  storedBytes: number;
  unparsed: number;
  unparsable: number;
  /**
   * Of `messages`, the journal reports merged into an earlier report of the same original
   * (docs/journal-reports.md, "Bifurcation"): `messages - journalMerged` distinct messages are
   * listed by search and handed to routes.
   */
  journalMerged: number;
  connections: Record<string, { messages: number; bytes: number; pendingActions: number; journalMerged: number }>;
}

/** An archived message for export, with what an export's manifest says of it (docs/export.md). */
export interface ExportItem {
  id: number;
  /** The SHA-256 of its raw bytes: its `ArchiveId`. */
  sha256: string;
  size: number;
  blob: BlobLocation;
  /** When the archive took it (milliseconds since the epoch): its received date in the archive. */
  takenAt: number;
  connection: string;
  /** The mailbox it was taken from, as the source names it. */
  mailbox: string;
  /** Its sender as the search column holds it; "" when it has none or is not parsed yet. */
  from: string;
  /** Its Date header as ISO 8601; null when absent, unreadable or not parsed yet. */
  date: string | null;
  /** Its Message-ID without angle brackets; null when it has none or is not parsed yet. */
  messageId: string | null;
}

/** An archived message found by its `ArchiveId`, for serving what it holds. */
export interface ArchivedMessage {
  /** The SHA-256 of its raw bytes: its `ArchiveId`. */
  sha256: string;
  /** Raw size in bytes. */
  size: number;
  blob: BlobLocation;
  /** The attachments its parse found (name, type, size, SHA-256); null while it waits to be parsed. */
  attachments: Attachment[] | null;
}

/** Messages taken by one connection in one time bucket (`ArchiveReader.takenPerBucket`). */
export interface TakenBucket {
  connection: string;
  /** Start of the bucket, milliseconds since the epoch (a multiple of the bucket's length). */
  start: number;
  messages: number;
  /** Their raw bytes. */
  bytes: number;
}

/** Reads what the archive holds. */
export interface ArchiveReader {
  /** The archived message whose raw bytes have this SHA-256 (its `ArchiveId`; the same bytes taken by several connections are one blob), or null. */
  findArchived(sha256: string): Promise<ArchivedMessage | null>;
  /** Every archived message (of one connection, when named), oldest first, for export. */
  listForExport(connection?: string): AsyncIterable<ExportItem>;
  /**
   * The messages of these ids, for export, in the order given; an id no longer archived (purged
   * since it was found) is left out. At most a search page's worth at a time.
   */
  exportItemsOf(ids: readonly number[]): Promise<ExportItem[]>;
  /** Counts for `stats`. */
  stats(): Promise<ArchiveStats>;
  /**
   * Messages taken from `since` (inclusive) to `until` (exclusive), by the time they were taken,
   * counted per connection and per bucket of `bucketMs` (buckets start at multiples of it; empty
   * ones are not answered). For the throughput of a recent window (`core/stats/throughput.ts`):
   * it must cost about the rows in the window, not the archive.
   */
  takenPerBucket(since: number, until: number, bucketMs: number): Promise<TakenBucket[]>;
}
