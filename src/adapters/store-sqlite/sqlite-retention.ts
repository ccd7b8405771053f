/**
 * The purge's side of `archive.db` (`RetentionStore`; issue 16, item 3; docs/retention.md): the
 * messages a page at a time with the facts the policy reads, and a batch removed in one
 * `BEGIN IMMEDIATE` with its audit record.
 *
 * Foreign keys are switched off for the removal's transaction (and on again after it, on this
 * synchronous connection nothing runs in between): SQLite checks a deleted parent row against
 * every child table, and two of them have no index by message (`deliveries.message_id`,
 * `messages.merged_into`), which made each deleted message a scan of both tables. The removal
 * deletes the children itself instead, each through an index: source keys by
 * `source_keys_message`, deliveries by their key `<connection>.<route>.<id>` for every route
 * (the routes walked by a skip scan of `deliveries_route`), and a message another journal report
 * is merged into is not removed (`busy: 'linked'`, found through `messages_journal`).
 */
import type { AuditEntry } from '../../core/ports/audit-log.js';
import type { DatabaseSpace, PurgeBatchResult, PurgedMessage, RetentionRow, RetentionStore } from '../../core/ports/retention-store.js';
import { messageAddresses } from '../../core/archive/retention.js';
import type { SqliteConnection } from './sqlite-connection.js';
import type { SqliteSearchIndex } from './sqlite-search-index.js';
import type { SqliteAuditLog } from './sqlite-audit-log.js';
import { mapSqliteError } from './sqlite-error-map.js';
import { compactDatabase, databaseFiles } from './sqlite-compact.js';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { immediateOnMain } from '../sqlite-node/sqlite-write-lock.js';

/** The route names deliveries were made for, each found by the index `deliveries_route`. */
const ROUTES = `routes_all(name) AS (
    SELECT MIN(route) FROM deliveries
    UNION ALL SELECT (SELECT MIN(route) FROM deliveries WHERE route > routes_all.name) FROM routes_all WHERE routes_all.name IS NOT NULL
  ), routes(name) AS (SELECT name FROM routes_all WHERE name IS NOT NULL)`;

/** A delivery of message `m` through route `r`, by its key. */
const DELIVERY = `deliveries d ON d.id = m.connection || '.' || r.name || '.' || m.id`;

/**
 * Why message `m` may not go now: not parsed yet, its server action not done, a delivery pending
 * or a server response not applied yet (`pending`); another journal report merged into it (`linked`).
 */
const BUSY = `CASE
    WHEN m.parse_state = 0 THEN 'pending'
    WHEN EXISTS (SELECT 1 FROM source_keys k WHERE k.message_id = m.id AND k.action_state = 0) THEN 'pending'
    WHEN EXISTS (SELECT 1 FROM routes r JOIN ${DELIVERY}
                 WHERE d.state = 'pending' OR (d.response IS NOT NULL AND d.response_result IS NULL)) THEN 'pending'
    WHEN m.journal_original IS NOT NULL AND EXISTS (SELECT 1 FROM messages x
                 WHERE x.connection = m.connection AND x.journal_original = m.journal_original AND x.merged_into = m.id) THEN 'linked'
    ELSE NULL END`;

/** Whether any message still refers to a blob: its connections walked by a skip scan of UNIQUE(connection, sha256). */
const BLOB_USED = `WITH RECURSIVE conns(name) AS (
    SELECT MIN(connection) FROM messages
    UNION ALL SELECT (SELECT MIN(connection) FROM messages WHERE connection > conns.name) FROM conns WHERE conns.name IS NOT NULL
  ) SELECT 1 FROM conns JOIN messages m ON m.connection = conns.name AND m.sha256 = ? LIMIT 1`;

type RawRow = Omit<RetentionRow, 'routes' | 'addresses'> & { routes: string | null; addresses: string | null };

/** Reads and removes for the purge, on the shared connection. */
export class SqliteRetention implements RetentionStore {
  constructor(
    private readonly conn: SqliteConnection,
    private readonly search: SqliteSearchIndex,
    private readonly audit: SqliteAuditLog,
  ) {}

  async page(afterId: number, limit: number, want: { routes: boolean; addresses: boolean }): Promise<RetentionRow[]> {
    const routes = want.routes ? `(SELECT json_group_array(r.name) FROM routes r JOIN ${DELIVERY})` : 'NULL';
    const addresses = want.addresses
      ? `json_object('From', m.attributes->'$.From', 'To', m.attributes->'$.To', 'Cc', m.attributes->'$.Cc', 'Bcc', m.attributes->'$.Bcc', 'Journal', m.attributes->'$.Journal')`
      : 'NULL';
    const sql = `WITH RECURSIVE ${ROUTES}
      SELECT m.id, m.connection, m.sha256, m.size, m.taken_at AS takenAt, m.date AS receivedDate, ${BUSY} AS busy,
        ${routes} AS routes, ${addresses} AS addresses
      FROM messages m WHERE m.id > ? ORDER BY m.id LIMIT ?`;
    try {
      const rows = this.conn.stmt(sql).all(afterId, limit) as RawRow[];
      return rows.map(({ routes: r, addresses: a, ...row }) => ({
        ...row,
        ...(want.routes ? { routes: r ? (JSON.parse(r) as string[]) : [] } : {}),
        ...(want.addresses ? { addresses: a ? messageAddresses(JSON.parse(a) as Parameters<typeof messageAddresses>[0]) : [] } : {}),
      }));
    } catch (err) {
      throw mapSqliteError(err, `reading messages after ${afterId} for the purge`);
    }
  }

  async purgeBatch(ids: readonly number[], audit: (purged: readonly PurgedMessage[]) => AuditEntry): Promise<PurgeBatchResult> {
    const db = this.conn.db;
    if (ids.length === 0) return { purged: [], keptBusy: 0, blobsRemoved: 0, record: null };
    if (db.inTransaction) throw mapSqliteError(Object.assign(new Error('a transaction is open on the connection'), { code: 'SQLITE_BUSY' }), 'purging');
    let result: PurgeBatchResult;
    this.conn.stmt('PRAGMA foreign_keys = OFF').run();
    try {
      result = immediateOnMain(db, () => this.removeInTransaction(JSON.stringify(ids), audit));
    } catch (err) {
      throw mapSqliteError(err, `purging ${ids.length} messages`);
    } finally {
      this.conn.stmt('PRAGMA foreign_keys = ON').run();
    }
    if (result.purged.length > 0) await this.removeSearchRows(result.purged.map((p) => p.id));
    return result;
  }

  /** The batch `idsJson` removed, with its audit record; inside the caller's write transaction. */
  private removeInTransaction(idsJson: string, audit: (purged: readonly PurgedMessage[]) => AuditEntry): PurgeBatchResult {
    const rows = this.conn
      .stmt(`WITH RECURSIVE ${ROUTES} SELECT m.id, m.sha256, m.connection, m.size, ${BUSY} AS busy FROM messages m WHERE m.id IN (SELECT value FROM json_each(?)) ORDER BY m.id`)
      .all(idsJson) as Array<PurgedMessage & { busy: string | null }>;
    const purged = rows.filter((r) => r.busy === null).map(({ busy: _busy, ...p }) => p);
    const keptBusy = rows.length - purged.length;
    if (purged.length === 0) return { purged, keptBusy, blobsRemoved: 0, record: null };
    const go = JSON.stringify(purged.map((p) => p.id));
    this.conn.stmt('INSERT OR IGNORE INTO purged_keys (connection, source_key) SELECT connection, source_key FROM source_keys WHERE message_id IN (SELECT value FROM json_each(?))').run(go);
    this.conn.stmt('DELETE FROM source_keys WHERE message_id IN (SELECT value FROM json_each(?))').run(go);
    this.conn
      .stmt(`WITH RECURSIVE ${ROUTES} DELETE FROM deliveries WHERE id IN (SELECT m.connection || '.' || r.name || '.' || m.id FROM messages m JOIN routes r WHERE m.id IN (SELECT value FROM json_each(?)))`)
      .run(go);
    this.conn.stmt('DELETE FROM messages WHERE id IN (SELECT value FROM json_each(?))').run(go);
    this.conn.stmt('INSERT OR IGNORE INTO purged_search (id) SELECT value FROM json_each(?)').run(go);
    let blobsRemoved = 0;
    for (const sha of new Set(purged.map((p) => p.sha256))) {
      // Single-instance storage: another connection's message may hold the same bytes.
      if (this.conn.stmt(BLOB_USED).get(sha) !== undefined) continue;
      const removed = this.conn.stmt('DELETE FROM blobs WHERE sha256 = ?').run(sha).changes;
      // Its record stays in a pack until compaction: verify must know it was purged, not lost.
      if (removed > 0) this.conn.stmt('INSERT OR IGNORE INTO purged_blobs (sha256) VALUES (?)').run(sha);
      blobsRemoved += removed;
    }
    const record = this.audit.appendInTransaction(audit(purged));
    return { purged, keptBusy, blobsRemoved, record };
  }

  /** The full-text rows of `ids` removed by the index writer thread, then their ids off `purged_search`. */
  private async removeSearchRows(ids: number[]): Promise<void> {
    await this.search.remove(ids);
    try {
      this.conn.withoutFsync(() => this.conn.stmt('DELETE FROM purged_search WHERE id IN (SELECT value FROM json_each(?))').run(JSON.stringify(ids)));
    } catch (err) {
      throw mapSqliteError(err, 'recording the removal of full-text rows');
    }
  }

  async sweepSearch(): Promise<number> {
    let settled = 0;
    for (;;) {
      const ids = this.conn.stmt('SELECT id FROM purged_search WHERE id NOT IN (SELECT id FROM messages) ORDER BY id LIMIT 1000').pluck().all() as number[];
      if (ids.length === 0) break;
      await this.removeSearchRows(ids);
      settled += ids.length;
    }
    // An id a message holds again is that message's now: its own parse writes (or replaced) its row.
    this.conn.stmt('DELETE FROM purged_search WHERE id IN (SELECT id FROM messages)').run();
    return settled;
  }

  async compactDatabases(): Promise<DatabaseSpace> {
    const started = Date.now();
    const sizes = (): Record<string, number> => ({ ...databaseFiles(this.conn.db.name), ...databaseFiles(this.conn.searchFile) });
    const before = sizes();
    const converted: string[] = [];
    try {
      // search.db on its writer thread, beside archive.db here; the drain commits on this
      // connection between the steps (a turn of the event loop each).
      const [archive, search] = await Promise.all([compactDatabase(this.conn.db, 'main', () => nextTurn()), this.search.compact()]);
      if (archive.converted) converted.push('archive.db');
      if (search.converted) converted.push('search.db');
    } catch (err) {
      throw mapSqliteError(err, 'giving the databases\' freed space back');
    }
    const after = sizes();
    const files: DatabaseSpace['files'] = {};
    for (const f of Object.keys(before)) files[f] = { bytesBefore: before[f]!, bytesAfter: after[f] ?? 0 };
    const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);
    return { files, bytesBefore: sum(before), bytesAfter: sum(after), converted, seconds: (Date.now() - started) / 1000 };
  }
}
