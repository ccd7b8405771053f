/**
 * `PostgresStore`: the store roles on PostgreSQL over one `PostgresConnection` (the pool, the
 * deployment's schema), each role in its own file as in store-sqlite. Opened by
 * `createPostgresStore`, which migrates the schema first (once, under an advisory lock).
 */
import { PostgresConnection } from './postgres-connection.js';
import { PostgresSyncStateStore } from './postgres-sync-state.js';
import { PostgresTokenStore } from './postgres-token-store.js';
import { PostgresAuditLog } from './postgres-audit-log.js';
import { PostgresDrainLedger } from './postgres-drain-ledger.js';
import { PostgresParseQueue } from './postgres-parse-queue.js';
import { PostgresArchiveReader } from './postgres-archive-reader.js';
import { PostgresHoldStore } from './postgres-hold-store.js';
import { PostgresRetention } from './postgres-retention.js';
import { PostgresArchiveCheck } from './postgres-archive-check.js';
import { PostgresTlsMemory } from './postgres-tls-memory.js';
import { PostgresConnectionLeases } from './postgres-connection-leases.js';
import { PostgresSearchIndex } from './postgres-search-index.js';
import { PostgresSearchRebuild } from './postgres-search-rebuild.js';
import type { IndexProgress } from '../../core/ports/search-rebuild.js';
import { DEFAULT_JOURNAL_SETTLE_MS, type PostgresStoreOptions } from './postgres-store-config.js';
import type { CommitFence } from '../../core/ports/connection-leases.js';
import type { DrainLedger, MailboxWatermark, PendingAction, TakenRecord } from '../../core/ports/drain-ledger.js';
import type { ParseQueue, ParseResult, UnparsedMessage } from '../../core/ports/parse-queue.js';
import type { SearchCount, SearchHit, SearchIndex, SearchQuery } from '../../core/ports/search-index.js';
import type { ArchivedMessage, ArchiveReader, ArchiveStats, ExportItem, TakenBucket } from '../../core/ports/archive-reader.js';

/** Every role built so far, on one pool; the archive roles as methods, as `SqliteStore` has them. */
export class PostgresStore implements DrainLedger, ParseQueue, SearchIndex, ArchiveReader {
  readonly syncState: PostgresSyncStateStore;
  readonly tokens: PostgresTokenStore;
  readonly audit: PostgresAuditLog;
  /** The legal holds (`HoldStore`); a hold's query evaluated through this store's `search`. */
  readonly holds: PostgresHoldStore;
  /** What the purge reads and removes (`RetentionStore`). */
  readonly retention: PostgresRetention;
  /** The metadata side of verify (`ArchiveIndexCheck`). */
  readonly check: PostgresArchiveCheck;
  /** The STARTTLS downgrade memory (`TlsMemory`), read at `createPostgresStore` and on `refresh`. */
  readonly tls: PostgresTlsMemory;
  /** The connection leases and the workers' heartbeats (scale-out, ADR 0053). */
  readonly leases: PostgresConnectionLeases;
  /** The re-index job's side of the store (`SearchRebuild`, ADR 0051). */
  readonly searchRebuild: PostgresSearchRebuild;
  private readonly ledger: PostgresDrainLedger;
  private readonly queue: PostgresParseQueue;
  private readonly reader: PostgresArchiveReader;
  private readonly index: PostgresSearchIndex;

  constructor(readonly connection: PostgresConnection) {
    this.syncState = new PostgresSyncStateStore(connection);
    this.tokens = new PostgresTokenStore(connection);
    this.audit = new PostgresAuditLog(connection);
    this.leases = new PostgresConnectionLeases(connection);
    this.ledger = new PostgresDrainLedger(connection);
    this.queue = new PostgresParseQueue(connection, connection.options.journalSettleMs ?? DEFAULT_JOURNAL_SETTLE_MS);
    this.reader = new PostgresArchiveReader(connection);
    this.holds = new PostgresHoldStore(connection, this);
    this.retention = new PostgresRetention(connection, this.audit, (hashes) => this.ledger.forgetBlobs(hashes));
    this.check = new PostgresArchiveCheck(connection);
    this.tls = new PostgresTlsMemory(connection);
    this.index = new PostgresSearchIndex(connection);
    this.searchRebuild = new PostgresSearchRebuild(connection);
  }

  hasBlob(sha256: string): boolean {
    return this.ledger.hasBlob(sha256);
  }
  lookupTaken(connection: string, keys: string[]): Promise<Set<string>> {
    return this.ledger.lookupTaken(connection, keys);
  }
  lookupSettled(connection: string, keys: string[]): Promise<Set<string>> {
    return this.ledger.lookupSettled(connection, keys);
  }
  commitTaken(records: TakenRecord[], watermark?: { connection: string; mailbox: string } & MailboxWatermark, fence?: CommitFence): Promise<void> {
    return this.ledger.commitTaken(records, watermark, fence);
  }
  markActionDone(connection: string, keys: string[]): Promise<void> {
    return this.ledger.markActionDone(connection, keys);
  }
  pendingActions(connection: string, mailbox: string, uidValidity: number): Promise<PendingAction[]> {
    return this.ledger.pendingActions(connection, mailbox, uidValidity);
  }
  supersedePending(connection: string, mailbox: string, currentUidValidity: number): Promise<number> {
    return this.ledger.supersedePending(connection, mailbox, currentUidValidity);
  }
  getWatermark(connection: string, mailbox: string): Promise<MailboxWatermark | null> {
    return this.ledger.getWatermark(connection, mailbox);
  }
  listUnparsed(limit: number, afterId?: number): Promise<UnparsedMessage[]> {
    return this.queue.listUnparsed(limit, afterId);
  }
  countUnparsed(): Promise<number> {
    return this.queue.countUnparsed();
  }
  saveParsed(results: ParseResult[]): Promise<void> {
    return this.queue.saveParsed(results);
  }
  search(query: SearchQuery): Promise<SearchHit[]> {
    return this.index.search(query);
  }
  count(query: SearchQuery, withinMs?: number): Promise<SearchCount> {
    return this.index.count(query, withinMs);
  }
  /** Whether the search index is being rebuilt, and how far. */
  indexProgress(): Promise<IndexProgress> {
    return this.searchRebuild.indexProgress();
  }
  findArchived(sha256: string): Promise<ArchivedMessage | null> {
    return this.reader.findArchived(sha256);
  }
  listForExport(connection?: string): AsyncIterable<ExportItem> {
    return this.reader.listForExport(connection);
  }
  exportItemsOf(ids: readonly number[]): Promise<ExportItem[]> {
    return this.reader.exportItemsOf(ids);
  }
  stats(): Promise<ArchiveStats> {
    return this.reader.stats();
  }
  takenPerBucket(since: number, until: number, bucketMs: number): Promise<TakenBucket[]> {
    return this.reader.takenPerBucket(since, until, bucketMs);
  }

  /** Closes the pool, after the STARTTLS memory's writes landed. */
  async close(): Promise<void> {
    try {
      await this.tls.flush();
    } finally {
      await this.connection.close();
    }
  }
}

/** Opens the store: the pool, then the schema migrated (STORE_UNAVAILABLE when the server cannot be reached). */
export async function createPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const conn = new PostgresConnection(options);
  try {
    await conn.migrate();
    const store = new PostgresStore(conn);
    await store.tls.refresh();
    return store;
  } catch (err) {
    await conn.close().catch(() => undefined);
    throw err;
  }
}
