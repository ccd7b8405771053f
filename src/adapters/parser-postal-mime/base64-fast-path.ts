/**
 * The base64 fast path. postal-mime decodes base64 a line at a time in JavaScript (about
 * 25 MB/s), while Node's native `Buffer.from(s, 'base64')` does well over 1 GB/s. Attachments
 * are where the bytes are, so before postal-mime sees a message, long runs of base64 lines
 * that form the body of a non-text attachment part are cut out and decoded natively; each run
 * is replaced by one short base64 token line that decodes to a 12-byte marker, and the marker
 * is swapped back for the real bytes when the attachment is hashed.
 *
 * Safety: a run is only taken when the part's own headers say base64 and a non-text,
 * non-message, non-multipart type, and the run starts right at the part's body. After the
 * parse every token must be found again exactly once (as the start of an attachment, or
 * inside a message/rfc822 attachment's raw bytes); otherwise the caller parses again without
 * the fast path, so a surprise costs time, never correctness.
 */

/** One base64 run cut out of the message. */
export interface Base64Run {
  /** The base64 token line that replaced the run (16 characters). */
  token: string;
  /** What the token decodes to: the marker postal-mime leaves at the start of the content. */
  marker: Buffer;
  /** The run's bytes as they were in the message. */
  source: Buffer;
  /** The run decoded. */
  decoded: Buffer;
}

/** A message with its big base64 runs replaced by tokens. */
export interface FastPathInput {
  raw: Uint8Array;
  runs: Base64Run[];
}

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
export function extractBase64Runs(raw: Uint8Array, minBytes: number): FastPathInput | undefined {
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
    const run = leadingRun(buf, bodyStart, bodyEnd, firstLineEnd, minBytes);
    from = bodyStart + run.length;
    if (run.length < minBytes) continue;
    const eol = buf[bodyStart + run.length - 2] === 13 ? '\r\n' : '\n';
    const marker = Buffer.alloc(12);
    MAGIC.copy(marker, 0);
    marker.writeUInt32BE(runs.length, 8);
    const token = marker.toString('base64');
    pieces.push(buf.subarray(last, bodyStart), Buffer.from(token + eol, 'latin1'));
    runs.push({ token, marker, source: buf.subarray(bodyStart, bodyStart + run.length), decoded: run.decoded() });
    last = bodyStart + run.length;
  }
  if (runs.length === 0) return undefined;
  pieces.push(buf.subarray(last));
  return { raw: Buffer.concat(pieces), runs };
}

/**
 * A base64 body's tail that is checked character by character after a fast-checked head; a
 * longer one means the lines are not of one length, and the whole body is checked that way.
 */
const TAIL_MAX = 16 * 1024;

/**
 * The run a body [bodyStart, bodyEnd) starts with: its leading complete lines made only of
 * `A–Z a–z 0–9 + /` and line ends, cut back to a multiple of 4 base64 characters; its length in
 * bytes, and its bytes decoded (on demand).
 *
 * The exact rule is {@link runText}'s, a regex over the body as text (~250 MB/s). Most bodies
 * are lines of one length, so they are checked faster first: the line ends are where that
 * length puts them (a byte compare per line), and the head made of those lines, decoded by
 * Node (which it needs anyway), gives exactly 3 bytes per 4 characters (Node skips or stops at
 * any character outside its alphabet, so one shows as a short result) and holds neither '-' nor
 * '_' (the only two outside ours that Node takes, as base64url; native searches). The rest (the
 * last line, padding, blank lines) goes through the exact rule; so does the whole body whenever
 * the head does not pass or the rest is long. Either way the result is the exact rule's.
 */
function leadingRun(buf: Buffer, bodyStart: number, bodyEnd: number, firstLineEnd: number, minBytes: number): { length: number; decoded: () => Buffer } {
  const exact = (): { length: number; decoded: () => Buffer } => {
    const text = runText(buf.toString('latin1', bodyStart, bodyEnd));
    return { length: text.length, decoded: () => Buffer.from(text, 'base64') };
  };
  if (bodyEnd - bodyStart < minBytes) return exact();
  // The first line passed B64_LINE: its length (line end included) is the stride.
  const cr = buf[firstLineEnd - 1] === 13;
  const stride = firstLineEnd + 1 - bodyStart;
  const chars = stride - (cr ? 2 : 1);
  let end = bodyStart + stride;
  while (end + stride <= bodyEnd && buf[end + stride - 1] === 10 && (!cr || buf[end + stride - 2] === 13)) end += stride;
  let lines = (end - bodyStart) / stride;
  while (lines > 0 && (lines * chars) % 4 !== 0) lines--;
  const headEnd = bodyStart + lines * stride;
  if (bodyEnd - headEnd > TAIL_MAX) return exact();
  const head = buf.subarray(bodyStart, headEnd);
  const decoded = decodeLines(buf, bodyStart, lines, stride, ((lines * chars) / 4) * 3);
  if (decoded === undefined || head.indexOf(45) >= 0 || head.indexOf(95) >= 0) return exact();
  // The head is clean and ends on a line end at a multiple of 4 characters, so the exact rule
  // over the whole body ends in the tail (or right at its start) exactly where it does over the
  // tail alone; and the two decodes join up.
  const tail = runText(buf.toString('latin1', headEnd, bodyEnd));
  return { length: head.byteLength + tail.length, decoded: () => (tail.length === 0 ? decoded : Buffer.concat([decoded, Buffer.from(tail, 'base64')])) };
}

/**
 * Lines decoded per step: a multiple of 4, so every step ends on a whole base64 quantum, and few
 * enough that a step's text (~80 KB) is a young-generation string, freed by the next scavenge.
 * Steps of 16,384 lines (~1.3 MB strings, old generation) left tens of MB of garbage resident
 * until a full collection: a 60 MB parse peaked 30 MB higher.
 */
const DECODE_STEP_LINES = 1024;

/**
 * `lines` base64 lines of `stride` bytes from `start`, decoded into one buffer of `expected`
 * bytes a step at a time: decoding the whole run through one string held a second copy of the
 * text (60 MB for a 60 MB message) beside the raw bytes and the result (ADR 0017). Undefined
 * when the text does not decode to exactly `expected` bytes.
 */
function decodeLines(buf: Buffer, start: number, lines: number, stride: number, expected: number): Buffer | undefined {
  const out = Buffer.allocUnsafeSlow(expected);
  let written = 0;
  for (let line = 0; line < lines; line += DECODE_STEP_LINES) {
    const from = start + line * stride;
    const to = start + Math.min(lines, line + DECODE_STEP_LINES) * stride;
    const text = buf.toString('latin1', from, to);
    const room = expected - written;
    const n = out.write(text, written, room, 'base64');
    // A step that fills what is left may still hold text: too much, the run is not as measured.
    if (n === room && line + DECODE_STEP_LINES < lines) return undefined;
    written += n;
  }
  return written === expected ? out : undefined;
}

/**
 * The exact rule: the leading complete lines of `text` with no character outside
 * `A–Z a–z 0–9 + /` and line ends, cut back to a multiple of 4 base64 characters (so the
 * decode of the run and postal-mime's decode of the rest join up).
 */
function runText(text: string): string {
  const bad = text.search(NOT_B64_LINE);
  if (bad >= 0) text = text.slice(0, text.lastIndexOf('\n', bad) + 1);
  else if (!text.endsWith('\n')) text = text.slice(0, text.lastIndexOf('\n') + 1);
  while (text.length > 0 && b64Chars(text) % 4 !== 0) text = text.slice(0, text.lastIndexOf('\n', text.length - 2) + 1);
  return text;
}

/** Base64 characters in `text` (its length without line ends). */
function b64Chars(text: string): number {
  let n = text.length;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n -= text.charCodeAt(i - 1) === 13 ? 2 : 1;
  return n;
}

/** An attachment's bytes as up to two pieces (decoded run + what postal-mime decoded after it). */
export interface RestoredContent {
  pieces: Uint8Array[];
  size: number;
}

/**
 * Restores one attachment's content. `used` counts, per run, how often its token was found,
 * so the caller can check that every run came back exactly once.
 */
export function restoreContent(content: Uint8Array, input: FastPathInput, used: number[]): RestoredContent {
  if (content.byteLength >= 12 && Buffer.from(content.buffer, content.byteOffset, 8).equals(MAGIC)) {
    const idx = Buffer.from(content.buffer, content.byteOffset, 12).readUInt32BE(8);
    const run = input.runs[idx];
    if (run && Buffer.from(content.buffer, content.byteOffset, 12).equals(run.marker)) {
      used[idx] = (used[idx] ?? 0) + 1;
      const rest = content.subarray(12);
      return { pieces: [run.decoded, rest], size: run.decoded.byteLength + rest.byteLength };
    }
  }
  // A raw message/rfc822 attachment holds the token lines as text: put the runs back.
  let buf = Buffer.from(content.buffer, content.byteOffset, content.byteLength);
  input.runs.forEach((run, idx) => {
    let at = buf.indexOf(run.token, 0, 'latin1');
    if (at < 0) return;
    // postal-mime keeps a message/rfc822 part line by line and joins the lines with LF, so
    // the run goes back with LF line ends (computed only here: it is rarely needed).
    const text = Buffer.from(run.source.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
    while (at >= 0) {
      used[idx] = (used[idx] ?? 0) + 1;
      const end = at + run.token.length + (buf[at + run.token.length] === 13 ? 2 : 1);
      buf = Buffer.concat([buf.subarray(0, at), text, buf.subarray(end)]);
      at = buf.indexOf(run.token, at + text.length, 'latin1');
    }
  });
  return { pieces: [buf], size: buf.byteLength };
}
