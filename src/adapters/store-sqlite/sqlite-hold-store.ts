/**
 * Legal holds on SQLite (`HoldStore`): the `legal_holds` table of `archive.db` (triggers keep
 * every hold and let only its release be written, once), and a hold's query held against
 * messages through the same full-text index and query language as `search` (core/search/query-language.ts,
 * translated by `fts-translate.ts`), with fixed dates only (a hold must not move with the clock).
 */
import { MailsluiceError } from '../../core/errors/index.js';
import { holdExists, holdNotFound, holdQueryTree, holdReleasedAlready, unknownHoldIds, type LegalHold } from '../../core/holds/legal-hold.js';
import type { HoldStore } from '../../core/ports/hold-store.js';
import type { SqliteConnection } from './sqlite-connection.js';
import { translateQuery, type SqlCondition } from './fts-translate.js';
import { mapSqliteError } from './sqlite-error-map.js';
import { immediateOnMain } from '../sqlite-node/sqlite-write-lock.js';

const COLUMNS = `name, reason, query, ids, placed_by AS placedBy, placed_at AS placedAt,
  released_by AS releasedBy, released_at AS releasedAt, release_reason AS releaseReason`;

type Row = Omit<LegalHold, 'ids'> & { ids: string };

const toHold = (r: Row): LegalHold => ({ ...r, ids: JSON.parse(r.ids) as number[] });

/**
 * The condition a hold's query puts on the message row `m` (its merged journal reports' text
 * counting for it, as search lists it); the query read as the core reads a hold's (`holdQueryTree`).
 */
function conditionOf(name: string, query: string, journal: boolean): SqlCondition {
  return translateQuery(holdQueryTree(name, query), { journal });
}

/** Keeps legal holds and evaluates their queries on the shared connection. */
export class SqliteHoldStore implements HoldStore {
  constructor(private readonly conn: SqliteConnection) {}

  async placeHold(hold: LegalHold): Promise<void> {
    if (hold.query !== null) conditionOf(hold.name, hold.query, this.conn.journalColumns);
    try {
      immediateOnMain(this.conn.db, () => {
        const missing = this.missingIds(hold.ids);
        if (missing.length > 0) throw unknownHoldIds(hold.name, missing);
        this.conn
          .stmt('INSERT INTO legal_holds (name, reason, query, ids, placed_by, placed_at) VALUES (?, ?, ?, ?, ?, ?)')
          .run(hold.name, hold.reason, hold.query, JSON.stringify(hold.ids), hold.placedBy, hold.placedAt);
      });
    } catch (err) {
      if (err instanceof MailsluiceError) throw err;
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw holdExists(hold.name);
      }
      throw mapSqliteError(err, `placing hold ${hold.name}`);
    }
  }

  async releaseHold(name: string, release: { by: string; at: number; reason: string }): Promise<LegalHold> {
    try {
      return immediateOnMain(this.conn.db, () => {
        const hold = this.get(name);
        if (!hold) throw holdNotFound(name);
        if (hold.releasedAt !== null) throw holdReleasedAlready(hold);
        this.conn.stmt('UPDATE legal_holds SET released_by = ?, released_at = ?, release_reason = ? WHERE name = ?').run(release.by, release.at, release.reason, name);
        return { ...hold, releasedBy: release.by, releasedAt: release.at, releaseReason: release.reason };
      });
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
    const journal = this.conn.journalColumns;
    const cond = conditionOf('(kept)', query, journal);
    try {
      // A merged journal report is judged as the message it is merged into (what search lists).
      const judged = journal ? 'JOIN messages m ON m.id = COALESCE(a.merged_into, a.id)' : 'JOIN messages m ON m.id = a.id';
      const held = this.conn.stmt(`SELECT a.id FROM json_each(?) j JOIN messages a ON a.id = j.value ${judged} WHERE ${cond.sql}`).all(JSON.stringify(ids), ...cond.args) as Array<{ id: number }>;
      const out = new Set(held.map((r) => r.id));
      // Not parsed yet: no text to judge, so held until it is (the purge never outruns the parse).
      const unparsed = this.conn.stmt('SELECT m.id FROM json_each(?) j JOIN messages m ON m.id = j.value WHERE m.parse_state = 0').all(JSON.stringify(ids)) as Array<{ id: number }>;
      for (const { id } of unparsed) out.add(id);
      return [...out].sort((a, b) => a - b);
    } catch (err) {
      throw mapSqliteError(err, 'matching a hold query');
    }
  }

  async countHeld(hold: Pick<LegalHold, 'query' | 'ids'>): Promise<number> {
    try {
      const ids = JSON.stringify(hold.ids);
      if (hold.query === null) return (this.conn.stmt('SELECT COUNT(*) AS n FROM json_each(?) j JOIN messages m ON m.id = j.value').get(ids) as { n: number }).n;
      const journal = this.conn.journalColumns;
      const cond = conditionOf('(kept)', hold.query, journal);
      // What search lists for the query (primaries), and the ids besides.
      const matched = `SELECT m.id FROM messages m WHERE ${journal ? 'm.merged_into IS NULL AND ' : ''}${cond.sql}`;
      const sql = `SELECT COUNT(*) AS n FROM (${matched} UNION SELECT m.id FROM json_each(?) j JOIN messages m ON m.id = j.value)`;
      return (this.conn.stmt(sql).get(...cond.args, ids) as { n: number }).n;
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
