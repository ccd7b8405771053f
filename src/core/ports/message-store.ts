/**
 * The archive's metadata store, by role: the drain ledger, the parse queue, the search index and
 * the archive reader (each its own port in this folder), and the blob catalogue the compress
 * stage still uses. A consumer names the role it uses; the aggregate {@link MessageStore} is for
 * the composition roots and the drain, which hand one store to every role.
 */
import type { BlobLocation } from './blob-store.js';
import type { DrainLedger } from './drain-ledger.js';
import type { ParseQueue } from './parse-queue.js';
import type { SearchIndex } from './search-index.js';
import type { ArchiveReader } from './archive-reader.js';

export type { DrainLedger, TakenRecord, PendingAction, MailboxWatermark } from './drain-ledger.js';
export type { ParseQueue, UnparsedMessage, ParseResult } from './parse-queue.js';
export type { SearchIndex, SearchHit, SearchQuery } from './search-index.js';
export type { ArchiveReader, ArchiveStats, ExportItem, ArchivedMessage } from './archive-reader.js';
export type { ParsedRecord } from '../message/parsed-record.js';

/** A committed blob and where it is stored. */
export interface StoredBlob {
  sha256: string;
  size: number;
  blob: BlobLocation;
}

/** A blob rewritten elsewhere: its row moves from `from` to `to`, only if it still says `from`. */
export interface BlobMove {
  sha256: string;
  from: BlobLocation;
  to: BlobLocation;
}

/** The committed blobs' locations, as the compress stage moves staged blobs into packs. */
export interface BlobCatalogue {
  /**
   * Committed blobs whose ref starts with `STAGING_REF_PREFIX` (core/ports/blob-store.ts), in ref
   * order, after `afterRef` (exclusive). With `parsedOnly`, only those that no message waiting for
   * the parse stage references (every message row of the blob has `parse_state` ≠ 0).
   */
  listStagedBlobs(limit: number, afterRef?: string, options?: { parsedOnly?: boolean }): Promise<StoredBlob[]>;
  /**
   * The compress stage's view of the parse stage: `stagedBlobs`, committed staged blobs that a
   * message waiting to be parsed references (what `parsedOnly` leaves out), and
   * `unparsedMessages`, every message waiting to be parsed (its changes tell that parsing moves).
   */
  stagedParseBacklog(): Promise<{ stagedBlobs: number; unparsedMessages: number }>;
  /**
   * Points blob rows at their new locations, all in one transaction; a row whose ref is no
   * longer `from` is left alone. Returns how many rows moved.
   */
  relocateBlobs(moves: BlobMove[]): Promise<number>;
  /** How many committed blob rows reference a ref starting with `refPrefix` (a staging container's). */
  countBlobRefs(refPrefix: string): Promise<number>;
}

/** Closing the store's connection. */
export interface Closeable {
  /** Closes the database. */
  close(): Promise<void>;
}

/** Every role of one store: for the composition roots, which hand it to the stages that each use one role. */
export type ArchiveStore = DrainLedger & ParseQueue & SearchIndex & ArchiveReader & BlobCatalogue & Closeable;

/** The aggregate under the name the composition roots and the drain cycle use ({@link ArchiveStore}). */
export type MessageStore = ArchiveStore;
