import { SqliteBlobRefs } from './sqlite-blob-refs.js';
import type Database from 'better-sqlite3';
import type { MailboxWatermark, PendingAction, TakenRecord } from '../../core/ports/drain-ledger.js';
import type { ParseResult, UnparsedMessage } from '../../core/ports/parse-queue.js';
import type { SearchCount, SearchHit, SearchQuery } from '../../core/ports/search-index.js';
import type { ArchivedMessage, ArchiveStats, ExportItem, TakenBucket } from '../../core/ports/archive-reader.js';
import type { MessageStore } from '../../core/ports/message-store.js';
import { DEFAULT_JOURNAL_SETTLE_MS, type SqliteStoreOptions } from './sqlite-store-config.js';
import { SqliteConnection } from './sqlite-connection.js';
import { SqliteDrainLedger } from './sqlite-drain-ledger.js';
import { SqliteParseQueue } from './sqlite-parse-queue.js';
import { SqliteSearchIndex } from './sqlite-search-index.js';
import { SqliteSearchRebuild } from './sqlite-search-rebuild.js';
import type { IndexProgress } from '../../core/ports/search-rebuild.js';
import { SqliteArchiveReader } from './sqlite-archive-reader.js';
import { SqliteTokenStore } from './sqlite-token-store.js';
import { SqliteAuditLog } from './sqlite-audit-log.js';
import { SqliteArchiveCheck } from './sqlite-archive-check.js';
import { SqliteHoldStore } from './sqlite-hold-store.js';
import { SqliteRetention } from './sqlite-retention.js';
import { SqliteSyncStateStore } from './sqlite-sync-state.js';

/**
 * The embedded metadata store on SQLite, every role over one connection to `archive.db` (WAL,
 * `synchronous=FULL`: a commit that returned survives a power cut): the drain ledger, the parse
 * queue, the search index, the archive reader, the API tokens, the audit log, the legal holds, the sources' sync states (each in its own
 * file, `sqlite-<role>.ts`), the connection the bus shares (`connection()`, for `bus-sqlite`) and
 * the STARTTLS memory. A stage is handed the role it uses.
 */
export class SqliteStore implements MessageStore {
  readonly ledger: SqliteDrainLedger;
  readonly parseQueue: SqliteParseQueue;
  readonly searchIndex: SqliteSearchIndex;
  readonly reader: SqliteArchiveReader;
  /** The API tokens (`TokenStore`). */
  readonly tokens: SqliteTokenStore;
  /** The audit log (`AuditLog`). */
  readonly audit: SqliteAuditLog;
  /** The catalogue and index rows as `mailsluice verify` reads them (`ArchiveIndexCheck`, ADR 0031). */
  readonly check: SqliteArchiveCheck;
  /** The legal holds (`HoldStore`, docs/legal-hold.md). */
  readonly holds: SqliteHoldStore;
  /** The catalogue's refs and their switch when a pack is rewritten (`BlobRefCatalogue`, ADR 0036). */
  readonly blobRefs: SqliteBlobRefs;
  /** What the purge reads and removes (`RetentionStore`, docs/retention.md). */
  readonly retention: SqliteRetention;
  /** The re-index job's side of the store (`SearchRebuild`, ADR 0041). */
  readonly searchRebuild: SqliteSearchRebuild;
  /** Sources' synchronisation cursors (`SyncStateStore`, ADR 0047). */
  readonly syncState: SqliteSyncStateStore;
  private readonly conn: SqliteConnection;
  private readonly db: Database.Database;
  constructor(options: SqliteStoreOptions) {
    this.conn = new SqliteConnection(options);
    this.db = this.conn.db;
    this.ledger = new SqliteDrainLedger(this.conn);
    this.searchIndex = new SqliteSearchIndex(this.conn);
    this.parseQueue = new SqliteParseQueue(this.conn, this.searchIndex, Math.max(0, options.journalSettleMs ?? DEFAULT_JOURNAL_SETTLE_MS));
    this.reader = new SqliteArchiveReader(this.conn);
    this.tokens = new SqliteTokenStore(this.conn);
    this.audit = new SqliteAuditLog(this.conn);
    this.check = new SqliteArchiveCheck(this.conn);
    this.holds = new SqliteHoldStore(this.conn);
    this.blobRefs = new SqliteBlobRefs(this.conn);
    this.retention = new SqliteRetention(this.conn, this.searchIndex, this.audit);
    this.searchRebuild = new SqliteSearchRebuild(this.conn, this.searchIndex);
    this.syncState = new SqliteSyncStateStore(this.conn);
  }

  /** Whether the full-text index is being rebuilt (x of y messages), for `search` to say so (ADR 0041). */
  indexProgress(): Promise<IndexProgress> {
    return this.searchRebuild.indexProgress();
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

  commitTaken(records: TakenRecord[], watermark?: { connection: string; mailbox: string } & MailboxWatermark): Promise<void> {
    return this.ledger.commitTaken(records, watermark);
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

  /** STARTTLS downgrade memory (`TlsMemory`, ADR 0016): whether the server offered TLS before. */
  tlsOffered(connection: string): boolean {
    return this.ledger.tlsOffered(connection);
  }

  /** See {@link tlsOffered}; false forgets (the operator's `connection reset-tls`). */
  setTlsOffered(connection: string, offered: boolean): void {
    this.ledger.setTlsOffered(connection, offered);
  }

  listUnparsed(limit: number, afterId?: number): Promise<UnparsedMessage[]> {
    return this.parseQueue.listUnparsed(limit, afterId);
  }

  countUnparsed(): Promise<number> {
    return this.parseQueue.countUnparsed();
  }

  saveParsed(results: ParseResult[]): Promise<void> {
    return this.parseQueue.saveParsed(results);
  }

  /**
   * This connection, for the bus and the response ledger of this database (`bus-sqlite`): same
   * file, same connection, so the deliveries that saveParsed queues and the dispatcher's progress
   * live in one transactional store, and one thread never waits for a lock it holds itself.
   */
  connection(): { db: Database.Database; waitForLocks: 'block' | 'yield' } {
    return { db: this.db, waitForLocks: this.conn.waitForLocks };
  }

  search(q: SearchQuery): Promise<SearchHit[]> {
    return this.searchIndex.search(q);
  }

  count(q: SearchQuery, withinMs?: number): Promise<SearchCount> {
    return this.searchIndex.count(q, withinMs);
  }

  stats(): Promise<ArchiveStats> {
    return this.reader.stats();
  }

  takenPerBucket(since: number, until: number, bucketMs: number): Promise<TakenBucket[]> {
    return this.reader.takenPerBucket(since, until, bucketMs);
  }

  listForExport(connection?: string): AsyncIterable<ExportItem> {
    return this.reader.listForExport(connection);
  }

  exportItemsOf(ids: readonly number[]): Promise<ExportItem[]> {
    return this.reader.exportItemsOf(ids);
  }

  findArchived(sha256: string): Promise<ArchivedMessage | null> {
    return this.reader.findArchived(sha256);
  }

  async close(): Promise<void> {
    await this.searchIndex.close();
    this.conn.close();
  }
}

/** Opens (and migrates) the embedded store. */
export function createSqliteStore(options: SqliteStoreOptions): SqliteStore {
  return new SqliteStore(options);
}
