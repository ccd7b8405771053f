/**
 * The parse queue on PostgreSQL (`ParseQueue`): the messages with `parse_state = 0`, and
 * `saveParsed`, which applies the plan core/message/journal-merge.ts makes of a group of parse
 * results (the rows, the merges of bifurcated journal reports, the deliveries: the outbox, ADR
 * 0006) in one transaction. The store decides nothing about journal reports.
 *
 * `planSave` asks its facts synchronously and a query is not: the plan is made from the facts read
 * so far, and when it asked for one not read yet, that fact is read and the (pure) plan made again,
 * inside the same transaction, until it asked for nothing new (two rounds for a report, one for
 * other mail). The full-text rows (`indexEntryOf`, then `plan.reindex`: a primary with its merged
 * recipients) are written in that transaction too (postgres-search-rows.ts): a message is marked
 * parsed exactly when search finds it.
 */
import type pg from 'pg';
import type { ParseQueue, ParseResult, UnparsedMessage } from '../../core/ports/parse-queue.js';
import { asParsedRecord, indexEntryOf, type JournalKey } from '../../core/message/parsed-record.js';
import { planSave, type JournalFacts, type JournalRow, type SavePlan, type SaveItem, type SaveWrite } from '../../core/message/journal-merge.js';
import type { PostgresConnection, Queryable } from './postgres-connection.js';
import { writeSearchRows } from './postgres-search-rows.js';

/** A `messages` row as the journal plan reads it. */
const JOURNAL_ROW = `SELECT id, connection, parse_state <> 0 AS parsed, from_addr AS "from", subject, attributes AS "attributesJson",
  journal_original AS original, journal_sender AS sender, merged_into AS "mergedInto" FROM messages`;

type RawJournalRow = Omit<JournalRow, 'journal'> & { original: string | null; sender: string | null };

const toJournalRow = (r: RawJournalRow): JournalRow => ({
  id: r.id,
  connection: r.connection,
  parsed: r.parsed,
  from: r.from,
  subject: r.subject,
  attributesJson: r.attributesJson,
  journal: r.original === null ? null : { originalId: r.original, sender: r.sender ?? '' },
  mergedInto: r.mergedInto,
});

type ParsedRecordWrite = Extract<SaveWrite, { kind: 'parsed' }>;

/** Writes parse results, one statement for any number of messages. */
async function updateParsed(c: pg.PoolClient, writes: ParsedRecordWrite[]): Promise<void> {
  const col = <T>(f: (w: ParsedRecordWrite) => T): T[] => writes.map(f);
  await c.query(
    `UPDATE messages m SET parse_state = x.ps, parse_error = x.pe, from_addr = x.fa, to_addrs = x.ta, subject = x.su, date = x.da,
       message_id = x.mi, has_attachments = x.ha, attributes = x.at, journal_original = x.jo, journal_sender = x.js
     FROM unnest($1::bigint[], $2::smallint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::boolean[], $10::text[], $11::text[], $12::text[])
       AS x(id, ps, pe, fa, ta, su, da, mi, ha, at, jo, js)
     WHERE m.id = x.id`,
    [
      col((w) => w.id),
      col((w) => (w.record.ok ? 1 : 2)),
      col((w) => (w.record.error ? `${w.record.error.code}: ${w.record.error.reason}` : null)),
      col((w) => w.record.from),
      col((w) => w.record.to),
      col((w) => w.record.subject),
      col((w) => w.record.date),
      col((w) => w.record.messageId),
      col((w) => w.record.hasAttachments),
      col((w) => w.record.attributesJson),
      col((w) => w.record.journal?.originalId ?? null),
      col((w) => w.record.journal?.sender ?? null),
    ],
  );
}

/** The first key of the journal keys' advisory locks (ASCII "msjk"). */
const JOURNAL_LOCK = 0x6d736a6b;

/** The lock name of a journal key (an original's id and its sender): what the parse save and the purge lock. */
export const journalLockKey = (originalId: string, sender: string): string => JSON.stringify([originalId, sender]);

/**
 * Takes the advisory locks of `keys` for the transaction of `c`, sorted (two transactions never
 * wait on each other in a circle): the parse save's merge and the purge of a merged report's
 * primary exclude each other by them.
 */
export async function lockJournalKeys(c: Queryable, keys: Iterable<string>): Promise<void> {
  for (const k of [...new Set(keys)].sort()) await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [JOURNAL_LOCK, k]);
}

/**
 * The facts read so far, answered synchronously; what was asked and not read yet is noted, answered
 * as empty, and read by {@link FactReader.readMissing} before the plan is made again.
 */
class FactReader implements JournalFacts {
  private readonly byId = new Map<number, JournalRow | null>();
  private readonly byKey = new Map<string, JournalRow[]>();
  private readonly last = new Map<string, number | null>();
  private missingIds = new Set<number>();
  private missingKeys = new Map<string, { connection: string; key: JournalKey }>();
  private missingLast = new Map<string, readonly number[]>();

  rows(ids: readonly number[]): JournalRow[] {
    const out: JournalRow[] = [];
    for (const id of ids) {
      const r = this.byId.get(id);
      if (r === undefined) this.missingIds.add(id);
      else if (r !== null) out.push(r);
    }
    return out;
  }

  unmerged(connection: string, key: JournalKey): JournalRow[] {
    const k = JSON.stringify([connection, key.originalId, key.sender]);
    const rows = this.byKey.get(k);
    if (rows === undefined) this.missingKeys.set(k, { connection, key });
    return rows ?? [];
  }

  lastWaiting(connection: string, except: readonly number[]): number | null {
    const k = JSON.stringify([connection, except]);
    if (!this.last.has(k)) this.missingLast.set(k, except);
    return this.last.get(k) ?? null;
  }

  /** Whether the last plan asked for something not read. */
  get lacking(): boolean {
    return this.missingIds.size + this.missingKeys.size + this.missingLast.size > 0;
  }

  /** Reads what the last plan lacked, in the transaction `c`. */
  async readMissing(c: pg.PoolClient): Promise<void> {
    if (this.missingIds.size > 0) {
      const ids = [...this.missingIds];
      const rows = (await c.query<RawJournalRow>(`${JOURNAL_ROW} WHERE id = ANY($1::bigint[])`, [ids])).rows;
      for (const id of ids) this.byId.set(id, null);
      for (const r of rows) this.byId.set(r.id, toJournalRow(r));
    }
    for (const [k, { connection, key }] of this.missingKeys) {
      const rows = (await c.query<RawJournalRow>(`${JOURNAL_ROW} WHERE connection = $1 AND journal_original = $2 AND journal_sender = $3 AND merged_into IS NULL ORDER BY id`, [connection, key.originalId, key.sender])).rows;
      this.byKey.set(k, rows.map(toJournalRow));
    }
    for (const [k, except] of this.missingLast) {
      const connection = JSON.parse(k)[0] as string;
      const rows = (await c.query<{ id: number }>('SELECT id FROM messages WHERE parse_state = 0 AND connection = $1 AND NOT (id = ANY($2::bigint[])) ORDER BY id DESC LIMIT 1', [connection, except])).rows;
      this.last.set(k, rows[0]?.id ?? null);
    }
    this.missingIds = new Set();
    this.missingKeys = new Map();
    this.missingLast = new Map();
  }
}

/** The parse stage's queue and the saving of its results, on the shared pool. */
export class PostgresParseQueue implements ParseQueue {
  constructor(
    private readonly conn: PostgresConnection,
    /** How long a journal report's deliveries are held while more mail waits (`journalSettleMs`). */
    private readonly settleMs: number,
  ) {}

  async listUnparsed(limit: number, afterId = 0): Promise<UnparsedMessage[]> {
    const rows = await this.conn.query<{ id: number; connection: string; sha256: string; size: number; ref: string; storedSize: number }>(
      `SELECT m.id, m.connection, m.sha256, m.size, b.ref, b.stored_size AS "storedSize" FROM messages m JOIN blobs b ON b.sha256 = m.sha256
       WHERE m.parse_state = 0 AND m.id > $1 ORDER BY m.id LIMIT $2`,
      [afterId, limit],
      'listing the messages waiting to be parsed',
    );
    return rows.map((r) => ({ id: r.id, connection: r.connection, sha256: r.sha256, size: r.size, blob: { ref: r.ref, storedSize: r.storedSize } }));
  }

  async countUnparsed(): Promise<number> {
    const rows = await this.conn.query<{ n: number }>('SELECT count(*) AS n FROM messages WHERE parse_state = 0', [], 'counting the messages waiting to be parsed');
    return rows[0]!.n;
  }

  async saveParsed(results: ParseResult[]): Promise<void> {
    const group: SaveItem[] = results.map((r) => ({ id: r.id, record: asParsedRecord(r.outcome), deliveries: r.deliveries }));
    // Reports of one original saved by two workers at once must see each other's rows: each
    // journal key of the group is locked (sorted, so two groups never wait on each other in a
    // circle) before any fact is read. Other mail takes no lock.
    const keys = group.filter((g) => g.record.journal).map((g) => journalLockKey(g.record.journal!.originalId, g.record.journal!.sender));
    await this.conn.tx(`saving ${results.length} parse results`, async (c) => {
      await lockJournalKeys(c, keys);
      const facts = new FactReader();
      let plan: SavePlan = planSave(group, facts, this.settleMs);
      while (facts.lacking) {
        await facts.readMissing(c);
        plan = planSave(group, facts, this.settleMs);
      }
      await this.apply(c, plan);
      await writeSearchRows(c, [...group.map((g) => indexEntryOf(g.id, g.record)), ...plan.reindex]);
    });
  }

  /**
   * Applies a plan's writes and deliveries, in order, inside the save's transaction. Consecutive
   * `parsed` writes (all of them, for mail that is no journal report) go as one statement over
   * arrays: one UPDATE per message cost a group of 64 about 15 ms in round trips.
   */
  private async apply(c: pg.PoolClient, plan: SavePlan): Promise<void> {
    let run: ParsedRecordWrite[] = [];
    const flush = async (): Promise<void> => {
      if (run.length > 0) await updateParsed(c, run);
      run = [];
    };
    for (const w of plan.writes) {
      if (w.kind === 'parsed') {
        // An id twice in one UPDATE … FROM would be written once, by either row: a new run keeps the order.
        if (run.some((x) => x.id === w.id)) await flush();
        run.push(w);
        continue;
      }
      await flush();
      if (w.kind === 'merged') await c.query('UPDATE messages SET merged_into = $1 WHERE id = $2', [w.into, w.id]);
      else await c.query('UPDATE messages SET to_addrs = $1, attributes = $2 WHERE id = $3', [w.to, w.attributesJson, w.id]);
    }
    await flush();
    const d = plan.deliveries;
    if (d.length === 0) return;
    await c.query(
      `INSERT INTO deliveries (id, message_id, connection, route, bus, next_at, created_at)
       SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::int[], $6::bigint[], $7::bigint[]) ON CONFLICT (id) DO NOTHING`,
      [d.map((x) => x.id), d.map((x) => x.messageId), d.map((x) => x.connection), d.map((x) => x.route), d.map((x) => x.bus), d.map((x) => x.dueAt), d.map((x) => x.createdAt)],
    );
  }
}
