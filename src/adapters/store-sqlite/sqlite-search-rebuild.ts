/**
 * The store's side of the re-index job (`SearchRebuild`, core/ports/search-rebuild.ts; ADR 0041):
 * the parsed messages read from `archive.db`, the build state from `search.db`'s `search_meta`
 * (attached as `s`), and the rows with their progress written through the index writer thread in
 * one transaction (fts-writer-worker.ts).
 */
import type { IndexBuildState, IndexProgress, SearchRebuild } from '../../core/ports/search-rebuild.js';
import { progressOf } from '../../core/archive/reindex.js';
import type { UnparsedMessage } from '../../core/ports/parse-queue.js';
import type { IndexEntry } from '../../core/message/parsed-record.js';
import type { SqliteConnection } from './sqlite-connection.js';
import type { SqliteSearchIndex } from './sqlite-search-index.js';
import { metaWritesOf, SEARCH_INDEX_VERSION, storedBuildState } from './fts-version.js';
import { mapSqliteError } from './sqlite-error-map.js';

/** `SearchRebuild` on the shared connection and the index writer thread. */
export class SqliteSearchRebuild implements SearchRebuild {
  readonly indexVersion = SEARCH_INDEX_VERSION;

  constructor(
    private readonly conn: SqliteConnection,
    private readonly index: SqliteSearchIndex,
  ) {}

  async buildState(): Promise<IndexBuildState> {
    try {
      return storedBuildState(this.conn);
    } catch (err) {
      throw mapSqliteError(err, 'reading the search index version');
    }
  }

  async rebuildScope(): Promise<{ end: number; total: number }> {
    const r = this.conn.stmt('SELECT COALESCE(MAX(id), 0) AS end, COUNT(*) AS total FROM messages WHERE parse_state <> 0').get() as { end: number; total: number };
    return r;
  }

  async listIndexed(afterId: number, endId: number, limit: number): Promise<UnparsedMessage[]> {
    const rows = this.conn
      .stmt(
        `SELECT m.id, m.connection, m.sha256, m.size, b.ref, b.stored_size AS storedSize FROM messages m JOIN blobs b ON b.sha256 = m.sha256
         WHERE m.id > ? AND m.id <= ? AND m.parse_state <> 0 ORDER BY m.id LIMIT ?`,
      )
      .all(afterId, endId, limit) as Array<{ id: number; connection: string; sha256: string; size: number; ref: string; storedSize: number }>;
    return rows.map((r) => ({ id: r.id, connection: r.connection, sha256: r.sha256, size: r.size, blob: { ref: r.ref, storedSize: r.storedSize } }));
  }

  async writeRebuilt(entries: IndexEntry[], state: IndexBuildState): Promise<void> {
    await this.index.writeWithMeta(entries, metaWritesOf(state));
    if (entries.length === 0) return;
    // A message purged while its row was being rebuilt: the purge removed its row before this
    // write put it back (its removal is posted after its commit), so it goes again.
    const gone = this.conn
      .stmt('SELECT j.value AS id FROM json_each(?) j WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = j.value)')
      .pluck()
      .all(JSON.stringify(entries.map((e) => e.id))) as number[];
    if (gone.length > 0) await this.index.remove(gone);
  }

  /** Whether the index is being rebuilt, and how far (`search` says so while it is). */
  async indexProgress(): Promise<IndexProgress> {
    return progressOf(await this.buildState(), this.indexVersion, async () => (await this.rebuildScope()).total);
  }
}
