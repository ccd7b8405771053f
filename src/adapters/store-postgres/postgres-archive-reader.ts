/**
 * The archive reader on PostgreSQL (`ArchiveReader`: stats, export listing, `findArchived`,
 * `takenPerBucket`) and the search columns' filters (`SearchIndex` without the full-text query,
 * which is not built yet: README).
 */
import type { ArchivedMessage, ArchiveReader, ArchiveStats, ExportItem, TakenBucket } from '../../core/ports/archive-reader.js';
import type { SearchCount, SearchHit, SearchIndex, SearchQuery } from '../../core/ports/search-index.js';
import { parseSavedAttributes } from '../../core/message/parsed-record.js';
import { MailsluiceError } from '../../core/errors/index.js';
import type { PostgresConnection } from './postgres-connection.js';

/** Rows per export page. */
const EXPORT_PAGE = 1000;

const EXPORT_COLUMNS = `m.id, m.sha256, m.size, m.taken_at AS "takenAt", m.connection, m.mailbox, coalesce(m.from_addr, '') AS "from", m.date,
  nullif(m.message_id, '') AS "messageId", b.ref, b.stored_size AS "storedSize"`;

type ExportRow = Omit<ExportItem, 'blob'> & { ref: string; storedSize: number };

const exportItem = ({ ref, storedSize, ...r }: ExportRow): ExportItem => ({ ...r, blob: { ref, storedSize } });

/** `%text%` for LIKE, its wildcards escaped. */
const like = (text: string): string => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** What `stats`, `export`, the API and the filters read, on the shared pool. */
export class PostgresArchiveReader implements ArchiveReader, SearchIndex {
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

  async search(q: SearchQuery): Promise<SearchHit[]> {
    const { where, values } = this.filters(q);
    values.push(q.limit ?? 100);
    const rows = await this.conn.query<SearchHit & { probe: boolean }>(
      `SELECT m.id, m.sha256, m.connection, coalesce(m.from_addr, '') AS "from", coalesce(m.subject, '') AS subject, m.date, m.size,
       coalesce(strpos(m.attributes, '"Probe":true') > 0, false) AS probe
       FROM messages m WHERE ${where} ORDER BY m.id DESC LIMIT $${values.length}`,
      values,
      'searching the archive',
    );
    return rows.map(({ probe, ...hit }) => (probe ? { ...hit, probe: true } : hit));
  }

  async count(q: SearchQuery): Promise<SearchCount> {
    const { where, values } = this.filters(q);
    const rows = await this.conn.query<{ n: number }>(`SELECT count(*) AS n FROM messages m WHERE ${where}`, values, 'counting search hits');
    return { total: rows[0]!.n, more: false };
  }

  /** The search columns' filters as SQL; a merged journal report is never listed (its primary is). */
  private filters(q: SearchQuery): { where: string; values: unknown[] } {
    if (q.query) {
      throw new MailsluiceError('STORE_UNAVAILABLE', 'full-text search is not built on PostgreSQL yet (issue 20): search by the filters only', { retryable: false, details: { reason: 'not-built' } });
    }
    const values: unknown[] = [];
    const parts = ['m.merged_into IS NULL'];
    const add = (sql: string, v: unknown): void => {
      values.push(v);
      parts.push(sql.replace('?', `$${values.length}`));
    };
    if (q.from !== undefined) add("m.from_addr ILIKE ? ESCAPE '\\'", like(q.from));
    if (q.to !== undefined) add("m.to_addrs ILIKE ? ESCAPE '\\'", like(q.to));
    if (q.connection !== undefined) add('m.connection = ?', q.connection);
    if (q.since !== undefined) add('m.date >= ?', q.since);
    if (q.before !== undefined) add('m.date < ?', q.before);
    if (q.hasAttachment !== undefined) add('m.has_attachments = ?', q.hasAttachment);
    if (q.messageId !== undefined) add('m.message_id = ?', q.messageId);
    if (q.beforeId !== undefined) add('m.id < ?', q.beforeId);
    return { where: parts.join(' AND '), values };
  }
}
