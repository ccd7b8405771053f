/**
 * The archive reader on PostgreSQL (`ArchiveReader`: stats, export listing, `findArchived`,
 * `takenPerBucket`); search is postgres-search-index.ts.
 */
import type { ArchivedMessage, ArchiveReader, ArchiveStats, ExportItem, TakenBucket } from '../../core/ports/archive-reader.js';
import { parseSavedAttributes } from '../../core/message/parsed-record.js';
import type { PostgresConnection } from './postgres-connection.js';

/** Rows per export page. */
const EXPORT_PAGE = 1000;

const EXPORT_COLUMNS = `m.id, m.sha256, m.size, m.taken_at AS "takenAt", m.connection, m.mailbox, coalesce(m.from_addr, '') AS "from", m.date,
  nullif(m.message_id, '') AS "messageId", b.ref, b.stored_size AS "storedSize"`;

type ExportRow = Omit<ExportItem, 'blob'> & { ref: string; storedSize: number };

const exportItem = ({ ref, storedSize, ...r }: ExportRow): ExportItem => ({ ...r, blob: { ref, storedSize } });

/** What `stats`, `export` and the API read, on the shared pool. */
export class PostgresArchiveReader implements ArchiveReader {
  constructor(private readonly conn: PostgresConnection) {}

  async stats(): Promise<ArchiveStats> {
    const [m] = await this.conn.query<{ messages: number; bytes: number; unparsed: number; unparsable: number; journalMerged: number }>(
      `SELECT count(*) AS messages, coalesce(sum(size), 0)::bigint AS bytes, count(*) FILTER (WHERE parse_state = 0) AS unparsed,
       count(*) FILTER (WHERE parse_state = 2) AS unparsable, count(merged_into) AS "journalMerged" FROM messages`,
      [],
      'counting the archive',
    );
    const [b] = await this.conn.query<{ blobs: number; storedBytes: number }>('SELECT count(*) AS blobs, coalesce(sum(stored_size), 0)::bigint AS "storedBytes" FROM blobs', [], 'counting the blobs');
    const per = await this.conn.query<{ connection: string; messages: number; bytes: number; journalMerged: number }>(
      'SELECT connection, count(*) AS messages, coalesce(sum(size), 0)::bigint AS bytes, count(merged_into) AS "journalMerged" FROM messages GROUP BY connection',
      [],
      'counting the archive per connection',
    );
    const pending = await this.conn.query<{ connection: string; n: number }>('SELECT connection, count(*) AS n FROM source_keys WHERE action_state = 0 GROUP BY connection', [], 'counting pending actions');
    const connections: ArchiveStats['connections'] = {};
    for (const p of per) connections[p.connection] = { messages: p.messages, bytes: p.bytes, pendingActions: 0, journalMerged: p.journalMerged };
    for (const p of pending) (connections[p.connection] ??= { messages: 0, bytes: 0, pendingActions: 0, journalMerged: 0 }).pendingActions = p.n;
    return { messages: m!.messages, bytes: m!.bytes, blobs: b!.blobs, storedBytes: b!.storedBytes, unparsed: m!.unparsed, unparsable: m!.unparsable, journalMerged: m!.journalMerged, connections };
  }

  async takenPerBucket(since: number, until: number, bucketMs: number): Promise<TakenBucket[]> {
    return this.conn.query<TakenBucket>(
      `SELECT connection, (taken_at / $1) * $1 AS start, count(*) AS messages, sum(size)::bigint AS bytes FROM messages
       WHERE taken_at >= $2 AND taken_at < $3 GROUP BY connection, start ORDER BY start, connection`,
      [bucketMs, since, until],
      'counting the messages taken per minute',
    );
  }

  async *listForExport(connection?: string): AsyncIterable<ExportItem> {
    // Keyset pages: memory stays bounded, and no cursor holds a pooled connection across a yield.
    for (let after = 0; ; ) {
      const rows = await this.conn.query<ExportRow>(
        `SELECT ${EXPORT_COLUMNS} FROM messages m JOIN blobs b ON b.sha256 = m.sha256
         WHERE m.id > $1 AND ($2::text IS NULL OR m.connection = $2) ORDER BY m.id LIMIT ${EXPORT_PAGE}`,
        [after, connection ?? null],
        'listing the messages to export',
      );
      for (const r of rows) yield exportItem(r);
      if (rows.length < EXPORT_PAGE) return;
      after = rows[rows.length - 1]!.id;
    }
  }

  async exportItemsOf(ids: readonly number[]): Promise<ExportItem[]> {
    if (ids.length === 0) return [];
    const rows = await this.conn.query<ExportRow>(`SELECT ${EXPORT_COLUMNS} FROM messages m JOIN blobs b ON b.sha256 = m.sha256 WHERE m.id = ANY($1::bigint[])`, [ids], 'reading the messages to export');
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ids.flatMap((id) => {
      const r = byId.get(id);
      return r ? [exportItem(r)] : [];
    });
  }

  async findArchived(sha256: string): Promise<ArchivedMessage | null> {
    const rows = await this.conn.query<{ id: number; ref: string; storedSize: number; size: number; attributes: string | null; parsed: boolean }>(
      `SELECT m.id, b.ref, b.stored_size AS "storedSize", b.size, m.attributes, m.parse_state <> 0 AS parsed
       FROM blobs b LEFT JOIN messages m ON m.sha256 = b.sha256 WHERE b.sha256 = $1 ORDER BY (m.parse_state <> 0) DESC, m.id LIMIT 1`,
      [sha256],
      `finding archived message ${sha256}`,
    );
    const r = rows[0];
    if (!r) return null;
    const attachments = r.parsed ? (parseSavedAttributes(r.attributes, r.id).Attachments ?? []) : null;
    return { sha256, size: r.size, blob: { ref: r.ref, storedSize: r.storedSize }, attachments };
  }
}
