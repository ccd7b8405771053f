/**
 * The metadata side of `mailsluice verify` on PostgreSQL (`ArchiveIndexCheck`, ADR 0031): the
 * blob catalogue (`blobs`), the archived messages held against it, the hashes a purge removed,
 * and repair's one write, a message row queued for the parse. Read a page at a time by key (the
 * port says why); each page is one query on the pool, so the event loop is free between them.
 */
import type { ArchiveIndexCheck, CatalogueRow, IndexedMessage } from '../../core/ports/archive-check.js';
import type { PostgresConnection } from './postgres-connection.js';

const MESSAGE = 'm.id, m.sha256, m.connection, m.message_id AS "messageId", m.subject';
const CATALOGUE = 'b.sha256, b.ref, b.size, b.stored_size AS "storedSize"';

/** Reads the catalogue and the index rows on the shared pool. */
export class PostgresArchiveCheck implements ArchiveIndexCheck {
  constructor(private readonly conn: PostgresConnection) {}

  async cataloguePage(after: string | null, limit: number): Promise<CatalogueRow[]> {
    // A range of the primary key per page, in the column's collation (the same for > and ORDER
    // BY, which is all keyset paging needs; for lowercase hex every collation agrees anyway).
    return this.conn.query<CatalogueRow>(
      `SELECT ${CATALOGUE} FROM blobs b WHERE b.sha256 > $1 ORDER BY b.sha256 LIMIT $2`,
      [after ?? '', limit],
      'reading the blob catalogue',
    );
  }

  async messagesPage(after: number, limit: number): Promise<IndexedMessage[]> {
    return this.conn.query<IndexedMessage>(`SELECT ${MESSAGE} FROM messages m WHERE m.id > $1 ORDER BY m.id LIMIT $2`, [after, limit], 'reading the archived messages');
  }

  async catalogueRowsOf(sha256s: string[]): Promise<CatalogueRow[]> {
    if (sha256s.length === 0) return [];
    return this.conn.query<CatalogueRow>(`SELECT ${CATALOGUE} FROM blobs b WHERE b.sha256 = ANY($1::text[])`, [sha256s], 'reading catalogue rows');
  }

  async messagesOf(sha256s: string[]): Promise<IndexedMessage[]> {
    if (sha256s.length === 0) return [];
    return this.conn.query<IndexedMessage>(`SELECT ${MESSAGE} FROM messages m WHERE m.sha256 = ANY($1::text[]) ORDER BY m.id`, [sha256s], 'reading the messages of blobs');
  }

  async purged(sha256s: string[]): Promise<Set<string>> {
    if (sha256s.length === 0) return new Set();
    const rows = await this.conn.query<{ sha256: string }>('SELECT sha256 FROM purged_blobs WHERE sha256 = ANY($1::text[])', [sha256s], 'reading the purged blobs');
    return new Set(rows.map((r) => r.sha256));
  }

  async reindex(blob: CatalogueRow, connection: string, takenAt: number): Promise<number | null> {
    return this.conn.tx(`indexing blob ${blob.sha256} again`, async (c) => {
      const catalogued =
        ((await c.query('INSERT INTO blobs (sha256, ref, stored_size, size) VALUES ($1, $2, $3, $4) ON CONFLICT (sha256) DO NOTHING', [blob.sha256, blob.ref, blob.storedSize, blob.size])).rowCount ?? 0) > 0;
      // A message of the blob there already: only its catalogue row was lost.
      const existing = (await c.query<{ id: number }>('SELECT id FROM messages WHERE sha256 = $1 ORDER BY id LIMIT 1', [blob.sha256])).rows[0];
      if (existing) return catalogued ? existing.id : null;
      // mailbox '' and UIDVALIDITY 0: taken from no mailbox; parse_state 0 queues it for the parse.
      const r = await c.query<{ id: number }>(
        "INSERT INTO messages (connection, sha256, size, mailbox, uid_validity, taken_at, parse_state) VALUES ($1, $2, $3, '', 0, $4, 0) RETURNING id",
        [connection, blob.sha256, blob.size, takenAt],
      );
      return r.rows[0]!.id;
    });
  }
}
