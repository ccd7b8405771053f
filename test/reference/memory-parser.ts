/**
 * The reference `MessageParser`: small, in-process, written to the port's contract
 * (test/contract/message-parser.contract.ts) and nothing more, for unit tests that need a parser
 * and for the contract itself, which it must pass like any adapter.
 *
 * What it reads, honestly: the top-level header block (unfolded, RFC 2047 encoded words decoded,
 * addresses, ids, date, every header in order) and the body of a single-part `text/plain` or
 * `text/html` message (7bit, 8bit, base64 or quoted-printable; the charset through TextDecoder).
 * It does **not** walk MIME parts: a multipart message has empty bodies and no attachments, so
 * the MIME depth, part and attachment limits never apply to it. An Exchange journal report is
 * unwrapped by splitting the report's top level by its boundary (envelope part, message/rfc822
 * part), which is all the format needs. The time limit is kept cooperatively (checked between
 * 64 KiB slices of the body, the event loop given a turn between them), not by stopping a thread
 * as the postal-mime adapter does. For real mail use the postal-mime adapter.
 */
import { DEFAULT_PARSE_LIMITS, type ParseLimits } from '../../src/core/message/limits.js';
import type { Address, CustomHeader, MessageAttributes } from '../../src/core/message/attributes.js';
import { isJournalReport, journalBcc, readJournalEnvelope, type JournalUnwrap } from '../../src/core/message/journal-report.js';
import type { MessageParser, ParseOutcome } from '../../src/core/ports/message-parser.js';

/** Options of {@link createMemoryParser}. */
export interface MemoryParserOptions {
  /** Overrides of individual limits; the rest come from `DEFAULT_PARSE_LIMITS`. */
  limits?: Partial<ParseLimits>;
}

/** The reference parser, with how many parses it answered (for tests that count). */
export interface MemoryParser extends MessageParser {
  readonly parses: number;
}

type Failure = Extract<ParseOutcome, { ok: false }>;
type Header = { name: string; value: string };
type Head = Omit<MessageAttributes, 'TextBody' | 'HtmlBody' | 'Attachments'>;

const SLICE = 64 * 1024;
const TIMED_OUT = Symbol('timed out');

/** Creates a reference parser within `limits`. */
export function createMemoryParser(options: MemoryParserOptions = {}): MemoryParser {
  const limits: ParseLimits = { ...DEFAULT_PARSE_LIMITS, ...options.limits };
  let closed = false;
  let parses = 0;
  return {
    get parses() {
      return parses;
    },
    async parse(raw: Buffer, totalSize?: number): Promise<ParseOutcome> {
      if (closed) return { ok: false, code: 'PARSE_FAILED', reason: 'parser is closed' };
      parses++;
      try {
        return await parseMessage(raw, totalSize ?? raw.byteLength, limits, true);
      } catch (err) {
        return { ok: false, code: 'PARSE_FAILED', reason: `reference parser: ${err instanceof Error ? err.message : String(err)}` };
      }
    },
    async close() {
      closed = true;
    },
  };
}

async function parseMessage(raw: Buffer, totalSize: number, limits: ParseLimits, unwrap: boolean): Promise<ParseOutcome> {
  const deadline = Date.now() + limits.parseTimeoutMs;
  const split = splitHead(raw);
  const headerBytes = raw.subarray(0, Math.min(split.headEnd, limits.maxHeaderBytes));
  const headers = readHeaders(headerBytes);
  const head = headAttributes(headers);
  if (split.headEnd > limits.maxHeaderBytes) return limit(`the header block is over ${limits.maxHeaderBytes} bytes`, head);
  if (totalSize > limits.maxFullParseBytes) return limit(`message is ${totalSize} bytes, over the full-parse limit of ${limits.maxFullParseBytes}; only headers were read`, head);
  if (unwrap && isJournalReport(head.CustomHeaders)) return unwrapJournal(raw, headers, limits);
  const type = contentType(headers);
  let TextBody = '';
  let HtmlBody = '';
  if (type.mime === 'text/plain' || type.mime === 'text/html') {
    const text = await decodeBody(raw.subarray(split.bodyStart), header(headers, 'content-transfer-encoding'), type.charset, deadline);
    if (text === TIMED_OUT) return { ok: false, code: 'PARSE_TIMEOUT', reason: `the parse took longer than ${limits.parseTimeoutMs} ms`, partial: head };
    if (type.mime === 'text/plain') TextBody = text.slice(0, limits.maxBodyChars);
    else HtmlBody = text.slice(0, limits.maxBodyChars);
  }
  return { ok: true, attributes: { ...head, TextBody, HtmlBody, Attachments: [] } };
}

function limit(reason: string, partial: Partial<MessageAttributes>): Failure {
  return { ok: false, code: 'PARSE_LIMIT_EXCEEDED', reason, partial };
}

/** An Exchange journal report: the original's attributes with the envelope on top, or the report itself and why. */
async function unwrapJournal(raw: Buffer, headers: Header[], limits: ParseLimits): Promise<ParseOutcome> {
  const asItself = async (note: string, envelope: JournalUnwrap['envelope'] = null): Promise<ParseOutcome> => {
    const self = await parseMessage(raw, raw.byteLength, limits, false);
    return { ...self, journal: { unwrapped: false, original: null, envelope, notes: [note] } };
  };
  const boundary = contentType(headers).boundary;
  if (!boundary) return asItself('the report is not multipart; the report itself was parsed');
  const parts = splitParts(raw, boundary);
  const envelopePart = parts[0];
  if (!envelopePart) return asItself('the report has no parts; the report itself was parsed');
  const envHeaders = readHeaders(raw.subarray(envelopePart.start, envelopePart.bodyStart));
  const envText = await decodeBody(raw.subarray(envelopePart.bodyStart, envelopePart.end), header(envHeaders, 'content-transfer-encoding'), contentType(envHeaders).charset, Infinity);
  const reading = readJournalEnvelope(envText === TIMED_OUT ? '' : envText);
  const originalPart = parts.slice(1).find((p) => contentType(readHeaders(raw.subarray(p.start, p.bodyStart))).mime === 'message/rfc822');
  if (!originalPart) return asItself('the report has no message/rfc822 part; the report itself was parsed', reading.recognised ? reading.envelope : null);
  if (!reading.recognised) return asItself('the envelope names no sender and no recipient; the report itself was parsed');
  const range = { offset: originalPart.bodyStart, length: originalPart.end - originalPart.bodyStart };
  const inner = await parseMessage(raw.subarray(range.offset, range.offset + range.length), range.length, limits, false);
  if (!inner.ok) return asItself(`the original could not be parsed (${inner.code}: ${inner.reason}); the report itself was parsed`, reading.envelope);
  const a = inner.attributes;
  const attributes: MessageAttributes = { ...a, Bcc: journalBcc(reading.envelope, a), Journal: reading.envelope };
  if (!a.From && reading.envelope.Sender) attributes.From = { Name: '', Address: reading.envelope.Sender };
  return { ok: true, attributes, journal: { unwrapped: true, original: range, envelope: structuredClone(reading.envelope), notes: [] } };
}

/** Where the header block ends (the blank line) and the body starts; no blank line: all header. */
function splitHead(raw: Uint8Array): { headEnd: number; bodyStart: number } {
  for (let i = raw.indexOf(10); i >= 0; i = raw.indexOf(10, i + 1)) {
    if (raw[i + 1] === 10) return { headEnd: i + 1, bodyStart: i + 2 };
    if (raw[i + 1] === 13 && raw[i + 2] === 10) return { headEnd: i + 1, bodyStart: i + 3 };
  }
  return { headEnd: raw.byteLength, bodyStart: raw.byteLength };
}

/** The parts of a multipart body, by its boundary lines (`--b`, closed by `--b--` or the end). */
function splitParts(raw: Buffer, boundary: string): Array<{ start: number; bodyStart: number; end: number }> {
  const marks: number[] = [];
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  for (let at = raw.indexOf(delimiter); at >= 0; at = raw.indexOf(delimiter, at + 1)) if (at === 0 || raw[at - 1] === 10) marks.push(at);
  const parts: Array<{ start: number; bodyStart: number; end: number }> = [];
  for (let k = 0; k < marks.length; k++) {
    const at = marks[k]!;
    if (raw[at + delimiter.length] === 45 && raw[at + delimiter.length + 1] === 45) break;
    const lineEnd = raw.indexOf(10, at);
    if (lineEnd < 0) break;
    const start = lineEnd + 1;
    const next = marks[k + 1] ?? raw.byteLength;
    // The line break before the next boundary belongs to the boundary, not to the part.
    let end = next;
    if (k + 1 < marks.length) end = raw[next - 2] === 13 ? next - 2 : next - 1;
    const { bodyStart } = splitHead(raw.subarray(start, end));
    parts.push({ start, bodyStart: start + bodyStart, end: Math.max(start + bodyStart, end) });
  }
  return parts;
}

/** Header lines unfolded, in order; 8-bit bytes read as UTF-8 when they are, else as Windows-1252. */
function readHeaders(bytes: Uint8Array): Header[] {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    text = new TextDecoder('windows-1252').decode(bytes);
  }
  const out: Header[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && out.length > 0) out[out.length - 1]!.value += line;
    else {
      const colon = line.indexOf(':');
      if (colon > 0) out.push({ name: line.slice(0, colon).trim(), value: line.slice(colon + 1) });
    }
  }
  for (const h of out) h.value = decodeWords(h.value.trim());
  return out;
}

/** RFC 2047 encoded words (`=?charset?B|Q?text?=`) decoded; white space between two of them dropped. */
function decodeWords(value: string): string {
  return value.replace(/(=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=)\s+(?==\?)/g, '$1').replace(/=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g, (word, charset: string, enc: string, text: string) => {
    const bytes = enc.toUpperCase() === 'B' ? Buffer.from(text, 'base64') : qpBytes(text.replace(/_/g, ' '));
    try {
      return new TextDecoder(charset.replace(/\*.*$/, '')).decode(bytes);
    } catch {
      return word;
    }
  });
}

function qpBytes(text: string): Buffer {
  return Buffer.from(text.replace(/=\r?\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
}

function header(headers: Header[], name: string): string | undefined {
  return headers.find((h) => h.name.toLowerCase() === name)?.value;
}

function contentType(headers: Header[]): { mime: string; charset: string; boundary: string | undefined } {
  const value = header(headers, 'content-type') ?? 'text/plain';
  const param = (p: string): string | undefined => new RegExp(`;\\s*${p}\\s*=\\s*(?:"([^"]*)"|([^;\\s]+))`, 'i').exec(value)?.slice(1).find((x) => x !== undefined);
  return { mime: value.split(';')[0]!.trim().toLowerCase(), charset: param('charset') ?? 'utf-8', boundary: param('boundary') };
}

function headAttributes(headers: Header[]): Head {
  const list = (name: string): Address[] => headers.filter((h) => h.name.toLowerCase() === name).flatMap((h) => addresses(h.value));
  const ids = (name: string): string[] => {
    const value = header(headers, name) ?? '';
    const bracketed = [...value.matchAll(/<([^>]*)>/g)].map((m) => m[1]!);
    return bracketed.length > 0 ? bracketed : value.split(/\s+/).filter((s) => s !== '');
  };
  const date = Date.parse(header(headers, 'date') ?? '');
  const custom = new Map<string, CustomHeader>();
  for (const h of headers) {
    const key = h.name.toLowerCase();
    const seen = custom.get(key);
    if (seen) seen.ListValues.push(h.value);
    else custom.set(key, { Name: h.name, Value: h.value, ListValues: [h.value] });
  }
  return {
    From: list('from')[0] ?? null,
    To: list('to'),
    Cc: list('cc'),
    Bcc: list('bcc'),
    Subject: header(headers, 'subject') ?? '',
    ReceivedDate: Number.isNaN(date) ? null : new Date(date).toISOString(),
    GlobalMessageId: ids('message-id')[0] ?? '',
    InReplyTo: ids('in-reply-to')[0] ?? '',
    References: ids('references'),
    CustomHeaders: [...custom.values()],
  };
}

/** A list of addresses: `Name <a@b>`, `"Quoted, Name" <a@b>`, `a@b`, `<a@b>`; groups flattened into their members. */
function addresses(value: string): Address[] {
  const out: Address[] = [];
  let current = '';
  let quoted = false;
  let angle = false;
  const flush = (): void => {
    const item = current.replace(/^[^"<@]*:/, '').replace(/;\s*$/, '').trim();
    current = '';
    if (item === '') return;
    const m = /^(.*?)<([^>]*)>/.exec(item);
    if (m) out.push({ Name: m[1]!.trim().replace(/^"(.*)"$/, '$1'), Address: m[2]!.trim() });
    else out.push({ Name: '', Address: item });
  };
  for (const ch of value) {
    if (ch === '"') quoted = !quoted;
    else if (ch === '<' && !quoted) angle = true;
    else if (ch === '>' && !quoted) angle = false;
    if ((ch === ',' || ch === ';') && !quoted && !angle) {
      if (ch === ';') current += ch;
      flush();
    } else current += ch;
  }
  flush();
  return out;
}

/** A body's text: transfer encoding undone, then the charset decoded in slices, the deadline checked between them. */
async function decodeBody(body: Buffer, transferEncoding: string | undefined, charset: string, deadline: number): Promise<string | typeof TIMED_OUT> {
  const enc = (transferEncoding ?? '').trim().toLowerCase();
  const bytes = enc === 'base64' ? Buffer.from(body.toString('latin1'), 'base64') : enc === 'quoted-printable' ? qpBytes(body.toString('latin1')) : body;
  let decoder: InstanceType<typeof TextDecoder>;
  try {
    decoder = new TextDecoder(charset);
  } catch {
    decoder = new TextDecoder('windows-1252');
  }
  let text = '';
  for (let at = 0; at < bytes.byteLength; at += SLICE) {
    if (Date.now() > deadline) return TIMED_OUT;
    text += decoder.decode(bytes.subarray(at, at + SLICE), { stream: true });
    if (at + SLICE < bytes.byteLength) await new Promise((r) => setImmediate(r));
  }
  if (Date.now() > deadline) return TIMED_OUT;
  return text + decoder.decode();
}
