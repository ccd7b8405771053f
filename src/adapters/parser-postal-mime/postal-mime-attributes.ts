/**
 * Raw bytes → {@link MessageAttributes}, with postal-mime doing the MIME work. This module is
 * what each worker thread runs; it is also importable in-process (tests, `inspect` on one file)
 * because it holds no thread state. Every failure becomes a {@link ParseOutcome}, never a throw.
 */
import { isAscii } from 'node:buffer';
import { createHash } from 'node:crypto';
import PostalMime, { decodeWords } from 'postal-mime';
import type { Address as PmAddress, Email, Header } from 'postal-mime';
import type { Address, Attachment, CustomHeader, JournalEnvelope, MessageAttributes } from '../../core/message/attributes.js';
import { journalBcc, type JournalUnwrap } from '../../core/message/journal-report.js';
import type { ParseLimits } from '../../core/message/limits.js';
import type { ParseOutcome } from '../../core/ports/message-parser.js';
import { mapPostalMimeError } from './postal-mime-error-map.js';
import { extractBase64Runs, restoreContent, type FastPathInput } from './base64-fast-path.js';
import { readJournalReport, type JournalReportParts } from './journal-unwrap.js';

/**
 * Base64 runs at least this long are decoded natively (see base64-fast-path.ts). Below it the
 * saving does not pay for the scan; 64 KB of base64 is a ~48 KB attachment.
 */
const FAST_PATH_MIN_BYTES = 64 * 1024;

/**
 * The part of postal-mime's internal MIME node we read to count parts, measure depth and tell
 * a real text/html part from the HTML postal-mime renders out of text/plain. Declared here
 * because postal-mime does not publish it; a shape check at run time guards an upgrade.
 */
interface MimeNodeView {
  childNodes: MimeNodeView[];
  parentNode?: MimeNodeView;
  contentType: { parsed: { value: string; params: Record<string, string> } };
  contentDisposition: { parsed: { value: string; params: Record<string, string> } };
  contentTransferEncoding?: { value: string };
  content: ArrayBuffer | null;
}

/** Options of {@link parseToOutcome}. */
export interface ParseToOutcomeOptions {
  /**
   * Unwrap Exchange journal reports (default true). False for the original inside a report, so a
   * report journaled again is not unwrapped twice.
   */
  unwrapJournal?: boolean;
}

/**
 * Parses one message within `limits`. Never throws. An Exchange journal report is unwrapped: the
 * attributes are the original message's, with `Journal` (the envelope) and `Bcc` (from the
 * envelope, core/message/journal-report.ts `journalBcc`), and the outcome's `journal` says so; a
 * report that cannot be unwrapped is parsed as the message it is, with the reason in `journal`.
 */
export async function parseToOutcome(raw: Uint8Array, limits: ParseLimits, options: ParseToOutcomeOptions = {}): Promise<ParseOutcome> {
  if (raw.byteLength > limits.maxFullParseBytes) return parseOversized(raw, raw.byteLength, limits, options);
  const report = options.unwrapJournal === false ? undefined : readJournalReport(raw, limits.maxHeaderBytes);
  if (report) return parseJournalReport(raw, limits, report);
  return parseMessage(raw, limits);
}

/**
 * The outcome of a message over the full-parse limit, of which `raw` may be only the first bytes
 * (`totalSize` is the whole size): PARSE_LIMIT_EXCEEDED with the headers as `partial`. For a
 * journal report, `partial` holds the original's headers, `Journal` and `Bcc` when the bytes
 * reach that far, so the index still shows who wrote to whom.
 */
export async function parseOversized(raw: Uint8Array, totalSize: number, limits: ParseLimits, options: ParseToOutcomeOptions = {}): Promise<ParseOutcome> {
  const reason = `message is ${totalSize} bytes, over the full-parse limit of ${limits.maxFullParseBytes}; only headers were read`;
  const report = options.unwrapJournal === false ? undefined : readJournalReport(raw, limits.maxHeaderBytes);
  if (report) {
    const envelope = report.envelope?.recognised ? report.envelope : undefined;
    const head = report.original && envelope ? await parseHeadersOnly(report.original.bytes, limits) : undefined;
    if (head && envelope) {
      // The range only holds when the whole message was at hand; a prefix says nothing of its end.
      const range = raw.byteLength >= totalSize ? (report.original?.range ?? null) : null;
      const partial = unwrappedAttributes(head, envelope.envelope);
      const journal: JournalUnwrap = { unwrapped: true, original: range, envelope: envelope.envelope, notes: journalNotes(report, head.GlobalMessageId ?? '') };
      return { ok: false, code: 'PARSE_LIMIT_EXCEEDED', reason, partial, journal };
    }
    const partial = await parseHeadersOnly(raw, limits);
    return { ok: false, code: 'PARSE_LIMIT_EXCEEDED', reason, ...(partial ? { partial } : {}), journal: notUnwrapped(report, 'the original was not found in the bytes read') };
  }
  const partial = await parseHeadersOnly(raw, limits);
  return { ok: false, code: 'PARSE_LIMIT_EXCEEDED', reason, ...(partial ? { partial } : {}) };
}

/**
 * A journal report: the original parsed as the message (its own journal reports not unwrapped),
 * with the envelope on top. Whenever that is not possible the report itself is parsed, so a
 * report is never worse off than any other message for being one.
 */
async function parseJournalReport(raw: Uint8Array, limits: ParseLimits, report: JournalReportParts): Promise<ParseOutcome> {
  const envelope = report.envelope;
  if (!report.original) return withJournal(await parseMessage(raw, limits), notUnwrapped(report, 'the report itself was parsed'));
  if (!envelope?.recognised) {
    return withJournal(await parseMessage(raw, limits), notUnwrapped(report, 'the envelope names no sender and no recipient; the report itself was parsed'));
  }
  const inner = await parseToOutcome(report.original.bytes, limits, { unwrapJournal: false });
  if (!inner.ok) {
    return withJournal(
      await parseMessage(raw, limits),
      notUnwrapped(report, `the original could not be parsed (${inner.code}: ${inner.reason}); the report itself was parsed`),
    );
  }
  const attributes = unwrappedAttributes(inner.attributes, envelope.envelope);
  return {
    ok: true,
    attributes,
    // A copy, so a consumer that edits the attributes' Journal does not edit this one too.
    journal: { unwrapped: true, original: report.original.range, envelope: structuredClone(envelope.envelope), notes: journalNotes(report, attributes.GlobalMessageId) },
  };
}

/**
 * The original's attributes with the envelope on top: `Journal`, `Bcc` by the rule of
 * `journalBcc`, and `From` from the envelope's sender when the original has no From header (the
 * envelope's sender is what Exchange routed it from).
 */
function unwrappedAttributes<A extends Partial<MessageAttributes>>(original: A, envelope: JournalEnvelope): A & Pick<MessageAttributes, 'Bcc' | 'Journal'> {
  const out: A & Pick<MessageAttributes, 'Bcc' | 'Journal'> = {
    ...original,
    Bcc: journalBcc(envelope, { To: original.To ?? [], Cc: original.Cc ?? [], Bcc: original.Bcc ?? [] }),
    Journal: envelope,
  };
  if (!original.From && envelope.Sender) out.From = { Name: '', Address: envelope.Sender };
  return out;
}

/** What an unwrapped report's notes say: the reader's notes, envelope problems, a Message-Id mismatch. */
function journalNotes(report: JournalReportParts, originalMessageId: string): string[] {
  const notes = [...report.notes, ...(report.envelope?.problems ?? []).map((p) => `envelope: ${p}`)];
  const envelopeId = report.envelope?.messageId ?? '';
  // Exchange writes the original's Message-ID into the envelope; a difference means the report
  // was put together by something else, which the operator may want to know.
  if (envelopeId && originalMessageId && envelopeId !== originalMessageId) {
    notes.push(`the envelope's Message-Id <${envelopeId}> is not the original's <${originalMessageId}>`);
  }
  return notes;
}

function notUnwrapped(report: JournalReportParts, sentence: string): JournalUnwrap {
  const envelope = report.envelope?.recognised ? report.envelope.envelope : null;
  return { unwrapped: false, original: null, envelope, notes: [...report.notes, ...(report.envelope?.problems ?? []).map((p) => `envelope: ${p}`), sentence] };
}

function withJournal(outcome: ParseOutcome, journal: JournalUnwrap): ParseOutcome {
  return { ...outcome, journal };
}

/** One message as it is: the base64 fast path when it applies, else (or on a surprise) a plain parse. */
async function parseMessage(raw: Uint8Array, limits: ParseLimits): Promise<ParseOutcome> {
  const fast = extractBase64Runs(raw, FAST_PATH_MIN_BYTES);
  if (fast) {
    const outcome = await parseFull(raw, limits, fast);
    if (outcome !== 'retry') return outcome;
  }
  const outcome = await parseFull(raw, limits, undefined);
  // Without the fast path there is nothing to retry; 'retry' cannot come back here.
  return outcome === 'retry' ? { ok: false, code: 'PARSE_FAILED', reason: 'internal: fast path retry without fast path' } : outcome;
}

/**
 * One full parse. With `fast`, postal-mime parses the token-substituted bytes; 'retry' means
 * a token did not come back exactly once and the caller must parse the original bytes instead.
 */
async function parseFull(raw: Uint8Array, limits: ParseLimits, fast: FastPathInput | undefined): Promise<ParseOutcome | 'retry'> {
  let email: Email;
  let root: MimeNodeView | undefined;
  try {
    const parser = new PostalMime({
      // Every message/rfc822 part stays an attachment: HtmlBody/TextBody are the message's own
      // body, and an attached (forwarded, bounced, journaled) message is archived as one file.
      forceRfc822Attachments: true,
      attachmentEncoding: 'arraybuffer',
      maxNestingDepth: limits.maxMimeDepth,
      maxHeadersSize: limits.maxHeaderBytes,
    });
    // A text part that names a file is an attached file shown inline (a .txt or .html the
    // sender attached), not the message text: it belongs in Attachments, as most mail clients
    // and the other parsers' suites treat it. The top-level part of a single-part message
    // stays the body whatever it is called.
    const base = parser as unknown as { isInlineTextNode?: (n: MimeNodeView) => boolean };
    const inherited = base.isInlineTextNode;
    if (typeof inherited === 'function') {
      base.isInlineTextNode = function (this: unknown, n: MimeNodeView): boolean {
        const named = Boolean(n.contentDisposition?.parsed?.params?.filename || n.contentType?.parsed?.params?.name);
        if (named && n.parentNode) return false;
        return inherited.call(this, n);
      };
    }
    email = await parser.parse(ownedBuffer(fixHeaderCharset(fast ? fast.raw : raw)));
    root = asMimeNode((parser as unknown as { root?: unknown }).root);
  } catch (err) {
    if (fast) return 'retry';
    const mapped = mapPostalMimeError(err);
    return { ok: false, code: mapped.code, reason: mapped.reason, partial: await parseHeadersOnly(raw, limits) };
  }

  try {
    const stats = root ? walk(root) : { parts: 1, hasHtml: email.html !== undefined };
    const head = headerAttributes(email);
    if (stats.parts > limits.maxParts) {
      return { ok: false, code: 'PARSE_LIMIT_EXCEEDED', reason: `message has ${stats.parts} MIME parts, over the limit of ${limits.maxParts}`, partial: head };
    }
    if (email.attachments.length > limits.maxAttachments) {
      return {
        ok: false,
        code: 'PARSE_LIMIT_EXCEEDED',
        reason: `message has ${email.attachments.length} attachments, over the limit of ${limits.maxAttachments}`,
        partial: head,
      };
    }
    const used: number[] = [];
    const nodes = root ? nodesByContent(root) : new Map<ArrayBuffer, MimeNodeView>();
    const attachments = email.attachments.map((a) => toAttachment(a, fast, used, nodes));
    if (fast && fast.runs.some((_, i) => used[i] !== 1)) return 'retry';
    const attributes: MessageAttributes = {
      ...head,
      TextBody: truncate(email.text ?? '', limits.maxBodyChars),
      // postal-mime renders HTML out of text/plain when a message has no HTML part; that is
      // not the sender's HTML, so HtmlBody stays empty then (TextBody does keep the text
      // rendered from HTML-only mail, because the index needs searchable text).
      HtmlBody: stats.hasHtml ? truncate(email.html ?? '', limits.maxBodyChars) : '',
      Attachments: attachments,
    };
    return { ok: true, attributes };
  } catch (err) {
    const mapped = mapPostalMimeError(err);
    return { ok: false, code: mapped.code, reason: mapped.reason, partial: await parseHeadersOnly(raw, limits) };
  }
}

/**
 * The header-only fast pass: reads just the top-level header block (bounded by
 * `maxHeaderBytes`) so a message over a limit, or one the full parse choked on, still yields
 * its addresses, subject, ids and headers for the index. Returns undefined when even that fails.
 */
export async function parseHeadersOnly(raw: Uint8Array, limits: ParseLimits): Promise<Partial<MessageAttributes> | undefined> {
  try {
    const head = raw.subarray(0, headerBlockEnd(raw, limits.maxHeaderBytes));
    // A blank line after the headers tells postal-mime the body starts (and is empty), and
    // Content-Type is not needed, so the body is never decoded.
    const fixed = fixHeaderCharset(head);
    const withBlank = new Uint8Array(fixed.byteLength + 4);
    withBlank.set(fixed, 0);
    withBlank.set([13, 10, 13, 10], fixed.byteLength);
    const email = await PostalMime.parse(withBlank, { maxHeadersSize: limits.maxHeaderBytes + 8, maxNestingDepth: 1, forceRfc822Attachments: true });
    return headerAttributes(email);
  } catch {
    return undefined;
  }
}

/** Offset of the end of the top-level header block, cut at a line end within `max` bytes. */
function headerBlockEnd(raw: Uint8Array, max: number): number {
  const limit = Math.min(raw.byteLength, max);
  // Line end to line end with the native indexOf (a header line is ~80 bytes; a byte-by-byte
  // loop here was a measurable share of a small message's parse).
  for (let i = raw.indexOf(10); i >= 0 && i < limit; i = raw.indexOf(10, i + 1)) {
    // "\n\n" or "\n\r\n" ends the header block.
    if (raw[i + 1] === 10) return i + 1;
    if (raw[i + 1] === 13 && raw[i + 2] === 10) return i + 1;
  }
  if (limit === raw.byteLength) return limit;
  // Too big: keep whole lines only, so no header is cut mid-value.
  const lastNl = raw.subarray(0, limit).lastIndexOf(10);
  return lastNl > 0 ? lastNl + 1 : limit;
}

/** The attributes that come from the top-level header block alone. */
function headerAttributes(email: Email): Omit<MessageAttributes, 'TextBody' | 'HtmlBody' | 'Attachments'> {
  const from = email.from ? flatten([email.from])[0] ?? null : null;
  return {
    From: from,
    To: flatten(email.to ?? []),
    Cc: flatten(email.cc ?? []),
    Bcc: flatten(email.bcc ?? []),
    Subject: email.subject ?? '',
    ReceivedDate: toIsoDate(email.date),
    GlobalMessageId: msgIds(email.messageId)[0] ?? '',
    InReplyTo: msgIds(email.inReplyTo)[0] ?? '',
    References: msgIds(email.references),
    CustomHeaders: customHeaders(email.headers),
  };
}

/** Groups are flattened into their members, since routes filter on addresses, not groups. */
function flatten(list: PmAddress[]): Address[] {
  const out: Address[] = [];
  for (const a of list) {
    if (a.group) for (const m of a.group) out.push({ Name: m.name ?? '', Address: m.address ?? '' });
    else out.push({ Name: a.name ?? '', Address: a.address ?? '' });
  }
  return out;
}

/**
 * The ids of a Message-ID/In-Reply-To/References value without angle brackets. A value with no
 * bracketed id (some mailers omit them) is split on white space instead, so the id survives.
 */
function msgIds(value: string | undefined): string[] {
  if (!value) return [];
  const bracketed = value.match(/<[^<>]*>/g);
  if (bracketed) return bracketed.map((s) => s.slice(1, -1).trim()).filter((s) => s.length > 0);
  return value.split(/[\s,]+/).filter((s) => s.length > 0);
}

/** postal-mime gives ISO for a parsable Date header and the raw text otherwise. */
function toIsoDate(value: string | undefined): string | null {
  if (!value) return null;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}

function customHeaders(headers: Header[]): CustomHeader[] {
  const byKey = new Map<string, CustomHeader>();
  for (const h of headers) {
    // Only RFC 2047 words are decoded; a value with none is kept as written (fast path).
    const value = h.value.includes('=?') ? decodeWords(h.value) : h.value;
    const seen = byKey.get(h.key);
    if (seen) seen.ListValues.push(value);
    else byKey.set(h.key, { Name: h.originalKey, Value: value, ListValues: [value] });
  }
  return [...byKey.values()];
}

function toAttachment(a: Email['attachments'][number], fast: FastPathInput | undefined, used: number[], nodes: Map<ArrayBuffer, MimeNodeView>): Attachment {
  const content = typeof a.content === 'string' ? Buffer.from(a.content, a.encoding === 'base64' ? 'base64' : 'utf8') : a.content;
  let bytes = content instanceof ArrayBuffer ? new Uint8Array(content) : content;
  // postal-mime ends every line of a 7bit/8bit/binary part with LF, including the last one,
  // whose line break belongs to the boundary (RFC 2046 5.1.1); drop it so Size and Sha256
  // are those of the file that was attached.
  const node = content instanceof ArrayBuffer ? nodes.get(content) : undefined;
  const cte = node?.contentTransferEncoding?.value.toLowerCase() ?? '';
  if (node && !cte.includes('base64') && !cte.includes('quoted-printable') && bytes.byteLength > 0 && bytes[bytes.byteLength - 1] === 10) {
    bytes = bytes.subarray(0, bytes.byteLength - 1);
  }
  const { pieces, size } = fast ? restoreContent(bytes, fast, used) : { pieces: [bytes], size: bytes.byteLength };
  const hash = createHash('sha256');
  for (const p of pieces) hash.update(p);
  const name = a.filename ?? '';
  return {
    Name: name,
    Extension: extensionOf(name),
    ContentType: a.mimeType,
    Size: size,
    Sha256: hash.digest('hex'),
  };
}

/** Lowercase extension without the dot; "" for none, a dot-file or an implausible suffix. */
export function extensionOf(name: string): string {
  const base = name.slice(Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\')) + 1).trim();
  const dot = base.lastIndexOf('.');
  if (dot <= 0 || dot === base.length - 1) return '';
  const ext = base.slice(dot + 1).toLowerCase();
  // "report.final draft" is not an extension; real ones are short and have no spaces.
  return ext.length <= 16 && !/\s/.test(ext) ? ext : '';
}

function truncate(s: string, max: number): string {
  return s.length > max ? s.slice(0, max) : s;
}

/** Leaf nodes by their decoded content buffer, which postal-mime hands on as the attachment's. */
function nodesByContent(root: MimeNodeView): Map<ArrayBuffer, MimeNodeView> {
  const map = new Map<ArrayBuffer, MimeNodeView>();
  const stack: MimeNodeView[] = [root];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (n.content) map.set(n.content, n);
    for (const c of n.childNodes) stack.push(c);
  }
  return map;
}

const ENCODED_Q_WORD = /=\?[^?\s]+\?[qQ]\?[^?]*\?=/g;
const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const win1252 = new TextDecoder('windows-1252');

/**
 * Raw 8-bit header text that is not UTF-8 (Outlook and old mailers write Latin-1/cp1252
 * names and subjects unencoded) is re-encoded from windows-1252 to UTF-8; postal-mime reads
 * header bytes as UTF-8 and would turn every such character into U+FFFD. Only the top-level
 * header block is touched, and only when it is not valid UTF-8.
 */
function fixHeaderCharset(raw: Uint8Array): Uint8Array {
  const end = headerBlockEnd(raw, raw.byteLength);
  const head = raw.subarray(0, end);
  if (isAscii(head)) return raw;
  // Line by line: one header may be Latin-1 while the next is proper UTF-8.
  const out: Uint8Array[] = [];
  let changed = false;
  let start = 0;
  while (start < head.byteLength) {
    const nl = head.indexOf(10, start);
    const stop = nl < 0 ? head.byteLength : nl + 1;
    const line = head.subarray(start, stop);
    try {
      utf8Strict.decode(line);
      out.push(line);
    } catch {
      // Raw 8-bit bytes inside a Q encoded word belong to the word's own charset: escape
      // them (=XX) so the word decodes as declared; the rest of the line is cp1252.
      const escaped = Buffer.from(line).toString('latin1').replace(ENCODED_Q_WORD, (w) =>
        w.replace(/[\x80-\xff]/g, (c) => '=' + c.charCodeAt(0).toString(16).toUpperCase()),
      );
      out.push(Buffer.from(win1252.decode(Buffer.from(escaped, 'latin1')), 'utf8'));
      changed = true;
    }
    start = stop;
  }
  if (!changed) return raw;
  out.push(raw.subarray(end));
  return Buffer.concat(out);
}

/**
 * postal-mime copies a view into a fresh ArrayBuffer before parsing (`buffer.slice`) but takes
 * an ArrayBuffer as is. A view that spans its whole (non-shared) buffer, which is what the
 * worker receives, is handed over as that buffer to save the copy; postal-mime only reads it,
 * and keeps no part of it in the result (decoded content is always copied out).
 */
function ownedBuffer(bytes: Uint8Array): Uint8Array | ArrayBuffer {
  const buf = bytes.buffer;
  return buf instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === buf.byteLength ? buf : bytes;
}

function asMimeNode(v: unknown): MimeNodeView | undefined {
  const n = v as Partial<MimeNodeView> | undefined;
  return n && Array.isArray(n.childNodes) && typeof n.contentType?.parsed?.value === 'string' ? (n as MimeNodeView) : undefined;
}

/** Counts parts and finds whether the message itself has a real text/html body part. */
function walk(root: MimeNodeView): { parts: number; hasHtml: boolean } {
  let parts = 0;
  let hasHtml = false;
  // Iterative, because the tree can be as deep as maxMimeDepth and recursion depth is cheap
  // to avoid here.
  const stack: MimeNodeView[] = [root];
  while (stack.length > 0) {
    const n = stack.pop()!;
    parts++;
    if (n.contentType.parsed.value === 'text/html' && n.contentDisposition.parsed.value !== 'attachment') hasHtml = true;
    for (const c of n.childNodes) stack.push(c);
  }
  return { parts, hasHtml };
}
