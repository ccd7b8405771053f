/**
 * The version of what search.db's full-text rows hold (issue 17, item 3; ADR 0041), apart from
 * the schema's migrations: a build that indexes differently (stems) raises
 * {@link SEARCH_INDEX_VERSION}, and rows written by an older build are rebuilt from the raw
 * messages by the re-index job (core/archive/reindex.ts) until the stored version reaches it.
 * Kept in search.db's `search_meta` (a SEARCH_MIGRATIONS entry), written only by the index writer
 * thread, in the same transaction as the rows it describes.
 */
import type Database from 'better-sqlite3';
import type { IndexBuildState } from '../../core/ports/search-rebuild.js';
import { retain } from '../sqlite-node/sqlite-retain.js';
import type { SqliteConnection } from './sqlite-connection.js';

/**
 * What this build's index writer puts in a full-text row: 1 the words (`messages_fts`), 2 a column
 * per field and their stems (`messages_search`), 3 also `ATTACHMENT_MARK` (core/search/index-terms.ts) in `stems`, 4 also
 * an `addressToken` (core/search/index-terms.ts) for each address in the address columns.
 */
export const SEARCH_INDEX_VERSION = 4;

/** The first version whose rows carry `ATTACHMENT_MARK` (core/search/index-terms.ts). */
export const ATTACHMENT_MARK_VERSION = 3;

/** The first version whose address columns carry `addressToken`s (core/search/index-terms.ts). */
export const ADDRESS_TOKEN_VERSION = 4;

/** The full-text table of this version (sqlite-schema.ts: a column per field and `stems`). */
export const SEARCH_TABLE = 'messages_search';

/** An index that never recorded a version was written by a build before versions: 1. */
const UNRECORDED_VERSION = 1;

/** search.db's `search_meta` table (created by a migration; `IF NOT EXISTS` for a merge that creates it twice). */
export const SEARCH_META_DDL = 'CREATE TABLE IF NOT EXISTS search_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID';

/** One write of `search_meta`: a value set, or (null) removed. */
export type MetaWrite = [key: string, value: number | null];

/** The build state as `search_meta`'s rows hold it (none: an index before versions, no rebuild). */
export function buildStateOf(rows: ReadonlyArray<{ key: string; value: number }>): IndexBuildState {
  const m = new Map(rows.map((r) => [r.key, r.value]));
  const target = m.get('rebuild_target');
  return {
    version: m.get('version') ?? UNRECORDED_VERSION,
    rebuild:
      target === undefined
        ? null
        : { target, after: m.get('rebuild_after') ?? 0, end: m.get('rebuild_end') ?? 0, done: m.get('rebuild_done') ?? 0, total: m.get('rebuild_total') ?? 0 },
  };
}

/** The build state `search.db` (attached as `s`) records; an index before versions when it records none. */
export function storedBuildState(conn: SqliteConnection): IndexBuildState {
  // Read-only without a search.db (nothing attached): an index before versions, empty.
  if (!conn.searchAttached) return buildStateOf([]);
  // An older search.db opened read-only has no search_meta yet: an index before versions.
  const has = conn.stmt("SELECT 1 FROM s.sqlite_master WHERE type = 'table' AND name = 'search_meta'").get() !== undefined;
  return buildStateOf(has ? (conn.stmt('SELECT key, value FROM s.search_meta').all() as Array<{ key: string; value: number }>) : []);
}

/** The writes that record `state` (a finished rebuild's keys removed). */
export function metaWritesOf(state: IndexBuildState): MetaWrite[] {
  const r = state.rebuild;
  return [
    ['version', state.version],
    ['rebuild_target', r ? r.target : null],
    ['rebuild_after', r ? r.after : null],
    ['rebuild_end', r ? r.end : null],
    ['rebuild_done', r ? r.done : null],
    ['rebuild_total', r ? r.total : null],
  ];
}

/**
 * Records this build's version in an index that has none yet when no message was indexed before
 * (a new archive, or one whose messages all wait for the parse): nothing to rebuild. An index with
 * rows from a build before versions keeps none, and is rebuilt. `search` is `search.db`, migrated.
 */
export function recordVersionOfNewIndex(search: Database.Database, anyIndexed: () => boolean): void {
  if (retain(search.prepare("SELECT 1 FROM search_meta WHERE key = 'version'")).get() !== undefined) return;
  if (anyIndexed()) return;
  retain(search.prepare("INSERT INTO search_meta (key, value) VALUES ('version', ?)")).run(SEARCH_INDEX_VERSION);
}
