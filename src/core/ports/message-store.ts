/**
 * The archive's metadata store, by role: the drain ledger, the parse queue, the search index and
 * the archive reader (each its own port in this folder). Where a blob's bytes are, and how they
 * are compressed, is the blob store's business (ADR 0018). A consumer names the role it uses; the aggregate {@link MessageStore} is for
 * the composition roots and the drain, which hand one store to every role.
 */
import type { DrainLedger } from './drain-ledger.js';
import type { ParseQueue } from './parse-queue.js';
import type { SearchIndex } from './search-index.js';
import type { ArchiveReader } from './archive-reader.js';

export type { DrainLedger, TakenRecord, PendingAction, MailboxWatermark } from './drain-ledger.js';
export type { ParseQueue, UnparsedMessage, ParseResult } from './parse-queue.js';
export type { SearchIndex, SearchHit, SearchQuery } from './search-index.js';
export type { ArchiveReader, ArchiveStats, ExportItem, ArchivedMessage } from './archive-reader.js';
export type { ParsedRecord } from '../message/parsed-record.js';

/** Closing the store's connection. */
export interface Closeable {
  /** Closes the database. */
  close(): Promise<void>;
}

/** Every role of one store: for the composition roots, which hand it to the stages that each use one role. */
export type ArchiveStore = DrainLedger & ParseQueue & SearchIndex & ArchiveReader & Closeable;

/** The aggregate under the name the composition roots and the drain cycle use ({@link ArchiveStore}). */
export type MessageStore = ArchiveStore;
