/**
 * Reading an mbox file (RFC 4155) without holding it in memory: where its messages are (a scan
 * of `From ` lines in windows), and `From ` quoting undone (mboxrd or mboxo), whole or streamed.
 *
 * A `From ` line separates messages when it begins the file or follows an empty line (`\n` or
 * `\r\n`): every writer puts an empty line after each message, and requiring it keeps an unquoted
 * `From ` at the start of a body line (an mboxo writer's slip) inside its message. The empty line
 * before a separator belongs to the file, not the message, and is dropped; so is the one after the
 * last message. What is left is the message as the writer was given it, once the quoting is undone
 * (a message that did not end with a line break gets one: the format cannot say it had none).
 */
import type { FileHandle } from 'node:fs/promises';
import type { MboxVariant } from './files-source-config.js';

const LF = 0x0a;
const CR = 0x0d;
const GT = 0x3e;
const FROM = Buffer.from('From ', 'latin1');

/** Where the messages of an mbox file are: per message, its `From ` line's offset and its end. */
export interface MboxIndex {
  /** Offsets of the separating `From ` lines, ascending. */
  starts: number[];
  /** Per message, the offset just past its last byte (the empty line that follows it excluded). */
  ends: number[];
  /** The file's size when scanned. */
  size: number;
}

/** Length of the empty line that ends just before `o` (1 for `\n`, 2 for `\r\n`), given the bytes before it. */
function blankBefore(b: Buffer, i: number, fileOffset: number): number {
  // i is the index in b of file offset `fileOffset`; the caller made sure b holds up to 3 bytes before it.
  if (fileOffset < 1 || b[i - 1] !== LF) return 0;
  if (fileOffset < 2 || b[i - 2] === LF) return 1;
  if (b[i - 2] === CR && (fileOffset < 3 || b[i - 3] === LF)) return 2;
  return 0;
}

/**
 * Scans the whole file for separating `From ` lines, a window of `chunk` bytes at a time (plus
 * the few bytes before it that decide whether a line is a separator).
 */
export async function scanMbox(fh: FileHandle, size: number, chunk: number): Promise<MboxIndex> {
  const starts: number[] = [];
  const ends: number[] = [];
  const buf = Buffer.allocUnsafe(chunk + 8);
  for (let pos = 0; pos < size; pos += chunk) {
    const base = Math.max(0, pos - 3);
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - base), base);
    const win = buf.subarray(0, bytesRead);
    let i = win.indexOf(FROM, pos - base);
    while (i !== -1 && base + i < pos + chunk) {
      const at = base + i;
      const blank = at === 0 ? 0 : blankBefore(win, i, at);
      if (at === 0 || blank > 0) {
        if (starts.length > 0) ends.push(at - blank);
        starts.push(at);
      }
      i = win.indexOf(FROM, i + 1);
    }
  }
  if (starts.length > 0) ends.push(size - (await trailingBlank(fh, size)));
  return { starts, ends, size };
}

/** The empty line the writer put after the last message (0 when the file does not end with one). */
async function trailingBlank(fh: FileHandle, size: number): Promise<number> {
  const n = Math.min(4, size);
  const b = Buffer.alloc(n);
  await fh.read(b, 0, n, size - n);
  if (n >= 2 && b[n - 1] === LF && b[n - 2] === LF) return 1;
  if (n >= 3 && b[n - 1] === LF && b[n - 2] === CR && b[n - 3] === LF) return 2;
  return 0;
}

/** Whether `line` (the first line of a message) is a header field: a name of printable characters but `:`, then `:`. */
export function isHeaderLine(b: Buffer): boolean {
  let i = 0;
  while (i < b.length && b[i]! >= 0x21 && b[i]! <= 0x7e && b[i] !== 0x3a) i++;
  while (i > 0 && i < b.length && (b[i] === 0x20 || b[i] === 0x09)) i++;
  return i > 0 && i < b.length && b[i] === 0x3a;
}

/**
 * The offsets in `buf` of the `>` to remove: `>From ` lines (mboxo), or `>+From ` lines (mboxrd),
 * each losing one `>`. `atLineStart`: whether `buf[0]` begins a line.
 */
function quoteCuts(buf: Buffer, variant: MboxVariant, atLineStart: boolean): number[] {
  const cuts: number[] = [];
  let i = buf.indexOf(FROM);
  while (i !== -1) {
    let j = i;
    while (j > 0 && buf[j - 1] === GT) j--;
    const quotes = i - j;
    const lineStart = j === 0 ? atLineStart : buf[j - 1] === LF;
    if (quotes >= 1 && lineStart && (variant === 'mboxrd' || quotes === 1)) cuts.push(j);
    i = buf.indexOf(FROM, i + 5);
  }
  return cuts;
}

/** `buf` with its `From ` quoting undone (itself when there is none to undo). */
export function unquote(buf: Buffer, variant: MboxVariant, atLineStart = true): Buffer {
  const cuts = quoteCuts(buf, variant, atLineStart);
  if (cuts.length === 0) return buf;
  const out = Buffer.allocUnsafeSlow(buf.length - cuts.length);
  let from = 0;
  let to = 0;
  for (const c of cuts) {
    to += buf.copy(out, to, from, c);
    from = c + 1;
  }
  buf.copy(out, to, from);
  return out;
}

/** Whether `tail` (the start of a line) may still become a quoted `From ` line once more bytes come. */
function mayBecomeQuoted(tail: Buffer): boolean {
  let m = 0;
  while (m < tail.length && tail[m] === GT) m++;
  const rest = tail.subarray(m);
  return rest.length < FROM.length && FROM.subarray(0, rest.length).equals(rest);
}

/**
 * Undoes `From ` quoting over a stream of chunks: a line start cut by a chunk boundary is held
 * back until it is decided (a few bytes; a run of `>` at most), so memory stays one chunk.
 */
export class Unquoter {
  private carry: Buffer | null = null;
  private atLineStart = true;

  constructor(private readonly variant: MboxVariant) {}

  /** The unquoted bytes of `chunk` that are decided. */
  push(chunk: Buffer): Buffer {
    const data = this.carry ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = null;
    const k = data.lastIndexOf(LF);
    const tailStart = k + 1;
    const tailAtLineStart = k === -1 ? this.atLineStart : true;
    const tail = data.subarray(tailStart);
    if (tailAtLineStart && tail.length > 0 && mayBecomeQuoted(tail)) {
      const head = unquote(data.subarray(0, tailStart), this.variant, this.atLineStart);
      this.carry = Buffer.from(tail);
      this.atLineStart = true;
      return head;
    }
    const out = unquote(data, this.variant, this.atLineStart);
    this.atLineStart = data.length > 0 ? data[data.length - 1] === LF : this.atLineStart;
    return out;
  }

  /** What was held back, at the end of the message. */
  end(): Buffer {
    const rest = this.carry ?? Buffer.alloc(0);
    this.carry = null;
    return unquote(rest, this.variant, this.atLineStart);
  }
}
