/**
 * The metadata side of `mailsluice verify` on SQLite (`ArchiveIndexCheck`, ADR 0031): the blob
 * catalogue (`blobs`), the archived messages (`messages`) held against it, and repair's one
 * write, a message row queued for the parse. Works on a read-only connection but for `reindex`.
 */
import type { ArchiveIndexCheck, CatalogueRow, IndexedMessage } from '../../core/ports/archive-check.js';
import type { SqliteConnection } from './sqlite-connection.js';
import { mapSqliteError } from './sqlite-error-map.js';

const MESSAGE = 'm.id AS id, m.sha256 AS sha256, m.connection AS connection, m.message_id AS messageId, m.subject AS subject';
const CATALOGUE = 'b.sha256 AS sha256, b.ref AS ref, b.size AS size, b.stored_size AS storedSize';

/** Reads the catalogue and the index rows on the shared connection. */
export class SqliteArchiveCheck implements ArchiveIndexCheck {
  constructor(private readonly conn: SqliteConnection) {}

  #all<T>(sql: string, what: string, ...params: unknown[]): T[] {
    try {
      return this.conn.stmt(sql).all(...params) as T[];
    } catch (err) {
      throw mapSqliteError(err, what);
    }
  }

  async catalogue(): Promise<CatalogueRow[]> {
    return this.#all(`SELECT ${CATALOGUE} FROM blobs b`, 'reading the blob catalogue');
  }

  async countMessages(): Promise<number> {
    return this.#all<{ n: number }>('SELECT COUNT(*) AS n FROM messages', 'counting messages')[0]?.n ?? 0;
  }

  async messagesWithoutCatalogue(): Promise<IndexedMessage[]> {
    return this.#all(`SELECT ${MESSAGE} FROM messages m WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = m.sha256) ORDER BY m.id`, 'looking for messages without a blob');
  }

  async catalogueWithoutMessage(): Promise<CatalogueRow[]> {
    // Every hash that has a message, once (one pass over the messages), rather than a lookup per
    // blob: messages has no index by hash alone (sqlite-archive-reader.ts says why).
    return this.#all(
      `SELECT ${CATALOGUE} FROM blobs b WHERE b.sha256 NOT IN (SELECT DISTINCT sha256 FROM messages)`,
      'looking for blobs without a message',
    );
  }

  async messagesOf(sha256s: string[]): Promise<IndexedMessage[]> {
    if (sha256s.length === 0) return [];
    return this.#all(`SELECT ${MESSAGE} FROM messages m WHERE m.sha256 IN (SELECT value FROM json_each(?)) ORDER BY m.id`, 'reading the messages of blobs', JSON.stringify(sha256s));
  }

  async purged(sha256s: string[]): Promise<Set<string>> {
    if (sha256s.length === 0 || !this.conn.hasTable('purged_blobs')) return new Set();
    return new Set(this.#all<{ sha256: string }>('SELECT sha256 FROM purged_blobs WHERE sha256 IN (SELECT value FROM json_each(?))', 'reading the purged blobs', JSON.stringify(sha256s)).map((r) => r.sha256));
  }

  async reindex(blob: CatalogueRow, connection: string, takenAt: number): Promise<number | null> {
    try {
      return this.conn.db
        .transaction(() => {
          const catalogued = this.conn.stmt('INSERT OR IGNORE INTO blobs (sha256, ref, stored_size, size) VALUES (?, ?, ?, ?)').run(blob.sha256, blob.ref, blob.storedSize, blob.size).changes > 0;
          // A message of the blob there already: only its catalogue row was lost.
          const existing = this.conn.stmt('SELECT id FROM messages WHERE sha256 = ? ORDER BY id LIMIT 1').get(blob.sha256) as { id: number } | undefined;
          if (existing) return catalogued ? existing.id : null;
          // mailbox '' and UIDVALIDITY 0: taken from no mailbox; parse_state 0 queues it for the parse.
          const r = this.conn
            .stmt("INSERT INTO messages (connection, sha256, size, mailbox, uid_validity, taken_at, parse_state) VALUES (?, ?, ?, '', 0, ?, 0)")
            .run(connection, blob.sha256, blob.size, takenAt);
          return Number(r.lastInsertRowid);
        })
        .immediate();
    } catch (err) {
      throw mapSqliteError(err, `indexing blob ${blob.sha256} again`);
    }
  }
}
