/**
 * The version of what the full-text rows of `search.db` hold (issue 17). `search_meta`'s
 * `index_version` says which version the rows there were written by; below
 * {@link SEARCH_INDEX_VERSION}, existing messages' rows are missing or of an older shape and the
 * re-index from the raw messages rebuilds them, then records this version. Not `PRAGMA
 * user_version`: that counts the migrations run (sqlite-upgrade.ts).
 *
 * - 1: the rows from before the query language (`messages_fts`), dropped by the migration that
 *   made `messages_search`, which starts empty;
 * - 2: `messages_search`, a column per field and the `stems` column (sqlite-schema.ts).
 */
import type Database from 'better-sqlite3';
import { retain } from '../sqlite-node/sqlite-retain.js';

/** The version the index writer writes rows of. */
export const SEARCH_INDEX_VERSION = 2;

/** The full-text table of this version. */
export const SEARCH_TABLE = 'messages_search';

/** The `index_version` recorded in `db` (`search.db`, or attached as `schema`), 0 when none is. */
export function readIndexVersion(db: Database.Database, schema = 'main'): number {
  const has = retain(db.prepare(`SELECT 1 FROM ${schema}.sqlite_master WHERE type = 'table' AND name = 'search_meta'`)).get();
  if (!has) return 0;
  const v = retain(db.prepare(`SELECT value FROM ${schema}.search_meta WHERE key = 'index_version'`)).pluck().get() as number | undefined;
  return v ?? 0;
}

/** Records `version` as the rows' version (the re-index, once every message's row is rebuilt). */
export function writeIndexVersion(db: Database.Database, version: number, schema = 'main'): void {
  retain(db.prepare(`INSERT OR REPLACE INTO ${schema}.search_meta (key, value) VALUES ('index_version', ?)`)).run(version);
}
