/**
 * HTTP/1.1 requests pipelined on one connection (RFC 9112 §9.3.2), for the webhook action: the
 * requests of one route go out in the order they were reserved, on one connection, so the
 * receiver reads them in mailbox order, while up to `window` of them are on their way at once.
 * Strictly one at a time, a route ran at one round trip per message; on this 2-core VM, with the
 * index stage busy, a round trip took ~1.5 ms where its CPU was ~0.2 ms (docs/benchmark.md).
 *
 * What it does and does not do:
 * - Requests are written in reservation order. A reservation can be filled later (the body may
 *   wait for an attachment read) and holds back the ones reserved after it until then.
 * - Answers are matched to requests by order, as HTTP/1.1 requires. 1xx answers are skipped;
 *   bodies framed by Content-Length, chunked, or (no framing) the end of the connection. Of a non-
 *   2xx body the first `maxBodyChars` are kept for the error sentence; 2xx bodies are dropped.
 * - An answer with `Connection: close` (or an HTTP/1.0 answer without keep-alive) ends the
 *   connection after it; requests already written behind it were not processed (the server must
 *   not, RFC 9112 §9.6), so they are written again, in order, on a new connection, and from then
 *   on this pipeline sends one request at a time (the server does not keep connections).
 * - Time limits count the receiver's progress, not the queue: a request's `timeoutMs` runs from
 *   when it is the oldest unanswered one on the connection (a server that handles pipelined
 *   requests one after another is not blamed for the wait behind slow ones), and from the start
 *   of a connection attempt for the request that opened it.
 * - A connection that breaks or a time limit that passes fails every request written on it and not
 *   answered: whether the server processed them is unknown, so they are failed attempts retried
 *   later under the same idempotency key (at least once).
 * - No redirects, no proxies, no request bodies streamed: a webhook body is built whole.
 */
import net from 'node:net';
import tls from 'node:tls';

/** Where the requests go. */
export interface PipelineTarget {
  tls: boolean;
  host: string;
  port: number;
  /** With `tls`: verification (default on), CA(s) to trust instead of the system's, name to verify. */
  verify?: boolean;
  ca?: string | undefined;
  servername?: string | undefined;
}

/** The receiver's answer to one request. */
export interface PipelineAnswer {
  status: number;
  retryAfter: string | null;
  /** The start of a non-2xx body (empty for 2xx). */
  text: string;
}

/** Why a request got no answer; `cause` holds the socket's error when there was one. */
export class PipelineError extends Error {
  constructor(
    readonly why: 'timeout' | 'stopped' | 'network' | 'protocol',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Options of {@link HttpPipeline}. */
export interface PipelineOptions {
  /** Requests written and not yet answered, at most. 1: one at a time. */
  window: number;
  /** Of a non-2xx body, this much text is kept. */
  maxBodyChars: number;
}

/** A reserved place in the send order. */
export interface PipelineSlot {
  /**
   * Sends `bytes` (a whole request, or its pieces in order: head and body need no copy into one
   * buffer) in this slot's turn; resolves with its answer, or rejects
   * after `timeoutMs` without progress (see the module comment); `stop` aborts the request (and,
   * being on the wire, its connection).
   */
  send(bytes: Buffer | readonly Buffer[], timeoutMs: number, stop: AbortSignal): Promise<PipelineAnswer>;
  /** Gives the slot up without sending (the body could not be built). */
  cancel(): void;
}

/** Longest answer head accepted. */
const MAX_HEAD_BYTES = 64 * 1024;

interface Request {
  bytes: Buffer | readonly Buffer[] | null;
  cancelled: boolean;
  resolve: (a: PipelineAnswer) => void;
  reject: (e: PipelineError) => void;
  timeoutMs: number;
  stop: AbortSignal | null;
  onStop: (() => void) | null;
  settled: boolean;
}

/** The answer being read. */
interface Reading {
  status: number;
  retryAfter: string | null;
  close: boolean;
  /** Body framing: bytes left (`length`), chunked state, or until the connection ends. */
  mode: 'length' | 'chunked' | 'eof';
  left: number;
  /** Chunked: waiting for a size line, inside a chunk's data (+ CRLF), or in the trailers. */
  chunk: 'size' | 'data' | 'trailer';
  keep: Buffer[];
  kept: number;
}

/** One target's pipeline; see the module comment. */
export class HttpPipeline {
  readonly #target: PipelineTarget;
  readonly #options: PipelineOptions;
  /** Reserved, not written yet, in order. */
  readonly #waiting: Request[] = [];
  /** Written on the current connection, not answered yet, in order. */
  readonly #inFlight: Request[] = [];
  #socket: net.Socket | null = null;
  #connected = false;
  #buffer: Buffer = Buffer.alloc(0);
  #reading: Reading | null = null;
  /** The server closes after each answer: one request at a time from then on. */
  #oneAtATime = false;
  #closed = false;
  /** The time limit of the oldest unanswered request, or of the connection attempt. */
  #timer: NodeJS.Timeout | null = null;
  #timed: Request | null = null;

  constructor(target: PipelineTarget, options: PipelineOptions) {
    this.#target = target;
    this.#options = options;
  }

  /** A place in the send order, taken now (call order = wire order). */
  reserve(): PipelineSlot {
    const req: Request = { bytes: null, cancelled: false, resolve: () => undefined, reject: () => undefined, timeoutMs: 0, stop: null, onStop: null, settled: false };
    this.#waiting.push(req);
    return {
      send: (bytes, timeoutMs, stop) =>
        new Promise<PipelineAnswer>((resolve, reject) => {
          req.resolve = resolve;
          req.reject = reject;
          req.bytes = bytes;
          if (this.#closed) return this.#fail(req, new PipelineError('stopped', 'the webhook action is closed'));
          if (stop.aborted) return this.#fail(req, new PipelineError('stopped', 'the attempt was stopped'));
          req.stop = stop;
          req.onStop = () => this.#abortRequest(req, new PipelineError('stopped', 'the attempt was stopped'));
          stop.addEventListener('abort', req.onStop, { once: true });
          req.timeoutMs = timeoutMs;
          this.#pumpSoon();
        }),
      cancel: () => {
        req.cancelled = true;
        this.#pump();
      },
    };
  }

  /** Fails what is pending and closes the connection. */
  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#breakConnection(new PipelineError('stopped', 'the webhook action is closed'));
    for (const r of this.#waiting.splice(0)) this.#fail(r, new PipelineError('stopped', 'the webhook action is closed'));
  }

  #pumpScheduled = false;

  /**
   * Pumps once the current turn of the event loop is over: the requests made ready and the slots
   * freed by the answers of one socket read then leave in one write. Pumping at each one cost a
   * write system call per request (~60 µs each, 0.3 s of the dispatcher's thread per 5,000).
   */
  #pumpSoon(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    setImmediate(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  /** Writes every request whose turn has come, opening a connection when needed. */
  #pump(): void {
    // Given-up slots at the front no longer hold anyone back.
    while (this.#waiting.length > 0 && (this.#waiting[0]!.cancelled || this.#waiting[0]!.settled)) this.#waiting.shift();
    if (this.#waiting.length === 0 || this.#waiting[0]!.bytes === null) return;
    if (!this.#socket) {
      this.#connect();
      return;
    }
    if (!this.#connected) return;
    const window = this.#oneAtATime ? 1 : this.#options.window;
    const socket = this.#socket;
    // Corked: the requests ready together leave in one write.
    socket.cork();
    while (this.#inFlight.length < window && this.#waiting.length > 0) {
      const next = this.#waiting[0]!;
      if (next.cancelled || next.settled) {
        this.#waiting.shift();
        continue;
      }
      if (next.bytes === null) break;
      this.#waiting.shift();
      this.#inFlight.push(next);
      for (const piece of Buffer.isBuffer(next.bytes) ? [next.bytes] : next.bytes) socket.write(piece);
    }
    process.nextTick(() => socket.uncork());
    this.#arm();
  }

  /**
   * Keeps one timer on what the receiver owes next: the oldest unanswered request, or while
   * connecting, the request waiting first. A new timer only when that request changed.
   */
  #arm(): void {
    const owed = this.#inFlight[0] ?? (this.#socket && !this.#connected ? this.#waiting.find((r) => r.bytes !== null && !r.settled) : undefined) ?? null;
    if (owed === this.#timed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#timed = owed;
    if (!owed) return;
    const connecting = this.#inFlight.length === 0;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#timed = null;
      const error = new PipelineError('timeout', connecting ? 'the receiver did not accept the connection in time' : 'the receiver did not answer in time');
      if (connecting) this.#breakConnection(error);
      else this.#abortRequest(owed, error);
    }, owed.timeoutMs);
  }

  #connect(): void {
    const { host, port, verify, ca, servername } = this.#target;
    const socket = this.#target.tls
      ? tls.connect({ host, port, servername: servername ?? (net.isIP(host) ? undefined : host), rejectUnauthorized: verify !== false, ...(ca ? { ca } : {}) })
      : net.connect({ host, port });
    this.#socket = socket;
    this.#connected = false;
    this.#buffer = Buffer.alloc(0);
    this.#reading = null;
    socket.setNoDelay(true);
    this.#arm();
    socket.once(this.#target.tls ? 'secureConnect' : 'connect', () => {
      if (this.#socket !== socket) return;
      this.#connected = true;
      this.#pump();
    });
    socket.on('data', (chunk: Buffer) => {
      if (this.#socket !== socket) return;
      try {
        this.#onData(chunk);
      } catch (err) {
        this.#breakConnection(err instanceof PipelineError ? err : new PipelineError('protocol', String(err)));
      }
    });
    socket.on('error', (err: Error) => {
      if (this.#socket === socket) this.#breakConnection(new PipelineError('network', err.message, { cause: err }));
    });
    socket.on('close', () => {
      if (this.#socket !== socket) return;
      // A body framed by the end of the connection is complete now.
      if (this.#reading?.mode === 'eof') {
        this.#finishAnswer();
        if (this.#socket !== socket) return;
      }
      this.#breakConnection(new PipelineError('network', 'the receiver closed the connection without answering'));
    });
  }

  /**
   * Fails what was written on the connection and not answered; the next turn opens a new one. A
   * connection that never opened fails the requests that were waiting for it (ready to go), so
   * a receiver that is down is not dialled again and again: the dispatcher retries later.
   */
  #breakConnection(error: PipelineError): void {
    const socket = this.#socket;
    const wasConnected = this.#connected;
    this.#socket = null;
    this.#connected = false;
    this.#reading = null;
    socket?.destroy();
    for (const r of this.#inFlight.splice(0)) this.#fail(r, error);
    if (!wasConnected) for (const r of this.#waiting) if (r.bytes !== null) this.#fail(r, error);
    this.#arm();
    if (!socket || !wasConnected) return;
    if (this.#waiting.length > 0 && !this.#closed) setImmediate(() => this.#pump());
  }

  /** A request stopped or timed out: written, its connection goes (answers come in order). */
  #abortRequest(req: Request, error: PipelineError): void {
    if (req.settled) return;
    if (this.#inFlight.includes(req)) {
      // Its answer can no longer be told apart from the next ones: the connection goes with it.
      this.#fail(req, error);
      this.#breakConnection(new PipelineError('network', 'the connection was closed because an earlier request on it was stopped or timed out'));
      return;
    }
    // Not written yet (or connecting): only this one fails; if it was connecting, so be it.
    this.#fail(req, error);
    const i = this.#waiting.indexOf(req);
    if (i >= 0) this.#waiting.splice(i, 1);
    if (this.#waiting.length === 0 && this.#inFlight.length === 0 && this.#socket && !this.#connected) this.#breakConnection(error);
    else {
      this.#arm();
      this.#pump();
    }
  }

  #fail(req: Request, error: PipelineError): void {
    if (req.settled) return;
    this.#settle(req);
    req.reject(error);
  }

  #settle(req: Request): void {
    req.settled = true;
    if (req.stop && req.onStop) req.stop.removeEventListener('abort', req.onStop);
  }

  #onData(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    for (;;) {
      if (!this.#reading) {
        const end = this.#buffer.indexOf('\r\n\r\n');
        if (end < 0) {
          if (this.#buffer.length > MAX_HEAD_BYTES) throw new PipelineError('protocol', 'the receiver sent an answer head over 64 KiB');
          return;
        }
        const head = this.#buffer.toString('latin1', 0, end);
        this.#buffer = this.#buffer.subarray(end + 4);
        if (this.#inFlight.length === 0) throw new PipelineError('protocol', 'the receiver answered a request that was not sent');
        this.#reading = parseHead(head);
        // 1xx: informational, the real answer follows (101 would switch protocols: not for us).
        if (this.#reading.status >= 100 && this.#reading.status < 200) {
          if (this.#reading.status === 101) throw new PipelineError('protocol', 'the receiver switched protocols');
          this.#reading = null;
          continue;
        }
        if (this.#reading.mode === 'length' && this.#reading.left === 0) {
          this.#finishAnswer();
          if (!this.#socket) return;
          continue;
        }
      }
      if (!this.#readBody()) return;
      this.#finishAnswer();
      if (!this.#socket) return;
    }
  }

  /** Consumes body bytes from the buffer; true when the body is complete. */
  #readBody(): boolean {
    const r = this.#reading!;
    for (;;) {
      if (r.mode === 'eof') {
        this.#keep(this.#buffer);
        this.#buffer = Buffer.alloc(0);
        return false;
      }
      if (r.mode === 'length' || r.chunk === 'data') {
        const n = Math.min(r.left, this.#buffer.length);
        this.#keep(this.#buffer.subarray(0, n));
        this.#buffer = this.#buffer.subarray(n);
        r.left -= n;
        if (r.left > 0) return false;
        if (r.mode === 'length') return true;
        r.chunk = 'size';
        continue;
      }
      // Chunked: a size line (the CRLF after the previous chunk's data comes first), or trailers.
      const eol = this.#buffer.indexOf('\r\n');
      if (eol < 0) {
        if (this.#buffer.length > MAX_HEAD_BYTES) throw new PipelineError('protocol', 'the receiver sent a chunk line over 64 KiB');
        return false;
      }
      const line = this.#buffer.toString('latin1', 0, eol);
      this.#buffer = this.#buffer.subarray(eol + 2);
      if (r.chunk === 'trailer') {
        if (line === '') return true;
        continue;
      }
      if (line === '') continue; // the CRLF that ends a chunk's data
      const size = Number.parseInt(line.split(';', 1)[0]!.trim(), 16);
      if (!Number.isFinite(size) || size < 0) throw new PipelineError('protocol', `the receiver sent a bad chunk size ${JSON.stringify(line.slice(0, 40))}`);
      if (size === 0) r.chunk = 'trailer';
      else {
        r.chunk = 'data';
        r.left = size;
      }
    }
  }

  #keep(bytes: Buffer): void {
    const r = this.#reading!;
    if ((r.status >= 200 && r.status < 300) || r.kept >= this.#options.maxBodyChars || bytes.length === 0) return;
    const part = bytes.subarray(0, this.#options.maxBodyChars - r.kept);
    r.keep.push(Buffer.from(part));
    r.kept += part.length;
  }

  #finishAnswer(): void {
    const r = this.#reading!;
    this.#reading = null;
    const req = this.#inFlight.shift()!;
    if (!req.settled) {
      this.#settle(req);
      req.resolve({ status: r.status, retryAfter: r.retryAfter, text: Buffer.concat(r.keep).toString('utf8') });
    }
    if (r.close || r.mode === 'eof') {
      // Requests written behind this answer were not processed: they go again, first in line,
      // on a new connection, one at a time from now on.
      this.#oneAtATime = true;
      const notProcessed = this.#inFlight.splice(0);
      this.#waiting.unshift(...notProcessed);
      const socket = this.#socket;
      this.#socket = null;
      this.#connected = false;
      socket?.destroy();
      this.#arm();
      if (this.#waiting.length > 0) this.#pump();
      return;
    }
    if (this.#inFlight.length === 0 && this.#waiting.length === 0) this.#buffer = Buffer.alloc(0);
    this.#arm();
    this.#pumpSoon();
  }
}

/** The status line and the headers that matter here. */
function parseHead(head: string): Reading {
  const lines = head.split('\r\n');
  const m = /^HTTP\/1\.([01]) (\d{3})(?: |$)/.exec(lines[0] ?? '');
  if (!m) throw new PipelineError('protocol', `the receiver did not answer in HTTP/1.x: ${JSON.stringify((lines[0] ?? '').slice(0, 60))}`);
  const http10 = m[1] === '0';
  const status = Number(m[2]);
  let length: number | null = null;
  let chunked = false;
  let connection = '';
  let retryAfter: string | null = null;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'content-length') {
      const n = Number(value);
      if (!Number.isSafeInteger(n) || n < 0 || (length !== null && length !== n)) throw new PipelineError('protocol', `the receiver sent a bad Content-Length ${JSON.stringify(value.slice(0, 40))}`);
      length = n;
    } else if (name === 'transfer-encoding') chunked = value.toLowerCase().split(',').pop()!.trim() === 'chunked';
    else if (name === 'connection') connection += `${value.toLowerCase()},`;
    else if (name === 'retry-after') retryAfter ??= value;
  }
  const tokens = connection.split(',').map((t) => t.trim());
  const close = tokens.includes('close') || (http10 && !tokens.includes('keep-alive'));
  const base = { status, retryAfter, close, left: 0, chunk: 'size' as const, keep: [], kept: 0 };
  // No body: 1xx, 204, 304 (RFC 9112 §6.3).
  if ((status >= 100 && status < 200) || status === 204 || status === 304) return { ...base, mode: 'length' };
  if (chunked) return { ...base, mode: 'chunked' };
  if (length !== null) return { ...base, mode: 'length', left: length };
  return { ...base, mode: 'eof' };
}
