/** The archive reader on SQLite (`ArchiveReader`): `stats`, the export listing, `takenPerBucket` and `findArchived`. */
import type { ArchivedMessage, ArchiveReader, ArchiveStats, ExportItem, TakenBucket } from '../../core/ports/archive-reader.js';
import { parseSavedAttributes } from '../../core/message/parsed-record.js';
import type { SqliteConnection } from './sqlite-connection.js';
import { mapSqliteError } from './sqlite-error-map.js';

/** Rows per export page. */
const EXPORT_PAGE = 1000;

/** What an export reads of a message and its blob. */
const EXPORT_COLUMNS = `m.id, m.sha256, m.size, m.taken_at AS takenAt, m.connection, m.mailbox, COALESCE(m.from_addr, '') AS "from", m.date,
  NULLIF(m.message_id, '') AS messageId, b.ref, b.stored_size AS storedSize`;

type ExportRow = Omit<ExportItem, 'blob'> & { ref: string; storedSize: number };

function exportItem({ ref, storedSize, ...r }: ExportRow): ExportItem {
  return { ...r, blob: { ref, storedSize } };
}

/**
 * Messages and bytes per connection and bucket of a window: a range of the covering index
 * `messages_taken`, the rows not read (`%` works on integers: a bound number may come as a REAL,
 * which `/` would not truncate). Parameters: the bucket's length, since, until.
 */
export const TAKEN_PER_BUCKET_SQL = `SELECT connection, taken_at - taken_at % ? AS start, COUNT(*) AS messages, SUM(size) AS bytes
  FROM messages WHERE taken_at >= ? AND taken_at < ? GROUP BY connection, start`;

/** Reads the archive's metadata on the shared connection (also opened read-only, beside a running service). */
export class SqliteArchiveReader implements ArchiveReader {
  constructor(private readonly conn: SqliteConnection) {}

  async stats(): Promise<ArchiveStats> {
    const merged = this.conn.journalColumns ? 'SUM(merged_into IS NOT NULL)' : '0';
    const m = this.conn
      .stmt(
        `SELECT COUNT(*) AS messages, COALESCE(SUM(size), 0) AS bytes,
         SUM(parse_state = 0) AS unparsed, SUM(parse_state = 2) AS unparsable, ${merged} AS journalMerged FROM messages`,
      )
      .get() as { messages: number; bytes: number; unparsed: number | null; unparsable: number | null; journalMerged: number | null };
    const b = this.conn.stmt('SELECT COUNT(*) AS blobs, COALESCE(SUM(stored_size), 0) AS storedBytes FROM blobs').get() as { blobs: number; storedBytes: number };
    const per = this.conn
      .stmt(`SELECT connection, COUNT(*) AS messages, COALESCE(SUM(size), 0) AS bytes, ${merged} AS journalMerged FROM messages GROUP BY connection`)
      .all() as Array<{ connection: string; messages: number; bytes: number; journalMerged: number }>;
    const pending = this.conn
      .stmt('SELECT connection, COUNT(*) AS n FROM source_keys WHERE action_state = 0 GROUP BY connection')
      .all() as Array<{ connection: string; n: number }>;
    const connections: ArchiveStats['connections'] = {};
    for (const p of per) connections[p.connection] = { messages: p.messages, bytes: p.bytes, pendingActions: 0, journalMerged: p.journalMerged };
    for (const p of pending) (connections[p.connection] ??= { messages: 0, bytes: 0, pendingActions: 0, journalMerged: 0 }).pendingActions = p.n;
    return {
      messages: m.messages,
      bytes: m.bytes,
      blobs: b.blobs,
      storedBytes: b.storedBytes,
      unparsed: m.unparsed ?? 0,
      unparsable: m.unparsable ?? 0,
      journalMerged: m.journalMerged ?? 0,
      connections,
    };
  }

  async takenPerBucket(since: number, until: number, bucketMs: number): Promise<TakenBucket[]> {
    try {
      const rows = this.conn
        .stmt(TAKEN_PER_BUCKET_SQL)
        .all(bucketMs, since, until) as Array<{ connection: string; start: number; messages: number; bytes: number }>;
      return rows.map((r) => ({ connection: r.connection, start: r.start, messages: r.messages, bytes: r.bytes }));
    } catch (err) {
      throw mapSqliteError(err, 'counting the messages taken per minute');
    }
  }

  async *listForExport(connection?: string): AsyncIterable<ExportItem> {
    const s = this.conn.stmt(
      `SELECT ${EXPORT_COLUMNS} FROM messages m JOIN blobs b ON b.sha256 = m.sha256
       WHERE m.id > ? ${connection ? 'AND m.connection = ?' : ''} ORDER BY m.id LIMIT ${EXPORT_PAGE}`,
    );
    // Keyset pages: memory stays bounded for any archive, and no statement stays open across a
    // yield (an open cursor would hold the connection while the caller writes files).
    for (let after = 0; ; ) {
      const rows = (connection ? s.all(after, connection) : s.all(after)) as ExportRow[];
      for (const r of rows) yield exportItem(r);
      if (rows.length < EXPORT_PAGE) return;
      after = rows[rows.length - 1]!.id;
    }
  }

  async exportItemsOf(ids: readonly number[]): Promise<ExportItem[]> {
    if (ids.length === 0) return [];
    try {
      // One statement for a page of ids (json_each: no statement per page size in the cache).
      const rows = this.conn
        .stmt(`SELECT ${EXPORT_COLUMNS} FROM messages m JOIN blobs b ON b.sha256 = m.sha256 WHERE m.id IN (SELECT value FROM json_each(?))`)
        .all(JSON.stringify(ids)) as ExportRow[];
      const byId = new Map(rows.map((r) => [r.id, r]));
      return ids.flatMap((id) => {
        const r = byId.get(id);
        return r ? [exportItem(r)] : [];
      });
    } catch (err) {
      throw mapSqliteError(err, 'reading the messages to export');
    }
  }

  async findArchived(sha256: string): Promise<ArchivedMessage | null> {
    try {
      const b = this.conn.stmt('SELECT ref, stored_size AS storedSize, size FROM blobs WHERE sha256 = ?').get(sha256) as
        | { ref: string; storedSize: number; size: number }
        | undefined;
      if (!b) return null;
      // The messages of a blob are found through UNIQUE(connection, sha256), one connection at a
      // time: the connections are walked by a skip scan (each next one found by the index), so
      // this costs a few index lookups per connection, not a scan of the table, and the drain's
      // commits pay for no index by sha256 alone. A parsed row is preferred.
      const m = this.conn
        .stmt(
          `WITH RECURSIVE conns(name) AS (
             SELECT MIN(connection) FROM messages
             UNION ALL
             SELECT (SELECT MIN(connection) FROM messages WHERE connection > conns.name) FROM conns WHERE conns.name IS NOT NULL
           )
           SELECT m.id, m.parse_state AS parseState, m.attributes FROM conns JOIN messages m ON m.connection = conns.name AND m.sha256 = ?
           ORDER BY m.parse_state = 0, m.id LIMIT 1`,
        )
        .get(sha256) as { id: number; parseState: number; attributes: string | null } | undefined;
      if (!m) return null;
      const attributes = m.parseState === 0 ? null : parseSavedAttributes(m.attributes, m.id);
      return { sha256, size: b.size, blob: { ref: b.ref, storedSize: b.storedSize }, attachments: attributes ? (attributes.Attachments ?? []) : null };
    } catch (err) {
      throw mapSqliteError(err, `looking up archived message ${sha256}`);
    }
  }
}
