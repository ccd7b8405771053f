/**
 * The metadata side of `mailsluice verify` on SQLite (`ArchiveIndexCheck`, ADR 0031): the blob
 * catalogue (`blobs`), the archived messages (`messages`) held against it, and repair's one
 * write, a message row queued for the parse. Works on a read-only connection but for `reindex`.
 * Read a page at a time by key (the port says why), with a turn of the event loop before each.
 */
import { setImmediate } from 'node:timers/promises';
import type { ArchiveIndexCheck, CatalogueRow, IndexedMessage } from '../../core/ports/archive-check.js';
import type { SqliteConnection } from './sqlite-connection.js';
import { mapSqliteError } from './sqlite-error-map.js';
import { immediateOnMain } from '../sqlite-node/sqlite-write-lock.js';

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

  async cataloguePage(after: string | null, limit: number): Promise<CatalogueRow[]> {
    // A turn for the event loop before each page: a running service's drain and API go on.
    await setImmediate();
    // The primary key (blobs is WITHOUT ROWID): each page a range of it.
    return this.#all(`SELECT ${CATALOGUE} FROM blobs b WHERE b.sha256 > ? ORDER BY b.sha256 LIMIT ?`, 'reading the blob catalogue', after ?? '', limit);
  }

  async messagesPage(after: number, limit: number): Promise<IndexedMessage[]> {
    await setImmediate();
    return this.#all(`SELECT ${MESSAGE} FROM messages m WHERE m.id > ? ORDER BY m.id LIMIT ?`, 'reading the archived messages', after, limit);
  }

  async catalogueRowsOf(sha256s: string[]): Promise<CatalogueRow[]> {
    if (sha256s.length === 0) return [];
    await setImmediate();
    return this.#all(`SELECT ${CATALOGUE} FROM blobs b WHERE b.sha256 IN (SELECT value FROM json_each(?))`, 'reading catalogue rows', JSON.stringify(sha256s));
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
      return immediateOnMain(this.conn.db, () => {
          const catalogued = this.conn.stmt('INSERT OR IGNORE INTO blobs (sha256, ref, stored_size, size) VALUES (?, ?, ?, ?)').run(blob.sha256, blob.ref, blob.storedSize, blob.size).changes > 0;
          // A message of the blob there already: only its catalogue row was lost.
          const existing = this.conn.stmt('SELECT id FROM messages WHERE sha256 = ? ORDER BY id LIMIT 1').get(blob.sha256) as { id: number } | undefined;
          if (existing) return catalogued ? existing.id : null;
          // mailbox '' and UIDVALIDITY 0: taken from no mailbox; parse_state 0 queues it for the parse.
          const r = this.conn
            .stmt("INSERT INTO messages (connection, sha256, size, mailbox, uid_validity, taken_at, parse_state) VALUES (?, ?, ?, '', 0, ?, 0)")
            .run(connection, blob.sha256, blob.size, takenAt);
          return Number(r.lastInsertRowid);
        });
    } catch (err) {
      throw mapSqliteError(err, `indexing blob ${blob.sha256} again`);
    }
  }
}
