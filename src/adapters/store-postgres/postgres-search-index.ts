/**
 * The search index on PostgreSQL (`SearchIndex`): the search language's tree translated by
 * postgres-search-translate.ts against `message_search.doc` (a GIN-indexed tsvector written by
 * the parse save, postgres-search-rows.ts), joined with the messages' search columns; newest
 * first, a journal report merged into another never listed (a match on its row lists the primary).
 */
import type { SearchCount, SearchHit, SearchIndex, SearchQuery } from '../../core/ports/search-index.js';
import type { PostgresConnection } from './postgres-connection.js';
import { numbered, translateQuery, tsDriven, type SqlCondition } from './postgres-search-translate.js';

/** The columns of a hit as the row `m` has them. */
const HIT_COLUMNS = `m.id, m.sha256, m.connection, coalesce(m.from_addr, '') AS "from", coalesce(m.subject, '') AS subject, m.date, m.size,
  coalesce(strpos(m.attributes, '"Probe":true') > 0, false) AS probe`;

/** `%text%` for LIKE, its wildcards escaped. */
const like = (text: string): string => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** What a count out of time counts up to, with no time limit. */
const FALLBACK_PAGE = 100;

/** SQLSTATE query_canceled: a statement_timeout ended the count. */
const QUERY_CANCELED = '57014';

/** How one search runs: its FROM and WHERE (with `?` parameters) and the id column it orders by. */
interface SearchPlan {
  from: string;
  where: SqlCondition;
  order: string;
}

/** Searches the archive on the shared pool. */
export class PostgresSearchIndex implements SearchIndex {
  constructor(private readonly conn: PostgresConnection) {}

  async search(q: SearchQuery): Promise<SearchHit[]> {
    const p = await this.plan(q);
    const sql = `SELECT ${HIT_COLUMNS} FROM ${p.from} WHERE ${p.where.sql} ORDER BY ${p.order} DESC LIMIT ?`;
    const rows = await this.conn.query<SearchHit & { probe: boolean }>(numbered(sql), [...p.where.args, q.limit ?? 100], 'searching the archive');
    return rows.map(({ probe, ...hit }) => (probe ? { ...hit, probe: true } : hit));
  }

  async count(q: SearchQuery, withinMs?: number): Promise<SearchCount> {
    const p = await this.plan(q);
    const cap = q.limit;
    const exact = await this.countUpTo(p, cap === undefined ? undefined : cap + 1, withinMs);
    if (exact !== null) return cap !== undefined && exact > cap ? { total: cap, more: true } : { total: exact, more: false };
    // Out of time: counted again up to a page (as costly as the page itself, which the caller
    // reads anyway), exact when fewer match, else a page's worth and "more".
    const page = Math.min(cap ?? FALLBACK_PAGE, FALLBACK_PAGE);
    const some = (await this.countUpTo(p, page + 1, undefined))!;
    return some > page ? { total: page, more: true } : { total: some, more: false };
  }

  /** The matches of `p`, at most `limit`; null when `withinMs` passed first. */
  private async countUpTo(p: SearchPlan, limit: number | undefined, withinMs: number | undefined): Promise<number | null> {
    const sql = numbered(`SELECT count(*) AS n FROM (SELECT 1 FROM ${p.from} WHERE ${p.where.sql}${limit === undefined ? '' : ' LIMIT ?'}) x`);
    const args = limit === undefined ? p.where.args : [...p.where.args, limit];
    if (withinMs === undefined) return (await this.conn.query<{ n: number }>(sql, args, 'counting search hits'))[0]!.n;
    return this.conn.tx(
      'counting search hits',
      async (c) => {
        // Local to this transaction: the pooled connection's other statements keep no limit.
        await c.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.ceil(withinMs))}`);
        try {
          return (await c.query<{ n: number }>(sql, args)).rows[0]!.n;
        } catch (err) {
          // The aborted transaction's COMMIT rolls it back, which is all it holds.
          if ((err as { code?: string }).code === QUERY_CANCELED) return null;
          throw err;
        }
      },
      false,
    );
  }

  /** How `q` is searched: driven by the tsquery every hit holds when there is one, its filters in SQL. */
  private async plan(q: SearchQuery): Promise<SearchPlan> {
    // Checked on the partial index, so nearly free: most archives hold no merged report.
    const merges = q.query !== undefined && (await this.hasMerged());
    const driven = q.query ? tsDriven(q.query, merges) : null;
    const parts: SqlCondition[] = [{ sql: 'm.merged_into IS NULL', args: [] }];
    let from = 'messages m';
    let order = 'm.id';
    if (driven !== null && !merges) {
      // Each match its own listed row: the index's rows joined to theirs (the planner picks the
      // GIN bitmap for a rare word, the id order with the tsquery checked per row for a common one).
      from = 'message_search f JOIN messages m ON m.id = f.id';
      order = 'f.id';
      parts.push({ sql: 'f.doc @@ ?::tsquery', args: [driven.match] });
    } else if (driven !== null) {
      parts.push({ sql: 'm.id IN (SELECT coalesce(h.merged_into, h.id) FROM message_search f JOIN messages h ON h.id = f.id WHERE f.doc @@ ?::tsquery)', args: [driven.match] });
    }
    if (driven?.rest) parts.push(driven.rest);
    if (q.query && driven === null) parts.push(translateQuery(q.query, merges));
    const add = (sql: string, v: unknown): void => {
      if (v !== undefined) parts.push({ sql, args: [v] });
    };
    add("m.from_addr ILIKE ? ESCAPE '\\'", q.from === undefined ? undefined : like(q.from));
    add("m.to_addrs ILIKE ? ESCAPE '\\'", q.to === undefined ? undefined : like(q.to));
    add('m.connection = ?', q.connection);
    add('m.date >= ?', q.since);
    add('m.date < ?', q.before);
    add('m.has_attachments = ?', q.hasAttachment);
    add('m.message_id = ?', q.messageId);
    add(`${order} < ?`, q.beforeId);
    return { from, order, where: { sql: parts.map((p) => `(${p.sql})`).join(' AND '), args: parts.flatMap((p) => p.args) } };
  }

  /** Whether any journal report is merged into another (then a match may list another row); on the partial index `messages_merged` (migration 2). */
  private async hasMerged(): Promise<boolean> {
    const rows = await this.conn.query<{ e: boolean }>('SELECT EXISTS (SELECT 1 FROM messages WHERE merged_into IS NOT NULL) AS e', [], 'searching the archive');
    return rows[0]!.e;
  }
}
