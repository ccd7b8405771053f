/**
 * Reading the server's bytes into responses: lines, and the literals inside them, however TCP
 * cut them. A literal wholly inside one socket chunk is a view of it; one spread over several
 * is kept as the pieces it arrived in (only the edges copied); one the wire asks to stream (a
 * large FETCH body) goes to its consumer as it arrives, with back-pressure.
 */
import { ownsItsMemory } from '../../core/ports/blob-store.js';
import { ImapParseError, LiteralParts, LITERAL_MARK } from './imap-response.js';
import type { Pipe } from './imap-pipe.js';

/** What the reader hands on, and asks of, the command loop. */
export interface ResponseReaderHooks {
  /** A whole response: its text (each literal as LITERAL_MARK) and its literals in order. */
  response(text: string, literals: Array<Buffer | LiteralParts>): void;
  /** A literal of `size` bytes starts after `textSoFar`: the stream it goes to, or null to keep it. */
  streamTo(textSoFar: string, size: number): Pipe<Buffer> | null;
  /** Bytes now waiting in a consumer's queue (counted toward back-pressure). */
  hold(bytes: number): void;
  /** Whether the session has ended (the rest of a chunk is then left unread). */
  ended(): boolean;
}

/** A literal being read. */
interface LiteralState {
  left: number;
  size: number;
  /** The pieces read so far (not streaming). */
  parts: Buffer[];
  /** Streaming to the consumer instead. */
  stream: Pipe<Buffer> | null;
}

/** A copy of `b` in memory of its own (never Node's shared pool), so it can be handed on whole. */
function ownCopy(b: Buffer): Buffer {
  const c = Buffer.allocUnsafeSlow(b.length);
  b.copy(c);
  return c;
}

const EMPTY = Buffer.alloc(0);

/** The length of the literal a line announces at its end (`{n}`, `{n+}`, `~{n}`), or -1. */
function literalSize(line: string): number {
  const last = line.length - 1;
  if (last < 2 || line.charCodeAt(last) !== 125) return -1;
  const open = line.lastIndexOf('{', last);
  if (open < 0) return -1;
  let end = last;
  if (line.charCodeAt(end - 1) === 43) end--; // LITERAL+ form
  if (end <= open + 1 || end - open - 1 > 12) return -1;
  let v = 0;
  for (let i = open + 1; i < end; i++) {
    const c = line.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    v = v * 10 + (c - 48);
  }
  return v;
}

/** Assembles responses from a session's socket chunks. One instance per session. */
export class ResponseReader {
  private carry: Buffer[] = [];
  private carryLen = 0;
  private text = '';
  private literals: Array<Buffer | LiteralParts> = [];
  private lit: LiteralState | null = null;

  constructor(
    /** Where the session goes, for messages. */
    private readonly where: string,
    /** A response line longer than this is a protocol fault. */
    private readonly maxLine: number,
    /** A literal held whole larger than this is a protocol fault. */
    private readonly maxBufferedLiteral: number,
    private readonly hooks: ResponseReaderHooks,
  ) {}

  /** Reads one chunk of the socket; a protocol fault throws {@link ImapParseError}. */
  push(chunk: Buffer): void {
    const len = chunk.length;
    let pos = 0;
    while (pos < len && !this.hooks.ended()) {
      const lit = this.lit;
      pos = lit ? this.readLiteral(lit, chunk, pos) : this.readLine(chunk, pos);
      if (pos < 0) return; // the line goes on in the next chunk
    }
  }

  /** The session ended: a literal streaming to its consumer ends with `err`. */
  abort(err: Error): void {
    this.lit?.stream?.end(err);
    this.lit = null;
  }

  /** Reads what `chunk` holds of the literal being read; returns the position after it. */
  private readLiteral(lit: LiteralState, chunk: Buffer, pos: number): number {
    const len = chunk.length;
    const take = Math.min(lit.left, len - pos);
    if (lit.stream) {
      this.hooks.hold(lit.stream.push(chunk.subarray(pos, pos + take)));
    } else {
      // A chunk that is all literal is kept as it is (each socket read is a buffer of its
      // own); only the edges, shared with other data, are copied. Copying whole literals
      // into one buffer had cost the mixed set's drain ~0.3 s of its main thread.
      lit.parts.push(pos === 0 && take === len && ownsItsMemory(chunk) ? chunk : ownCopy(chunk.subarray(pos, pos + take)));
    }
    lit.left -= take;
    if (lit.left === 0) {
      this.lit = null;
      if (lit.stream) {
        lit.stream.end();
        this.literals.push(EMPTY);
      } else this.literals.push(lit.parts.length === 1 ? lit.parts[0]! : new LiteralParts(lit.parts, lit.size));
    }
    return pos + take;
  }

  /** Reads a line from `pos`: a response ends, or a literal starts; -1 when the line goes on in the next chunk. */
  private readLine(chunk: Buffer, pos: number): number {
    const len = chunk.length;
    const lf = chunk.indexOf(10, pos);
    if (lf < 0) {
      this.carry.push(chunk.subarray(pos));
      this.carryLen += len - pos;
      if (this.text.length + this.carryLen > this.maxLine) throw new ImapParseError(`${this.where} sent a response line longer than ${this.maxLine} bytes`);
      return -1;
    }
    // The same bound whether the line came in one read or several, and for the text between
    // a response's literals (a response that never ends must not grow without limit).
    if (this.text.length + this.carryLen + (lf - pos) > this.maxLine) throw new ImapParseError(`${this.where} sent a response line longer than ${this.maxLine} bytes`);
    let end = lf;
    if (end > pos && chunk[end - 1] === 13) end--;
    let line: string;
    if (this.carryLen > 0) {
      this.carry.push(chunk.subarray(pos, lf));
      const joined = Buffer.concat(this.carry);
      this.carry = [];
      this.carryLen = 0;
      const e = joined.length > 0 && joined[joined.length - 1] === 13 ? joined.length - 1 : joined.length;
      line = joined.toString('utf8', 0, e);
    } else {
      line = chunk.toString('utf8', pos, end);
    }
    const n = literalSize(line);
    if (n >= 0) return this.startLiteral(line, n, chunk, lf + 1);
    const text = this.text === '' ? line : this.text + line;
    const literals = this.literals;
    this.text = '';
    this.literals = [];
    this.hooks.response(text, literals);
    return lf + 1;
  }

  /** The line ends in {n}: n bytes of literal follow from `pos`. Returns the position after what was read of it. */
  private startLiteral(line: string, n: number, chunk: Buffer, pos: number): number {
    const head = line.slice(0, line.lastIndexOf('{')).replace(/~$/, '');
    this.text += head + LITERAL_MARK;
    const stream = this.hooks.streamTo(this.text, n);
    if (stream) {
      this.lit = { left: n, size: n, parts: [], stream };
    } else if (n === 0) {
      this.literals.push(EMPTY);
    } else if (n > this.maxBufferedLiteral) {
      throw new ImapParseError(`${this.where} announced a literal of ${n} bytes, over the ${this.maxBufferedLiteral} a response may hold`);
    } else if (pos + n <= chunk.length) {
      // Wholly in this chunk: a view, no copy (the chunk is the socket's own, fresh per read).
      this.literals.push(chunk.subarray(pos, pos + n));
      return pos + n;
    } else {
      this.lit = { left: n, size: n, parts: [], stream: null };
    }
    return pos;
  }
}
