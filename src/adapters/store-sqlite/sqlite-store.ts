import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { ensurePrivateFileSync, makePrivateDirSync } from '../fs-node/private-files.js';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ParseOutcome } from '../../core/ports/message-parser.js';
import type {
  ArchivedMessage,
  ArchiveStats,
  ExportItem,
  MailboxWatermark,
  MessageStore,
  PendingAction,
  SearchHit,
  SearchQuery,
  TakenRecord,
  UnparsedMessage,
  ParsedRecord,
} from '../../core/ports/message-store.js';
import { recipientsText, toParsedRecord } from '../../core/ports/message-store.js';
import { MIGRATIONS } from './sqlite-schema.js';
import { toFtsQuery } from './fts-query.js';
import { openSearchDb, type FtsRequest, type FtsResponse, type FtsRow } from './fts-writer-worker.js';
import { mapSqliteError } from './sqlite-error-map.js';
import { SqlWhere } from './sql-where.js';
import { pragma, retain, userVersion } from './sqlite-retain.js';
import { MailsluiceError } from '../../core/errors/index.js';
import { DEFAULT_JOURNAL_SETTLE_MS, type SqliteStoreOptions } from './sqlite-store-config.js';
import { deliveryIdOf, type NewDelivery } from '../../core/routing/route-matcher.js';
import { journalBcc, mergeJournalEnvelopes } from '../../core/message/journal-report.js';
import type { MessageAttributes } from '../../core/message/attributes.js';
import { SqliteBus } from './sqlite-bus.js';

type Stmt = Database.Statement<unknown[], unknown>;

/** Rows per export page. */
const EXPORT_PAGE = 1000;

/**
 * Merges another report's envelope into a message's attributes (docs/journal-reports.md,
 * "Bifurcation"): `Journal` becomes the union of both envelopes (`into`'s recipients first), `Bcc`
 * is recomputed by the Bcc rule over the merged envelope and `into`'s To/Cc (its Bcc is kept: it
 * is a subset). Returns the new attributes, or null when nothing changes (merged already).
 */
function mergeJournalInto(into: Partial<MessageAttributes>, from: Partial<MessageAttributes>): Partial<MessageAttributes> | null {
  if (!into.Journal || !from.Journal) return null;
  const journal = mergeJournalEnvelopes(into.Journal, from.Journal);
  const bcc = journalBcc(journal, { To: into.To ?? [], Cc: into.Cc ?? [], Bcc: into.Bcc ?? [] });
  if (JSON.stringify(journal) === JSON.stringify(into.Journal) && JSON.stringify(bcc) === JSON.stringify(into.Bcc ?? [])) return null;
  return { ...into, Bcc: bcc, Journal: journal };
}

function parseAttributes(json: string | null, id: number): Partial<MessageAttributes> {
  try {
    return json ? (JSON.parse(json) as Partial<MessageAttributes>) : {};
  } catch (err) {
    throw new MailsluiceError('STORE_CORRUPT', `the saved attributes of message ${id} are not valid JSON`, { cause: err });
  }
}

/**
 * The embedded metadata store on SQLite: WAL with `synchronous=FULL`, so a commit that returned
 * survives a power cut (ARCHITECTURE "Known sharp edges").
 */
export class SqliteStore implements MessageStore {
  private readonly db: Database.Database;
  private readonly stmts: Record<string, Stmt> = {};
  private readonly searchFile: string;
  private fts: Worker | null = null;
  private ftsNext = 1;
  private readonly ftsWaiting = new Map<number, { resolve: () => void; reject: (e: unknown) => void }>();
  private busInstance: SqliteBus | null = null;
  private readonly journalSettleMs: number;
  /** This connection's `synchronous` setting. */
  private readonly synchronous: 'full' | 'normal';
  private readonly waitForLocks: 'block' | 'yield';
  /** Whether the journal columns exist (false only for an older database opened read-only). */
  private readonly journalColumns: boolean;

  constructor(options: SqliteStoreOptions) {
    this.journalSettleMs = Math.max(0, options.journalSettleMs ?? DEFAULT_JOURNAL_SETTLE_MS);
    this.synchronous = options.synchronous ?? 'full';
    try {
      if (!options.readonly) {
        // 0600 before SQLite makes it 0644 (less the umask); its -wal and -shm take this mode.
        makePrivateDirSync(dirname(options.file));
        ensurePrivateFileSync(options.file);
      }
      this.db = new Database(options.file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
      this.waitForLocks = options.waitForLocks ?? 'block';
      // `yield`: no busy timeout; the bus retries asynchronously (SqliteBus).
      pragma(this.db, this.waitForLocks === 'yield' ? 'busy_timeout = 0' : 'busy_timeout = 10000');
      this.searchFile = join(dirname(options.file), 'search.db');
      if (!options.readonly) {
        pragma(this.db, 'journal_mode = WAL');
        pragma(this.db, this.synchronous === 'normal' ? 'synchronous = NORMAL' : 'synchronous = FULL');
        pragma(this.db, 'foreign_keys = ON');
        this.migrate();
        openSearchDb(this.searchFile).close();
      }
      // The file exists from the moment a first start or drain creates it (empty, 0600) until
      // its first migration commits: no archive to read yet.
      if (options.readonly && userVersion(this.db) === 0) {
        throw new MailsluiceError('ARCHIVE_NOT_FOUND', `${options.file} holds no archive yet (a first start or drain is creating it; try again in a moment)`);
      }
      // An older database opened read-only is not migrated: search and stats then do without.
      this.journalColumns = (pragma(this.db, 'table_info(messages)') as Array<{ name: string }>).some((c) => c.name === 'merged_into');
      // Queries join the index in search.db with the messages here.
      if (!options.readonly || existsSync(this.searchFile)) retain(this.db.prepare('ATTACH DATABASE ? AS s')).run(this.searchFile);
    } catch (err) {
      throw mapSqliteError(err, `opening ${options.file}`);
    }
  }

  /**
   * Another process may open a new or older archive at the same moment (`stats` or `drain` beside
   * `start`): each step reads the version again inside its write transaction, so a step the other
   * process ran meanwhile is skipped instead of run twice ("duplicate column name").
   */
  private migrate(): void {
    for (let i = userVersion(this.db); i < MIGRATIONS.length; i++) {
      this.db.transaction(() => {
        if (userVersion(this.db) > i) return;
        this.db.exec(MIGRATIONS[i]!);
        pragma(this.db, `user_version = ${i + 1}`);
      }).immediate();
    }
  }

  /**
   * Every statement comes from here and lives as long as the connection, never left to the
   * garbage collector: better-sqlite3 12 on Node 24.19+ aborts the process when an idle GC
   * finalizes a Statement (its ObjectWrap destructor runs without a JS context; see
   * docs/dependencies.md). The few dynamic SQL texts (search, list filters) are bounded.
   */
  private stmt(sql: string): Stmt {
    let s = this.stmts[sql];
    if (!s) {
      s = this.db.prepare(sql);
      this.stmts[sql] = s;
    }
    return s;
  }

  hasBlob(sha256: string): boolean {
    return this.stmt('SELECT 1 FROM blobs WHERE sha256 = ?').get(sha256) !== undefined;
  }

  // One statement per call, the keys as a JSON array: a statement per key cost the drain ~6 µs
  // each in calls into the binding, 500 per cycle.
  async lookupTaken(connection: string, keys: string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const rows = this.stmt('SELECT source_key FROM source_keys WHERE connection = ? AND source_key IN (SELECT value FROM json_each(?))')
      .pluck()
      .all(connection, JSON.stringify(keys)) as string[];
    return new Set(rows);
  }

  async lookupSettled(connection: string, keys: string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const rows = this.stmt('SELECT source_key FROM source_keys WHERE connection = ? AND source_key IN (SELECT value FROM json_each(?)) AND action_state <> 0')
      .pluck()
      .all(connection, JSON.stringify(keys)) as string[];
    return new Set(rows);
  }

  /**
   * One transaction per batch, and one statement per table, the rows as a JSON array: a statement
   * per row and table cost the drain ~8 µs each in calls into the binding, three per message.
   * `json_each` keeps the array's order, so message ids follow the batch's (mailbox) order.
   */
  async commitTaken(records: TakenRecord[], watermark?: { connection: string; mailbox: string } & MailboxWatermark): Promise<void> {
    // Blobs first: with puts running concurrently, a duplicate's record (blob null) can come
    // before the record that stored the bytes.
    const insBlobs = this.stmt(
      `INSERT OR IGNORE INTO blobs (sha256, ref, stored_size, size)
       SELECT value->>0, value->>1, value->>2, value->>3 FROM json_each(?)`,
    );
    // A content-hash duplicate (same connection and bytes) inserts no row; its key points at the first.
    const insMsgs = this.stmt(
      `INSERT INTO messages (connection, sha256, size, mailbox, uid_validity, uid, uidl, taken_at)
       SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, value->>7 FROM json_each(?) WHERE true
       ON CONFLICT (connection, sha256) DO NOTHING`,
    );
    const insKeys = this.stmt(
      `INSERT OR IGNORE INTO source_keys (connection, source_key, message_id, mailbox, uid_validity, uid, uidl, action_state)
       SELECT value->>0, value->>8, (SELECT id FROM messages m WHERE m.connection = value->>0 AND m.sha256 = value->>1),
              value->>3, value->>4, value->>5, value->>6, 0
       FROM json_each(?)`,
    );
    const upWm = this.stmt(
      `INSERT INTO mailbox_state (connection, mailbox, uid_validity, last_uid) VALUES (?, ?, ?, ?)
       ON CONFLICT (connection, mailbox) DO UPDATE SET uid_validity = excluded.uid_validity, last_uid = excluded.last_uid`,
    );
    const blobs = JSON.stringify(records.filter((r) => r.blob).map((r) => [r.sha256, r.blob!.ref, r.blob!.storedSize, r.size]));
    const rows = JSON.stringify(records.map((r) => [r.connection, r.sha256, r.size, r.mailbox, r.uidValidity, r.uid, r.uidl, r.takenAt, r.sourceKey]));
    try {
      this.db.transaction(() => {
        if (records.length > 0) {
          insBlobs.run(blobs);
          insMsgs.run(rows);
          insKeys.run(rows);
        }
        if (watermark) upWm.run(watermark.connection, watermark.mailbox, watermark.uidValidity, watermark.lastUid);
      }).immediate();
    } catch (err) {
      throw mapSqliteError(err, `committing ${records.length} messages`);
    }
  }

  /**
   * Recorded without waiting for the disk (`synchronous = NORMAL` for this transaction): losing
   * it in a power cut only means the action is done again at the next session's recovery, which
   * is harmless (flagging or expunging a UID twice changes nothing), while an fsync per cycle
   * held the drain's main thread. The next FULL commit's fsync of the WAL persists it anyway.
   */
  async markActionDone(connection: string, keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    const s = this.stmt('UPDATE source_keys SET action_state = 1 WHERE connection = ? AND source_key IN (SELECT value FROM json_each(?))');
    try {
      this.withoutFsync(() => this.db.transaction(() => s.run(connection, JSON.stringify(keys))).immediate());
    } catch (err) {
      throw mapSqliteError(err, 'recording server actions');
    }
  }

  /**
   * Runs `fn` (a transaction) under `synchronous = NORMAL`: its commit is not fsynced, and the next
   * FULL commit's fsync of the WAL persists it (the WAL is replayed in order, so no later commit
   * survives a power cut without it). For writes a power cut may undo because they are redone
   * anyway; an fsync each also held the write lock, which the dispatcher's thread waits for.
   */
  private withoutFsync<T>(fn: () => T): T {
    if (this.synchronous !== 'full') return fn();
    this.stmt('PRAGMA synchronous = NORMAL').run();
    try {
      return fn();
    } finally {
      this.stmt('PRAGMA synchronous = FULL').run();
    }
  }

  async pendingActions(connection: string, mailbox: string, uidValidity: number): Promise<PendingAction[]> {
    const rows = this.stmt(
      `SELECT source_key AS sourceKey, uid, uidl FROM source_keys
       WHERE connection = ? AND mailbox = ? AND uid_validity = ? AND action_state = 0 ORDER BY uid, uidl`,
    ).all(connection, mailbox, uidValidity) as PendingAction[];
    return rows;
  }

  async supersedePending(connection: string, mailbox: string, currentUidValidity: number): Promise<number> {
    const r = this.stmt(
      'UPDATE source_keys SET action_state = 2 WHERE connection = ? AND mailbox = ? AND uid_validity <> ? AND action_state = 0',
    ).run(connection, mailbox, currentUidValidity);
    return r.changes;
  }

  /**
   * STARTTLS downgrade memory (`TlsMemory`, ADR 0016): a `mailbox_state` row under the mailbox
   * name "" (no folder is named so; config requires a name), `last_uid` 1 once the server offered
   * TLS. A row rather than a table: no migration for one flag per connection.
   */
  tlsOffered(connection: string): boolean {
    const row = this.stmt(`SELECT last_uid AS v FROM mailbox_state WHERE connection = ? AND mailbox = ''`).get(connection) as { v: number } | undefined;
    return row?.v === 1;
  }

  /** See {@link tlsOffered}; false forgets (the operator's `connection reset-tls`). */
  setTlsOffered(connection: string, offered: boolean): void {
    if (offered) this.stmt(`INSERT INTO mailbox_state (connection, mailbox, uid_validity, last_uid) VALUES (?, '', 0, 1) ON CONFLICT (connection, mailbox) DO UPDATE SET last_uid = 1`).run(connection);
    else this.stmt(`DELETE FROM mailbox_state WHERE connection = ? AND mailbox = ''`).run(connection);
  }

  async getWatermark(connection: string, mailbox: string): Promise<MailboxWatermark | null> {
    const row = this.stmt('SELECT uid_validity AS uidValidity, last_uid AS lastUid FROM mailbox_state WHERE connection = ? AND mailbox = ?').get(
      connection,
      mailbox,
    ) as MailboxWatermark | undefined;
    return row ?? null;
  }

  async listUnparsed(limit: number, afterId = 0): Promise<UnparsedMessage[]> {
    const rows = this.stmt(
      `SELECT m.id, m.connection, m.sha256, m.size, b.ref, b.stored_size AS storedSize FROM messages m JOIN blobs b ON b.sha256 = m.sha256
       WHERE m.parse_state = 0 AND m.id > ? ORDER BY m.id LIMIT ?`,
    ).all(afterId, limit) as Array<{ id: number; connection: string; sha256: string; size: number; ref: string; storedSize: number }>;
    return rows.map((r) => ({ id: r.id, connection: r.connection, sha256: r.sha256, size: r.size, blob: { ref: r.ref, storedSize: r.storedSize } }));
  }

  async countUnparsed(): Promise<number> {
    // The partial index messages_unparsed holds exactly these rows.
    return this.stmt('SELECT COUNT(*) FROM messages WHERE parse_state = 0').pluck().get() as number;
  }

  /**
   * The bus of this database (`MessageBus`): same file, same connection, so the deliveries that
   * saveParsed queues and the dispatcher's progress live in one transactional store.
   */
  bus(): SqliteBus {
    return (this.busInstance ??= new SqliteBus(this.db, this.waitForLocks));
  }

  /** The index writer thread, started on first use so read-only commands never start it. */
  private ftsWriter(): Worker {
    if (this.fts) return this.fts;
    const w = new Worker(new URL('./fts-writer-worker.js', import.meta.url), { workerData: { ftsWriter: true, file: this.searchFile } });
    w.on('message', (r: FtsResponse) => {
      const waiter = this.ftsWaiting.get(r.id);
      this.ftsWaiting.delete(r.id);
      if (!waiter) return;
      if (r.error) waiter.reject(mapSqliteError(Object.assign(new Error(r.error.message), { code: r.error.code }), 'writing the search index'));
      else waiter.resolve();
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

  private writeIndex(rows: FtsRow[]): Promise<void> {
    const id = this.ftsNext++;
    return new Promise<void>((resolve, reject) => {
      this.ftsWaiting.set(id, { resolve, reject });
      this.ftsWriter().postMessage({ id, rows } satisfies FtsRequest);
    });
  }

  async saveParsed(results: Array<{ id: number; outcome: ParseOutcome | ParsedRecord; deliveries?: NewDelivery[] }>): Promise<void> {
    const insDelivery = this.stmt(
      `INSERT OR IGNORE INTO deliveries (id, message_id, connection, route, bus, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    const upOk = this.stmt(
      `UPDATE messages SET parse_state = ?, parse_error = ?, from_addr = ?, to_addrs = ?, subject = ?, date = ?, message_id = ?,
       has_attachments = ?, attributes = ?, journal_original = ?, journal_sender = ? WHERE id = ?`,
    );
    // Bifurcation (docs/journal-reports.md): the message itself as saved so far, and the first
    // saved report of the same original, found through the partial index messages_journal.
    const getSelf = this.stmt('SELECT connection, parse_state AS state, attributes, journal_original AS original, merged_into AS mergedInto FROM messages WHERE id = ?');
    const findPrimary = this.stmt(
      `SELECT id FROM messages WHERE connection = ? AND journal_original = ? AND journal_sender = ? AND merged_into IS NULL AND id <> ?
       ORDER BY id LIMIT 1`,
    );
    const getPrimary = this.stmt('SELECT from_addr AS fromAddr, subject, attributes FROM messages WHERE id = ?');
    const upPrimary = this.stmt('UPDATE messages SET to_addrs = ?, attributes = ? WHERE id = ?');
    const setMerged = this.stmt('UPDATE messages SET merged_into = ? WHERE id = ?');
    // More mail of the connection still waiting to be parsed (from messages_unparsed): one of
    // them may be another report of the same original.
    const waiting = this.stmt('SELECT 1 FROM messages WHERE parse_state = 0 AND id > ? AND connection = ? LIMIT 1');
    const records: ParsedRecord[] = new Array<ParsedRecord>(results.length);
    const fts: FtsRow[] = new Array<FtsRow>(results.length);
    for (let i = 0; i < results.length; i++) {
      const { id, outcome } = results[i]!;
      const r = 'record' in outcome ? outcome : toParsedRecord(outcome);
      records[i] = r;
      fts[i] = [id, r.subject, `${r.from} ${r.to}`, r.body, r.attachmentNames];
    }
    // Index first, then mark parsed: a crash in between re-parses and replaces the index row,
    // never leaves a message marked parsed but missing from search.
    await this.writeIndex(fts);
    // In id order, so of two reports of one original in the same group the earlier becomes the
    // primary, whatever order their parses finished in.
    const order = results.map((_, i) => i).sort((a, b) => results[a]!.id - results[b]!.id);
    const settle = this.journalSettleMs;
    let reindex: FtsRow[] = [];
    try {
      // IMMEDIATE: the primary is looked up and updated in one write transaction, so no other
      // writer can save a report of the same original in between.
      // Without an fsync of its own: a parse result lost in a power cut is parsed again, and its
      // deliveries (ids derived from message and route) are queued again with it.
      reindex = this.withoutFsync(() => this.db.transaction(() => {
        const rows = new Map<number, FtsRow>();
        // Deliveries are inserted once the whole group is saved, so a report is held only for
        // mail still waiting after this group, not for a sibling this group merges anyway.
        const queue: Array<{ id: number; connection: string | null; deliveries: NewDelivery[] }> = [];
        for (const i of order) {
          const { id, deliveries } = results[i]!;
          let r = records[i]!;
          const key = r.journal;
          const self = key ? (getSelf.get(id) as { connection: string; state: number; attributes: string | null; original: string | null; mergedInto: number | null } | undefined) : undefined;
          const primary = self ? (self.mergedInto ?? (findPrimary.get(self.connection, key!.originalId, key!.sender, id) as { id: number } | undefined)?.id) : undefined;
          if (self && primary === undefined && self.state !== 0 && self.original === key!.originalId) {
            // A primary parsed again: the new result, with what its siblings merged into it kept.
            const merged = mergeJournalInto(parseAttributes(r.attributesJson, id), parseAttributes(self.attributes, id));
            if (merged) {
              r = { ...r, to: recipientsText(merged), attributesJson: JSON.stringify(merged) };
              rows.set(id, [id, r.subject, `${r.from} ${r.to}`, r.body, r.attachmentNames]);
            }
          }
          upOk.run(
            r.ok ? 1 : 2,
            r.error ? `${r.error.code}: ${r.error.reason}` : null,
            r.from,
            r.to,
            r.subject,
            r.date,
            r.messageId,
            r.hasAttachments ? 1 : 0,
            r.attributesJson,
            key?.originalId ?? null,
            key?.sender ?? null,
            id,
          );
          if (primary === undefined) {
            if (deliveries?.length) queue.push({ id, connection: self?.connection ?? null, deliveries });
            continue;
          }
          // A sibling: merged into the primary, marked, and never handed to routes itself.
          setMerged.run(primary, id);
          const p = getPrimary.get(primary) as { fromAddr: string | null; subject: string | null; attributes: string | null };
          const merged = mergeJournalInto(parseAttributes(p.attributes, primary), parseAttributes(r.attributesJson, id));
          if (merged) {
            const to = recipientsText(merged);
            upPrimary.run(to, JSON.stringify(merged), primary);
            // The primary's index row gets the merged recipients. Its body is not stored here; the
            // sibling carries the same original, so its text stands in (when it was fully parsed).
            if (r.ok) rows.set(primary, [primary, p.subject ?? r.subject, `${p.fromAddr ?? ''} ${to}`, r.body, r.attachmentNames]);
          }
          // A route the sibling matched but the primary did not (a filter on a recipient only the
          // sibling's envelope lists) takes the primary now; one it has already is left alone.
          const moved = (deliveries ?? []).map((d) => ({ ...d, id: deliveryIdOf(d.connection, d.route, primary), messageId: primary }));
          if (moved.length > 0) queue.push({ id, connection: self!.connection, deliveries: moved });
        }
        // The outbox: the routes that take a message are queued in the transaction that marks it
        // parsed, so it is never parsed without being queued, nor queued twice. A journal report's
        // (connection set) wait `settle` while more of its connection's mail waits to be parsed.
        for (const q of queue) {
          const hold = q.connection !== null && settle > 0 && waiting.get(q.id, q.connection) !== undefined ? settle : 0;
          for (const d of q.deliveries) insDelivery.run(d.id, d.messageId, d.connection, d.route, d.bus, d.createdAt + hold, d.createdAt);
        }
        return [...rows.values()];
      }).immediate());
    } catch (err) {
      throw mapSqliteError(err, `saving ${results.length} parse results`);
    }
    // Posted before anything else can be (the transaction and this call run in one turn), so the
    // index writer applies merges in commit order. A crash before it lands leaves the primary's
    // index row with its own recipients; search still finds the others through the sibling's row.
    if (reindex.length > 0) await this.writeIndex(reindex);
  }

  async stats(): Promise<ArchiveStats> {
    const merged = this.journalColumns ? 'SUM(merged_into IS NOT NULL)' : '0';
    const m = this.stmt(
      `SELECT COUNT(*) AS messages, COALESCE(SUM(size), 0) AS bytes,
       SUM(parse_state = 0) AS unparsed, SUM(parse_state = 2) AS unparsable, ${merged} AS journalMerged FROM messages`,
    ).get() as { messages: number; bytes: number; unparsed: number | null; unparsable: number | null; journalMerged: number | null };
    const b = this.stmt('SELECT COUNT(*) AS blobs, COALESCE(SUM(stored_size), 0) AS storedBytes FROM blobs').get() as { blobs: number; storedBytes: number };
    const per = this.stmt(`SELECT connection, COUNT(*) AS messages, COALESCE(SUM(size), 0) AS bytes, ${merged} AS journalMerged FROM messages GROUP BY connection`).all() as Array<{
      connection: string;
      messages: number;
      bytes: number;
      journalMerged: number;
    }>;
    const pending = this.stmt('SELECT connection, COUNT(*) AS n FROM source_keys WHERE action_state = 0 GROUP BY connection').all() as Array<{
      connection: string;
      n: number;
    }>;
    const connections: ArchiveStats['connections'] = {};
    for (const p of per) connections[p.connection] = { messages: p.messages, bytes: p.bytes, pendingActions: 0, journalMerged: p.journalMerged };
    for (const p of pending) (connections[p.connection] ??= { messages: 0, bytes: 0, pendingActions: 0, journalMerged: 0 }).pendingActions = p.n;
    return {
      messages: m.messages,
      bytes: m.bytes,
      blobs: b.blobs,
      storedBytes: b.storedBytes,
      unparsed: m.unparsed ?? 0,
      unparsable: m.unparsable ?? 0,
      journalMerged: m.journalMerged ?? 0,
      connections,
    };
  }

  async search(q: SearchQuery): Promise<SearchHit[]> {
    const where = new SqlWhere();
    let from = 'messages m';
    // A journal report merged into another report of the same original is not listed; a text
    // match on its index row (its share of the recipients) lists the primary instead.
    if (this.journalColumns) where.always('m.merged_into IS NULL');
    // Translated first: a query FTS5 cannot read is the operator's mistake, named, not a database error.
    const match = q.text ? toFtsQuery(q.text) : null;
    if (match) {
      from = this.journalColumns
        ? 's.messages_fts f JOIN messages h ON h.id = f.rowid JOIN messages m ON m.id = COALESCE(h.merged_into, h.id)'
        : 's.messages_fts f JOIN messages m ON m.id = f.rowid';
      where.when('f.messages_fts MATCH ?', match);
    }
    const like = (v: string | undefined): string | undefined => (v ? `%${v.replace(/[\\%_]/g, '\\$&')}%` : undefined);
    where
      .when("m.from_addr LIKE ? ESCAPE '\\'", like(q.from))
      .when("m.to_addrs LIKE ? ESCAPE '\\'", like(q.to))
      .when('m.connection = ?', q.connection)
      .when('m.date >= ?', q.since)
      .when('m.date < ?', q.before)
      .when('m.has_attachments = ?', q.hasAttachment === undefined ? undefined : q.hasAttachment ? 1 : 0);
    const sql = `SELECT DISTINCT m.id, m.sha256, m.connection, COALESCE(m.from_addr, '') AS "from", COALESCE(m.subject, '') AS subject, m.date, m.size
      FROM ${from} ${where.clause()} ORDER BY m.id DESC LIMIT ?`;
    const args = [...where.args, q.limit ?? 100];
    try {
      return this.stmt(sql).all(...args) as SearchHit[];
    } catch (err) {
      throw mapSqliteError(err, 'searching');
    }
  }

  async *listForExport(connection?: string): AsyncIterable<ExportItem> {
    const s = this.stmt(
      `SELECT m.id, m.sha256, m.size, m.taken_at AS takenAt, m.connection, b.ref, b.stored_size AS storedSize
       FROM messages m JOIN blobs b ON b.sha256 = m.sha256
       WHERE m.id > ? ${connection ? 'AND m.connection = ?' : ''} ORDER BY m.id LIMIT ${EXPORT_PAGE}`,
    );
    // Keyset pages: memory stays bounded for any archive, and no statement stays open across a
    // yield (an open cursor would hold the connection while the caller writes files).
    for (let after = 0; ; ) {
      const rows = (connection ? s.all(after, connection) : s.all(after)) as Array<{
        id: number;
        sha256: string;
        size: number;
        takenAt: number;
        connection: string;
        ref: string;
        storedSize: number;
      }>;
      for (const r of rows) yield { id: r.id, sha256: r.sha256, size: r.size, takenAt: r.takenAt, connection: r.connection, blob: { ref: r.ref, storedSize: r.storedSize } };
      if (rows.length < EXPORT_PAGE) return;
      after = rows[rows.length - 1]!.id;
    }
  }

  async findArchived(sha256: string): Promise<ArchivedMessage | null> {
    try {
      const b = this.stmt('SELECT ref, stored_size AS storedSize, size FROM blobs WHERE sha256 = ?').get(sha256) as { ref: string; storedSize: number; size: number } | undefined;
      if (!b) return null;
      // The messages of a blob are found through UNIQUE(connection, sha256), one connection at a
      // time: the connections are walked by a skip scan (each next one found by the index), so
      // this costs a few index lookups per connection, not a scan of the table, and the drain's
      // commits pay for no index by sha256 alone. A parsed row is preferred.
      const m = this.stmt(
        `WITH RECURSIVE conns(name) AS (
           SELECT MIN(connection) FROM messages
           UNION ALL
           SELECT (SELECT MIN(connection) FROM messages WHERE connection > conns.name) FROM conns WHERE conns.name IS NOT NULL
         )
         SELECT m.id, m.parse_state AS parseState, m.attributes FROM conns JOIN messages m ON m.connection = conns.name AND m.sha256 = ?
         ORDER BY m.parse_state = 0, m.id LIMIT 1`,
      ).get(sha256) as { id: number; parseState: number; attributes: string | null } | undefined;
      if (!m) return null;
      const attributes = m.parseState === 0 ? null : parseAttributes(m.attributes, m.id);
      return { sha256, size: b.size, blob: { ref: b.ref, storedSize: b.storedSize }, attachments: attributes ? (attributes.Attachments ?? []) : null };
    } catch (err) {
      throw mapSqliteError(err, `looking up archived message ${sha256}`);
    }
  }

  async close(): Promise<void> {
    const w = this.fts;
    if (w) {
      const exited = new Promise((resolve) => w.once('exit', resolve));
      w.postMessage('close');
      await exited;
    }
    if (this.db.open) this.db.close();
    // Closed statements are still ObjectWraps: kept reachable so no GC ever finalizes one.
    retain([this.db, this.stmts, this.busInstance]);
  }
}

/** Opens (and migrates) the embedded store. */
export function createSqliteStore(options: SqliteStoreOptions): SqliteStore {
  return new SqliteStore(options);
}
