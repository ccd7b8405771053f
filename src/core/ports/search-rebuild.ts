/**
 * Rebuilding the full-text index from the raw messages (issue 17, item 3; ADR 0041): what the
 * re-index job (core/archive/reindex.ts) reads and writes of the store. The progress is written
 * with the rows it covers, in one transaction, so a kill resumes after the last batch written and
 * every message ends up with exactly one row.
 */
import type { IndexEntry } from '../message/parsed-record.js';
import type { UnparsedMessage } from './parse-queue.js';

/** A rebuild under way: towards `target`, messages with ids up to `end`, `after` the last one done. */
export interface RebuildProgress {
  /** The index version it builds. */
  target: number;
  /** The last message id rebuilt (0: none yet). */
  after: number;
  /** The highest id it rebuilds: the last message parsed when it began (later ones are indexed by this build). */
  end: number;
  /** Messages rebuilt so far, of `total`. */
  done: number;
  total: number;
}

/** What the index holds, and the rebuild under way if any. */
export interface IndexBuildState {
  /** The version of the index rows once no rebuild is under way (all rows are at least this). */
  version: number;
  rebuild: RebuildProgress | null;
}

/** The store's side of a rebuild. */
export interface SearchRebuild {
  /** The version this build's index writer writes: an index below it is rebuilt. */
  readonly indexVersion: number;
  /** The stored build state (durable). */
  buildState(): Promise<IndexBuildState>;
  /** The messages a rebuild begun now covers: the highest id of a parsed message, and how many are parsed. */
  rebuildScope(): Promise<{ end: number; total: number }>;
  /** Parsed messages (those the index stage wrote a row for) with ids in (`afterId`, `endId`], in id order. */
  listIndexed(afterId: number, endId: number, limit: number): Promise<UnparsedMessage[]>;
  /**
   * Writes (or replaces) the rows of `entries` and records `state` in the same transaction;
   * resolves once durable. A row of a message purged meanwhile is removed again.
   */
  writeRebuilt(entries: IndexEntry[], state: IndexBuildState): Promise<void>;
}

/** What `search` can say of the index (`indexProgress()`): whether it is being rebuilt, x of y messages done. */
export interface IndexProgress {
  /** The index is older than this build's (a rebuild under way or still to begin): search answers from what is indexed, older rows without stems. */
  rebuilding: boolean;
  /** Messages rebuilt so far, of `total` (both 0 when not rebuilding). */
  done: number;
  total: number;
}
