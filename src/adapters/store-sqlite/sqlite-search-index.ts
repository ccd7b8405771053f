/**
 * The search index on SQLite (`SearchIndex`): the full-text rows live in `search.db` (FTS5),
 * written by a worker thread of their own (fts-writer-worker.ts) and read attached to
 * `archive.db`, joined with the messages' search columns.
 */
import { Worker } from 'node:worker_threads';
import type { SearchCount, SearchHit, SearchIndex, SearchQuery } from '../../core/ports/search-index.js';
import type { IndexEntry } from '../../core/message/parsed-record.js';
import type { SqliteConnection } from './sqlite-connection.js';
import type { FtsRequest, FtsResponse, FtsRow } from './fts-writer-worker.js';
import { ftsDriven, translateQuery, type FtsDriven } from './fts-translate.js';
import { mapSqliteError } from './sqlite-error-map.js';
import { SqlWhere } from '../sqlite-node/sql-where.js';
import type { CompactResult } from './sqlite-compact.js';
import { SEARCH_TABLE, storedBuildState, type MetaWrite } from './fts-version.js';

/** A message's full-text row as the writer takes it (the writer adds the stems). */
function ftsRowOf(e: IndexEntry): FtsRow {
  return [e.id, e.subject, e.from, e.to, e.cc, e.bcc, e.body, e.attachmentNames, e.hasAttachments ? 1 : 0];
}

/** The columns of a hit as the row `m` has them. */
const HIT_COLUMNS = `m.id, m.sha256, m.connection, COALESCE(m.from_addr, '') AS "from", COALESCE(m.subject, '') AS subject, m.date, m.size,
      instr(m.attributes, '"Probe":true') > 0 AS probe`;

/** A hit as SQL gives it. */
type HitRow = Omit<SearchHit, 'probe'> & { probe: number | null };

/**
 * The tables of a search the index drives, the index first (CROSS JOIN keeps it outermost, so its
 * newest-first order is the walk's): `m` is the listed row, through the matched row `h` when
 * journal reports may be merged; read through `messages_hit_filter` when every condition is on
 * its columns (`lean`).
 */
function drivenFrom(plan: Pick<SearchPlan, 'merges' | 'lean'>): string {
  const lean = plan.lean ? ' INDEXED BY messages_hit_filter' : '';
  return plan.merges
    ? `s.${SEARCH_TABLE} f CROSS JOIN messages h${lean} ON h.id = f.rowid CROSS JOIN messages m${lean} ON m.id = COALESCE(h.merged_into, h.id)`
    : `s.${SEARCH_TABLE} f CROSS JOIN messages m${lean} ON m.id = f.rowid`;
}

/** How one search runs (`SqliteSearchIndex.plan`). */
interface SearchPlan {
  /** The index's part of the query, when it drives the search. */
  driven: FtsDriven | null;
  /** Whether a match may list another row than its own (merged journal reports exist). */
  merges: boolean;
  /** Whether every condition is on a column of `messages_hit_filter` (then the walk reads that index only). */
  lean: boolean;
  /** Every condition, the MATCH first when driven. */
  where: SqlWhere;
}

/** Searches, and writes the full-text rows through the index writer thread. */
export class SqliteSearchIndex implements SearchIndex {
  private fts: Worker | null = null;
  private ftsNext = 1;
  private readonly ftsWaiting = new Map<number, { resolve: (r: FtsResponse) => void; reject: (e: unknown) => void }>();

  constructor(private readonly conn: SqliteConnection) {}

  async search(q: SearchQuery): Promise<SearchHit[]> {
    const limit = q.limit ?? 100;
    try {
      const plan = this.plan(q);
      const rows = plan.driven === null ? this.scanRows(plan, limit) : plan.merges ? this.walkMerged(plan, limit) : this.drivenRows(plan, limit);
      // The mark is written by markProbe at the top level of the attributes' JSON, only ever as true.
      return rows.map(({ probe, ...hit }) => (probe ? { ...hit, probe: true } : hit));
    } catch (err) {
      throw mapSqliteError(err, 'searching');
    }
  }

  async count(q: SearchQuery, withinMs?: number): Promise<SearchCount> {
    const cap = q.limit;
    try {
      const plan = this.plan(q);
      const { where } = plan;
      // One past the cap: whether more match. LIMIT lets SQLite stop there instead of counting every match.
      const sql =
        plan.driven === null
          ? `SELECT m.id FROM messages m ${where.clause()} LIMIT ?`
          : // A message listed once however many of its merged reports match (DISTINCT stops at the cap too).
            `SELECT ${plan.merges ? 'DISTINCT ' : ''}m.id FROM ${drivenFrom(plan)} ${where.clause()} LIMIT ?`;
      const rows = this.conn.stmt(sql).pluck().iterate(...where.args, cap === undefined ? -1 : cap + 1);
      const started = performance.now();
      let n = 0;
      for (;;) {
        const next = rows.next();
        if (next.done) return { total: n, more: false };
        if (cap !== undefined && n === cap) break;
        n++;
        // Looked at the clock every 256 matches only: reading it costs about what a match does.
        if (withinMs !== undefined && (n & 255) === 0 && performance.now() - started > withinMs) {
          if (rows.next().done) return { total: n, more: false };
          break;
        }
      }
      rows.return?.();
      return { total: n, more: true };
    } catch (err) {
      throw mapSqliteError(err, 'counting search hits');
    }
  }

  /** Every match of a query the index cannot drive, in the rows' order. */
  private scanRows(plan: SearchPlan, limit: number): HitRow[] {
    const { where } = plan;
    const sql = `SELECT ${HIT_COLUMNS} FROM messages m ${where.clause()} ORDER BY m.id DESC LIMIT ?`;
    return this.conn.stmt(sql).all(...where.args, limit) as HitRow[];
  }

  /** The index's matches newest first, each its own listed row (no merged journal report in the archive). */
  private drivenRows(plan: SearchPlan, limit: number): HitRow[] {
    const { where } = plan;
    // The page's ids first (each match checked on the lean index), then only their rows read whole.
    const sql = `SELECT ${HIT_COLUMNS} FROM messages m WHERE m.id IN (SELECT f.rowid FROM ${drivenFrom(plan)} ${where.clause()} ORDER BY f.rowid DESC LIMIT ?) ORDER BY m.id DESC`;
    return this.conn.stmt(sql).all(...where.args, limit) as HitRow[];
  }

  /** The rows of `ids`, newest first. */
  private rowsOf(ids: number[]): HitRow[] {
    return this.conn.stmt(`SELECT ${HIT_COLUMNS} FROM messages m WHERE m.id IN (SELECT value FROM json_each(?)) ORDER BY m.id DESC`).all(JSON.stringify(ids)) as HitRow[];
  }

  /**
   * The index's matches newest first, each listing its primary report. A report is nearly always
   * merged into an earlier one (the first saved), so once `limit` primaries at or above the index
   * row reached are found, no later match can list a newer one: the walk stops there, or, when
   * some report is merged into a later primary among those found, once it has passed that report.
   */
  private walkMerged(plan: SearchPlan, limit: number): HitRow[] {
    const { where } = plan;
    const sql = `SELECT f.rowid AS hitRow, m.id AS id FROM ${drivenFrom(plan)} ${where.clause()} ORDER BY f.rowid DESC`;
    const found = new Set<number>();
    let walkTo: number | undefined;
    let last = 0;
    for (const { hitRow, id } of this.conn.stmt(sql).iterate(...where.args) as IterableIterator<{ hitRow: number; id: number }>) {
      const size = found.size;
      found.add(id);
      if (found.size < limit) continue;
      // The page's last primary so far (only a primary above it could still change the page),
      // sorted again only when a new primary came.
      if (found.size !== size) last = [...found].sort((a, b) => b - a)[limit - 1]!;
      if (last < hitRow) continue;
      // Found only ever grows, so `last` only rises: the reports merged forward into the page's
      // range then, walked down to, cover every one that could matter later.
      walkTo ??= this.firstMergedForward(last);
      if (hitRow <= walkTo) break;
    }
    return this.rowsOf([...found].sort((a, b) => b - a).slice(0, limit));
  }

  /** The lowest id of a report merged into a later primary at or above `primary` (Infinity when none). */
  private firstMergedForward(primary: number): number {
    const r = this.conn.stmt('SELECT MIN(id) AS first FROM messages WHERE merged_into IS NOT NULL AND merged_into >= ? AND id < merged_into').get(primary) as { first: number | null };
    return r.first ?? Number.POSITIVE_INFINITY;
  }

  /** How `q` is searched: driven by the full-text index when it can be, the conditions of the rows. */
  private plan(q: SearchQuery): SearchPlan {
    const journal = this.conn.journalColumns;
    // Parsed at the edges (the API, the commands); every term reaches FTS5 quoted (fts-translate.ts).
    const tree = q.query ?? null;
    const driven = tree ? ftsDriven(tree, { journal, indexVersion: storedBuildState(this.conn).version }) : null;
    // Checked on the partial index, so nearly free: most archives hold no merged report.
    const merges = journal && driven !== null && this.hasMerged();
    const where = new SqlWhere();
    if (driven !== null) {
      where.withArgs(`f.${SEARCH_TABLE} MATCH ?`, driven.match);
      if (driven.rest) where.withArgs(driven.rest.sql, ...driven.rest.args);
    }
    // A journal report merged into another report of the same original is not listed; a text
    // match on its index row (its share of the recipients) lists the primary instead.
    if (journal) where.always('m.merged_into IS NULL');
    if (tree && driven === null) {
      const cond = translateQuery(tree, { journal });
      where.withArgs(cond.sql, ...cond.args);
    }
    const like = (v: string | undefined): string | undefined => (v ? `%${v.replace(/[\\%_]/g, '\\$&')}%` : undefined);
    where
      .when("m.from_addr LIKE ? ESCAPE '\\'", like(q.from))
      .when("m.to_addrs LIKE ? ESCAPE '\\'", like(q.to))
      .when('m.connection = ?', q.connection)
      .when('m.date >= ?', q.since)
      .when('m.date < ?', q.before)
      .when('m.has_attachments = ?', q.hasAttachment === undefined ? undefined : q.hasAttachment ? 1 : 0)
      // No index: a probe test asks this about once a second, and the drain's writes pay nothing.
      .when('m.message_id = ?', q.messageId)
      // On the index's own row id when that is the listed row: FTS5 then starts its walk there.
      .when(driven !== null && !merges ? 'f.rowid < ?' : 'm.id < ?', q.beforeId);
    // Every condition on a column of messages_hit_filter: each match is checked on that index alone.
    const lean = driven !== null && this.hasHitFilter() && !q.from && !q.to && !q.messageId;
    return { driven, merges, lean, where };
  }

  private hitFilter: boolean | undefined;

  /** Whether the archive has `messages_hit_filter` (a read-only archive of an older build may not). */
  private hasHitFilter(): boolean {
    return (this.hitFilter ??= this.conn.stmt("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'messages_hit_filter'").get() !== undefined);
  }

  /** Whether any journal report is merged into another (then a match may list another row). */
  private hasMerged(): boolean {
    return (this.conn.stmt('SELECT EXISTS (SELECT 1 FROM messages WHERE merged_into IS NOT NULL) AS e').get() as { e: number }).e === 1;
  }

  /** Writes (or replaces) full-text rows; resolves once they are durable in `search.db`. */
  async write(entries: IndexEntry[]): Promise<void> {
    await this.request({ id: 0, rows: entries.map(ftsRowOf) });
  }

  /**
   * Writes (or replaces) full-text rows and `search_meta` in one transaction of the writer; resolves
   * once durable. The re-index job's write: its progress is durable exactly when its rows are.
   */
  async writeWithMeta(entries: IndexEntry[], meta: MetaWrite[]): Promise<void> {
    await this.request({ id: 0, rows: entries.map(ftsRowOf), meta });
  }

  /**
   * Removes the full-text rows of `ids` (purged messages); resolves once that is durable. On the
   * writer's one queue: posted right after the purge's commit, it is applied before the row of
   * any message taken later under a reused id.
   */
  async remove(ids: number[]): Promise<void> {
    await this.request({ id: 0, rows: [], remove: ids });
  }

  /**
   * Merges the index into one segment (the purged rows' tombstones dropped) and gives the freed
   * pages of `search.db` back (sqlite-compact.ts), on the writer thread that owns the file.
   */
  async compact(): Promise<CompactResult> {
    const r = await this.request({ id: 0, rows: [], compact: true });
    return r.compact ?? { converted: false, pagesFreed: 0, walTruncated: false };
  }

  private request(req: FtsRequest): Promise<FtsResponse> {
    const id = this.ftsNext++;
    return new Promise<FtsResponse>((resolve, reject) => {
      this.ftsWaiting.set(id, { resolve, reject });
      this.ftsWriter().postMessage({ ...req, id } satisfies FtsRequest);
    });
  }

  /** Stops the index writer thread, if it was started. */
  async close(): Promise<void> {
    const w = this.fts;
    if (!w) return;
    const exited = new Promise((resolve) => w.once('exit', resolve));
    w.postMessage('close');
    await exited;
  }

  /** The index writer thread, started on first use so read-only commands never start it. */
  private ftsWriter(): Worker {
    if (this.fts) return this.fts;
    const w = new Worker(new URL('./fts-writer-worker.js', import.meta.url), { workerData: { ftsWriter: true, file: this.conn.searchFile, key: this.conn.key } });
    w.on('message', (r: FtsResponse) => {
      const waiter = this.ftsWaiting.get(r.id);
      this.ftsWaiting.delete(r.id);
      if (!waiter) return;
      if (r.error) waiter.reject(mapSqliteError(Object.assign(new Error(r.error.message), { code: r.error.code }), 'writing the search index'));
      else waiter.resolve(r);
    });
    const failAll = (err: unknown): void => {
      for (const w2 of this.ftsWaiting.values()) w2.reject(mapSqliteError(err, 'writing the search index'));
      this.ftsWaiting.clear();
      this.fts = null;
    };
    w.on('error', failAll);
    w.on('exit', (code) => {
      if (this.ftsWaiting.size) failAll(new Error(`search index writer exited with code ${code}`));
      this.fts = null;
    });
    this.fts = w;
    return w;
  }
}
