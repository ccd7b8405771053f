/**
 * The drain's own IMAP command loop, on a session that imapflow opened (ADR 0009).
 *
 * imapflow connects, negotiates TLS, authenticates and SELECTs; `ImapFlow.unbind()` then hands
 * over the socket and this loop drives the session: NOOP, UID SEARCH, UID FETCH (whole bodies and
 * partial chunks), UID STORE, UID EXPUNGE, UID MOVE/COPY, IDLE and LOGOUT. Profiles of the drain
 * showed imapflow's generic response parser costing ~50 µs per small message (a token tree, a
 * formatted object and a copy per FETCH) and as much again for the EXPUNGE lines of the action
 * session; this reader takes a FETCH literal as a slice of the socket's chunk, finds the UID with
 * a few string operations, and streams a literal above a size bound to the consumer with
 * back-pressure, so no message needs to sit whole in memory and no size needs asking first.
 *
 * Commands run one at a time (see {@link ImapWire.run}), so untagged data (SEARCH results, FETCH
 * bodies and flags) belongs to the one command waiting.
 */
import type { Readable, Writable } from 'node:stream';
import { ownsItsMemory } from '../../core/ports/blob-store.js';
import {
  ImapParseError,
  LiteralParts,
  LITERAL_MARK,
  expandSequenceSet,
  parseSearchNumbers,
  parseStatus,
  tokenize,
  type ImapStatus,
  type ImapToken,
} from './imap-response.js';

/** A command the server refused (tagged NO or BAD); the error map turns it into SOURCE_PROTOCOL. */
export class ImapCommandError extends Error {
  readonly responseStatus: 'NO' | 'BAD';
  readonly serverResponseCode: string | undefined;
  readonly responseText: string;
  /** The command's verb and arguments (never a secret: this loop sends no credentials). */
  readonly command: string;
  constructor(command: string, status: ImapStatus) {
    super(`${command} was refused: ${status.status}${status.code ? ` [${status.code}]` : ''} ${status.text}`.trimEnd());
    this.name = 'ImapCommandError';
    this.responseStatus = status.status === 'BAD' ? 'BAD' : 'NO';
    this.serverResponseCode = status.code;
    this.responseText = status.text;
    this.command = command;
  }
}

/** The session ended under a command, or a timeout dropped it; `code` is what the error map reads. */
export class ImapConnectionError extends Error {
  constructor(
    readonly code: 'EConnectionClosed' | 'ETIMEOUT',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ImapConnectionError';
  }
}

/** How a command ended (tagged OK), with what it collected. */
export interface TaggedResult {
  status: ImapStatus;
  /** The numbers of `* SEARCH` / `* ESEARCH ... ALL` answers to this command. */
  search?: number[];
  /** The FLAGS of each UID a `UID FETCH ... FLAGS` answered. */
  flags?: Map<number, string[]>;
  /** The RFC822.SIZE of each UID a `UID FETCH ... RFC822.SIZE` answered. */
  sizes?: Map<number, number>;
}

/**
 * One message of a FETCH: whole in memory (`parts`: one buffer, or the pieces it arrived in, see
 * {@link LiteralParts}), or streaming (above the fetch's `streamAbove`).
 */
export type WireMessage =
  | { uid: number; parts: Buffer[]; offset?: number; stream?: undefined; size: number }
  | { uid: number; parts?: undefined; offset?: number; stream: AsyncIterable<Buffer>; size: number };

/** Options of the loop. */
export interface ImapWireOptions {
  /** Drop the session when a command waits this long for data (0: see `silenceLimitMs`). IDLE is exempt. */
  dataTimeoutMs: number;
  /**
   * With `dataTimeoutMs` 0 (no limit the operator set): the silence a command may still wait
   * through before the session is dropped, so a server that stops answering cannot hang a drain
   * for good (0 or absent: never).
   */
  silenceLimitMs?: number;
  /** Told every `warnEveryMs` of silence while a command waits (the caller logs it). */
  onSilence?: (silentMs: number, command: string) => void;
  warnEveryMs?: number;
  /** Where the session goes, for messages. */
  where: string;
  /**
   * A literal the caller did not ask to stream is held whole; one larger than this is a protocol
   * fault (a server announcing a literal of gigabytes must not make us allocate it).
   */
  maxBufferedLiteral?: number;
  /** A response line longer than this is a protocol fault (a SEARCH of 100,000 UIDs is ~700 KB). */
  maxLineBytes?: number;
}

/** Bytes queued for a slow consumer before the socket is paused, and resumed below the second. */
const HIGH_WATER = 8 * 1024 * 1024;
const LOW_WATER = 2 * 1024 * 1024;
const DEFAULT_MAX_BUFFERED_LITERAL = 512 * 1024 * 1024;
const DEFAULT_MAX_LINE = 16 * 1024 * 1024;

/**
 * A queue between the socket (push) and an async consumer (pull). Its bytes count toward the
 * loop's back-pressure; a consumer that stops early cancels it and later pushes are dropped.
 */
class Pipe<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private head = 0;
  private waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | null = null;
  private ended = false;
  private error: unknown = undefined;
  cancelled = false;

  constructor(
    private readonly sizeOf: (item: T) => number,
    private readonly taken: (bytes: number) => void,
    private readonly onCancel: () => void,
  ) {}

  /** Adds an item; returns its bytes if they now wait in the queue (0 if handed over or dropped). */
  push(item: T): number {
    if (this.cancelled || this.ended) return 0;
    const w = this.waiter;
    if (w) {
      this.waiter = null;
      w.resolve({ value: item, done: false });
      return 0;
    }
    this.items.push(item);
    return this.sizeOf(item);
  }

  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error;
    const w = this.waiter;
    if (!w) return;
    this.waiter = null;
    if (error !== undefined) w.reject(error);
    else w.resolve({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<T>> {
    if (this.head < this.items.length) {
      const item = this.items[this.head]!;
      this.items[this.head++] = undefined as T;
      if (this.head === this.items.length) {
        this.items = [];
        this.head = 0;
      }
      this.taken(this.sizeOf(item));
      return Promise.resolve({ value: item, done: false });
    }
    if (this.ended) return this.error !== undefined ? Promise.reject(this.error) : Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  /** The consumer is gone: what waits is dropped and its bytes released. */
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    let bytes = 0;
    for (let i = this.head; i < this.items.length; i++) bytes += this.sizeOf(this.items[i]!);
    this.items = [];
    this.head = 0;
    if (bytes > 0) this.taken(bytes);
    this.onCancel();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => this.next(),
      return: (): Promise<IteratorResult<T>> => {
        this.cancel();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

/** Where FETCH responses of a command go. */
interface FetchSink {
  pipe: Pipe<WireMessage>;
  /** Literals of BODY[] larger than this stream through; smaller ones come whole. */
  streamAbove: number;
  /**
   * The body last handed out as a stream. A consumer that stops iterating reads it no further,
   * so it is cancelled with the pipe; left open, it would hold the socket paused for good.
   */
  body?: Pipe<Buffer>;
}

interface Pending {
  tag: string;
  command: string;
  resolve: (r: TaggedResult) => void;
  reject: (e: Error) => void;
  search?: number[];
  /** `UID FETCH ... (UID FLAGS)`: the flags of each UID. */
  flags?: Map<number, string[]>;
  /** `UID FETCH ... (UID RFC822.SIZE)`: the size of each UID. */
  sizes?: Map<number, number>;
  fetch?: FetchSink;
  /** IDLE: resolved by the server's continuation request. */
  onContinue?: () => void;
  idle?: boolean;
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

/** The UID of a FETCH response's text so far, or -1. */
function uidIn(text: string): number {
  const at = text.indexOf('UID ');
  if (at < 0) return -1;
  // "UID" must be an item name: preceded by "(" or " ".
  const before = text.charCodeAt(at - 1);
  if (before !== 40 && before !== 32) return -1;
  let v = 0;
  let i = at + 4;
  const start = i;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) break;
    v = v * 10 + (c - 48);
  }
  return i > start ? v : -1;
}

/**
 * The IMAP command loop over a socket. One instance per session; it never reconnects.
 */
export class ImapWire {
  private readonly pending = new Map<string, Pending>();
  /** Settles when the last command asked for has ended: the next one waits for it. */
  private queue: Promise<void> = Promise.resolve();
  private nextTag = 1;
  private closedError: Error | null = null;
  private bye: string | null = null;
  private paused = false;
  /** Bytes handed to consumers' queues and not taken yet. */
  private queued = 0;
  private readonly maxBufferedLiteral: number;
  private readonly maxLine: number;

  // Response assembly.
  private carry: Buffer[] = [];
  private carryLen = 0;
  private text = '';
  private literals: Array<Buffer | LiteralParts> = [];
  private lit: LiteralState | null = null;
  /** The stream a BODY[] literal of the response being read went to, if it streamed. */
  private streamedUid = -1;
  /** Silence so far under the command waiting: the sum of the socket idle timeouts since data last came. */
  private silentMs = 0;
  /** The idle timeout last armed on the socket. */
  private armedMs = 0;

  /** Told of `* n EXISTS` (new mail in the selected mailbox). */
  onExists: ((count: number) => void) | null = null;
  /** Told once when the session ends, with why. */
  onClose: ((err: Error) => void) | null = null;

  constructor(
    private readonly socket: Readable,
    private readonly options: ImapWireOptions,
    private readonly writeSocket: Writable = socket as unknown as Writable,
  ) {
    this.maxBufferedLiteral = options.maxBufferedLiteral ?? DEFAULT_MAX_BUFFERED_LITERAL;
    this.maxLine = options.maxLineBytes ?? DEFAULT_MAX_LINE;
    socket.on('data', (chunk: Buffer) => {
      // Data after a silent tick: the count starts over, on a full tick (the last one may have been short).
      if (this.silentMs !== 0) this.refreshTimer();
      try {
        this.onData(chunk);
      } catch (err) {
        this.fail(err instanceof Error ? err : new Error(String(err)));
      }
    });
    socket.on('error', (err: Error) => this.fail(err));
    socket.on('end', () => this.fail(this.closed('the server closed the connection')));
    socket.on('close', () => this.fail(this.closed('the connection closed')));
    socket.on('timeout', () => this.onSilentTick());
    if ((writeSocket as unknown) !== socket) writeSocket.on('error', (err: Error) => this.fail(err));
    // imapflow's own socket timeout stays set after the hand-over; ours replaces it.
    (socket as { setTimeout?: (ms: number) => void }).setTimeout?.(0);
    // Data that arrived while imapflow handed the socket over waits in its buffer.
    socket.resume();
  }

  /** Whether the session is still usable. */
  get usable(): boolean {
    return this.closedError === null;
  }

  private closed(why: string): ImapConnectionError {
    return new ImapConnectionError('EConnectionClosed', `${why} (${this.options.where})${this.bye ? `: ${this.bye}` : ''}`);
  }

  private front(): Pending | undefined {
    for (const p of this.pending.values()) return p;
    return undefined;
  }

  /**
   * Sends one command once every earlier one has ended, and resolves with its tagged OK; a NO
   * or BAD rejects with {@link ImapCommandError}. `search` collects SEARCH answers, `flags` the
   * FLAGS of FETCH answers, `fetch` routes FETCH bodies.
   *
   * One command at a time: RFC 3501 §5.5 lets a server run pipelined commands concurrently, and
   * Dovecot does (a SEARCH sent behind a NOOP completes first), so neither the order of their
   * effects nor which command an untagged answer belongs to would be certain. A round trip on
   * the drain's few commands per cycle costs far less than that risk.
   */
  run(command: string, opts: { search?: boolean; flags?: boolean; sizes?: boolean; fetch?: FetchSink; idle?: boolean; onContinue?: () => void } = {}): Promise<TaggedResult> {
    const result = this.queue.then(() => this.send(command, opts));
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private send(command: string, opts: { search?: boolean; flags?: boolean; sizes?: boolean; fetch?: FetchSink; idle?: boolean; onContinue?: () => void }): Promise<TaggedResult> {
    if (this.closedError) return Promise.reject(this.closedError);
    const tag = `M${this.nextTag++}`;
    return new Promise<TaggedResult>((resolve, reject) => {
      const p: Pending = { tag, command, resolve, reject };
      if (opts.search) p.search = [];
      if (opts.flags) p.flags = new Map();
      if (opts.sizes) p.sizes = new Map();
      if (opts.fetch) p.fetch = opts.fetch;
      if (opts.idle) p.idle = true;
      if (opts.onContinue) p.onContinue = opts.onContinue;
      this.pending.set(tag, p);
      this.refreshTimer();
      this.writeSocket.write(`${tag} ${command}\r\n`);
    });
  }

  /** Runs commands one after another; the first refusal ends the sequence and is thrown. */
  async sequence(commands: string[]): Promise<TaggedResult[]> {
    const out: TaggedResult[] = [];
    for (const c of commands) out.push(await this.run(c, /^UID SEARCH\b/i.test(c) ? { search: true } : /^UID FETCH .*\bFLAGS\b/i.test(c) ? { flags: true } : {}));
    return out;
  }

  /**
   * `UID FETCH set (UID BODY.PEEK[...])`, yielding each message as it arrives, in the server's
   * order. Bodies above `streamAbove` bytes stream; the consumer must read a streaming body to
   * its end (or stop iterating) before the next message comes. Stopping early lets the rest of
   * the answer pass unread.
   */
  fetch(uidSet: string, opts: { streamAbove: number; partial?: { offset: number; length: number } }): AsyncIterable<WireMessage> {
    const pipe = new Pipe<WireMessage>(
      (m) => (m.parts ? m.size : 0),
      (bytes) => this.release(bytes),
      () => {
        sink.body?.cancel();
        this.release(0);
      },
    );
    const sink: FetchSink = { pipe, streamAbove: opts.streamAbove };
    const section = opts.partial ? `BODY.PEEK[]<${opts.partial.offset}.${opts.partial.length}>` : 'BODY.PEEK[]';
    this.run(`UID FETCH ${uidSet} (UID ${section})`, { fetch: sink }).then(
      () => pipe.end(),
      (err: unknown) => pipe.end(err),
    );
    return pipe;
  }

  /** Starts IDLE; resolves once the server accepted it. `stop` ends it and resolves on its tagged OK. */
  async idle(): Promise<{ stop: () => Promise<void>; done: Promise<TaggedResult> }> {
    let accepted!: () => void;
    const started = new Promise<void>((resolve) => (accepted = resolve));
    const done = this.run('IDLE', { idle: true, onContinue: () => accepted() });
    let settled = false;
    done.then(
      () => (settled = true),
      () => (settled = true),
    );
    // A refusal (or a closed session) settles `done` before any continuation.
    await Promise.race([started, done]);
    let stopped = false;
    return {
      done,
      stop: async () => {
        // After the server ended IDLE itself, a DONE would reach it as a command (answered BAD).
        if (!stopped && !settled && this.usable) {
          stopped = true;
          // Silence after DONE is no longer idling: a server that never answers it must time out.
          for (const p of this.pending.values()) p.idle = false;
          this.refreshTimer();
          this.writeSocket.write('DONE\r\n');
        }
        await done;
      },
    };
  }

  /** LOGOUT within `ms`, then the socket is closed whatever the server did. */
  async logout(ms: number): Promise<void> {
    if (this.usable) {
      const timer = new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
      await Promise.race([this.run('LOGOUT').then(() => undefined, () => undefined), timer]);
    }
    this.destroy();
  }

  /** Closes the socket now. */
  destroy(): void {
    this.fail(this.closed('the session was closed'));
    this.socket.destroy();
    if ((this.writeSocket as unknown) !== this.socket) this.writeSocket.destroy();
  }

  private fail(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    (this.socket as { setTimeout?: (ms: number) => void }).setTimeout?.(0);
    this.lit?.stream?.end(err);
    this.lit = null;
    for (const p of this.pending.values()) {
      p.fetch?.pipe.end(err);
      p.reject(err);
    }
    this.pending.clear();
    this.onClose?.(err);
  }

  /** The silence a command may wait through: the operator's no-data timeout, else the internal limit (0: none). */
  private get silenceLimit(): number {
    return this.options.dataTimeoutMs || this.options.silenceLimitMs || 0;
  }

  /** Arms the socket's idle timeout for the next tick: the next warning or the limit, whichever comes first. */
  private armSilence(ms: number): void {
    this.armedMs = ms;
    (this.socket as { setTimeout?: (ms: number) => void }).setTimeout?.(ms);
  }

  /**
   * The silence timer runs while a command (not IDLE) waits and we are not holding the socket
   * back; it ticks every `warnEveryMs` (a warning) up to the limit (the session is dropped).
   */
  private refreshTimer(): void {
    const limit = this.silenceLimit;
    if (!limit || this.closedError) return;
    let waiting = false;
    for (const p of this.pending.values()) if (!p.idle) waiting = true;
    this.silentMs = 0;
    const warnEvery = this.options.onSilence && this.options.warnEveryMs ? this.options.warnEveryMs : limit;
    this.armSilence(waiting && !this.paused ? Math.min(limit, warnEvery) : 0);
  }

  /** The socket was idle for the armed tick while a command waited. */
  private onSilentTick(): void {
    if (this.closedError || this.armedMs === 0) return;
    this.silentMs += this.armedMs;
    const limit = this.silenceLimit;
    const command = this.front()?.command ?? 'a command';
    if (this.silentMs >= limit) {
      const which = this.options.dataTimeoutMs ? 'dataTimeoutMs' : "mailsluice's internal limit on a silent server (dataTimeoutMs is 0)";
      this.fail(new ImapConnectionError('ETIMEOUT', `nothing arrived from ${this.options.where} for ${this.silentMs} ms while waiting for the answer to ${command} (${which})`));
      return;
    }
    this.options.onSilence?.(this.silentMs, command);
    this.armSilence(Math.min(this.options.warnEveryMs || limit, limit - this.silentMs));
  }

  private hold(bytes: number): void {
    this.queued += bytes;
    if (!this.paused && this.queued > HIGH_WATER) {
      this.paused = true;
      this.socket.pause();
      this.refreshTimer();
    }
  }

  private release(bytes: number): void {
    this.queued = Math.max(0, this.queued - bytes);
    if (this.paused && this.queued < LOW_WATER) {
      this.paused = false;
      this.refreshTimer();
      this.socket.resume();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Reading responses.

  private onData(chunk: Buffer): void {
    const len = chunk.length;
    let pos = 0;
    while (pos < len && !this.closedError) {
      const lit = this.lit;
      if (lit) {
        const take = Math.min(lit.left, len - pos);
        if (lit.stream) {
          this.hold(lit.stream.push(chunk.subarray(pos, pos + take)));
        } else {
          // A chunk that is all literal is kept as it is (each socket read is a buffer of its
          // own); only the edges, shared with other data, are copied. Copying whole literals
          // into one buffer had cost the mixed set's drain ~0.3 s of its main thread.
          lit.parts.push(pos === 0 && take === len && ownsItsMemory(chunk) ? chunk : ownCopy(chunk.subarray(pos, pos + take)));
        }
        pos += take;
        lit.left -= take;
        if (lit.left === 0) {
          this.lit = null;
          if (lit.stream) {
            lit.stream.end();
            this.literals.push(EMPTY);
          } else this.literals.push(lit.parts.length === 1 ? lit.parts[0]! : new LiteralParts(lit.parts, lit.size));
        }
        continue;
      }
      const lf = chunk.indexOf(10, pos);
      if (lf < 0) {
        this.carry.push(chunk.subarray(pos));
        this.carryLen += len - pos;
        if (this.text.length + this.carryLen > this.maxLine) throw new ImapParseError(`${this.options.where} sent a response line longer than ${this.maxLine} bytes`);
        return;
      }
      // The same bound whether the line came in one read or several, and for the text between
      // a response's literals (a response that never ends must not grow without limit).
      if (this.text.length + this.carryLen + (lf - pos) > this.maxLine) throw new ImapParseError(`${this.options.where} sent a response line longer than ${this.maxLine} bytes`);
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
      pos = lf + 1;
      const n = literalSize(line);
      if (n < 0) {
        const text = this.text === '' ? line : this.text + line;
        const literals = this.literals;
        this.text = '';
        this.literals = [];
        this.onResponse(text, literals);
        continue;
      }
      // The line ends in {n}: n bytes of literal follow.
      const head = line.slice(0, line.lastIndexOf('{')).replace(/~$/, '');
      this.text += head + LITERAL_MARK;
      const stream = this.streamTarget(this.text, n);
      if (stream) {
        this.lit = { left: n, size: n, parts: [], stream };
      } else if (n === 0) {
        this.literals.push(EMPTY);
      } else if (n > this.maxBufferedLiteral) {
        throw new ImapParseError(`${this.options.where} announced a literal of ${n} bytes, over the ${this.maxBufferedLiteral} a response may hold`);
      } else if (pos + n <= len) {
        // Wholly in this chunk: a view, no copy (the chunk is the socket's own, fresh per read).
        this.literals.push(chunk.subarray(pos, pos + n));
        pos += n;
      } else {
        this.lit = { left: n, size: n, parts: [], stream: null };
      }
    }
  }

  /**
   * Whether the literal that starts now is a FETCH body to stream to the consumer (larger than
   * the command's `streamAbove`, its UID already read): returns the stream, after handing the
   * message to the consumer.
   */
  private streamTarget(textSoFar: string, size: number): Pipe<Buffer> | null {
    if (!textSoFar.startsWith('* ')) return null;
    const sink = this.front()?.fetch;
    if (!sink || size <= sink.streamAbove || !/^\* \d+ FETCH \(/i.test(textSoFar)) return null;
    const before = textSoFar.slice(0, -1);
    const item = /(?:^|[ (])(BODY\[\](?:<(\d+)>)?) $/i.exec(before);
    if (!item) return null;
    const uid = uidIn(before);
    // A server that sends the body before the UID gets it buffered: the consumer needs the UID first.
    if (uid < 0) return null;
    const stream = new Pipe<Buffer>(
      (b) => b.length,
      (bytes) => this.release(bytes),
      () => this.release(0),
    );
    this.streamedUid = uid;
    const offset = item[2] !== undefined ? Number(item[2]) : undefined;
    this.hold(sink.pipe.push({ uid, stream, size, ...(offset !== undefined ? { offset } : {}) }));
    sink.body = stream;
    // The consumer stopped iterating before this body came: no one will read it.
    if (sink.pipe.cancelled) stream.cancel();
    return stream;
  }

  private onResponse(text: string, literals: Array<Buffer | LiteralParts>): void {
    const c0 = text.charCodeAt(0);
    if (c0 === 42 && text.charCodeAt(1) === 32) {
      this.onUntagged(text.slice(2), literals);
      return;
    }
    if (c0 === 43) {
      // "+": a continuation request; only IDLE asks for one here.
      const p = this.front();
      if (p?.onContinue) {
        const f = p.onContinue;
        delete p.onContinue;
        f();
        return;
      }
      throw new ImapParseError(`${this.options.where} sent an unexpected continuation request: ${JSON.stringify(text.slice(0, 120))}`);
    }
    const sp = text.indexOf(' ');
    const tag = sp < 0 ? text : text.slice(0, sp);
    const p = this.pending.get(tag);
    const status = sp < 0 ? null : parseStatus(text.slice(sp + 1));
    if (!p || !status) throw new ImapParseError(`${this.options.where} sent an unexpected response: ${JSON.stringify(text.slice(0, 120))}`);
    this.pending.delete(tag);
    this.refreshTimer();
    if (status.status === 'OK') p.resolve({ status, ...(p.search ? { search: p.search } : {}), ...(p.flags ? { flags: p.flags } : {}), ...(p.sizes ? { sizes: p.sizes } : {}) });
    else p.reject(new ImapCommandError(p.command, status));
  }

  private onUntagged(rest: string, literals: Array<Buffer | LiteralParts>): void {
    const c0 = rest.charCodeAt(0);
    if (c0 >= 48 && c0 <= 57) {
      const sp = rest.indexOf(' ');
      const num = Number(rest.slice(0, sp));
      const sp2 = rest.indexOf(' ', sp + 1);
      const kind = (sp2 < 0 ? rest.slice(sp + 1) : rest.slice(sp + 1, sp2)).toUpperCase();
      if (kind === 'FETCH') this.onFetch(rest.slice(sp2 + 1), literals);
      else if (kind === 'EXISTS') this.onExists?.(num);
      // EXPUNGE, RECENT: the drain addresses messages by UID, so sequence numbers do not matter.
      return;
    }
    const sp = rest.indexOf(' ');
    const kind = (sp < 0 ? rest : rest.slice(0, sp)).toUpperCase();
    if (kind === 'SEARCH') {
      const p = this.front();
      if (p?.search) for (const n of parseSearchNumbers(sp < 0 ? '' : rest.slice(sp + 1))) p.search.push(n);
    } else if (kind === 'ESEARCH') {
      this.onEsearch(tokenize(sp < 0 ? '' : rest.slice(sp + 1), literals));
    } else if (kind === 'BYE') {
      this.bye = parseStatus(rest)?.text ?? rest;
    }
    // OK/NO/BAD notices, FLAGS, CAPABILITY and anything else: nothing the drain acts on.
  }

  /** `* ESEARCH (TAG "M3") UID ALL 1:5,9`: the results of the tagged command (RFC 4731). */
  private onEsearch(tokens: ImapToken[]): void {
    const corr = tokens[0];
    let p: Pending | undefined;
    if (Array.isArray(corr) && String(corr[0]).toUpperCase() === 'TAG') {
      const t = corr[1];
      p = this.pending.get(typeof t === 'object' && t !== null && 'quoted' in t ? t.quoted : String(t));
    } else p = this.front();
    if (!p?.search) return;
    for (let i = 0; i < tokens.length - 1; i++) {
      if (typeof tokens[i] === 'string' && (tokens[i] as string).toUpperCase() === 'ALL') {
        for (const n of expandSequenceSet(String(tokens[i + 1]))) p.search.push(n);
      }
    }
  }

  private onFetch(listText: string, literals: Array<Buffer | LiteralParts>): void {
    const streamed = this.streamedUid;
    this.streamedUid = -1;
    const front = this.front();
    const sink = front?.fetch;
    if (!sink && !front?.flags && !front?.sizes) return; // flag changes of other clients, unasked
    const tokens = tokenize(listText, literals);
    const list = tokens[0];
    if (!Array.isArray(list)) throw new ImapParseError(`${this.options.where} sent a FETCH response without its list: ${JSON.stringify(listText.slice(0, 120))}`);
    let uid = -1;
    let body: Buffer[] | null = null;
    let size = 0;
    let offset: number | undefined;
    let flags: string[] | null = null;
    let rfc822Size = -1;
    for (let i = 0; i + 1 < list.length; i += 2) {
      const name = list[i];
      if (typeof name !== 'string') continue;
      const upper = name.toUpperCase();
      const value = list[i + 1]!;
      if (upper === 'UID') uid = Number(value);
      else if (upper === 'FLAGS' && Array.isArray(value)) flags = value.filter((f): f is string => typeof f === 'string');
      else if (upper === 'RFC822.SIZE') rfc822Size = Number(value);
      else if (upper.startsWith('BODY[]')) {
        const m = /^BODY\[\](?:<(\d+)>)?$/.exec(upper);
        if (!m) continue;
        if (m[1] !== undefined) offset = Number(m[1]);
        if (Buffer.isBuffer(value)) [body, size] = [[value], value.length];
        else if (value instanceof LiteralParts) [body, size] = [value.parts, value.length];
        else if (typeof value === 'object' && !Array.isArray(value)) {
          const b = Buffer.from(value.quoted, 'latin1');
          [body, size] = [[b], b.length];
        }
        // NIL: Dovecot's answer for a message another session expunged meanwhile (no body: skipped).
      }
    }
    if (front?.flags && flags && Number.isInteger(uid) && uid > 0) front.flags.set(uid, flags);
    if (front?.sizes && Number.isSafeInteger(rfc822Size) && rfc822Size >= 0 && Number.isInteger(uid) && uid > 0) front.sizes.set(uid, rfc822Size);
    if (!sink || streamed >= 0 || body === null) return; // streamed already, or a FETCH of flags only
    if (!Number.isInteger(uid) || uid <= 0) throw new ImapParseError(`${this.options.where} sent a FETCH body without a UID`);
    this.hold(sink.pipe.push({ uid, parts: body, size, ...(offset !== undefined ? { offset } : {}) }));
  }
}

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

/**
 * A mailbox name as an IMAP astring, in modified UTF-7 (RFC 3501 §5.1.3): printable ASCII
 * as is (`&` as `&-`), anything else as `&<base64 of UTF-16BE with "," for "/">-`.
 */
export function quoteMailbox(name: string): string {
  if (/[\r\n\0]/.test(name)) throw new ImapParseError(`a mailbox name cannot hold CR, LF or NUL: ${JSON.stringify(name)}`);
  let out = '';
  let i = 0;
  while (i < name.length) {
    const c = name.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e) {
      out += c === 0x26 ? '&-' : name[i];
      i++;
      continue;
    }
    let j = i;
    while (j < name.length && !(name.charCodeAt(j) >= 0x20 && name.charCodeAt(j) <= 0x7e)) j++;
    const utf16 = Buffer.alloc((j - i) * 2);
    for (let k = i; k < j; k++) utf16.writeUInt16BE(name.charCodeAt(k), (k - i) * 2);
    out += `&${utf16.toString('base64').replace(/=+$/, '').replace(/\//g, ',')}-`;
    i = j;
  }
  // An atom when it can be one (as imapflow writes it), else a quoted string (RFC 3501 astring).
  if (/^[^\s(){%*"\\\]\x00-\x1f\x7f]+$/.test(out)) return out;
  return `"${out.replace(/[\\"]/g, '\\$&')}"`;
}

/** A flag list for STORE, refusing anything that is not a flag atom (it would change the command). */
export function flagList(flags: readonly string[]): string {
  for (const f of flags) {
    if (!/^\\?[^\s()"\\{\]%*\x00-\x1f\x7f]+$/.test(f)) throw new ImapParseError(`not an IMAP flag: ${JSON.stringify(f)}`);
  }
  return `(${flags.join(' ')})`;
}
