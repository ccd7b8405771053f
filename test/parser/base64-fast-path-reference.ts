/**
 * The base64 fast path's run extraction as it was before the line-stride check (commit
 * 4cef9fa): every body checked with one regex over it as text. Kept as the reference the
 * faster check must agree with exactly (test/parser/base64-fast-path.test.ts).
 */
import type { FastPathInput, Base64Run } from '../../src/adapters/parser-postal-mime/base64-fast-path.js';

const MAGIC = Buffer.from('MSLUICE\0', 'latin1');

const HEADER_B64 = /^content-transfer-encoding:[ \t]*base64[ \t]*\r?$/im;
const HEADER_TYPE = /^content-type:[ \t]*([a-z0-9!#$&^_.+-]+)\/[a-z0-9!#$&^_.+-]+/im;
const NOT_B64_LINE = /[^A-Za-z0-9+/\r\n]/;
const B64_LINE = /^[A-Za-z0-9+/]{60,76}\r?$/;
/** How far back from a body the part's headers are looked for. */
const HEADER_WINDOW = 8 * 1024;

/**
 * Replaces base64 runs of at least `minBytes` characters with tokens. Returns undefined when
 * nothing qualifies (the common case for small mail), so the caller parses the raw bytes as is.
 *
 * The scan uses Buffer.indexOf (native) to jump from blank line to blank line, and only looks
 * closer where the next line looks like base64; a character-by-character regex over the whole
 * message ran at ~75 MB/s, slower than what it saves.
 */
export function referenceExtractBase64Runs(raw: Uint8Array, minBytes: number): FastPathInput | undefined {
  if (raw.byteLength < minBytes) return undefined;
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const pieces: Buffer[] = [];
  const runs: Base64Run[] = [];
  let last = 0;
  let firstBlank = true;
  let from = 0;
  // The next "\n\n" and "\n\r\n" at or after `from`, each searched again only once `from`
  // has passed it: a CRLF message has no "\n\n", and searching for it from every blank line
  // rescanned the whole rest of the message each time (a visible share of a big message).
  let lf = -2;
  let crlf = -2;
  for (;;) {
    // A blank line: "\n\n" or "\n\r\n"; the body starts after it.
    if (lf !== -1 && lf < from) lf = buf.indexOf('\n\n', from, 'latin1');
    if (crlf !== -1 && crlf < from) crlf = buf.indexOf('\n\r\n', from, 'latin1');
    if (lf < 0 && crlf < 0) break;
    const blank = lf >= 0 && (crlf < 0 || lf < crlf) ? lf : crlf;
    const bodyStart = blank + (blank === lf ? 2 : 3);
    const isTop = firstBlank;
    firstBlank = false;
    from = bodyStart;
    const firstLineEnd = buf.indexOf(10, bodyStart);
    if (firstLineEnd < 0) break;
    if (!B64_LINE.test(buf.toString('latin1', bodyStart, firstLineEnd))) continue;
    // The part's headers: back to its boundary line, or the top of the message.
    const windowStart = Math.max(0, blank - HEADER_WINDOW);
    const win = buf.toString('latin1', windowStart, blank + 1);
    const boundaryAt = win.lastIndexOf('\n--');
    if (boundaryAt < 0 && !(isTop && windowStart === 0)) continue;
    const headers = boundaryAt < 0 ? win : win.slice(boundaryAt);
    if (!HEADER_B64.test(headers)) continue;
    const major = HEADER_TYPE.exec(headers)?.[1]?.toLowerCase();
    if (!major || major === 'text' || major === 'message' || major === 'multipart') continue;
    // The body runs to the next boundary line (or the end); the run is its leading complete
    // lines of pure base64 (no padding), so a last line with "=" stays with postal-mime.
    const next = buf.indexOf('\n--', bodyStart, 'latin1');
    const bodyEnd = next < 0 ? buf.byteLength : next + 1;
    let text = buf.toString('latin1', bodyStart, bodyEnd);
    const bad = text.search(NOT_B64_LINE);
    if (bad >= 0) text = text.slice(0, text.lastIndexOf('\n', bad) + 1);
    else if (!text.endsWith('\n')) text = text.slice(0, text.lastIndexOf('\n') + 1);
    // It must end on a 4-character boundary for the two decodes to join up.
    while (text.length > 0 && b64Chars(text) % 4 !== 0) text = text.slice(0, text.lastIndexOf('\n', text.length - 2) + 1);
    from = bodyStart + text.length;
    if (text.length < minBytes) continue;
    const eol = text.endsWith('\r\n') ? '\r\n' : '\n';
    const marker = Buffer.alloc(12);
    MAGIC.copy(marker, 0);
    marker.writeUInt32BE(runs.length, 8);
    const token = marker.toString('base64');
    pieces.push(buf.subarray(last, bodyStart), Buffer.from(token + eol, 'latin1'));
    runs.push({ token, marker, source: buf.subarray(bodyStart, bodyStart + text.length), decoded: Buffer.from(text, 'base64') });
    last = bodyStart + text.length;
  }
  if (runs.length === 0) return undefined;
  pieces.push(buf.subarray(last));
  return { raw: Buffer.concat(pieces), runs };
}

/** Base64 characters in `text` (its length without line ends). */
function b64Chars(text: string): number {
  let n = text.length;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n -= text.charCodeAt(i - 1) === 13 ? 2 : 1;
  return n;
}

