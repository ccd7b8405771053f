/**
 * The bifurcation decision (docs/journal-reports.md, "Bifurcation"), as a plan a store applies:
 * several unwrapped journal reports of one original (same connection, original Message-ID and
 * envelope Sender) become one archived message. The first saved is the primary; a later one's
 * envelope is merged into the primary's `Journal` and `Bcc`, and it is marked merged (kept raw,
 * exported, counted by `stats`, not listed by search). It queues no delivery of its own: a route
 * it matched that the primary has none for is queued for the primary. While more mail of the
 * connection waits to be parsed, a report's deliveries are held for the settle window, so a
 * sibling still on its way is merged before a route sees the message.
 *
 * The store reads the facts ({@link JournalFacts}) and applies the plan in one write transaction
 * so that no other save can come between; it decides nothing itself.
 */
import { deliveryIdOf, type NewDelivery } from '../routing/route-matcher.js';
import type { MessageAttributes } from './attributes.js';
import { journalBcc, mergeJournalEnvelopes } from './journal-report.js';
import { indexEntryOf, parseSavedAttributes, recipientsText, savedAttributesJson, searchAddressesOf, type IndexEntry, type JournalKey, type ParsedRecord } from './parsed-record.js';

/**
 * Default settle window: ample for the reports of one original taken in the same batch (parsed
 * in parallel, saved in groups milliseconds apart) to merge before dispatch. It applies only
 * while a backlog is being parsed, so the latency of a report arriving in an idle mailbox (issue
 * 4: under 1 s at p99) is not touched. A report arriving after its sibling was dispatched is
 * merged in the archive but not sent again.
 */
export const DEFAULT_JOURNAL_SETTLE_MS = 500;

/** What a store holds of one message the plan may touch, as it stands when the save's transaction begins. */
export interface JournalRow {
  id: number;
  connection: string;
  /** Whether a parse result was saved for it. */
  parsed: boolean;
  from: string | null;
  subject: string | null;
  /** The saved attributes ({@link ParsedRecord.attributesJson}), null while unparsed. */
  attributesJson: string | null;
  /** The journal key it was saved under, null for none. */
  journal: JournalKey | null;
  /** The primary it is merged into, null when it is not merged. */
  mergedInto: number | null;
}

/** The facts a plan is made of, read by the store inside the save's write transaction. */
export interface JournalFacts {
  /** The rows of those of `ids` that exist. */
  rows(ids: readonly number[]): JournalRow[];
  /** The messages of `connection` saved under `key` and not merged into another. */
  unmerged(connection: string, key: JournalKey): JournalRow[];
  /** The highest id of `connection`'s mail still waiting to be parsed, `except` left out; null when none waits. */
  lastWaiting(connection: string, except: readonly number[]): number | null;
}

/** One parse result to save, already in record form. */
export interface SaveItem {
  id: number;
  record: ParsedRecord;
  deliveries?: NewDelivery[] | undefined;
}

/** One write of a plan; a store applies them in order. */
export type SaveWrite =
  /** The message gets its parse result and the journal key of `record` (none when absent). */
  | { kind: 'parsed'; id: number; record: ParsedRecord }
  /** The message is merged into the primary `into`. */
  | { kind: 'merged'; id: number; into: number }
  /** The primary's recipients column and attributes after a merge. */
  | { kind: 'primary'; id: number; to: string; attributesJson: string };

/** A delivery to queue, with the time it is first due. */
export interface PlannedDelivery extends NewDelivery {
  /** Milliseconds since the epoch: `createdAt`, plus the settle window when held. */
  dueAt: number;
}

/** What saving a group of parse results does, decided; the store applies `writes` and `deliveries` in one transaction. */
export interface SavePlan {
  writes: SaveWrite[];
  /** Inserted only when no delivery with the id exists (a message is queued on a route once). */
  deliveries: PlannedDelivery[];
  /**
   * Full-text rows to write again once the transaction committed: primaries whose recipients a
   * merge changed. A primary's body is not kept, so a sibling's text stands in for it.
   */
  reindex: IndexEntry[];
}

/**
 * Merges another report's envelope into a message's attributes: `Journal` becomes the union of
 * both envelopes (`into`'s recipients first), `Bcc` is recomputed by the Bcc rule over the merged
 * envelope and `into`'s To/Cc (its Bcc is kept: it is a subset). Returns the new attributes, or
 * null when nothing changes (merged already).
 */
export function mergeJournalInto(into: Partial<MessageAttributes>, from: Partial<MessageAttributes>): Partial<MessageAttributes> | null {
  if (!into.Journal || !from.Journal) return null;
  const journal = mergeJournalEnvelopes(into.Journal, from.Journal);
  const bcc = journalBcc(journal, { To: into.To ?? [], Cc: into.Cc ?? [], Bcc: into.Bcc ?? [] });
  if (JSON.stringify(journal) === JSON.stringify(into.Journal) && JSON.stringify(bcc) === JSON.stringify(into.Bcc ?? [])) return null;
  return { ...into, Bcc: bcc, Journal: journal };
}

const sameKey = (a: JournalKey | null, b: JournalKey): boolean => a !== null && a.originalId === b.originalId && a.sender === b.sender;

/** The rows the plan may touch, read before any write, then kept as the plan's writes change them. */
function readRows(group: readonly SaveItem[], facts: JournalFacts): Map<number, JournalRow> {
  const rows = new Map<number, JournalRow>();
  const add = (list: JournalRow[]): void => {
    for (const r of list) if (!rows.has(r.id)) rows.set(r.id, { ...r });
  };
  const keyed = group.filter((g) => g.record.journal);
  // Mail that is no journal report asks for nothing: the plain save stays as cheap as before.
  if (keyed.length === 0) return rows;
  add(facts.rows(keyed.map((g) => g.id)));
  const asked = new Set<string>();
  for (const g of keyed) {
    const self = rows.get(g.id);
    if (!self) continue;
    const key = g.record.journal!;
    const k = JSON.stringify([self.connection, key.originalId, key.sender]);
    if (asked.has(k)) continue;
    asked.add(k);
    add(facts.unmerged(self.connection, key));
  }
  const into = [...rows.values()].map((r) => r.mergedInto).filter((id): id is number => id !== null && !rows.has(id));
  if (into.length > 0) add(facts.rows(into));
  return rows;
}

/**
 * Plans saving `group`: in id order, so of two reports of one original in the same group the
 * earlier becomes the primary, whatever order their parses finished in. `settleMs` 0 never holds.
 */
export function planSave(group: readonly SaveItem[], facts: JournalFacts, settleMs: number): SavePlan {
  const rows = readRows(group, facts);
  const ids = group.map((g) => g.id);
  const writes: SaveWrite[] = [];
  const reindex = new Map<number, IndexEntry>();
  // Deliveries are planned once the whole group is, so a report is held only for mail still
  // waiting after this group, not for a sibling this group merges anyway.
  const queue: Array<{ id: number; connection: string | null; deliveries: NewDelivery[] }> = [];
  const primaryOf = (connection: string, key: JournalKey, id: number): number | undefined => {
    let best: number | undefined;
    for (const r of rows.values()) {
      if (r.id !== id && r.mergedInto === null && r.connection === connection && sameKey(r.journal, key) && (best === undefined || r.id < best)) best = r.id;
    }
    return best;
  };
  for (const item of [...group].sort((a, b) => a.id - b.id)) {
    const { id, deliveries } = item;
    let r = item.record;
    const key = r.journal;
    const self = key ? rows.get(id) : undefined;
    const primary = self ? (self.mergedInto ?? primaryOf(self.connection, key!, id)) : undefined;
    if (self && primary === undefined && self.parsed && self.journal?.originalId === key!.originalId) {
      // A primary parsed again: the new result, with what its siblings merged into it kept.
      const merged = mergeJournalInto(parseSavedAttributes(r.attributesJson, id), parseSavedAttributes(self.attributesJson, id));
      if (merged) {
        r = { ...r, to: recipientsText(merged), addresses: searchAddressesOf(merged), attributesJson: savedAttributesJson(merged) };
        reindex.set(id, indexEntryOf(id, r));
      }
    }
    writes.push({ kind: 'parsed', id, record: r });
    const row = rows.get(id);
    if (row) Object.assign(row, { parsed: true, from: r.from, subject: r.subject, attributesJson: r.attributesJson, journal: key ?? null });
    if (primary === undefined) {
      if (deliveries?.length) queue.push({ id, connection: self?.connection ?? null, deliveries });
      continue;
    }
    // A sibling: merged into the primary, marked, and never handed to routes itself.
    writes.push({ kind: 'merged', id, into: primary });
    if (row) row.mergedInto = primary;
    const p = rows.get(primary);
    const merged = mergeJournalInto(parseSavedAttributes(p?.attributesJson ?? null, primary), parseSavedAttributes(r.attributesJson, id));
    if (merged) {
      const to = recipientsText(merged);
      const attributesJson = savedAttributesJson(merged);
      writes.push({ kind: 'primary', id: primary, to, attributesJson });
      if (p) p.attributesJson = attributesJson;
      // The primary's index row gets the merged recipients. Its body is not stored; the sibling
      // carries the same original, so its text stands in (when it was fully parsed).
      if (r.ok) reindex.set(primary, { id: primary, subject: p?.subject ?? r.subject, ...searchAddressesOf(merged), body: r.body, attachmentNames: r.attachmentNames, hasAttachments: r.hasAttachments });
    }
    // A route the sibling matched but the primary did not (a filter on a recipient only the
    // sibling's envelope lists) takes the primary now; one it has already is left alone.
    const moved = (deliveries ?? []).map((d) => ({ ...d, id: deliveryIdOf(d.connection, d.route, primary), messageId: primary }));
    if (moved.length > 0) queue.push({ id, connection: self!.connection, deliveries: moved });
  }
  // The outbox: a journal report's deliveries (connection set) wait `settleMs` while more of its
  // connection's mail waits to be parsed behind it; everything else is due at once.
  const lastWaiting = new Map<string, number | null>();
  const planned: PlannedDelivery[] = [];
  for (const q of queue) {
    let hold = 0;
    if (q.connection !== null && settleMs > 0) {
      if (!lastWaiting.has(q.connection)) lastWaiting.set(q.connection, facts.lastWaiting(q.connection, ids));
      const last = lastWaiting.get(q.connection);
      if (last !== null && last !== undefined && last > q.id) hold = settleMs;
    }
    for (const d of q.deliveries) planned.push({ ...d, dueAt: d.createdAt + hold });
  }
  return { writes, deliveries: planned, reindex: [...reindex.values()] };
}
