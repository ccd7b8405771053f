/**
 * The store's side of the re-index job on PostgreSQL (`SearchRebuild`, core/ports/search-rebuild.ts;
 * ADR 0051): the parsed messages by id range, the build state in `search_meta` (one JSON value),
 * and the rebuilt rows written with it in one transaction (postgres-search-rows.ts). The rows'
 * format has one version so far ({@link POSTGRES_SEARCH_VERSION}); a schema with no state stored
 * is at it, since every row was written by this format's parse save.
 */
import type { IndexBuildState, IndexProgress, SearchRebuild } from '../../core/ports/search-rebuild.js';
import type { UnparsedMessage } from '../../core/ports/parse-queue.js';
import type { IndexEntry } from '../../core/message/parsed-record.js';
import type { PostgresConnection } from './postgres-connection.js';
import { writeSearchRows } from './postgres-search-rows.js';
import { progressOf } from '../../core/archive/reindex.js';

/** The version of `message_search.doc`'s format (postgres-search-rows.ts); raised when it changes, so a rebuild runs. */
export const POSTGRES_SEARCH_VERSION = 1;

/** The `search_meta` key of the build state. */
const BUILD_KEY = 'build';

/** `SearchRebuild` on the shared pool. */
export class PostgresSearchRebuild implements SearchRebuild {
  readonly indexVersion = POSTGRES_SEARCH_VERSION;

  constructor(private readonly conn: PostgresConnection) {}

  async buildState(): Promise<IndexBuildState> {
    const rows = await this.conn.query<{ value: string }>('SELECT value FROM search_meta WHERE key = $1', [BUILD_KEY], 'reading the search index version');
    return rows[0] ? (JSON.parse(rows[0].value) as IndexBuildState) : { version: POSTGRES_SEARCH_VERSION, rebuild: null };
  }

  async rebuildScope(): Promise<{ end: number; total: number }> {
    const rows = await this.conn.query<{ end: number; total: number }>(
      'SELECT coalesce(max(id), 0) AS "end", count(*) AS total FROM messages WHERE parse_state <> 0',
      [],
      'measuring the search index rebuild',
    );
    return rows[0]!;
  }

  async listIndexed(afterId: number, endId: number, limit: number): Promise<UnparsedMessage[]> {
    const rows = await this.conn.query<{ id: number; connection: string; sha256: string; size: number; ref: string; storedSize: number }>(
      `SELECT m.id, m.connection, m.sha256, m.size, b.ref, b.stored_size AS "storedSize" FROM messages m JOIN blobs b ON b.sha256 = m.sha256
       WHERE m.id > $1 AND m.id <= $2 AND m.parse_state <> 0 ORDER BY m.id LIMIT $3`,
      [afterId, endId, limit],
      'listing the messages to index again',
    );
    return rows.map((r) => ({ id: r.id, connection: r.connection, sha256: r.sha256, size: r.size, blob: { ref: r.ref, storedSize: r.storedSize } }));
  }

  async writeRebuilt(entries: IndexEntry[], state: IndexBuildState): Promise<void> {
    await this.conn.tx(`writing ${entries.length} rebuilt search rows`, async (c) => {
      // A message purged meanwhile has no row to get back: its row left with it (ON DELETE
      // CASCADE), and one written now would reference nothing. Locked, so no purge comes between.
      const ids = entries.map((e) => e.id);
      const live = new Set((await c.query<{ id: number }>('SELECT id FROM messages WHERE id = ANY($1::bigint[]) FOR KEY SHARE', [ids])).rows.map((r) => r.id));
      await writeSearchRows(c, entries.filter((e) => live.has(e.id)));
      await c.query('INSERT INTO search_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value', [BUILD_KEY, JSON.stringify(state)]);
    });
  }

  /** Whether the index is being rebuilt, and how far (`search` says so while it is). */
  async indexProgress(): Promise<IndexProgress> {
    return progressOf(await this.buildState(), this.indexVersion, async () => (await this.rebuildScope()).total);
  }
}
