/**
 * Finds the two parts of an Exchange journal report in the raw bytes: the envelope (text/plain)
 * and the original message (message/rfc822), without a full MIME parse.
 *
 * Why not let postal-mime find them: in a journal mailbox every message is a report, and parsing
 * the report would walk the whole original once as an opaque attachment (line by line, hashed)
 * before the original is parsed again for its attributes: twice the work on the hot path. The
 * report's own structure is machine-written and shallow (Exchange writes multipart/mixed with two
 * parts), so a scan for its boundary with native `indexOf` finds both parts at a small cost, and
 * yields the original's exact byte range in the report. Anything unexpected here only means "not
 * unwrapped": the caller then parses the report as an ordinary message.
 */
import { isJournalReport, readJournalEnvelope, type JournalEnvelopeReading } from '../../core/message/journal-report.js';

/** What a journal report holds, as found in its raw bytes. */
export interface JournalReportParts {
  /** The envelope as read, or null when the report has no text/plain part. */
  envelope: JournalEnvelopeReading | null;
  /**
   * The original message: its bytes (a view into the report when it is stored verbatim, decoded
   * otherwise) and, when verbatim and complete, its range in the report. Null when the report has
   * no message/rfc822 part.
   */
  original: { bytes: Uint8Array; range: { offset: number; length: number } | null } | null;
  /** Why a part is missing or odd, one sentence each. */
  notes: string[];
}

/** MIME levels searched below the report's top level (the envelope may sit in an alternative). */
const MAX_DEPTH = 3;
/** Parts looked at in all; a real report has two. */
const MAX_PARTS = 64;

/**
 * Reads `raw` as a journal report. Returns undefined when it is not one (the common case, costing
 * one scan of the top-level header block). `raw` may be only the first bytes of a message (a
 * message over the full-parse limit): the parts are then found as far as the bytes go. Never
 * throws.
 */
export function readJournalReport(raw: Uint8Array, maxHeaderBytes: number): JournalReportParts | undefined {
  try {
    const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    const head = splitHead(buf, 0, Math.min(buf.byteLength, maxHeaderBytes + 4));
    if (!head) return undefined;
    const headerText = buf.toString('latin1', 0, head.headerEnd);
    // Cheap pre-check on the raw block; the header list is only built for the few that match.
    if (!/^x-ms-journal-report[ \t]*:/im.test(headerText)) return undefined;
    const headers = parseHeaderLines(headerText);
    if (!isJournalReport(headers)) return undefined;
    const notes: string[] = [];
    const found: Found = { envelope: undefined, original: undefined, seen: 0, notes };
    const type = contentTypeOf(headers);
    if (!type.value.startsWith('multipart/')) {
      notes.push(`the report is ${type.value || 'text/plain'}, not multipart: it holds no attached original`);
    } else if (!type.params.boundary) {
      notes.push('the report is multipart without a boundary');
    } else {
      walk(buf, head.bodyStart, buf.byteLength, type.params.boundary, 0, found);
    }
    const envelope = found.envelope ? readJournalEnvelope(decodeText(buf, found.envelope)) : null;
    if (!found.envelope) notes.push('the report has no text/plain envelope part');
    let original: JournalReportParts['original'] = null;
    if (found.original) original = originalBytes(buf, found.original, notes);
    else notes.push('the report has no message/rfc822 part');
    return { envelope, original, notes };
  } catch (err) {
    // Not expected; a bug here must cost the unwrap, not the message.
    return { envelope: null, original: null, notes: [`journal report reader failed: ${String(err)}`] };
  }
}

interface Part {
  headers: Array<{ Name: string; Value: string }>;
  bodyStart: number;
  bodyEnd: number;
  /** False when the part runs to the end of the bytes without a closing boundary. */
  complete: boolean;
}

interface Found {
  envelope: Part | undefined;
  original: Part | undefined;
  seen: number;
  notes: string[];
}

/** Depth-first through the multipart at [start, end): the first text/plain and message/rfc822 parts. */
function walk(buf: Buffer, start: number, end: number, boundary: string, depth: number, found: Found): void {
  for (const range of splitMultipart(buf, start, end, boundary)) {
    if (++found.seen > MAX_PARTS) return;
    const head = splitHead(buf, range.start, range.end);
    const headers = head ? parseHeaderLines(buf.toString('latin1', range.start, head.headerEnd)) : [];
    const part: Part = { headers, bodyStart: head ? head.bodyStart : range.end, bodyEnd: range.end, complete: range.complete };
    const type = contentTypeOf(headers);
    const disposition = headerValue(headers, 'content-disposition').toLowerCase();
    if (type.value.startsWith('multipart/')) {
      if (depth < MAX_DEPTH && type.params.boundary) walk(buf, part.bodyStart, part.bodyEnd, type.params.boundary, depth + 1, found);
    } else if (type.value === 'message/rfc822') {
      found.original ??= part;
    } else if ((type.value === 'text/plain' || type.value === '') && !disposition.startsWith('attachment')) {
      found.envelope ??= part;
    } else if (type.value === 'application/ms-tnef' || /winmail\.dat/i.test(type.params.name ?? '') || /winmail\.dat/i.test(disposition)) {
      found.notes.push('the original is attached as TNEF (winmail.dat), which is not unwrapped');
    }
    if (found.envelope && found.original) return;
  }
}

/** The original's bytes: a view when stored verbatim, decoded when transfer-encoded. */
function originalBytes(buf: Buffer, part: Part, notes: string[]): JournalReportParts['original'] {
  const cte = headerValue(part.headers, 'content-transfer-encoding').trim().toLowerCase();
  let bytes: Uint8Array;
  let range: { offset: number; length: number } | null = null;
  if (cte === 'base64') {
    bytes = Buffer.from(buf.toString('latin1', part.bodyStart, part.bodyEnd), 'base64');
    notes.push('the original is base64-encoded inside the report; it has no verbatim byte range');
  } else if (cte === 'quoted-printable') {
    bytes = decodeQuotedPrintable(buf.subarray(part.bodyStart, part.bodyEnd));
    notes.push('the original is quoted-printable inside the report; it has no verbatim byte range');
  } else {
    if (cte !== '' && cte !== '7bit' && cte !== '8bit' && cte !== 'binary') notes.push(`unknown transfer encoding ${cte} of the original; read as is`);
    bytes = buf.subarray(part.bodyStart, part.bodyEnd);
    if (part.complete) range = { offset: part.bodyStart, length: part.bodyEnd - part.bodyStart };
  }
  if (!part.complete) notes.push('the original runs to the end of the bytes without a closing boundary');
  // A part with nothing but white space holds no message.
  if (!/[^\s]/.test(Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 4096)).toString('latin1'))) {
    notes.push('the message/rfc822 part is empty');
    return null;
  }
  return { bytes, range };
}

/**
 * The header block at [start, end): where it ends (the blank line) and where the body starts.
 * Undefined when there is no blank line before `end` (a part that is all headers has an empty
 * body: the caller treats that as no head).
 */
function splitHead(buf: Buffer, start: number, end: number): { headerEnd: number; bodyStart: number } | undefined {
  // A part may start with its blank line (no headers at all).
  if (buf[start] === 10) return { headerEnd: start, bodyStart: start + 1 };
  if (buf[start] === 13 && buf[start + 1] === 10) return { headerEnd: start, bodyStart: start + 2 };
  for (let i = buf.indexOf(10, start); i >= 0 && i < end; i = buf.indexOf(10, i + 1)) {
    if (buf[i + 1] === 10) return { headerEnd: i + 1, bodyStart: i + 2 };
    if (buf[i + 1] === 13 && buf[i + 2] === 10) return { headerEnd: i + 1, bodyStart: i + 3 };
  }
  return undefined;
}

/** Header lines unfolded into name and value (values as latin1 text; only ASCII is read from them). */
function parseHeaderLines(text: string): Array<{ Name: string; Value: string }> {
  const out: Array<{ Name: string; Value: string }> = [];
  for (const line of text.split(/\r?\n/)) {
    if (line === '') continue;
    const last = out[out.length - 1];
    if ((line[0] === ' ' || line[0] === '\t') && last) {
      last.Value += ' ' + line.trim();
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    out.push({ Name: line.slice(0, colon).trim(), Value: line.slice(colon + 1).trim() });
  }
  return out;
}

function headerValue(headers: Array<{ Name: string; Value: string }>, name: string): string {
  return headers.find((h) => h.Name.toLowerCase() === name)?.Value ?? '';
}

/** `type/subtype` in lowercase (or "" when absent) and the parameters (names lowercase, values unquoted). */
function contentTypeOf(headers: Array<{ Name: string; Value: string }>): { value: string; params: Record<string, string> } {
  const raw = headerValue(headers, 'content-type');
  const semi = raw.indexOf(';');
  const value = (semi < 0 ? raw : raw.slice(0, semi)).trim().toLowerCase();
  const params: Record<string, string> = {};
  if (semi >= 0) {
    const re = /;\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)/g;
    for (const m of raw.slice(semi).matchAll(re)) {
      const key = m[1]!.toLowerCase();
      let v = m[2]!;
      if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
      if (!(key in params)) params[key] = v;
    }
  }
  return { value, params };
}

/**
 * The body parts of the multipart at [start, end) (RFC 2046 5.1.1): between delimiter lines
 * `--boundary` (trailing white space allowed) up to the close delimiter `--boundary--`. The line
 * break before a delimiter belongs to the delimiter. Without a close delimiter (cut-short bytes)
 * the last part runs to `end` and is marked incomplete.
 */
function* splitMultipart(buf: Buffer, start: number, end: number, boundary: string): Generator<{ start: number; end: number; complete: boolean }> {
  const delim = Buffer.from('--' + boundary, 'latin1');
  let partStart = -1;
  for (let at = buf.indexOf(delim, start); at >= 0 && at < end; at = buf.indexOf(delim, at + 1)) {
    if (at !== start && buf[at - 1] !== 10) continue;
    let p = at + delim.byteLength;
    const close = buf[p] === 45 && buf[p + 1] === 45;
    if (close) p += 2;
    while (p < end && (buf[p] === 32 || buf[p] === 9)) p++;
    // Anything else on the line means the boundary was only a prefix of other text.
    if (p < end && buf[p] !== 13 && buf[p] !== 10) continue;
    if (partStart >= 0) {
      let partEnd = at === start ? at : at - 1;
      if (partEnd > partStart && buf[partEnd - 1] === 13) partEnd--;
      yield { start: partStart, end: Math.max(partStart, partEnd), complete: true };
    }
    if (close) return;
    partStart = buf[p] === 13 && buf[p + 1] === 10 ? p + 2 : p + 1;
  }
  if (partStart >= 0 && partStart < end) yield { start: partStart, end, complete: false };
}

/** The envelope part's text: transfer decoding, then its charset (UTF-8 when absent or unknown). */
function decodeText(buf: Buffer, part: Part): string {
  const cte = headerValue(part.headers, 'content-transfer-encoding').trim().toLowerCase();
  const body = buf.subarray(part.bodyStart, part.bodyEnd);
  const bytes = cte === 'base64' ? Buffer.from(body.toString('latin1'), 'base64') : cte === 'quoted-printable' ? decodeQuotedPrintable(body) : body;
  const charset = contentTypeOf(part.headers).params.charset?.trim() || 'utf-8';
  try {
    return new TextDecoder(charset).decode(bytes);
  } catch {
    return new TextDecoder('utf-8').decode(bytes);
  }
}

/** Quoted-printable (RFC 2045 6.7): `=XX` escapes and soft line breaks; malformed escapes kept as written. */
function decodeQuotedPrintable(input: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(input.byteLength);
  let n = 0;
  const hex = (c: number | undefined): number =>
    c === undefined ? -1 : c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1;
  for (let i = 0; i < input.byteLength; i++) {
    const c = input[i]!;
    if (c !== 61) {
      out[n++] = c;
      continue;
    }
    // Soft line break: "=" then optional white space, then CRLF or LF.
    let j = i + 1;
    while (input[j] === 32 || input[j] === 9) j++;
    if (input[j] === 13 && input[j + 1] === 10) {
      i = j + 1;
      continue;
    }
    if (input[j] === 10) {
      i = j;
      continue;
    }
    const hi = hex(input[i + 1]);
    const lo = hex(input[i + 2]);
    if (hi >= 0 && lo >= 0) {
      out[n++] = hi * 16 + lo;
      i += 2;
    } else out[n++] = c;
  }
  return out.subarray(0, n);
}
