/**
 * The in-memory reference adapter of the store's roles: `DrainLedger`, `ParseQueue`,
 * `SearchIndex` and `ArchiveReader` over
 * plain maps. It passes the same contract suites as the SQLite adapter (test/contract/), so unit
 * tests use it wherever they need a store, and it shows what a second backend must do: every
 * decision (what is indexed, the journal merge) comes from the core, the adapter only keeps rows.
 */
import type { DrainLedger, MailboxWatermark, PendingAction, TakenRecord } from '../../src/core/ports/drain-ledger.js';
import type { ParseQueue, ParseResult, UnparsedMessage } from '../../src/core/ports/parse-queue.js';
import type { SearchCount, SearchHit, SearchIndex, SearchQuery } from '../../src/core/ports/search-index.js';
import { matchesQuery } from './query-oracle.js';
import type { ArchivedMessage, ArchiveReader, ArchiveStats, ExportItem, TakenBucket } from '../../src/core/ports/archive-reader.js';
import type { MessageStore } from '../../src/core/ports/message-store.js';
import type { BlobLocation } from '../../src/core/ports/blob-store.js';
import { asParsedRecord, indexEntryOf, parseSavedAttributes, type IndexEntry, type JournalKey } from '../../src/core/message/parsed-record.js';
import { DEFAULT_JOURNAL_SETTLE_MS, planSave, type JournalFacts, type JournalRow, type PlannedDelivery } from '../../src/core/message/journal-merge.js';

/** One message row, as the SQLite adapter's `messages` table holds it. */
interface MessageRow {
  id: number;
  connection: string;
  sha256: string;
  size: number;
  takenAt: number;
  mailbox: string;
  /** The Message-ID the parse found ("" for none); null until parsed. */
  messageId: string | null;
  /** 0 waiting, 1 parsed, 2 unparsable. */
  parseState: 0 | 1 | 2;
  from: string | null;
  to: string | null;
  subject: string | null;
  date: string | null;
  hasAttachments: boolean;
  attributesJson: string | null;
  journal: JournalKey | null;
  mergedInto: number | null;
}

interface KeyRow {
  connection: string;
  sourceKey: string;
  messageId: number;
  mailbox: string;
  uidValidity: number;
  uid: number | null;
  uidl: string | null;
  /** 0 pending, 1 done, 2 superseded. */
  actionState: 0 | 1 | 2;
}

/** A queued delivery as the reference adapter keeps it (the outbox). */
export interface MemoryDelivery extends PlannedDelivery {}

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** As `SqliteStoreOptions.journalSettleMs`. */
  journalSettleMs?: number;
}

const contains = (hay: string | null, needle: string | undefined): boolean => needle === undefined || needle === '' || (hay ?? '').toLowerCase().includes(needle.toLowerCase());

/** Every store role in memory, synchronous underneath: each call is one "transaction". */
export class MemoryStore implements DrainLedger, ParseQueue, SearchIndex, ArchiveReader {
  private readonly blobs = new Map<string, { size: number; blob: BlobLocation }>();
  private readonly messages = new Map<number, MessageRow>();
  private readonly byHash = new Map<string, number>();
  private readonly keys = new Map<string, KeyRow>();
  private readonly watermarks = new Map<string, MailboxWatermark>();
  private readonly index = new Map<number, IndexEntry>();
  private readonly outbox = new Map<string, MemoryDelivery>();
  private nextId = 1;
  private readonly settleMs: number;

  constructor(options: MemoryStoreOptions = {}) {
    this.settleMs = Math.max(0, options.journalSettleMs ?? DEFAULT_JOURNAL_SETTLE_MS);
  }

  // DrainLedger

  hasBlob(sha256: string): boolean {
    return this.blobs.has(sha256);
  }

  async lookupTaken(connection: string, keys: string[]): Promise<Set<string>> {
    return new Set(keys.filter((k) => this.keys.has(JSON.stringify([connection, k]))));
  }

  async lookupSettled(connection: string, keys: string[]): Promise<Set<string>> {
    return new Set(keys.filter((k) => (this.keys.get(JSON.stringify([connection, k]))?.actionState ?? 0) !== 0));
  }

  async commitTaken(records: TakenRecord[], watermark?: { connection: string; mailbox: string } & MailboxWatermark): Promise<void> {
    for (const r of records) if (r.blob && !this.blobs.has(r.sha256)) this.blobs.set(r.sha256, { size: r.size, blob: { ...r.blob } });
    for (const r of records) {
      const h = JSON.stringify([r.connection, r.sha256]);
      if (this.byHash.has(h)) continue;
      const id = this.nextId++;
      this.byHash.set(h, id);
      this.messages.set(id, {
        id,
        connection: r.connection,
        sha256: r.sha256,
        size: r.size,
        takenAt: r.takenAt,
        mailbox: r.mailbox,
        messageId: null,
        parseState: 0,
        from: null,
        to: null,
        subject: null,
        date: null,
        hasAttachments: false,
        attributesJson: null,
        journal: null,
        mergedInto: null,
      });
    }
    for (const r of records) {
      const k = JSON.stringify([r.connection, r.sourceKey]);
      if (this.keys.has(k)) continue;
      const messageId = this.byHash.get(JSON.stringify([r.connection, r.sha256]))!;
      this.keys.set(k, { connection: r.connection, sourceKey: r.sourceKey, messageId, mailbox: r.mailbox, uidValidity: r.uidValidity, uid: r.uid, uidl: r.uidl, actionState: 0 });
    }
    if (watermark) this.watermarks.set(JSON.stringify([watermark.connection, watermark.mailbox]), { uidValidity: watermark.uidValidity, lastUid: watermark.lastUid });
  }

  async markActionDone(connection: string, keys: string[]): Promise<void> {
    for (const k of keys) {
      const row = this.keys.get(JSON.stringify([connection, k]));
      if (row) row.actionState = 1;
    }
  }

  async pendingActions(connection: string, mailbox: string, uidValidity: number): Promise<PendingAction[]> {
    return [...this.keys.values()]
      .filter((k) => k.connection === connection && k.mailbox === mailbox && k.uidValidity === uidValidity && k.actionState === 0)
      .sort((a, b) => (a.uid ?? -1) - (b.uid ?? -1) || (a.uidl ?? '').localeCompare(b.uidl ?? ''))
      .map((k) => ({ sourceKey: k.sourceKey, uid: k.uid, uidl: k.uidl }));
  }

  async supersedePending(connection: string, mailbox: string, currentUidValidity: number): Promise<number> {
    let n = 0;
    for (const k of this.keys.values()) {
      if (k.connection === connection && k.mailbox === mailbox && k.uidValidity !== currentUidValidity && k.actionState === 0) {
        k.actionState = 2;
        n++;
      }
    }
    return n;
  }

  async getWatermark(connection: string, mailbox: string): Promise<MailboxWatermark | null> {
    const w = this.watermarks.get(JSON.stringify([connection, mailbox]));
    return w ? { ...w } : null;
  }

  // ParseQueue

  async listUnparsed(limit: number, afterId = 0): Promise<UnparsedMessage[]> {
    const out: UnparsedMessage[] = [];
    for (const m of [...this.messages.values()].sort((a, b) => a.id - b.id)) {
      if (out.length >= limit) break;
      const b = this.blobs.get(m.sha256);
      if (m.parseState === 0 && m.id > afterId && b) out.push({ id: m.id, connection: m.connection, sha256: m.sha256, size: m.size, blob: { ...b.blob } });
    }
    return out;
  }

  async countUnparsed(): Promise<number> {
    return [...this.messages.values()].filter((m) => m.parseState === 0).length;
  }

  async saveParsed(results: ParseResult[]): Promise<void> {
    const group = results.map((r) => ({ id: r.id, record: asParsedRecord(r.outcome), deliveries: r.deliveries }));
    for (const g of group) this.index.set(g.id, indexEntryOf(g.id, g.record));
    const plan = planSave(group, this.facts(), this.settleMs);
    for (const w of plan.writes) {
      const m = this.messages.get(w.id);
      if (!m) continue;
      if (w.kind === 'merged') m.mergedInto = w.into;
      else if (w.kind === 'primary') Object.assign(m, { to: w.to, attributesJson: w.attributesJson });
      else {
        const r = w.record;
        Object.assign(m, { parseState: r.ok ? 1 : 2, messageId: r.messageId, from: r.from, to: r.to, subject: r.subject, date: r.date, hasAttachments: r.hasAttachments, attributesJson: r.attributesJson, journal: r.journal ?? null });
      }
    }
    for (const d of plan.deliveries) if (!this.outbox.has(d.id)) this.outbox.set(d.id, { ...d });
    for (const e of plan.reindex) this.index.set(e.id, e);
  }

  private facts(): JournalFacts {
    const row = (m: MessageRow): JournalRow => ({
      id: m.id,
      connection: m.connection,
      parsed: m.parseState !== 0,
      from: m.from,
      subject: m.subject,
      attributesJson: m.attributesJson,
      journal: m.journal ? { ...m.journal } : null,
      mergedInto: m.mergedInto,
    });
    const all = (): MessageRow[] => [...this.messages.values()];
    return {
      rows: (ids) => ids.flatMap((id) => (this.messages.has(id) ? [row(this.messages.get(id)!)] : [])),
      unmerged: (connection, key) =>
        all()
          .filter((m) => m.connection === connection && m.mergedInto === null && m.journal?.originalId === key.originalId && m.journal.sender === key.sender)
          .map(row),
      lastWaiting: (connection, except) => {
        const ids = all().filter((m) => m.parseState === 0 && m.connection === connection && !except.includes(m.id)).map((m) => m.id);
        return ids.length > 0 ? Math.max(...ids) : null;
      },
    };
  }

  /** The deliveries queued so far (the outbox), by id. */
  deliveries(): MemoryDelivery[] {
    return [...this.outbox.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  // SearchIndex

  async search(q: SearchQuery): Promise<SearchHit[]> {
    return this.matching(q)
      .slice(0, q.limit ?? 100)
      .map((m) => ({ id: m.id, sha256: m.sha256, connection: m.connection, from: m.from ?? '', subject: m.subject ?? '', date: m.date, size: m.size }));
  }

  async count(q: SearchQuery): Promise<SearchCount> {
    const n = this.matching(q).length;
    return q.limit === undefined || n <= q.limit ? { total: n, more: false } : { total: q.limit, more: true };
  }

  /** Every message `q` matches (its limit aside), newest first. */
  private matching(q: SearchQuery): MessageRow[] {
    const tree = q.query ?? null;
    // A message's index rows: its own and those of the reports merged into it.
    const rowsOf = new Map<number, IndexEntry[]>();
    if (tree) {
      for (const e of this.index.values()) {
        const m = this.messages.get(e.id);
        if (!m) continue;
        const at = m.mergedInto ?? m.id;
        rowsOf.set(at, [...(rowsOf.get(at) ?? []), e]);
      }
    }
    return [...this.messages.values()]
      .filter(
        (m) =>
          m.mergedInto === null &&
          (q.beforeId === undefined || m.id < q.beforeId) &&
          contains(m.from, q.from) &&
          contains(m.to, q.to) &&
          (q.connection === undefined || m.connection === q.connection) &&
          (q.since === undefined || (m.date !== null && m.date >= q.since)) &&
          (q.before === undefined || (m.date !== null && m.date < q.before)) &&
          (q.hasAttachment === undefined || (m.parseState !== 0 && m.hasAttachments === q.hasAttachment)) &&
          (!tree || matchesQuery(tree, { connection: m.connection, date: m.date, hasAttachments: m.parseState !== 0 && m.hasAttachments === true, rows: rowsOf.get(m.id) ?? [] })),
      )
      .sort((a, b) => b.id - a.id);
  }

  // ArchiveReader

  async findArchived(sha256: string): Promise<ArchivedMessage | null> {
    const b = this.blobs.get(sha256);
    if (!b) return null;
    const m = [...this.messages.values()].filter((x) => x.sha256 === sha256).sort((x, y) => Number(x.parseState === 0) - Number(y.parseState === 0) || x.id - y.id)[0];
    if (!m) return null;
    const attributes = m.parseState === 0 ? null : parseSavedAttributes(m.attributesJson, m.id);
    return { sha256, size: b.size, blob: { ...b.blob }, attachments: attributes ? (attributes.Attachments ?? []) : null };
  }

  async *listForExport(connection?: string): AsyncIterable<ExportItem> {
    for (const m of [...this.messages.values()].sort((a, b) => a.id - b.id)) {
      if (connection && m.connection !== connection) continue;
      const item = this.exportItem(m);
      if (item) yield item;
    }
  }

  async exportItemsOf(ids: readonly number[]): Promise<ExportItem[]> {
    return ids.flatMap((id) => {
      const m = this.messages.get(id);
      const item = m ? this.exportItem(m) : null;
      return item ? [item] : [];
    });
  }

  private exportItem(m: MessageRow): ExportItem | null {
    const b = this.blobs.get(m.sha256);
    if (!b) return null;
    return {
      id: m.id,
      sha256: m.sha256,
      size: m.size,
      takenAt: m.takenAt,
      connection: m.connection,
      mailbox: m.mailbox,
      from: m.from ?? '',
      date: m.date,
      messageId: m.messageId || null,
      blob: { ...b.blob },
    };
  }

  async takenPerBucket(since: number, until: number, bucketMs: number): Promise<TakenBucket[]> {
    const per = new Map<string, TakenBucket>();
    for (const m of this.messages.values()) {
      if (m.takenAt < since || m.takenAt >= until) continue;
      const start = Math.floor(m.takenAt / bucketMs) * bucketMs;
      const key = `${m.connection}\u0000${start}`;
      const b = per.get(key) ?? { connection: m.connection, start, messages: 0, bytes: 0 };
      b.messages++;
      b.bytes += m.size;
      per.set(key, b);
    }
    return [...per.values()];
  }

  async stats(): Promise<ArchiveStats> {
    const s: ArchiveStats = { messages: 0, bytes: 0, blobs: this.blobs.size, storedBytes: 0, unparsed: 0, unparsable: 0, journalMerged: 0, connections: {} };
    for (const b of this.blobs.values()) s.storedBytes += b.blob.storedSize;
    const per = (c: string): ArchiveStats['connections'][string] => (s.connections[c] ??= { messages: 0, bytes: 0, pendingActions: 0, journalMerged: 0 });
    for (const m of this.messages.values()) {
      const c = per(m.connection);
      s.messages++;
      c.messages++;
      s.bytes += m.size;
      c.bytes += m.size;
      if (m.parseState === 0) s.unparsed++;
      if (m.parseState === 2) s.unparsable++;
      if (m.mergedInto !== null) {
        s.journalMerged++;
        c.journalMerged++;
      }
    }
    for (const k of this.keys.values()) if (k.actionState === 0) per(k.connection).pendingActions++;
    return s;
  }

  async close(): Promise<void> {}
}

/** A fresh in-memory store, typed as the aggregate the composition roots and the drain cycle take. */
export function memoryStore(options: MemoryStoreOptions = {}): MemoryStore & MessageStore {
  return new MemoryStore(options);
}
