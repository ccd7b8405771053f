/**
 * The byte level of a POP3 session (RFC 1939): pulls bytes off the socket, splits lines under a
 * length limit, parses status lines and multi-line answers, dot-unstuffs message bodies, and
 * bounds every wait with the connect deadline, the no-data timeout and the silence warnings.
 *
 * Reading is pull-based: the socket stays in paused mode and bytes are taken with `read()` only
 * when a response is being parsed or the consumer of a RETR body asks for more. So a slow
 * consumer leaves the data in the kernel (TCP flow control) rather than in our memory, and the
 * no-data timeout only runs while we actually wait on the server, never while the consumer works.
 */
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { MailsluiceError } from '../../core/errors/index.js';
import { mapPop3Error, pop3Closed, pop3LineTooLong, pop3NotAStatus, pop3Silent, type Pop3ErrorContext, type Pop3Phase } from './pop3-error-map.js';
import { POP3_LIMITS, type Pop3Silence } from './pop3-source-config.js';

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;
const NL_DOT = Buffer.from('\n.', 'latin1');

/**
 * Decodes a dot-stuffed multi-line body (RFC 1939 §3) incrementally, chunk by chunk: a line
 * starting with "." loses that dot, and a line that is exactly "." ends the body. It scans with
 * `indexOf("\n.")`, so a body with no line starting with a dot passes through as zero-copy
 * slices of the input. Exported for tests.
 */
export class DotDecoder {
  private atLineStart = true;
  /** The last bytes of a chunk that could not be classified yet ("." or ".\r" at a line start). */
  private carry: Buffer | null = null;

  /**
   * Decodes one chunk, handing body bytes to `emit` (slices of the input: do not keep `input`
   * for reuse). Returns the bytes after the terminating line once it has been seen (possibly
   * empty), or null when the body continues in the next chunk.
   */
  feed(input: Buffer, emit: (part: Buffer) => void): Buffer | null {
    let c = input;
    if (this.carry) {
      c = Buffer.concat([this.carry, input]);
      this.carry = null;
    }
    const n = c.length;
    let seg = 0;
    let p = 0;
    for (;;) {
      if (this.atLineStart) {
        if (p >= n) break;
        if (c[p] === DOT) {
          const b1 = c[p + 1];
          if (b1 === undefined || (b1 === CR && p + 2 >= n)) {
            if (p > seg) emit(c.subarray(seg, p));
            // A copy: these one or two bytes outlive the chunk they came in.
            this.carry = Buffer.from(c.subarray(p));
            return null;
          }
          if (b1 === LF || (b1 === CR && c[p + 2] === LF)) {
            if (p > seg) emit(c.subarray(seg, p));
            return c.subarray(p + (b1 === LF ? 2 : 3));
          }
          if (p > seg) emit(c.subarray(seg, p));
          seg = p + 1;
        }
        this.atLineStart = false;
      }
      const i = c.indexOf(NL_DOT, p);
      if (i < 0) break;
      p = i + 1;
      this.atLineStart = true;
    }
    if (n > seg) emit(c.subarray(seg));
    if (n > 0) this.atLineStart = c[n - 1] === LF;
    return null;
  }
}

/** The parts of a status line: `+OK text` or `-ERR text`. */
export interface Pop3Status {
  ok: boolean;
  text: string;
}

/** An extra deadline on waits, e.g. the connect timeout while the greeting is awaited. */
export interface Pop3Deadline {
  /** When it runs out, in `Date.now()` terms. */
  at: number;
  error: (what: string) => MailsluiceError;
}

interface DataWaiter {
  resolve: (chunk: Buffer) => void;
  reject: (err: MailsluiceError) => void;
}

/** What the timer does when the current wait's next bound comes. */
type Due = 'deadline' | 'warn' | 'limit';

/**
 * The socket side of a session: pulls bytes, splits lines under a length limit, applies the
 * timeouts, and turns every socket error or close into one {@link MailsluiceError} that every
 * later read or command sees (`failure`).
 *
 * The timeouts cost nothing per read: a wait records when it began, and one timer, armed when a
 * wait needs it and left running across waits, compares the time with the current wait's bounds
 * when it fires (re-arming itself for what is left). A RETR drains in thousands of reads, and a
 * setTimeout/clearTimeout pair on each had cost measurable throughput.
 */
export class Pop3Wire {
  private sock: net.Socket | null = null;
  /** Bytes taken from the socket but not consumed yet (the rest of a chunk after a line). */
  private pending: Buffer | null = null;
  private waiter: DataWaiter | null = null;
  private eventReject: ((err: MailsluiceError) => void) | null = null;
  /** Set once; the session is unusable from then on. */
  failure: MailsluiceError | null = null;
  /** Decides how a socket error is named (a reset during the handshake is a TLS failure). */
  phase: Pop3Phase = 'connect';
  deadline: Pop3Deadline | null = null;
  /** What the current wait is for ('' when none), to name it when the server hangs up or goes silent. */
  private waitingFor = '';
  /** When the current wait began (`performance.now()`). */
  private waitSince = 0;
  /** Whether the current wait is bounded by the no-data timeout / silence limit (else only by the deadline). */
  private waitUsesDataTimeout = false;
  /** Silence of the current wait already told to `onSilence` (whole `warnEveryMs` steps). */
  private silenceTold = 0;
  private timer: NodeJS.Timeout | null = null;
  /** When the armed timer fires (`performance.now()`). */
  private timerAt = 0;
  /** Set by {@link untilDue}: which bound is next. */
  private due: Due = 'limit';
  /** Set by {@link untilDue}: the length of the step a `warn` accounts for. */
  private dueStep = 0;

  constructor(
    private readonly ctx: Pop3ErrorContext,
    private readonly dataTimeoutMs: number,
    private readonly silence: Pop3Silence | undefined = undefined,
  ) {}

  private readonly onReadable = (): void => {
    const w = this.waiter;
    if (!w || !this.sock) return;
    const chunk = this.sock.read() as Buffer | null;
    if (chunk === null) return;
    this.waiter = null;
    this.waitingFor = '';
    w.resolve(chunk);
  };

  private readonly onEnd = (): void => {
    this.fail(pop3Closed(this.ctx, this.waitingFor));
  };

  private readonly onError = (err: Error): void => {
    this.fail(mapPop3Error(err, this.ctx, this.phase));
  };

  /** Takes `sock` as the session's socket (or destroys it when the session failed already). */
  attach(sock: net.Socket): void {
    this.sock = sock;
    if (this.failure) {
      // Failed (e.g. aborted) before this socket existed: it must not stay open behind our back.
      sock.on('error', () => undefined);
      sock.destroy();
      return;
    }
    sock.on('readable', this.onReadable);
    sock.on('end', this.onEnd);
    sock.on('close', this.onEnd);
    sock.on('error', this.onError);
  }

  /** Hands the socket over (to be wrapped in TLS); nothing may be left unread. */
  detach(): net.Socket {
    const sock = this.sock;
    if (!sock) throw new MailsluiceError('INTERNAL', 'Pop3Client: no socket to detach');
    sock.off('readable', this.onReadable);
    sock.off('end', this.onEnd);
    sock.off('close', this.onEnd);
    sock.off('error', this.onError);
    // Errors of the raw socket surface through the TLS socket wrapped around it; this only keeps
    // a late one from becoming an uncaught exception.
    sock.on('error', () => undefined);
    this.sock = null;
    return sock;
  }

  /** The socket in use, if any. */
  get socket(): net.Socket | null {
    return this.sock;
  }

  /** Whether bytes were received that nothing has read yet. */
  hasPending(): boolean {
    return this.pending !== null || (this.sock?.readableLength ?? 0) > 0;
  }

  /** Sends `data` (commands are ASCII, credentials UTF-8). */
  write(data: string): void {
    this.sock?.write(data);
  }

  /** Marks the session failed (first failure wins), destroys the socket, rejects any wait. */
  fail(err: MailsluiceError): MailsluiceError {
    if (this.failure) return this.failure;
    this.failure = err;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    // `pending` is kept: bytes already received (a last answer sent just before a hang-up) stay
    // readable by the parse in progress; new commands are refused by the failure anyway.
    this.sock?.destroy();
    const w = this.waiter;
    this.waiter = null;
    w?.reject(err);
    const r = this.eventReject;
    this.eventReject = null;
    r?.(err);
    return err;
  }

  // -------------------------------------------------------------------------------------------
  // The bounds on a wait.

  /** The silence a wait under the no-data timeout may last: the operator's, else the internal bound (0: none). */
  private get silenceLimit(): number {
    return this.dataTimeoutMs || this.silence?.limitMs || 0;
  }

  /**
   * Milliseconds from `now` until the current wait's next bound (Infinity: none), setting
   * {@link due} to which: the deadline, a silence warning every `warnEveryMs`, or the no-data
   * limit. A warning falling on the limit gives way to it; the limit or a warning falling on the
   * deadline goes first.
   */
  private untilDue(now: number): number {
    let step = 0;
    this.due = 'limit';
    if (this.waitUsesDataTimeout) {
      const limit = this.silenceLimit;
      step = limit > 0 ? limit - this.silenceTold : 0;
      const warnEvery = this.silence?.onSilence ? this.silence.warnEveryMs : 0;
      if (warnEvery > 0 && (step === 0 || warnEvery < step)) {
        step = warnEvery;
        this.due = 'warn';
      }
    }
    this.dueStep = step;
    let left = step > 0 ? this.waitSince + this.silenceTold + step - now : Infinity;
    if (this.deadline) {
      const toDeadline = this.deadline.at - Date.now();
      if (toDeadline < left) {
        left = toDeadline;
        this.due = 'deadline';
      }
    }
    return left;
  }

  /** Makes sure the timer fires within `left` ms (an earlier timer is left alone: it re-checks). */
  private armWithin(left: number, now: number): void {
    if (left === Infinity) return;
    const at = now + left;
    if (this.timer) {
      if (this.timerAt <= at) return;
      clearTimeout(this.timer);
    }
    this.timerAt = at;
    this.timer = setTimeout(this.onTimer, Math.min(POP3_LIMITS.maxTimerMs, Math.max(1, Math.ceil(left))));
  }

  /** Starts a wait for `what`, bounded by the deadline and, with `useDataTimeout`, the no-data timeout and warnings. */
  private beginWait(what: string, useDataTimeout: boolean): void {
    const now = performance.now();
    this.waitingFor = what;
    this.waitSince = now;
    this.waitUsesDataTimeout = useDataTimeout;
    this.silenceTold = 0;
    this.armWithin(this.untilDue(now), now);
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    const what = this.waitingFor;
    // No wait now (the one it was armed for got its data): nothing to bound until the next.
    if (!what || this.failure) return;
    const now = performance.now();
    const left = this.untilDue(now);
    if (left > 0) {
      this.armWithin(left, now);
      return;
    }
    if (this.due === 'deadline') {
      this.fail(this.deadline!.error(what));
      return;
    }
    if (this.due === 'warn') {
      this.silenceTold += this.dueStep;
      this.silence!.onSilence!(this.silenceTold, what);
      if (this.failure) return;
      const then = performance.now();
      this.armWithin(this.untilDue(then), then);
      return;
    }
    this.fail(pop3Silent(this.ctx, this.silenceLimit, what, this.dataTimeoutMs > 0));
  };

  // -------------------------------------------------------------------------------------------
  // Bytes and lines.

  /** Waits for a socket event ('connect', 'secureConnect') under the timeouts. */
  waitEvent(event: string, what: string, useDataTimeout: boolean): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const sock = this.sock;
    if (!sock) return Promise.reject(new MailsluiceError('INTERNAL', 'Pop3Client: no socket'));
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        this.eventReject = null;
        this.waitingFor = '';
        resolve();
      };
      sock.once(event, done);
      this.eventReject = (err) => {
        sock.off(event, done);
        reject(err);
      };
      this.beginWait(what, useDataTimeout);
    });
  }

  /** Bytes already available without waiting, or null. */
  take(): Buffer | null {
    const p = this.pending;
    if (p) {
      this.pending = null;
      return p;
    }
    if (this.failure || !this.sock) return null;
    return this.sock.read() as Buffer | null;
  }

  /** Gives back bytes that belong to what follows. */
  unread(rest: Buffer): void {
    if (rest.length === 0) return;
    this.pending = this.pending ? Buffer.concat([rest, this.pending]) : rest;
  }

  /** The next bytes from the server, waiting (under the timeouts) when there are none yet. */
  chunk(what: string): Promise<Buffer> {
    const ready = this.take();
    if (ready) return Promise.resolve(ready);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<Buffer>((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.beginWait(what, true);
    });
  }

  /** One complete line already buffered, or null; see {@link line}. */
  tryLine(): string | null {
    const p = this.pending;
    if (!p) return null;
    const nl = p.indexOf(LF);
    if (nl < 0) return null;
    if (nl > POP3_LIMITS.maxLineBytes) throw this.tooLong();
    this.pending = nl + 1 < p.length ? p.subarray(nl + 1) : null;
    return p.toString('latin1', 0, nl > 0 && p[nl - 1] === CR ? nl - 1 : nl);
  }

  /**
   * The next line without its line break (CRLF, or a bare LF from a sloppy server), decoded as
   * latin1 so every byte survives. Longer than {@link POP3_LIMITS.maxLineBytes}: SOURCE_PROTOCOL.
   */
  async line(what: string): Promise<string> {
    const ready = this.tryLine();
    if (ready !== null) return ready;
    const parts: Buffer[] = [];
    let size = 0;
    if (this.pending) {
      parts.push(this.pending);
      size = this.pending.length;
      this.pending = null;
    }
    for (;;) {
      const c = await this.chunk(what);
      const nl = c.indexOf(LF);
      if (nl < 0) {
        parts.push(c);
        size += c.length;
        if (size > POP3_LIMITS.maxLineBytes) throw this.tooLong();
        continue;
      }
      if (size + nl > POP3_LIMITS.maxLineBytes) throw this.tooLong();
      parts.push(c.subarray(0, nl));
      if (nl + 1 < c.length) this.pending = c.subarray(nl + 1);
      const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      const end = all.length > 0 && all[all.length - 1] === CR ? all.length - 1 : all.length;
      return all.toString('latin1', 0, end);
    }
  }

  private tooLong(): MailsluiceError {
    return this.fail(pop3LineTooLong(this.ctx, POP3_LIMITS.maxLineBytes));
  }

  // -------------------------------------------------------------------------------------------
  // Answers.

  /**
   * Parses a status line strictly: `+OK` or `-ERR`, alone or followed by a space. Anything else
   * leaves the session in an unknown state, so it fails the connection.
   */
  parseStatus(line: string, label: string): Pop3Status {
    if (line.startsWith('+OK') && (line.length === 3 || line[3] === ' ')) return { ok: true, text: line.slice(4) };
    if (line.startsWith('-ERR') && (line.length === 4 || line[4] === ' ')) return { ok: false, text: line.slice(5) };
    throw this.fail(pop3NotAStatus(this.ctx, label, line));
  }

  /** The status line answering `label`. */
  async status(label: string): Promise<Pop3Status> {
    const line = this.tryLine() ?? (await this.line(`the answer to ${label}`));
    return this.parseStatus(line, label);
  }

  /** The lines of a multi-line response up to the terminating ".", dot-unstuffed. */
  async multiline(what: string): Promise<string[]> {
    const out: string[] = [];
    for (;;) {
      const line = this.tryLine() ?? (await this.line(what));
      if (line === '.') return out;
      out.push(line.startsWith('.') ? line.slice(1) : line);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Message bodies (after RETR's +OK).

  /** Feeds `decoder` until the body ends; returns the bytes after its terminating line. */
  private async toEnd(decoder: DotDecoder, what: string, emit: (part: Buffer) => void): Promise<Buffer> {
    for (;;) {
      const rest = decoder.feed(this.take() ?? (await this.chunk(what)), emit);
      if (rest !== null) return rest;
    }
  }

  /**
   * Reads message `msgno`'s body whole, dot-unstuffed, leaving what follows it for the next
   * answer; `keep` false discards it (and returns null).
   */
  async body(msgno: number, keep: boolean): Promise<Buffer | null> {
    const parts: Buffer[] = [];
    let size = 0;
    const emit = keep
      ? (part: Buffer): void => {
          parts.push(part);
          size += part.length;
        }
      : (): void => undefined;
    this.unread(await this.toEnd(new DotDecoder(), `the rest of message ${msgno} (RETR)`, emit));
    return keep ? (parts.length === 1 ? parts[0]! : Buffer.concat(parts, size)) : null;
  }

  /**
   * Streams message `msgno`'s body, dot-unstuffed, in pieces of about
   * {@link POP3_LIMITS.yieldBytes}, reading from the socket only as fast as they are consumed.
   * Stopping early (break) reads and discards the rest, so the next answer is read as its own.
   */
  async *bodyStream(msgno: number): AsyncGenerator<Uint8Array, void, undefined> {
    const decoder = new DotDecoder();
    let complete = false;
    try {
      const what = `the rest of message ${msgno} (RETR)`;
      const parts: Buffer[] = [];
      let size = 0;
      const emit = (part: Buffer): void => {
        parts.push(part);
        size += part.length;
      };
      for (;;) {
        const rest = decoder.feed(this.take() ?? (await this.chunk(what)), emit);
        if (rest !== null) {
          complete = true;
          this.unread(rest);
          break;
        }
        if (size >= POP3_LIMITS.yieldBytes) {
          const out = parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
          parts.length = 0;
          size = 0;
          yield out;
        }
      }
      if (size > 0) yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
    } finally {
      if (!complete && !this.failure) {
        // The consumer stopped early: discard the rest so the next command reads its own answer.
        // A failure here has already failed the session, which is all the next command needs.
        try {
          await this.toEnd(decoder, `the rest of message ${msgno} (RETR, discarded)`, () => undefined);
        } catch {
          // the session is failed; the next command reports it
        }
      }
    }
  }
}
