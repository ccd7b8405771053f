/**
 * Legal holds on PostgreSQL (`HoldStore`; docs/legal-hold.md): `legal_holds` (a trigger keeps
 * every hold and lets only its release be written, once), holds by id answered here, and a hold's
 * query held against messages through the `SearchIndex` port, the same search `search` answers,
 * so a hold matches what a search with its words lists. The query is read as the core reads a
 * hold's (`holdQueryTree`: fixed dates only); this adapter decides nothing about what it means.
 *
 * Until PostgreSQL's full-text search exists, the search refuses a text query: a hold by query is
 * placed, but evaluating it (the purge asking `matchAmong`) fails, so nothing is purged while a
 * query hold stands unevaluated (fail closed).
 */
import type pg from 'pg';
import { holdExists, holdNotFound, holdQueryTree, holdReleasedAlready, unknownHoldIds, type LegalHold } from '../../core/holds/legal-hold.js';
import type { HoldStore } from '../../core/ports/hold-store.js';
import type { SearchIndex } from '../../core/ports/search-index.js';
import type { QueryNode } from '../../core/search/query-language.js';
import type { PostgresConnection } from './postgres-connection.js';

const COLUMNS = `name, reason, query, ids, placed_by AS "placedBy", placed_at AS "placedAt",
  released_by AS "releasedBy", released_at AS "releasedAt", release_reason AS "releaseReason"`;

/** Hits per search page while a query's matches are gathered. */
const PAGE = 1000;

/** bigint[] comes back as strings (the pool reads only int8 itself as numbers). */
type Row = Omit<LegalHold, 'ids'> & { ids: Array<string | number> };

const toHold = (r: Row): LegalHold => ({ ...r, ids: r.ids.map(Number) });

/** Keeps legal holds in the deployment's schema; evaluates their queries through `search`. */
export class PostgresHoldStore implements HoldStore {
  constructor(
    private readonly conn: PostgresConnection,
    private readonly search: SearchIndex,
  ) {}

  async placeHold(hold: LegalHold): Promise<void> {
    if (hold.query !== null) holdQueryTree(hold.name, hold.query);
    await this.conn.tx(`placing hold ${hold.name}`, async (c) => {
      const missing = await this.missingIds(c, hold.ids);
      if (missing.length > 0) throw unknownHoldIds(hold.name, missing);
      const placed = await c.query(
        'INSERT INTO legal_holds (name, reason, query, ids, placed_by, placed_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING RETURNING name',
        [hold.name, hold.reason, hold.query, hold.ids, hold.placedBy, hold.placedAt],
      );
      if (placed.rowCount === 0) throw holdExists(hold.name);
    });
  }

  async releaseHold(name: string, release: { by: string; at: number; reason: string }): Promise<LegalHold> {
    return this.conn.tx(`releasing hold ${name}`, async (c) => {
      // FOR UPDATE: two releases at once, one wins and the other reads it released.
      const row = (await c.query<Row>(`SELECT ${COLUMNS} FROM legal_holds WHERE name = $1 FOR UPDATE`, [name])).rows[0];
      if (!row) throw holdNotFound(name);
      const hold = toHold(row);
      if (hold.releasedAt !== null) throw holdReleasedAlready(hold);
      await c.query('UPDATE legal_holds SET released_by = $1, released_at = $2, release_reason = $3 WHERE name = $4', [release.by, release.at, release.reason, name]);
      return { ...hold, releasedBy: release.by, releasedAt: release.at, releaseReason: release.reason };
    });
  }

  async getHold(name: string): Promise<LegalHold | null> {
    const rows = await this.conn.query<Row>(`SELECT ${COLUMNS} FROM legal_holds WHERE name = $1`, [name], `reading hold ${name}`);
    return rows[0] ? toHold(rows[0]) : null;
  }

  async listHolds(options: { all?: boolean } = {}): Promise<LegalHold[]> {
    const where = options.all ? '' : 'WHERE released_at IS NULL';
    const rows = await this.conn.query<Row>(`SELECT ${COLUMNS} FROM legal_holds ${where} ORDER BY released_at IS NOT NULL, name`, [], 'listing holds');
    return rows.map(toHold);
  }

  async matchAmong(query: string, ids: readonly number[]): Promise<number[]> {
    if (ids.length === 0) return [];
    const tree = holdQueryTree('(kept)', query);
    // A merged journal report is judged as the message it is merged into (what search lists).
    const rows = await this.conn.query<{ id: number; judged: number; unparsed: boolean }>(
      'SELECT id, coalesce(merged_into, id) AS judged, parse_state = 0 AS unparsed FROM messages WHERE id = ANY($1::bigint[])',
      [ids],
      'reading the messages a hold query is held against',
    );
    if (rows.length === 0) return [];
    const judged = rows.map((r) => r.judged);
    const matched = await this.matching(tree, Math.min(...judged), Math.max(...judged));
    // Not parsed yet: no text to judge, so held until it is (the purge never outruns the parse).
    return rows
      .filter((r) => r.unparsed || matched.has(r.judged))
      .map((r) => r.id)
      .sort((a, b) => a - b);
  }

  async countHeld(hold: Pick<LegalHold, 'query' | 'ids'>): Promise<number> {
    const existing = await this.conn.query<{ id: number }>('SELECT id FROM messages WHERE id = ANY($1::bigint[])', [hold.ids], 'counting held messages');
    if (hold.query === null) return existing.length;
    // What search lists for the query (primaries), and the ids besides.
    const matched = await this.matching(holdQueryTree('(kept)', hold.query), 1, Number.MAX_SAFE_INTEGER);
    return matched.size + existing.filter((r) => !matched.has(r.id)).length;
  }

  async messageIdsOf(sha256: string): Promise<number[]> {
    const rows = await this.conn.query<{ id: number }>('SELECT id FROM messages WHERE sha256 = $1 ORDER BY id', [sha256], `finding the messages of ${sha256}`);
    return rows.map((r) => r.id);
  }

  /**
   * The ids from `low` to `high` that `search` lists for `tree`, read page by page downwards
   * (search answers newest first; `beforeId` is its cursor) until a page ends below `low`.
   */
  private async matching(tree: QueryNode, low: number, high: number): Promise<Set<number>> {
    const out = new Set<number>();
    for (let before = high + 1; ; ) {
      const hits = await this.search.search({ query: tree, beforeId: before, limit: PAGE });
      for (const h of hits) if (h.id >= low) out.add(h.id);
      if (hits.length < PAGE || hits[hits.length - 1]!.id <= low) return out;
      before = hits[hits.length - 1]!.id;
    }
  }

  private async missingIds(c: pg.PoolClient, ids: readonly number[]): Promise<number[]> {
    if (ids.length === 0) return [];
    const found = new Set((await c.query<{ id: number }>('SELECT id FROM messages WHERE id = ANY($1::bigint[])', [ids])).rows.map((r) => r.id));
    return ids.filter((id) => !found.has(id));
  }
}
