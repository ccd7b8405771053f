/**
 * What the store roles' contract suites (drain-ledger, parse-queue, search-index, archive-reader;
 * with `ArchiveRolesHarness` hold-store, retention-store, archive-check)
 * are handed: one store on fresh, empty storage with every role, and a view of the deliveries
 * its parse queue queued (the outbox), which no store port reads back. Plus the record builders
 * the suites share.
 */
import type { DrainLedger, TakenRecord } from '../../src/core/ports/drain-ledger.js';
import type { ParseQueue } from '../../src/core/ports/parse-queue.js';
import type { SearchIndex } from '../../src/core/ports/search-index.js';
import type { ArchiveReader } from '../../src/core/ports/archive-reader.js';
import type { MessageAttributes } from '../../src/core/message/attributes.js';
import type { ParseOutcome } from '../../src/core/message/parse-outcome.js';
import type { HoldStore } from '../../src/core/ports/hold-store.js';
import type { RetentionStore } from '../../src/core/ports/retention-store.js';
import type { ArchiveIndexCheck } from '../../src/core/ports/archive-check.js';

/** A delivery as the outbox holds it. */
export interface QueuedDelivery {
  id: string;
  messageId: number;
  route: string;
  /** When it is first due (ms since the epoch). */
  dueAt: number;
  createdAt: number;
}

/** One store with every role, on fresh storage. */
export interface StoreHarness {
  store: DrainLedger & ParseQueue & SearchIndex & ArchiveReader;
  /** The deliveries queued so far, by id. */
  deliveries(): Promise<QueuedDelivery[]>;
  /** Closes the store and removes its storage. */
  cleanup(): Promise<void>;
}

/** Builds a store for one test; `journalSettleMs` as `SqliteStoreOptions.journalSettleMs`. */
export type StoreFactory = (options?: { journalSettleMs?: number }) => Promise<StoreHarness>;

/** Runs `fn` on a fresh store and cleans up after it. */
export async function withStore(factory: StoreFactory, fn: (h: StoreHarness) => Promise<void>, options?: { journalSettleMs?: number }): Promise<void> {
  const h = await factory(options);
  try {
    await fn(h);
  } finally {
    await h.cleanup();
  }
}

/** A hash that stands for message `n`'s bytes. */
export const sha = (n: number): string => n.toString(16).padStart(64, '0');

/** A taken IMAP message `uid` of `connection`'s INBOX, stored as blob `n` unless `blob` is false (a duplicate). */
export function taken(connection: string, uid: number, n = uid, opts: { blob?: boolean; uidValidity?: number; mailbox?: string; size?: number } = {}): TakenRecord {
  const uidValidity = opts.uidValidity ?? 1;
  const mailbox = opts.mailbox ?? 'INBOX';
  const size = opts.size ?? 100 + n;
  return {
    connection,
    sourceKey: `imap:${mailbox}:${uidValidity}:${uid}`,
    mailbox,
    uidValidity,
    uid,
    uidl: null,
    sha256: sha(n),
    size,
    blob: opts.blob === false ? null : { ref: `pack-00000001:${n}:${size}`, storedSize: size },
    takenAt: 1_700_000_000_000 + n,
  };
}

/** Commits `records` and answers the ids the queue gives them, in commit order. */
export async function commitAndList(h: StoreHarness, records: TakenRecord[]): Promise<number[]> {
  await h.store.commitTaken(records);
  const queued = await h.store.listUnparsed(10_000);
  const mine = new Set(records.map((r) => `${r.connection} ${r.sha256}`));
  return queued.filter((m) => mine.has(`${m.connection} ${m.sha256}`)).map((m) => m.id);
}

/** Full attributes of a plain message. */
export function attributes(a: Partial<MessageAttributes> = {}): MessageAttributes {
  return {
    From: { Name: 'Ann', Address: 'ann@example.test' },
    To: [{ Name: '', Address: 'bob@example.test' }],
    Cc: [],
    Bcc: [],
    Subject: 'Quarterly figures',
    ReceivedDate: '2024-03-01T10:00:00.000Z',
    GlobalMessageId: 'q1@example.test',
    InReplyTo: '',
    References: [],
    TextBody: 'revenue grew',
    HtmlBody: '',
    Attachments: [],
    CustomHeaders: [],
    ...a,
  };
}

/** A parsed outcome of `attributes(a)`. */
export const parsedOk = (a: Partial<MessageAttributes> = {}): ParseOutcome => ({ ok: true, attributes: attributes(a) });

/**
 * An unwrapped journal report of original `<merger@contoso.example>` sent by alice: its
 * envelope lists `recipients` (its share, as bifurcation splits them), the original's headers
 * show bob (To) and carol (Cc).
 */
export function journalReport(recipients: Array<{ Address: string; Kind: 'To' | 'Cc' | 'Bcc' | 'Recipient' }>, opts: { sender?: string; originalId?: string } = {}): ParseOutcome {
  return {
    ok: true,
    attributes: attributes({
      From: { Name: 'Alice', Address: 'alice@contoso.example' },
      To: [{ Name: '', Address: 'bob@contoso.example' }],
      Cc: [{ Name: '', Address: 'carol@contoso.example' }],
      Subject: 'Merger talks',
      GlobalMessageId: opts.originalId ?? 'merger@contoso.example',
      TextBody: 'strictly confidential',
      Journal: { Sender: opts.sender ?? 'alice@contoso.example', Recipients: recipients.map((r) => ({ ...r })) },
    }),
    journal: { unwrapped: true, original: null, envelope: null, notes: [] },
  };
}

/**
 * A store with the archive's other roles too (holds, the purge's, verify's), and the two writes
 * no port makes that their suites need to set a scene: a delivery finished (the bus's write) and
 * a journal report merged into a primary (the parse save's, which a scene would otherwise reach
 * only through the settle window).
 */
export interface ArchiveRolesHarness extends StoreHarness {
  holds: HoldStore;
  retention: RetentionStore;
  check: ArchiveIndexCheck;
  /** Marks these deliveries done, as the bus does once their actions ran. */
  deliveryDone(ids: string[]): Promise<void>;
  /** Merges report `id` into `primary`, both of journal original `original`, as the parse save does. */
  mergeInto(id: number, primary: number, original: string): Promise<void>;
}

/** Builds a store with every archive role for one test. */
export type ArchiveRolesFactory = () => Promise<ArchiveRolesHarness>;

/** Runs `fn` on a fresh store with every archive role and cleans up after it. */
export async function withRoles(factory: ArchiveRolesFactory, fn: (h: ArchiveRolesHarness) => Promise<void>): Promise<void> {
  const h = await factory();
  try {
    await fn(h);
  } finally {
    await h.cleanup();
  }
}
