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
 *
 * This file is the command loop; the bytes become responses in imap-response-reader.ts, FETCH
 * answers are read in imap-fetch-response.ts, bodies reach their consumer through imap-pipe.ts,
 * and the no-data timeout is imap-silence.ts.
 */
import type { Readable, Writable } from 'node:stream';
import { ImapParseError, LiteralParts, expandSequenceSet, parseSearchNumbers, parseStatus, tokenize, type ImapStatus, type ImapToken } from './imap-response.js';
import { ImapCommandError, ImapConnectionError } from './imap-wire-errors.js';
import { Pipe } from './imap-pipe.js';
import { ResponseReader } from './imap-response-reader.js';
import { parseFetchItems, streamableBody } from './imap-fetch-response.js';
import { SilenceWatch } from './imap-silence.js';

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
  /** Lines and literals, assembled into responses. */
  private readonly reader: ResponseReader;
  /** The no-data timeout. */
  private readonly silence: SilenceWatch;
  /** The stream a BODY[] literal of the response being read went to, if it streamed. */
  private streamedUid = -1;

  /** Told of `* n EXISTS` (new mail in the selected mailbox). */
  onExists: ((count: number) => void) | null = null;
  /** Told once when the session ends, with why. */
  onClose: ((err: Error) => void) | null = null;

  constructor(
    private readonly socket: Readable,
    private readonly options: ImapWireOptions,
    private readonly writeSocket: Writable = socket as unknown as Writable,
  ) {
    this.reader = new ResponseReader(options.where, options.maxLineBytes ?? DEFAULT_MAX_LINE, options.maxBufferedLiteral ?? DEFAULT_MAX_BUFFERED_LITERAL, {
      response: (text, literals) => this.onResponse(text, literals),
      streamTo: (textSoFar, size) => this.streamTarget(textSoFar, size),
      hold: (bytes) => this.hold(bytes),
      ended: () => this.closedError !== null,
    });
    this.silence = new SilenceWatch(socket, options, (err) => this.fail(err));
    socket.on('data', (chunk: Buffer) => {
      // Data after a silent tick: the count starts over, on a full tick (the last one may have been short).
      if (this.silence.counting) this.refreshTimer();
      try {
        this.reader.push(chunk);
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
    this.reader.abort(err);
    for (const p of this.pending.values()) {
      p.fetch?.pipe.end(err);
      p.reject(err);
    }
    this.pending.clear();
    this.onClose?.(err);
  }

  /** Starts the silence count over: it runs while a command (not IDLE) waits and the socket is not held back. */
  private refreshTimer(): void {
    if (!this.silence.limit || this.closedError) return;
    let waiting = false;
    for (const p of this.pending.values()) if (!p.idle) waiting = true;
    this.silence.restart(waiting && !this.paused);
  }

  /** The socket was idle for the armed tick while a command waited. */
  private onSilentTick(): void {
    if (this.closedError) return;
    this.silence.tick(this.front()?.command ?? 'a command');
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

  /**
   * Whether the literal that starts now is a FETCH body to stream to the consumer (larger than
   * the command's `streamAbove`, its UID already read): returns the stream, after handing the
   * message to the consumer.
   */
  private streamTarget(textSoFar: string, size: number): Pipe<Buffer> | null {
    if (!textSoFar.startsWith('* ')) return null;
    const sink = this.front()?.fetch;
    if (!sink || size <= sink.streamAbove) return null;
    const body = streamableBody(textSoFar);
    if (!body) return null;
    const stream = new Pipe<Buffer>(
      (b) => b.length,
      (bytes) => this.release(bytes),
      () => this.release(0),
    );
    this.streamedUid = body.uid;
    this.hold(sink.pipe.push({ uid: body.uid, stream, size, ...(body.offset !== undefined ? { offset: body.offset } : {}) }));
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
    const { uid, body, size, offset, flags, rfc822Size } = parseFetchItems(listText, literals, this.options.where);
    if (front?.flags && flags && Number.isInteger(uid) && uid > 0) front.flags.set(uid, flags);
    if (front?.sizes && Number.isSafeInteger(rfc822Size) && rfc822Size >= 0 && Number.isInteger(uid) && uid > 0) front.sizes.set(uid, rfc822Size);
    if (!sink || streamed >= 0 || body === null) return; // streamed already, or a FETCH of flags only
    if (!Number.isInteger(uid) || uid <= 0) throw new ImapParseError(`${this.options.where} sent a FETCH body without a UID`);
    this.hold(sink.pipe.push({ uid, parts: body, size, ...(offset !== undefined ? { offset } : {}) }));
  }
}
