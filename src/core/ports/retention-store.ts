/**
 * What the purge reads and writes of the archive's metadata (issue 16, item 3; docs/retention.md):
 * the messages a page at a time with the facts the policy reads, and the removal of a batch in
 * one transaction with its audit record. The pack bytes are not its business: what no catalogue
 * row references any more is reclaimed by the blob store's compaction afterwards.
 */
import type { AuditEntry, AuditRecord } from './audit-log.js';

/** One message as the purge weighs it. */
export interface RetentionRow {
  id: number;
  connection: string;
  sha256: string;
  size: number;
  /** When it was archived (ms since the epoch). */
  takenAt: number;
  /** Its Date header as saved (ISO 8601), or null. */
  receivedDate: string | null;
  /**
   * Why it may not go now, or null: `pending` (not parsed yet, its server action not done, a
   * delivery or a server response still to come) or `linked` (a journal report kept merged into it).
   */
  busy: 'pending' | 'linked' | null;
  /** The routes it was routed to (read only when asked). */
  routes?: string[];
  /** Its addresses, lowercase (read only when asked). */
  addresses?: string[];
}

/** One removed message, as the audit record names it. */
export interface PurgedMessage {
  id: number;
  sha256: string;
  connection: string;
  size: number;
}

/** What one batch removed. */
export interface PurgeBatchResult {
  /** The messages removed (those of the batch that had not become busy or gone meanwhile). */
  purged: PurgedMessage[];
  /** Of the batch, those found busy inside the transaction and kept. */
  keptBusy: number;
  /** Catalogue rows (`blobs`) removed: no remaining message referenced their hash. */
  blobsRemoved: number;
  /** The audit record written in the same transaction, or null when nothing was removed. */
  record: AuditRecord | null;
}

/** The purge's side of the metadata store. */
export interface RetentionStore {
  /** Up to `limit` messages with an id above `afterId`, in id order, with what `want` asks for. */
  page(afterId: number, limit: number, want: { routes: boolean; addresses: boolean }): Promise<RetentionRow[]>;
  /**
   * Removes the messages `ids` that still exist and are not busy, with every row that refers to
   * them and each `blobs` row no remaining message refers to, and appends `audit(purged)` to the
   * audit log, all in one transaction: the record exists if and only if rows were removed.
   * The full-text rows go after the commit ({@link RetentionStore.sweepSearch} finishes the job after a crash).
   */
  purgeBatch(ids: readonly number[], audit: (purged: readonly PurgedMessage[]) => AuditEntry): Promise<PurgeBatchResult>;
  /** Removes the full-text rows of messages purged earlier whose removal did not finish; idempotent. Returns how many went. */
  sweepSearch(): Promise<number>;
  /**
   * Gives the databases' pages the purge freed back to the file system (the full-text index
   * merged so deleted rows' tombstones go, freed pages released, the WALs truncated), in short
   * steps so the drain's commits go on meanwhile. Returns each file's size on disk before and after.
   */
  compactDatabases(): Promise<DatabaseSpace>;
}

/** The databases' files on disk before and after a compaction (ADR 0037, the databases' space). */
export interface DatabaseSpace {
  /** Per file (`archive.db`, `archive.db-wal`, `search.db`, `search.db-wal`): bytes on disk (allocated blocks). */
  files: Record<string, { bytesBefore: number; bytesAfter: number }>;
  bytesBefore: number;
  bytesAfter: number;
  /** The databases converted to incremental auto-vacuum by this compaction (one full VACUUM each, once per file). */
  converted: string[];
  seconds: number;
}

/**
 * Legal holds as the purge asks them (issue 16, item 4): of `ids`, those a hold keeps, each with
 * the names of the holds keeping it; an id not in the map is held by none.
 */
export type HeldLookup = (ids: readonly number[]) => Promise<Map<number, string[]>>;

/** What reclaiming the space of purged blobs did (the blob store's compaction). */
export interface SpaceReport {
  packsRewritten: number;
  /** The blob store's size on disk before and after, in bytes. */
  bytesBefore: number;
  bytesAfter: number;
  /** The databases' files (`archive.db`, `search.db` and their WALs) before and after their compaction; absent when not compacted. */
  databases?: DatabaseSpace;
}

/** Reclaims the pack space of blobs no catalogue row references any more; run after a purge removed rows. */
export type ReclaimSpace = () => Promise<SpaceReport>;
