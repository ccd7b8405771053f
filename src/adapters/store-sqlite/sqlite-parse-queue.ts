/**
 * The parse queue on SQLite (`ParseQueue`): the messages with `parse_state = 0` (partial index
 * `messages_unparsed`), and `saveParsed`, which applies the plan core/message/journal-merge.ts
 * makes of a group of parse results: the rows, the merges of bifurcated journal reports and the
 * deliveries (the outbox, ADR 0006), in one write transaction.
 */
import type { ParseQueue, ParseResult, UnparsedMessage } from '../../core/ports/parse-queue.js';
import { asParsedRecord, indexEntryOf, type JournalKey } from '../../core/message/parsed-record.js';
import { planSave, type JournalFacts, type JournalRow, type SavePlan, type SaveItem } from '../../core/message/journal-merge.js';
import type { SqliteConnection } from './sqlite-connection.js';
import type { SqliteSearchIndex } from './sqlite-search-index.js';
import { mapSqliteError } from './sqlite-error-map.js';
import { immediateOnMain } from '../sqlite-node/sqlite-write-lock.js';

/** A `messages` row as the journal plan reads it. */
const JOURNAL_ROW = `SELECT id, connection, parse_state <> 0 AS parsed, from_addr AS "from", subject, attributes AS attributesJson,
  journal_original AS original, journal_sender AS sender, merged_into AS mergedInto FROM messages`;

type RawJournalRow = Omit<JournalRow, 'parsed' | 'journal'> & { parsed: number; original: string | null; sender: string | null };

const toJournalRow = (r: RawJournalRow): JournalRow => ({
  id: r.id,
  connection: r.connection,
  parsed: r.parsed !== 0,
  from: r.from,
  subject: r.subject,
  attributesJson: r.attributesJson,
  journal: r.original === null ? null : { originalId: r.original, sender: r.sender ?? '' },
  mergedInto: r.mergedInto,
});

/** The parse stage's queue and the saving of its results, on the shared connection. */
export class SqliteParseQueue implements ParseQueue {
  constructor(
    private readonly conn: SqliteConnection,
    private readonly index: SqliteSearchIndex,
    /** How long a journal report's deliveries are held while more mail waits (`journalSettleMs`). */
    private readonly settleMs: number,
  ) {}

  async listUnparsed(limit: number, afterId = 0): Promise<UnparsedMessage[]> {
    const rows = this.conn
      .stmt(
        `SELECT m.id, m.connection, m.sha256, m.size, b.ref, b.stored_size AS storedSize FROM messages m JOIN blobs b ON b.sha256 = m.sha256
         WHERE m.parse_state = 0 AND m.id > ? ORDER BY m.id LIMIT ?`,
      )
      .all(afterId, limit) as Array<{ id: number; connection: string; sha256: string; size: number; ref: string; storedSize: number }>;
    return rows.map((r) => ({ id: r.id, connection: r.connection, sha256: r.sha256, size: r.size, blob: { ref: r.ref, storedSize: r.storedSize } }));
  }

  async countUnparsed(): Promise<number> {
    // The partial index messages_unparsed holds exactly these rows.
    return this.conn.stmt('SELECT COUNT(*) FROM messages WHERE parse_state = 0').pluck().get() as number;
  }

  async saveParsed(results: ParseResult[]): Promise<void> {
    const group: SaveItem[] = results.map((r) => ({ id: r.id, record: asParsedRecord(r.outcome), deliveries: r.deliveries }));
    // Index first, then mark parsed: a crash in between re-parses and replaces the index row,
    // never leaves a message marked parsed but missing from search.
    await this.index.write(group.map((g) => indexEntryOf(g.id, g.record)));
    let plan: SavePlan;
    try {
      // IMMEDIATE: the facts are read and the plan applied in one write transaction, so no other
      // writer can save a report of the same original in between.
      // Without an fsync of its own: a parse result lost in a power cut is parsed again, and its
      // deliveries (ids derived from message and route) are queued again with it.
      plan = this.conn.withoutFsync(() =>
        immediateOnMain(this.conn.db, () => {
            const p = planSave(group, this.facts(), this.settleMs);
            this.apply(p);
            return p;
          }),
      );
    } catch (err) {
      throw mapSqliteError(err, `saving ${results.length} parse results`);
    }
    // Posted before anything else can be (the transaction and this call run in one turn), so the
    // index writer applies merges in commit order. A crash before it lands leaves the primary's
    // index row with its own recipients; search still finds the others through the sibling's row.
    if (plan.reindex.length > 0) await this.index.write(plan.reindex);
  }

  /** The facts of the journal plan, read inside the save's transaction (index messages_journal, messages_unparsed_by_connection). */
  private facts(): JournalFacts {
    const conn = this.conn;
    return {
      rows(ids) {
        if (ids.length === 0) return [];
        const rows = conn.stmt(`${JOURNAL_ROW} WHERE id IN (SELECT value FROM json_each(?))`).all(JSON.stringify(ids)) as RawJournalRow[];
        return rows.map(toJournalRow);
      },
      unmerged(connection: string, key: JournalKey) {
        const rows = conn
          .stmt(`${JOURNAL_ROW} WHERE connection = ? AND journal_original = ? AND journal_sender = ? AND merged_into IS NULL ORDER BY id`)
          .all(connection, key.originalId, key.sender) as RawJournalRow[];
        return rows.map(toJournalRow);
      },
      lastWaiting(connection, except) {
        // Newest first through messages_unparsed_by_connection: the group's own rows are the
        // oldest waiting as a rule, so this stops at the first row it reads (MAX() would read all).
        const id = conn
          .stmt('SELECT id FROM messages WHERE parse_state = 0 AND connection = ? AND id NOT IN (SELECT value FROM json_each(?)) ORDER BY id DESC LIMIT 1')
          .pluck()
          .get(connection, JSON.stringify(except)) as number | undefined;
        return id ?? null;
      },
    };
  }

  /** Applies a plan's writes and deliveries, in order; called inside the save's transaction. */
  private apply(plan: SavePlan): void {
    const upParsed = this.conn.stmt(
      `UPDATE messages SET parse_state = ?, parse_error = ?, from_addr = ?, to_addrs = ?, subject = ?, date = ?, message_id = ?,
       has_attachments = ?, attributes = ?, journal_original = ?, journal_sender = ? WHERE id = ?`,
    );
    const setMerged = this.conn.stmt('UPDATE messages SET merged_into = ? WHERE id = ?');
    const upPrimary = this.conn.stmt('UPDATE messages SET to_addrs = ?, attributes = ? WHERE id = ?');
    const insDelivery = this.conn.stmt(
      `INSERT OR IGNORE INTO deliveries (id, message_id, connection, route, bus, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    for (const w of plan.writes) {
      if (w.kind === 'merged') setMerged.run(w.into, w.id);
      else if (w.kind === 'primary') upPrimary.run(w.to, w.attributesJson, w.id);
      else {
        const r = w.record;
        upParsed.run(
          r.ok ? 1 : 2,
          r.error ? `${r.error.code}: ${r.error.reason}` : null,
          r.from,
          r.to,
          r.subject,
          r.date,
          r.messageId,
          r.hasAttachments ? 1 : 0,
          r.attributesJson,
          r.journal?.originalId ?? null,
          r.journal?.sender ?? null,
          w.id,
        );
      }
    }
    for (const d of plan.deliveries) insDelivery.run(d.id, d.messageId, d.connection, d.route, d.bus, d.dueAt, d.createdAt);
  }
}
