/** The archive reader on SQLite (`ArchiveReader`): `stats`, the export listing and `findArchived`. */
import type { ArchivedMessage, ArchiveReader, ArchiveStats, ExportItem, TakenBucket } from '../../core/ports/archive-reader.js';
import { parseSavedAttributes } from '../../core/message/parsed-record.js';
import type { SqliteConnection } from './sqlite-connection.js';
import { mapSqliteError } from './sqlite-error-map.js';

/** Rows per export page. */
const EXPORT_PAGE = 1000;

/**
 * How far a message's `taken_at` may lag behind one committed after it (`takenPerBucket`).
 * `taken_at` is set when a message is fetched and its row gets its id at the group commit, so ids
 * follow `taken_at` but for the fetch-to-commit delay of a batch and two connections' batches
 * committing in turn (seconds; a large message streamed for minutes at most). The window's first
 * id is searched from this much earlier, and the rows are then filtered by `taken_at` exactly.
 */
const TAKEN_ORDER_SLACK_MS = 15 * 60_000;

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
      const first = this.firstIdTakenFrom(since - TAKEN_ORDER_SLACK_MS);
      if (first === null) return [];
      // A range of the rowid (no index on taken_at: every drain commit would pay for one, for a
      // chart), grouped by connection and bucket (`%` works on integers: a bound number may come
      // as a REAL, which `/` would not truncate).
      const rows = this.conn
        .stmt(
          `SELECT connection, taken_at - taken_at % ? AS start, COUNT(*) AS messages, SUM(size) AS bytes
           FROM messages WHERE id >= ? AND taken_at >= ? AND taken_at < ? GROUP BY connection, start`,
        )
        .all(bucketMs, first, since, until) as Array<{ connection: string; start: number; messages: number; bytes: number }>;
      return rows.map((r) => ({ connection: r.connection, start: r.start, messages: r.messages, bytes: r.bytes }));
    } catch (err) {
      throw mapSqliteError(err, 'counting the messages taken per minute');
    }
  }

  /**
   * The first message id whose row (or a later one) was taken at or after `at`, by a binary search
   * over the rowid (some 40 lookups of the primary key for any archive), taking `taken_at` as
   * following the id (`TAKEN_ORDER_SLACK_MS`); null when the archive is empty.
   */
  private firstIdTakenFrom(at: number): number | null {
    const bounds = this.conn.stmt('SELECT MIN(id) AS lo, MAX(id) AS hi FROM messages').get() as { lo: number | null; hi: number | null };
    if (bounds.lo === null || bounds.hi === null) return null;
    const next = this.conn.stmt('SELECT taken_at AS takenAt FROM messages WHERE id >= ? ORDER BY id LIMIT 1');
    // The smallest v in [lo, hi + 1] whose first row at or after it was taken at or after `at` (none: hi + 1).
    let lo = bounds.lo;
    let hi = bounds.hi + 1;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const row = next.get(mid) as { takenAt: number } | undefined;
      if (!row || row.takenAt >= at) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  async *listForExport(connection?: string): AsyncIterable<ExportItem> {
    const s = this.conn.stmt(
      `SELECT m.id, m.sha256, m.size, m.taken_at AS takenAt, m.connection, b.ref, b.stored_size AS storedSize
       FROM messages m JOIN blobs b ON b.sha256 = m.sha256
       WHERE m.id > ? ${connection ? 'AND m.connection = ?' : ''} ORDER BY m.id LIMIT ${EXPORT_PAGE}`,
    );
    // Keyset pages: memory stays bounded for any archive, and no statement stays open across a
    // yield (an open cursor would hold the connection while the caller writes files).
    for (let after = 0; ; ) {
      const rows = (connection ? s.all(after, connection) : s.all(after)) as Array<{
        id: number;
        sha256: string;
        size: number;
        takenAt: number;
        connection: string;
        ref: string;
        storedSize: number;
      }>;
      for (const r of rows) yield { id: r.id, sha256: r.sha256, size: r.size, takenAt: r.takenAt, connection: r.connection, blob: { ref: r.ref, storedSize: r.storedSize } };
      if (rows.length < EXPORT_PAGE) return;
      after = rows[rows.length - 1]!.id;
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
