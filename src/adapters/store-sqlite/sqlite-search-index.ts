/**
 * The search index on SQLite (`SearchIndex`): the full-text rows live in `search.db` (FTS5),
 * written by a worker thread of their own (fts-writer-worker.ts) and read attached to
 * `archive.db`, joined with the messages' search columns.
 */
import { Worker } from 'node:worker_threads';
import type { SearchHit, SearchIndex, SearchQuery } from '../../core/ports/search-index.js';
import type { IndexEntry } from '../../core/message/parsed-record.js';
import type { SqliteConnection } from './sqlite-connection.js';
import type { FtsRequest, FtsResponse, FtsRow } from './fts-writer-worker.js';
import { translateQuery } from './fts-translate.js';
import { allOf, parseSearchQuery } from '../../core/search/query-language.js';
import { mapSqliteError } from './sqlite-error-map.js';
import { SqlWhere } from '../sqlite-node/sql-where.js';
import type { CompactResult } from './sqlite-compact.js';
import type { MetaWrite } from './fts-version.js';

/** A message's full-text row as the writer takes it (the writer adds the stems). */
function ftsRowOf(e: IndexEntry): FtsRow {
  return [e.id, e.subject, e.from, e.to, e.cc, e.bcc, e.body, e.attachmentNames];
}

/** Searches, and writes the full-text rows through the index writer thread. */
export class SqliteSearchIndex implements SearchIndex {
  private fts: Worker | null = null;
  private ftsNext = 1;
  private readonly ftsWaiting = new Map<number, { resolve: (r: FtsResponse) => void; reject: (e: unknown) => void }>();

  constructor(private readonly conn: SqliteConnection) {}

  async search(q: SearchQuery): Promise<SearchHit[]> {
    const { from, where } = this.filter(q);
    const sql = `SELECT m.id, m.sha256, m.connection, COALESCE(m.from_addr, '') AS "from", COALESCE(m.subject, '') AS subject, m.date, m.size,
      instr(m.attributes, '"Probe":true') > 0 AS probe
      FROM ${from} ${where.clause()} ORDER BY m.id DESC LIMIT ?`;
    try {
      const rows = this.conn.stmt(sql).all(...where.args, q.limit ?? 100) as Array<Omit<SearchHit, 'probe'> & { probe: number | null }>;
      // The mark is written by markProbe at the top level of the attributes' JSON, only ever as true.
      return rows.map(({ probe, ...hit }) => (probe ? { ...hit, probe: true } : hit));
    } catch (err) {
      throw mapSqliteError(err, 'searching');
    }
  }

  async count(q: SearchQuery): Promise<number> {
    const { from, where } = this.filter(q);
    // The inner LIMIT lets SQLite stop at the cap instead of counting every match.
    const sql = `SELECT COUNT(*) AS n FROM (SELECT m.id FROM ${from} ${where.clause()} LIMIT ?)`;
    try {
      return (this.conn.stmt(sql).get(...where.args, q.limit ?? -1) as { n: number }).n;
    } catch (err) {
      throw mapSqliteError(err, 'counting search hits');
    }
  }

  /** The tables and conditions of `q`, shared by `search` and `count`. */
  private filter(q: SearchQuery): { from: string; where: SqlWhere } {
    const journal = this.conn.journalColumns;
    const where = new SqlWhere();
    const from = 'messages m';
    // A journal report merged into another report of the same original is not listed; a text
    // match on its index row (its share of the recipients) lists the primary instead.
    if (journal) where.always('m.merged_into IS NULL');
    // Parsed and translated first: a query that cannot be read is the operator's mistake, named,
    // not a database error; every term reaches FTS5 quoted (fts-translate.ts).
    const tree = allOf(q.query, q.text ? parseSearchQuery(q.text, { now: Date.now() }) : null);
    if (tree) {
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
      .when('m.id < ?', q.beforeId);
    return { from, where };
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
