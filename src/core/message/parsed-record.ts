/**
 * What is indexed and how: the one mapping from a parse outcome to the flat record a store saves
 * (its search columns, the attributes without bodies, the text its full-text row gets) and the
 * key under which bifurcated journal reports merge. Pure, so it runs on any thread (the parser's
 * workers build records where they parsed) and every store backend saves the same thing.
 */
import { MailsluiceError } from '../errors/index.js';
import type { Address, MessageAttributes } from './attributes.js';
import type { ParseOutcome } from './parse-outcome.js';
import type { NewDelivery } from '../routing/route-matcher.js';

/**
 * The key under which several unwrapped journal reports of one original (bifurcation) merge onto
 * one archived message (docs/journal-reports.md, "Bifurcation"), within one connection.
 * `originalId` is the original's `GlobalMessageId` (compared as is), `sender` the envelope's
 * `Sender`, trimmed and lowercased ("" when the envelope names none).
 */
export interface JournalKey {
  originalId: string;
  sender: string;
}

/**
 * A parse outcome in the flat form a store saves: its search columns, the attributes without
 * bodies as JSON, and the text of its full-text row. A parser may build it where it parsed (a
 * worker thread, `MessageParser.parseToRecord`) so the thread that writes the database neither
 * receives the whole attribute tree nor formats it.
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
  /** The address texts the search's `from:` `to:` `cc:` `bcc:` match ({@link searchAddressesOf}). */
  addresses: SearchAddresses;
  /**
   * `{ TextBody, HtmlBody }` as JSON, for the index stage to hand to the dispatcher in memory
   * when routes take the message (ADR 0011); the store does not keep it.
   */
  bodiesJson?: string;
  /**
   * Set for an unwrapped Exchange journal report only (its attributes carry `Journal`) whose
   * original has a Message-ID: the key its reports merge under ({@link journalKeyOf}).
   */
  journal?: JournalKey;
}

/**
 * The address texts of a message as the search's field terms match them (docs/search.md, "Fields"),
 * a journal report's envelope included: `from` the From header, the envelope's Sender and
 * On-Behalf-Of; `to` the To header and the envelope's To recipients; `cc` the Cc header and the
 * envelope's Cc recipients; `bcc` the Bcc attribute (for an unwrapped report: the envelope's Bcc
 * recipients and those it lists that the headers do not show, core/message/journal-report.ts
 * `journalBcc`). Each is `Name <address>` items joined by ", ".
 */
export interface SearchAddresses {
  from: string;
  to: string;
  cc: string;
  bcc: string;
}

/** One full-text row: what a text search matches a message by, a column per field. */
export interface IndexEntry extends SearchAddresses {
  /** The message's id in the store. */
  id: number;
  subject: string;
  body: string;
  attachmentNames: string;
  /** Whether the message has an attachment (the index marks it, so `has:attachment` is a term of its own). */
  hasAttachments: boolean;
}

function formatAddress(a: Address | null | undefined): string {
  if (!a) return '';
  return a.Name ? `${a.Name} <${a.Address}>` : a.Address;
}

/** The `to` search column of a message: To, Cc and Bcc, formatted and joined. */
export function recipientsText(a: Pick<Partial<MessageAttributes>, 'To' | 'Cc' | 'Bcc'>): string {
  return [...(a.To ?? []), ...(a.Cc ?? []), ...(a.Bcc ?? [])].map(formatAddress).join(', ');
}

/** The address texts the search's field terms match ({@link SearchAddresses}). */
export function searchAddressesOf(a: Partial<MessageAttributes>): SearchAddresses {
  const env = a.Journal;
  const kind = (k: string): string[] => (env?.Recipients ?? []).filter((r) => r.Kind === k).map((r) => r.Address);
  const join = (xs: Array<string | undefined>): string => xs.filter((x): x is string => !!x).join(', ');
  return {
    from: join([formatAddress(a.From), env?.Sender, env?.OnBehalfOf]),
    to: join([...(a.To ?? []).map(formatAddress), ...kind('To')]),
    cc: join([...(a.Cc ?? []).map(formatAddress), ...kind('Cc')]),
    bcc: join((a.Bcc ?? []).map(formatAddress)),
  };
}

/** The text the full-text index gets for a body: the text part, else the HTML part without its tags. */
export function indexedBodyText(textBody: string | undefined, htmlBody: string | undefined): string {
  return textBody || (htmlBody ? htmlBody.replace(/<[^>]*>/g, ' ') : '');
}

/**
 * The bifurcation key of a parse result ({@link ParsedRecord.journal}): present when the
 * attributes carry `Journal` (the report was unwrapped; a partial outcome over the size limit
 * may carry it too) and the original has a Message-ID. A report that was not unwrapped has no
 * `Journal` attribute, so it never merges; an original without a Message-ID never merges either.
 */
export function journalKeyOf(a: Partial<MessageAttributes>): JournalKey | undefined {
  if (!a.Journal || typeof a.GlobalMessageId !== 'string' || a.GlobalMessageId === '') return undefined;
  return { originalId: a.GlobalMessageId, sender: (a.Journal.Sender ?? '').trim().toLowerCase() };
}

/** The one mapping from a parse outcome to the record a store saves (pure; runs on any thread). */
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
    attributesJson: savedAttributesJson(rest),
    body: indexedBodyText(TextBody, HtmlBody),
    attachmentNames: attachments.map((x) => x.Name).join(' '),
    addresses: searchAddressesOf(a),
    bodiesJson: JSON.stringify({ TextBody: TextBody ?? '', HtmlBody: HtmlBody ?? '' }),
    ...(journal ? { journal } : {}),
  };
}

/** A saved result as its record: a record as it is, an outcome mapped by {@link toParsedRecord}. */
export function asParsedRecord(outcome: ParseOutcome | ParsedRecord): ParsedRecord {
  return 'record' in outcome ? outcome : toParsedRecord(outcome);
}

/** The full-text row of message `id` saved as `r`. */
export function indexEntryOf(id: number, r: ParsedRecord): IndexEntry {
  return { id, subject: r.subject, ...r.addresses, body: r.body, attachmentNames: r.attachmentNames, hasAttachments: r.hasAttachments };
}

/**
 * The attributes as a store saves them (`attributesJson`): JSON, each header's `ListValues` left
 * out where it is only its `Value` (nearly every header: a header seen once), which
 * {@link parseSavedAttributes} puts back. Every header twice was the larger part of a small
 * message's row (issue 21, the archive's size).
 */
export function savedAttributesJson(a: Partial<MessageAttributes>): string {
  if (!a.CustomHeaders) return JSON.stringify(a);
  const headers = a.CustomHeaders.map((h) => (h.ListValues.length === 1 && h.ListValues[0] === h.Value ? { Name: h.Name, Value: h.Value } : h));
  return JSON.stringify({ ...a, CustomHeaders: headers });
}

/** The attributes a store saved for message `id` (`attributesJson`); `{}` for none, STORE_CORRUPT for JSON that does not read. */
export function parseSavedAttributes(json: string | null, id: number): Partial<MessageAttributes> {
  let a: Partial<MessageAttributes>;
  try {
    a = json ? (JSON.parse(json) as Partial<MessageAttributes>) : {};
  } catch (err) {
    throw new MailsluiceError('STORE_CORRUPT', `the saved attributes of message ${id} are not valid JSON`, { cause: err });
  }
  // A header saved without its ListValues had just its Value (savedAttributesJson); rows saved before kept both.
  for (const h of a.CustomHeaders ?? []) h.ListValues ??= [h.Value];
  return a;
}

/** One parse result handed to the parse queue: the message, its outcome or record, the routes that take it. */
export interface ParseResult {
  id: number;
  outcome: ParseOutcome | ParsedRecord;
  /** The deliveries its routes queue (the outbox); absent or empty when no route takes it. */
  deliveries?: NewDelivery[];
}
