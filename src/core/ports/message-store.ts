import type { BlobLocation } from './blob-store.js';
import type { Address, Attachment, MessageAttributes } from '../message/attributes.js';
import type { ParseOutcome } from './message-parser.js';
import type { NewDelivery } from '../routing/route-matcher.js';

/** One message taken from a server, ready to commit. */
export interface TakenRecord {
  connection: string;
  /** The candidate key (`imap:<mailbox>:<uidvalidity>:<uid>` / `pop3:<uidl>`). */
  sourceKey: string;
  mailbox: string;
  uidValidity: number;
  uid: number | null;
  uidl: string | null;
  sha256: string;
  size: number;
  /** Where the raw bytes were written; null when the blob already existed. */
  blob: BlobLocation | null;
  /** Milliseconds since the epoch. */
  takenAt: number;
}

/** A committed message whose server action has not been confirmed yet. */
export interface PendingAction {
  sourceKey: string;
  uid: number | null;
  uidl: string | null;
}

/** A watermark: every UID up to `lastUid` of `uidValidity` was committed or had vanished. */
export interface MailboxWatermark {
  uidValidity: number;
  lastUid: number;
}

/** A committed message waiting for the parse stage. */
export interface UnparsedMessage {
  id: number;
  /** The connection that took it: routing picks that connection's routes. */
  connection: string;
  sha256: string;
  size: number;
  blob: BlobLocation;
}

/**
 * A parse outcome in the flat form the store saves: its search columns, the attributes without
 * bodies as JSON, and the text of its full-text row. A parser may build it where it parsed (a
 * worker thread, {@link MessageParser.parseToRecord}) so the thread that writes the database
 * neither receives the whole attribute tree nor formats it.
 */
export interface ParsedRecord {
  /** Always true: tells a record from a {@link ParseOutcome}. */
  record: true;
  ok: boolean;
  /** Why the message is unparsable; null when `ok`. */
  error: { code: string; reason: string } | null;
  from: string;
  /** To, Cc and Bcc, formatted and joined. */
  to: string;
  subject: string;
  date: string | null;
  messageId: string;
  hasAttachments: boolean;
  /** The attributes (partial ones for an unparsable message) without TextBody and HtmlBody, as JSON. */
  attributesJson: string;
  /** The text the full-text index gets for the body. */
  body: string;
  /** Attachment names, space-separated. */
  attachmentNames: string;
  /**
   * `{ TextBody, HtmlBody }` as JSON, for the index stage to hand to the dispatcher in memory
   * when routes take the message (ADR 0011); the store does not keep it.
   */
  bodiesJson?: string;
  /**
   * Set for an unwrapped Exchange journal report only (its attributes carry `Journal`) whose
   * original has a Message-ID: the key under which several reports of one original (bifurcation)
   * merge onto one archived message in the store (docs/journal-reports.md, "Bifurcation").
   * `originalId` is the original's `GlobalMessageId` (compared as is), `sender` the envelope's
   * `Sender`, trimmed and lowercased ("" when the envelope names none).
   */
  journal?: { originalId: string; sender: string };
}

function formatAddress(a: Address | null | undefined): string {
  if (!a) return '';
  return a.Name ? `${a.Name} <${a.Address}>` : a.Address;
}

/** The `to` search column of a message: To, Cc and Bcc, formatted and joined. */
export function recipientsText(a: Pick<Partial<MessageAttributes>, 'To' | 'Cc' | 'Bcc'>): string {
  return [...(a.To ?? []), ...(a.Cc ?? []), ...(a.Bcc ?? [])].map(formatAddress).join(', ');
}

/**
 * The bifurcation key of a parse result ({@link ParsedRecord.journal}): present when the
 * attributes carry `Journal` (the report was unwrapped; a partial outcome over the size limit
 * may carry it too) and the original has a Message-ID. A report that was not unwrapped has no
 * `Journal` attribute, so it never merges; an original without a Message-ID never merges either.
 */
export function journalKeyOf(a: Partial<MessageAttributes>): { originalId: string; sender: string } | undefined {
  if (!a.Journal || typeof a.GlobalMessageId !== 'string' || a.GlobalMessageId === '') return undefined;
  return { originalId: a.GlobalMessageId, sender: (a.Journal.Sender ?? '').trim().toLowerCase() };
}

/** The one mapping from a parse outcome to the record the store saves (pure; runs on any thread). */
export function toParsedRecord(outcome: ParseOutcome): ParsedRecord {
  const a: Partial<MessageAttributes> = outcome.ok ? outcome.attributes : (outcome.partial ?? {});
  const to = recipientsText(a);
  const attachments = a.Attachments ?? [];
  // Bodies go to the index only; the row keeps the rest so search results need no re-parse.
  const { TextBody, HtmlBody, ...rest } = a;
  const journal = outcome.journal?.unwrapped === false ? undefined : journalKeyOf(a);
  return {
    record: true,
    ok: outcome.ok,
    error: outcome.ok ? null : { code: outcome.code, reason: outcome.reason },
    from: formatAddress(a.From),
    to,
    subject: a.Subject ?? '',
    date: a.ReceivedDate ?? null,
    messageId: a.GlobalMessageId ?? '',
    hasAttachments: attachments.length > 0,
    attributesJson: JSON.stringify(rest),
    body: TextBody || (HtmlBody ? HtmlBody.replace(/<[^>]*>/g, ' ') : ''),
    attachmentNames: attachments.map((x) => x.Name).join(' '),
    bodiesJson: JSON.stringify({ TextBody: TextBody ?? '', HtmlBody: HtmlBody ?? '' }),
    ...(journal ? { journal } : {}),
  };
}

/** Counts for `stats`. */
export interface ArchiveStats {
  /**
   * Messages taken from mailboxes (SPEC: "a journal report and its unwrapped original count
   * once"). Every journal report counts, also one merged into another report of the same
   * original (bifurcation): it was taken from the mailbox and is archived raw.
   */
  messages: number;
  bytes: number;
  blobs: number;
  storedBytes: number;
  unparsed: number;
  unparsable: number;
  /**
   * Of `messages`, the journal reports merged into an earlier report of the same original
   * (docs/journal-reports.md, "Bifurcation"): `messages - journalMerged` distinct messages are
   * listed by search and handed to routes.
   */
  journalMerged: number;
  connections: Record<string, { messages: number; bytes: number; pendingActions: number; journalMerged: number }>;
}

/** One search hit. */
export interface SearchHit {
  id: number;
  sha256: string;
  connection: string;
  from: string;
  subject: string;
  date: string | null;
  size: number;
}

/** Search filters beyond the full-text query. */
export interface SearchQuery {
  text?: string;
  from?: string;
  to?: string;
  connection?: string;
  since?: string;
  before?: string;
  hasAttachment?: boolean;
  limit?: number;
}

/** An archived message for export. */
export interface ExportItem {
  id: number;
  sha256: string;
  size: number;
  blob: BlobLocation;
  takenAt: number;
  connection: string;
}

/** An archived message found by its `ArchiveId`, for serving what it holds. */
export interface ArchivedMessage {
  /** The SHA-256 of its raw bytes: its `ArchiveId`. */
  sha256: string;
  /** Raw size in bytes. */
  size: number;
  blob: BlobLocation;
  /** The attachments its parse found (name, type, size, SHA-256); null while it waits to be parsed. */
  attachments: Attachment[] | null;
}

/** Metadata, dedup state, the parse queue and the search index of the archive. */
export interface MessageStore {
  /** Whether a blob with this hash is stored (for single-instance storage); synchronous because the blob writer asks mid-stream. */
  hasBlob(sha256: string): boolean;
  /** Which of `keys` were committed already for the connection. */
  lookupTaken(connection: string, keys: string[]): Promise<Set<string>>;
  /** Which of `keys` were committed already and need no server action any more (done or superseded). */
  lookupSettled(connection: string, keys: string[]): Promise<Set<string>>;
  /**
   * Commits a batch in one transaction: blobs, messages (one per connection and content hash),
   * source keys with their pending server action, the parse queue and the watermark.
   */
  commitTaken(records: TakenRecord[], watermark?: { connection: string; mailbox: string } & MailboxWatermark): Promise<void>;
  /** Records that the server action of these keys is done. */
  markActionDone(connection: string, keys: string[]): Promise<void>;
  /** Committed keys of this mailbox whose server action is not confirmed, oldest first. */
  pendingActions(connection: string, mailbox: string, uidValidity: number): Promise<PendingAction[]>;
  /** Marks pending actions of an older UIDVALIDITY as superseded (the messages got new UIDs). */
  supersedePending(connection: string, mailbox: string, currentUidValidity: number): Promise<number>;
  /** The watermark of a mailbox, or null when nothing was taken from it yet. */
  getWatermark(connection: string, mailbox: string): Promise<MailboxWatermark | null>;
  /** Messages waiting to be parsed, by id, after `afterId`. */
  listUnparsed(limit: number, afterId?: number): Promise<UnparsedMessage[]>;
  /** How many messages wait to be parsed (cheap enough to ask every few hundred milliseconds). */
  countUnparsed(): Promise<number>;
  /**
   * Stores parse outcomes (as they are, or already in record form) and indexes them: the
   * full-text rows are durable before the messages are marked parsed. The `deliveries` of each
   * message (the routes that take it) are queued in the same transaction that marks it parsed:
   * the outbox (docs/adr/0006-outbox-and-buses.md). A delivery whose id exists is not queued again.
   *
   * Unwrapped journal reports of one original (same connection, original Message-ID and envelope
   * Sender; {@link ParsedRecord.journal}) become one message, in the same transaction: the first
   * saved is the primary; a later one's envelope is merged into the primary's `Journal` and `Bcc`,
   * and it is marked merged (kept raw, exported, counted in `stats.messages`, not listed by
   * search). It queues no delivery of its own; a route it matched that the primary has no
   * delivery for is queued for the primary. docs/journal-reports.md, "Bifurcation".
   */
  saveParsed(results: Array<{ id: number; outcome: ParseOutcome | ParsedRecord; deliveries?: NewDelivery[] }>): Promise<void>;
  /** Counts for `stats`. */
  stats(): Promise<ArchiveStats>;
  /** Full-text and field search. */
  search(query: SearchQuery): Promise<SearchHit[]>;
  /**
   * The archived message whose raw bytes have this SHA-256 (its `ArchiveId`), or null. The same
   * bytes taken by several connections are one blob; their parsed attributes are the same.
   */
  findArchived(sha256: string): Promise<ArchivedMessage | null>;
  /** Every archived message, oldest first, for export. */
  listForExport(connection?: string): AsyncIterable<ExportItem>;
  /** Closes the database. */
  close(): Promise<void>;
}
