/**
 * Legal holds on SQLite (`HoldStore`): the `legal_holds` table of `archive.db` (triggers keep
 * every hold and let only its release be written, once), and a hold's query held against
 * messages through the same full-text index and query language as `search` (`fts-query.ts`).
 */
import { MailsluiceError } from '../../core/errors/index.js';
import { invalidHold, type LegalHold } from '../../core/holds/legal-hold.js';
import type { HoldStore } from '../../core/ports/hold-store.js';
import type { SqliteConnection } from './sqlite-connection.js';
import { toFtsQuery } from './fts-query.js';
import { mapSqliteError } from './sqlite-error-map.js';

const COLUMNS = `name, reason, query, ids, placed_by AS placedBy, placed_at AS placedAt,
  released_by AS releasedBy, released_at AS releasedAt, release_reason AS releaseReason`;

type Row = Omit<LegalHold, 'ids'> & { ids: string };

/** Past this many hits per id asked in their span, a query is asked row by row instead (`ftsHits`). */
const SPAN_HITS_PER_ID = 20;

const toHold = (r: Row): LegalHold => ({ ...r, ids: JSON.parse(r.ids) as number[] });

/** The FTS5 expression of a hold's query, or `HOLD_INVALID` naming the query's problem. */
function ftsOf(name: string, query: string): string {
  try {
    const match = toFtsQuery(query);
    // The index keeps only letters and digits (unicode61): a query of punctuation alone would be
    // read, match nothing, and hold nothing without a word said.
    if (match === null || !/[\p{L}\p{N}]/u.test(query)) throw new MailsluiceError('SEARCH_QUERY_INVALID', 'search query: it holds no word (letters or digits), so it would hold nothing');
    return match;
  } catch (err) {
    if (err instanceof MailsluiceError && err.code === 'SEARCH_QUERY_INVALID') throw invalidHold(name, [{ field: 'query', message: err.message }]);
    throw err;
  }
}

/** Keeps legal holds and evaluates their queries on the shared connection. */
export class SqliteHoldStore implements HoldStore {
  constructor(private readonly conn: SqliteConnection) {}

  async placeHold(hold: LegalHold): Promise<void> {
    if (hold.query !== null) ftsOf(hold.name, hold.query);
    try {
      this.conn.db.transaction(() => {
        const missing = this.missingIds(hold.ids);
        if (missing.length > 0) {
          const shown = missing.slice(0, 10).join(', ') + (missing.length > 10 ? ` and ${missing.length - 10} more` : '');
          throw invalidHold(hold.name, [{ field: 'ids', message: `no archived message has the id ${shown} (the id of a search hit)` }]);
        }
        this.conn
          .stmt('INSERT INTO legal_holds (name, reason, query, ids, placed_by, placed_at) VALUES (?, ?, ?, ?, ?, ?)')
          .run(hold.name, hold.reason, hold.query, JSON.stringify(hold.ids), hold.placedBy, hold.placedAt);
      }).immediate();
    } catch (err) {
      if (err instanceof MailsluiceError) throw err;
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new MailsluiceError('HOLD_EXISTS', `a hold named "${hold.name}" was placed before (mailsluice hold list --all); choose another name`);
      }
      throw mapSqliteError(err, `placing hold ${hold.name}`);
    }
  }

  async releaseHold(name: string, release: { by: string; at: number; reason: string }): Promise<LegalHold> {
    try {
      return this.conn.db.transaction(() => {
        const hold = this.get(name);
        if (!hold) throw notFound(name);
        if (hold.releasedAt !== null) {
          throw new MailsluiceError('HOLD_RELEASED', `hold "${name}" was released already, by ${hold.releasedBy} at ${new Date(hold.releasedAt).toISOString()}`);
        }
        this.conn.stmt('UPDATE legal_holds SET released_by = ?, released_at = ?, release_reason = ? WHERE name = ?').run(release.by, release.at, release.reason, name);
        return { ...hold, releasedBy: release.by, releasedAt: release.at, releaseReason: release.reason };
      }).immediate();
    } catch (err) {
      if (err instanceof MailsluiceError) throw err;
      throw mapSqliteError(err, `releasing hold ${name}`);
    }
  }

  async getHold(name: string): Promise<LegalHold | null> {
    try {
      return this.get(name);
    } catch (err) {
      throw mapSqliteError(err, `reading hold ${name}`);
    }
  }

  async listHolds(options: { all?: boolean } = {}): Promise<LegalHold[]> {
    try {
      if (!this.conn.hasTable('legal_holds')) return []; // an older archive opened read-only
      const where = options.all ? '' : 'WHERE released_at IS NULL';
      const rows = this.conn.stmt(`SELECT ${COLUMNS} FROM legal_holds ${where} ORDER BY released_at IS NOT NULL, name`).all() as Row[];
      return rows.map(toHold);
    } catch (err) {
      throw mapSqliteError(err, 'listing holds');
    }
  }

  async matchAmong(query: string, ids: readonly number[]): Promise<number[]> {
    if (ids.length === 0) return [];
    const match = ftsOf('(kept)', query);
    try {
      const asked = new Set(ids);
      // The reports merged into an asked message: a match on one holds its primary, as search lists it.
      const merged = this.conn.journalColumns
        ? (this.conn.stmt('SELECT m.id, m.merged_into AS primaryId FROM json_each(?) j JOIN messages m ON m.merged_into = j.value').all(JSON.stringify(ids)) as Array<{ id: number; primaryId: number }>)
        : [];
      const primaryOf = new Map(merged.map((r) => [r.id, r.primaryId]));
      const candidates = [...asked, ...primaryOf.keys()];
      let lo = Infinity;
      let hi = -Infinity;
      for (const id of candidates) {
        if (id < lo) lo = id;
        if (id > hi) hi = id;
      }
      const hits = this.ftsHits(match, candidates, lo, hi);
      const held = new Set<number>();
      for (const { id } of hits) {
        if (asked.has(id)) held.add(id);
        const primary = primaryOf.get(id);
        if (primary !== undefined) held.add(primary);
      }
      // Not parsed yet: no text to judge, so held until it is (the purge never outruns the parse).
      const unparsed = this.conn.stmt('SELECT m.id FROM json_each(?) j JOIN messages m ON m.id = j.value WHERE m.parse_state = 0').all(JSON.stringify(ids)) as Array<{ id: number }>;
      for (const { id } of unparsed) held.add(id);
      return [...held].sort((a, b) => a - b);
    } catch (err) {
      throw mapSqliteError(err, 'matching a hold query');
    }
  }

  async countHeld(hold: Pick<LegalHold, 'query' | 'ids'>): Promise<number> {
    try {
      const ids = JSON.stringify(hold.ids);
      if (hold.query === null) return (this.conn.stmt('SELECT COUNT(*) AS n FROM json_each(?) j JOIN messages m ON m.id = j.value').get(ids) as { n: number }).n;
      const match = ftsOf('(kept)', hold.query);
      const journal = this.conn.journalColumns;
      // What search lists for the query (a merged report through its primary), and the ids besides.
      const matched = journal
        ? 'SELECT COALESCE(h.merged_into, h.id) AS id FROM s.messages_fts f JOIN messages h ON h.id = f.rowid WHERE f.messages_fts MATCH ?'
        : 'SELECT f.rowid AS id FROM s.messages_fts f WHERE f.messages_fts MATCH ?';
      const sql = `SELECT COUNT(*) AS n FROM (${matched} UNION SELECT m.id FROM json_each(?) j JOIN messages m ON m.id = j.value)`;
      return (this.conn.stmt(sql).get(match, ids) as { n: number }).n;
    } catch (err) {
      throw mapSqliteError(err, 'counting held messages');
    }
  }

  async messageIdsOf(sha256: string): Promise<number[]> {
    try {
      // Through UNIQUE(connection, sha256) one connection at a time (a skip scan), as findArchived does.
      const rows = this.conn
        .stmt(
          `WITH RECURSIVE conns(name) AS (
             SELECT MIN(connection) FROM messages
             UNION ALL
             SELECT (SELECT MIN(connection) FROM messages WHERE connection > conns.name) FROM conns WHERE conns.name IS NOT NULL
           )
           SELECT m.id FROM conns JOIN messages m ON m.connection = conns.name AND m.sha256 = ? ORDER BY m.id`,
        )
        .all(sha256) as Array<{ id: number }>;
      return rows.map((r) => r.id);
    } catch (err) {
      throw mapSqliteError(err, `finding the messages of ${sha256}`);
    }
  }

  /**
   * The rows among `candidates` (spanning `lo`..`hi`) that `match` matches. First one pass over
   * the query's hits within the span (FTS5 bounds a rowid range itself), the ids picked out here;
   * a query common in a wide span stops at {@link SPAN_HITS_PER_ID} hits per id and asks row by
   * row instead. Measured on 100,000 messages, 1,000 ids spread over all of them: a word in one
   * message of a hundred 1.4 ms by the span, 79 ms row by row; a word in every message 238 ms by
   * the span, 47 ms row by row.
   */
  private ftsHits(match: string, candidates: readonly number[], lo: number, hi: number): Array<{ id: number }> {
    const cap = candidates.length * SPAN_HITS_PER_ID;
    const spanned = this.conn.stmt('SELECT f.rowid AS id FROM s.messages_fts f WHERE f.messages_fts MATCH ? AND f.rowid BETWEEN ? AND ? LIMIT ?').all(match, lo, hi, cap + 1) as Array<{ id: number }>;
    if (spanned.length <= cap) return spanned;
    return this.conn
      .stmt('SELECT j.value AS id FROM json_each(?) j WHERE EXISTS (SELECT 1 FROM s.messages_fts f WHERE f.messages_fts MATCH ? AND f.rowid = j.value)')
      .all(JSON.stringify(candidates), match) as Array<{ id: number }>;
  }

  private get(name: string): LegalHold | null {
    if (!this.conn.hasTable('legal_holds')) return null;
    const row = this.conn.stmt(`SELECT ${COLUMNS} FROM legal_holds WHERE name = ?`).get(name) as Row | undefined;
    return row ? toHold(row) : null;
  }

  private missingIds(ids: readonly number[]): number[] {
    if (ids.length === 0) return [];
    const found = new Set((this.conn.stmt('SELECT m.id FROM json_each(?) j JOIN messages m ON m.id = j.value').all(JSON.stringify(ids)) as Array<{ id: number }>).map((r) => r.id));
    return ids.filter((id) => !found.has(id));
  }
}

function notFound(name: string): MailsluiceError {
  return new MailsluiceError('HOLD_NOT_FOUND', `no hold named "${name}" (mailsluice hold list --all shows them)`);
}
