/**
 * A POP3 client of our own (RFC 1939, CAPA RFC 2449, STLS RFC 2595, AUTH RFC 5034) on node:net
 * and node:tls, built for draining: strict status lines, bounded buffers for every response, and
 * RETR bodies streamed as they arrive with back-pressure.
 *
 * Reading is pull-based: the socket stays in paused mode and bytes are taken with `read()` only
 * when a response is being parsed or the consumer of a RETR stream asks for more. So a slow
 * consumer leaves the data in the kernel (TCP flow control) rather than in our memory, and the
 * no-data timeout only runs while we actually wait on the server, never while the consumer works.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { MailsluiceError } from '../../core/errors/index.js';
import { mapPop3Error, pop3Where, quoteServerLine, type Pop3ErrorContext, type Pop3Phase } from './pop3-error-map.js';

/** How the connection is secured; see {@link Pop3ClientOptions.security}. */
export type Pop3Security = 'none' | 'starttls-if-available' | 'starttls' | 'tls';

/** TLS settings, in node:tls terms. */
export interface Pop3TlsOptions {
  rejectUnauthorized: boolean;
  minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  ca?: string;
  cert?: string;
  key?: string;
  pfx?: Buffer;
  passphrase?: string;
  servername?: string;
}

/** Login settings. */
export interface Pop3AuthOptions {
  type: 'none' | 'basic';
  username?: string;
  password?: string;
  /** Never use SASL PLAIN (AUTH LOGIN or USER/PASS instead). */
  disablePlain: boolean;
  /** Log in with APOP (needs the `<timestamp>` of the greeting); not in the config schema yet. */
  apop?: boolean;
}

/** The steps of {@link Pop3Client.connect}, in the order they can complete or fail. */
export type Pop3ConnectStep = 'connect' | 'tls' | 'greeting' | 'capabilities' | 'auth';

/** Options of {@link Pop3Client.connect}. */
export interface Pop3ClientOptions {
  host: string;
  /** The port to connect to (the caller already chose port vs tlsPort). */
  port: number;
  /**
   * `tls`: implicit TLS from the first byte; `starttls`: STLS required (SOURCE_STARTTLS_UNAVAILABLE
   * when CAPA lacks it); `starttls-if-available`: STLS when CAPA lists it; `none`: never.
   */
  security: Pop3Security;
  tls: Pop3TlsOptions;
  auth: Pop3AuthOptions;
  /** Bounds the TCP connect, an implicit TLS handshake and the wait for the greeting; 0 = none. */
  connectTimeoutMs: number;
  /** Drop the connection when nothing arrives for this long while waiting on the server; 0 = see `silence`. */
  dataTimeoutMs: number;
  /**
   * With `dataTimeoutMs` 0: the silence a wait may still last before the connection is dropped
   * (`limitMs`, 0 = never), and how often `onSilence` is told meanwhile (also under a
   * `dataTimeoutMs`). Absent: no limit and no warnings.
   */
  silence?: { limitMs: number; warnEveryMs: number; onSilence?: (silentMs: number, waitingFor: string) => void };
  /**
   * Called as each step of {@link Pop3Client.connect} completes, with a sentence for the
   * operator (never a secret): the connection test reports these as its steps.
   */
  onProgress?: (step: Pop3ConnectStep, detail: string) => void;
}

/** Fixed limits with their reasons; not operator settings. */
export const POP3_LIMITS = {
  /**
   * Longest status or listing line accepted. RFC 1939 caps responses at 512 octets; 64 KiB
   * leaves room for chatty servers while a server that never sends a line break cannot make us
   * buffer without bound. Message body lines are not limited: they are streamed.
   */
  maxLineBytes: 64 * 1024,
  /**
   * RETR bodies are yielded in pieces of at least this size (or the rest of the message): large
   * enough that the per-chunk cost of the consumer (hashing, writing) is amortised, small enough
   * that memory per message stays bounded.
   */
  yieldBytes: 64 * 1024,
  /**
   * Read buffer of the socket. Node 20's default (16 KiB) is smaller than one libuv read (64 KiB),
   * which would stop and restart reading after every read; this keeps a read or two in flight.
   */
  socketHighWaterMark: 64 * 1024,
  /**
   * RETRs kept ahead of the one being read when the server offers PIPELINING ({@link
   * Pop3Client.retrMany}): enough to hide the round trip behind handing a small message over,
   * few enough that the messages in flight stay small (callers use it for messages up to 1 MiB).
   */
  retrWindow: 8,
  /** DELE commands per write when the server offers PIPELINING: a few KB of commands. */
  deleWindow: 250,
} as const;

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

interface DataWaiter {
  resolve: (chunk: Buffer) => void;
  reject: (err: MailsluiceError) => void;
}

/** An extra deadline on waits, e.g. the connect timeout while the greeting is awaited. */
interface Deadline {
  at: number;
  error: (what: string) => MailsluiceError;
}

/**
 * The socket side of a session: pulls bytes, splits lines under a length limit, applies the
 * timeouts, and turns every socket error or close into one {@link MailsluiceError} that every
 * later read or command sees (`failure`).
 */
class Wire {
  private sock: net.Socket | null = null;
  /** Bytes taken from the socket but not consumed yet (the rest of a chunk after a line). */
  private pending: Buffer | null = null;
  private waiter: DataWaiter | null = null;
  private eventReject: ((err: MailsluiceError) => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Set once; the session is unusable from then on. */
  failure: MailsluiceError | null = null;
  /** Decides how a socket error is named (a reset during the handshake is a TLS failure). */
  phase: Pop3Phase = 'connect';
  deadline: Deadline | null = null;
  /** What the current wait is for, to name it when the server hangs up. */
  private waitingFor = '';

  constructor(
    private readonly ctx: Pop3ErrorContext,
    private readonly dataTimeoutMs: number,
    private readonly silence: Pop3ClientOptions['silence'] = undefined,
  ) {}

  private readonly onReadable = (): void => {
    const w = this.waiter;
    if (!w || !this.sock) return;
    const chunk = this.sock.read() as Buffer | null;
    if (chunk === null) return;
    this.waiter = null;
    this.waitingFor = '';
    this.clearTimer();
    w.resolve(chunk);
  };

  private readonly onEnd = (): void => {
    this.fail(new MailsluiceError('SOURCE_NETWORK', `POP3 server ${pop3Where(this.ctx)} closed the connection${this.waitingFor ? ` while we waited for ${this.waitingFor}` : ''}`));
  };

  private readonly onError = (err: Error): void => {
    this.fail(mapPop3Error(err, this.ctx, this.phase));
  };

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

  get socket(): net.Socket | null {
    return this.sock;
  }

  hasPending(): boolean {
    return this.pending !== null || (this.sock?.readableLength ?? 0) > 0;
  }

  write(data: string): void {
    this.sock?.write(data);
  }

  /** Marks the session failed (first failure wins), destroys the socket, rejects any wait. */
  fail(err: MailsluiceError): MailsluiceError {
    if (this.failure) return this.failure;
    this.failure = err;
    this.clearTimer();
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

  private clearTimer(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /**
   * Arms the no-data timeout (the operator's, else the internal bound on silence) and the
   * deadline, whichever comes first, for one wait; on the way, `silence.onSilence` is told every
   * `warnEveryMs`.
   */
  private armTimer(what: string, useDataTimeout: boolean, silentMs = 0): void {
    const limit = useDataTimeout ? this.dataTimeoutMs || this.silence?.limitMs || 0 : 0;
    const warnEvery = useDataTimeout && this.silence?.onSilence ? this.silence.warnEveryMs : 0;
    let ms = limit > 0 ? limit - silentMs : 0;
    let warn = false;
    if (warnEvery > 0 && (ms === 0 || warnEvery < ms)) {
      ms = warnEvery;
      warn = true;
    }
    let byDeadline = false;
    if (this.deadline) {
      const left = Math.max(1, this.deadline.at - Date.now());
      if (ms === 0 || left < ms) {
        ms = left;
        byDeadline = true;
      }
    }
    if (ms === 0) return;
    const deadline = this.deadline;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (byDeadline && deadline) {
        this.fail(deadline.error(what));
        return;
      }
      if (warn) {
        this.silence!.onSilence!(silentMs + ms, what);
        this.armTimer(what, useDataTimeout, silentMs + ms);
        return;
      }
      const which = this.dataTimeoutMs > 0 ? 'no-data timeout' : "mailsluice's internal limit on a silent server, dataTimeoutMs being 0";
      this.fail(
        new MailsluiceError('SOURCE_DATA_TIMEOUT', `nothing arrived from POP3 server ${pop3Where(this.ctx)} for ${limit} ms while waiting for ${what} (${which}); connection dropped`),
      );
    }, ms);
  }

  /** Waits for a socket event ('connect', 'secureConnect') under the timeouts. */
  waitEvent(event: string, what: string, useDataTimeout: boolean): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const sock = this.sock;
    if (!sock) return Promise.reject(new MailsluiceError('INTERNAL', 'Pop3Client: no socket'));
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        this.eventReject = null;
        this.waitingFor = '';
        this.clearTimer();
        resolve();
      };
      sock.once(event, done);
      this.eventReject = (err) => {
        sock.off(event, done);
        reject(err);
      };
      this.waitingFor = what;
      this.armTimer(what, useDataTimeout);
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
      this.waitingFor = what;
      this.armTimer(what, true);
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
    return this.fail(
      new MailsluiceError('SOURCE_PROTOCOL', `POP3 server ${pop3Where(this.ctx)} sent a response line longer than ${POP3_LIMITS.maxLineBytes} bytes without a line break; connection dropped`),
    );
  }
}

/** The parts of a status line: `+OK text` or `-ERR text`. */
interface Status {
  ok: boolean;
  text: string;
}

function tlsConnectOptions(o: Pop3ClientOptions): tls.ConnectionOptions {
  const t = o.tls;
  const r: tls.ConnectionOptions = { host: o.host, rejectUnauthorized: t.rejectUnauthorized };
  // SNI carries host names only; with an IP address the certificate is still checked against it.
  const sni = t.servername ?? (net.isIP(o.host) ? undefined : o.host);
  if (sni) r.servername = sni;
  if (t.minVersion) r.minVersion = t.minVersion;
  if (t.ca) r.ca = t.ca;
  if (t.cert) r.cert = t.cert;
  if (t.key) r.key = t.key;
  if (t.pfx) r.pfx = t.pfx;
  if (t.passphrase) r.passphrase = t.passphrase;
  return r;
}

function describeTls(sock: tls.TLSSocket): string {
  const cert = sock.getPeerCertificate();
  const cn = cert && cert.subject ? cert.subject.CN : undefined;
  return `${sock.getProtocol() ?? 'TLS'}, certificate ${cn ? `CN=${String(cn)}` : '(no subject)'}${sock.authorized ? ', verified' : ', NOT verified (certificate verification is off)'}`;
}

/** The SASL mechanisms a CAPA list offers (`SASL PLAIN LOGIN` → PLAIN, LOGIN). */
function saslMechanisms(caps: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const c of caps) {
    const words = c.split(/\s+/);
    if (words[0] === 'SASL') for (const m of words.slice(1)) if (m) out.add(m);
  }
  return out;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/**
 * One POP3 session. Commands run one at a time (calls made while another runs wait their turn);
 * a RETR stream holds the session until it is read to the end or abandoned.
 */
export class Pop3Client {
  private readonly wire: Wire;
  private readonly ctx: Pop3ErrorContext;
  private caps: string[] = [];
  private greetingLine = '';
  private tlsOn = false;
  private step: Pop3ConnectStep = 'connect';
  /** Tail of the command queue. */
  private lock: Promise<void> = Promise.resolve();
  /** The message whose RETR stream holds the session, if any. */
  private streaming: number | null = null;

  private constructor(private readonly opts: Pop3ClientOptions) {
    this.ctx = { host: opts.host, port: opts.port };
    this.wire = new Wire(this.ctx, opts.dataTimeoutMs, opts.silence);
  }

  /** Upper-cased CAPA lines (e.g. `UIDL`, `SASL PLAIN LOGIN`), as of after TLS; [] when CAPA is unsupported. */
  get capabilities(): string[] {
    return this.caps;
  }

  /** The greeting line as the server sent it (`+OK ...`). */
  get greeting(): string {
    return this.greetingLine;
  }

  /** True when the session runs over TLS (implicit or after STLS). */
  get tlsActive(): boolean {
    return this.tlsOn;
  }

  /**
   * Connects, reads the greeting, CAPA, STLS (per security), re-CAPA after TLS, authenticates.
   * A failure is a {@link MailsluiceError} whose `details.step` names the step that failed.
   */
  static async connect(opts: Pop3ClientOptions, signal?: AbortSignal): Promise<Pop3Client> {
    const client = new Pop3Client(opts);
    const where = pop3Where(client.ctx);
    const aborted = (): MailsluiceError => {
      const reason: unknown = signal?.reason;
      return reason instanceof MailsluiceError ? reason : new MailsluiceError('SOURCE_NETWORK', `connecting to POP3 server ${where} was aborted`, { cause: reason });
    };
    const onAbort = (): void => {
      client.wire.fail(aborted());
    };
    try {
      if (signal?.aborted) throw aborted();
      signal?.addEventListener('abort', onAbort, { once: true });
      await client.open();
      return client;
    } catch (err) {
      client.close();
      const e = mapPop3Error(err, client.ctx, client.wire.phase);
      throw new MailsluiceError(e.code, e.message, { cause: e.cause ?? e, retryable: e.retryable, details: { ...e.details, step: client.step } });
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private progress(step: Pop3ConnectStep, detail: string): void {
    this.opts.onProgress?.(step, detail);
  }

  private async open(): Promise<void> {
    const o = this.opts;
    const where = pop3Where(this.ctx);
    const start = Date.now();
    const deadlineAt = o.connectTimeoutMs > 0 ? start + o.connectTimeoutMs : 0;
    const implicit = o.security === 'tls';

    this.step = 'connect';
    this.wire.phase = 'connect';
    let sock: net.Socket;
    try {
      sock = implicit
        ? tls.connect({ ...tlsConnectOptions(o), port: o.port, highWaterMark: POP3_LIMITS.socketHighWaterMark } as tls.ConnectionOptions)
        : net.connect({ host: o.host, port: o.port, highWaterMark: POP3_LIMITS.socketHighWaterMark } as net.NetConnectOpts);
    } catch (err) {
      // tls.connect throws synchronously when the CA, client certificate, key or passphrase
      // cannot be loaded; the message names the part, never the passphrase.
      throw this.badTlsSettings(err);
    }
    sock.setNoDelay(true);
    this.wire.attach(sock);
    if (deadlineAt) {
      this.wire.deadline = {
        at: deadlineAt,
        error: () => new MailsluiceError('SOURCE_CONNECT_TIMEOUT', `no connection to POP3 server ${where} within the connect timeout (${o.connectTimeoutMs} ms)`),
      };
    }
    await this.wire.waitEvent('connect', 'the TCP connection', false);
    this.progress('connect', `TCP connection to ${sock.remoteAddress ?? o.host}:${sock.remotePort ?? o.port}`);

    if (implicit) {
      this.step = 'tls';
      this.wire.phase = 'tls';
      if (this.wire.deadline) {
        this.wire.deadline.error = () =>
          new MailsluiceError('SOURCE_CONNECT_TIMEOUT', `POP3 server ${where} accepted the TCP connection but the TLS handshake did not finish within the connect timeout (${o.connectTimeoutMs} ms)`);
      }
      await this.wire.waitEvent('secureConnect', 'the TLS handshake', true);
      this.tlsOn = true;
      this.progress('tls', describeTls(sock as tls.TLSSocket));
    }
    this.wire.phase = 'session';

    this.step = 'greeting';
    if (this.wire.deadline) {
      this.wire.deadline.error = () =>
        new MailsluiceError('SOURCE_GREETING_INVALID', `POP3 server ${where} accepted the connection but sent no greeting within the connect timeout (${o.connectTimeoutMs} ms)`);
    }
    const greeting = await this.wire.line('the greeting');
    this.wire.deadline = null;
    if (!/^\+OK(?: |$)/.test(greeting)) {
      throw this.wire.fail(new MailsluiceError('SOURCE_GREETING_INVALID', `POP3 server ${where} answered ${quoteServerLine(greeting)} instead of a +OK greeting`));
    }
    this.greetingLine = greeting;
    this.progress('greeting', greeting.length > 120 ? `${greeting.slice(0, 120)}…` : greeting);

    this.step = 'capabilities';
    this.caps = await this.capa();
    this.progress('capabilities', this.caps.length ? this.caps.join(', ') : 'the server does not support CAPA');

    if (o.security === 'starttls' || o.security === 'starttls-if-available') {
      this.step = 'tls';
      if (this.caps.includes('STLS')) {
        await this.startTls();
        this.caps = await this.capa();
        this.progress('tls', `${describeTls(this.wire.socket as tls.TLSSocket)}, after STLS`);
      } else if (o.security === 'starttls') {
        throw this.wire.fail(
          new MailsluiceError(
            'SOURCE_STARTTLS_UNAVAILABLE',
            `POP3 server ${where} does not offer STLS (${this.caps.length ? `its CAPA lists ${this.caps.join(', ')}` : 'it does not support CAPA'}), and security is starttls (required)`,
          ),
        );
      } else {
        this.progress('tls', 'the server offers no STLS; continuing unencrypted (security: starttls-if-available)');
      }
    }

    this.step = 'auth';
    const how = await this.authenticate();
    this.progress('auth', how);
  }

  private badTlsSettings(err: unknown): MailsluiceError {
    const msg = err instanceof Error ? err.message : String(err);
    return new MailsluiceError('SOURCE_TLS_FAILED', `the TLS settings for POP3 server ${pop3Where(this.ctx)} cannot be used (CA, client certificate, key or passphrase): ${msg}`, {
      cause: err,
      retryable: false,
    });
  }

  private async startTls(): Promise<void> {
    const where = pop3Where(this.ctx);
    this.wire.write('STLS\r\n');
    const st = await this.status('STLS');
    if (!st.ok) {
      throw this.wire.fail(
        new MailsluiceError(
          this.opts.security === 'starttls' ? 'SOURCE_STARTTLS_UNAVAILABLE' : 'SOURCE_TLS_FAILED',
          `POP3 server ${where} lists STLS but refused it: ${quoteServerLine(st.text)}`,
        ),
      );
    }
    // Bytes after "+OK" and before the handshake would be read as if they came over TLS
    // (the STARTTLS command-injection class of attacks): refuse them.
    if (this.wire.hasPending()) {
      throw this.wire.fail(new MailsluiceError('SOURCE_PROTOCOL', `POP3 server ${where} sent data after accepting STLS and before the TLS handshake; connection dropped`));
    }
    const raw = this.wire.detach();
    this.wire.phase = 'tls';
    let secure: tls.TLSSocket;
    try {
      secure = tls.connect({ ...tlsConnectOptions(this.opts), socket: raw });
    } catch (err) {
      raw.destroy();
      throw this.wire.fail(this.badTlsSettings(err));
    }
    this.wire.attach(secure);
    await this.wire.waitEvent('secureConnect', 'the TLS handshake after STLS', true);
    this.wire.phase = 'session';
    this.tlsOn = true;
  }

  /** CAPA; [] when the server answers -ERR (CAPA is an extension, RFC 2449). */
  private async capa(): Promise<string[]> {
    this.wire.write('CAPA\r\n');
    const st = await this.status('CAPA');
    if (!st.ok) return [];
    const lines = await this.multiline('the CAPA list');
    return lines.map((l) => l.trim().toUpperCase()).filter(Boolean);
  }

  /** Logs in per the auth settings; returns a sentence saying how. */
  private async authenticate(): Promise<string> {
    const a = this.opts.auth;
    const where = pop3Where(this.ctx);
    if (a.type === 'none') return 'no authentication (auth: none)';
    const user = a.username;
    const pass = a.password;
    if (user === undefined || user === '' || pass === undefined) {
      throw this.wire.fail(new MailsluiceError('CONFIG_INVALID', `auth is basic for POP3 server ${where} but the username or the password is missing`));
    }
    const who = JSON.stringify(user);
    if (a.apop) {
      const stamp = /<[^<>\s]*>/.exec(this.greetingLine)?.[0];
      if (!stamp) {
        throw this.wire.fail(
          new MailsluiceError('SOURCE_AUTH_UNSUPPORTED', `apop is on but the greeting of POP3 server ${where} carries no <timestamp>, so APOP is not possible (greeting: ${quoteServerLine(this.greetingLine)})`),
        );
      }
      const digest = createHash('md5').update(stamp + pass, 'utf8').digest('hex');
      this.wire.write(`APOP ${user} ${digest}\r\n`);
      const st = await this.status('APOP');
      if (!st.ok) throw this.rejected('APOP', user, st.text);
      return `logged in as ${who} with APOP`;
    }
    const sasl = saslMechanisms(this.caps);
    if (sasl.has('PLAIN') && !a.disablePlain) {
      await this.sasl('PLAIN', `AUTH PLAIN ${b64(`\0${user}\0${pass}`)}`, [], user);
      return `logged in as ${who} with AUTH PLAIN`;
    }
    if (sasl.has('LOGIN')) {
      await this.sasl('LOGIN', 'AUTH LOGIN', [b64(user), b64(pass)], user);
      return `logged in as ${who} with AUTH LOGIN`;
    }
    // RFC 2449: a server that supports CAPA lists USER when USER/PASS may be used. Dovecot and
    // others leave it out on an unencrypted connection when plain-text logins are disabled.
    if (this.caps.length > 0 && !this.caps.includes('USER')) {
      throw this.wire.fail(
        new MailsluiceError(
          'SOURCE_AUTH_UNSUPPORTED',
          `POP3 server ${where} offers no login mailsluice may use with these settings (CAPA: ${this.caps.join(', ')}${a.disablePlain ? '; SASL PLAIN is disabled by auth.disablePlain' : ''})${this.tlsOn ? '' : '; servers often allow logins only over TLS: try security starttls or tls'}`,
        ),
      );
    }
    this.wire.write(`USER ${user}\r\n`);
    const su = await this.status('USER');
    if (!su.ok) throw this.rejected('USER/PASS', user, su.text);
    this.wire.write(`PASS ${pass}\r\n`);
    const sp = await this.status('PASS');
    if (!sp.ok) throw this.rejected('USER/PASS', user, sp.text);
    return `logged in as ${who} with USER/PASS`;
  }

  /** One SASL exchange (RFC 5034): answers `+` challenges from `responses` in order. */
  private async sasl(mech: string, first: string, responses: string[], user: string): Promise<void> {
    const label = `AUTH ${mech}`;
    this.wire.write(`${first}\r\n`);
    const queue = [...responses];
    for (;;) {
      const line = await this.wire.line(`the answer to ${label}`);
      if (line === '+' || line.startsWith('+ ')) {
        const next = queue.shift();
        if (next === undefined) {
          throw this.wire.fail(new MailsluiceError('SOURCE_PROTOCOL', `POP3 server ${pop3Where(this.ctx)} sent more ${label} challenges than the mechanism has (${quoteServerLine(line)}); connection dropped`));
        }
        this.wire.write(`${next}\r\n`);
        continue;
      }
      const st = this.parseStatus(line, label);
      if (st.ok) return;
      throw this.rejected(label, user, st.text);
    }
  }

  private rejected(how: string, user: string, text: string): MailsluiceError {
    // [IN-USE] (another session holds the maildrop) and [SYS/TEMP] (RFC 3206) pass with time.
    const temporary = /^\[(IN-USE|SYS\/TEMP)\]/i.test(text);
    return new MailsluiceError('SOURCE_AUTH_REJECTED', `POP3 server ${pop3Where(this.ctx)} rejected the login of ${JSON.stringify(user)} (${how}): ${quoteServerLine(text)}`, {
      retryable: temporary,
    });
  }

  /**
   * Parses a status line strictly: `+OK` or `-ERR`, alone or followed by a space. Anything else
   * leaves the session in an unknown state, so it fails the connection.
   */
  private parseStatus(line: string, label: string): Status {
    if (line.startsWith('+OK') && (line.length === 3 || line[3] === ' ')) return { ok: true, text: line.slice(4) };
    if (line.startsWith('-ERR') && (line.length === 4 || line[4] === ' ')) return { ok: false, text: line.slice(5) };
    throw this.wire.fail(
      new MailsluiceError('SOURCE_PROTOCOL', `POP3 server ${pop3Where(this.ctx)} answered ${label} with ${quoteServerLine(line)}, which is neither +OK nor -ERR; connection dropped`),
    );
  }

  private async status(label: string): Promise<Status> {
    const line = this.wire.tryLine() ?? (await this.wire.line(`the answer to ${label}`));
    return this.parseStatus(line, label);
  }

  /** The lines of a multi-line response up to the terminating ".", dot-unstuffed. */
  private async multiline(what: string): Promise<string[]> {
    const out: string[] = [];
    for (;;) {
      const line = this.wire.tryLine() ?? (await this.wire.line(what));
      if (line === '.') return out;
      out.push(line.startsWith('.') ? line.slice(1) : line);
    }
  }

  private usable(): void {
    const f = this.wire.failure;
    if (f) throw new MailsluiceError(f.code, `the POP3 session with ${pop3Where(this.ctx)} is no longer usable: ${f.message}`, { cause: f, retryable: f.retryable });
  }

  /** Runs `fn` when every earlier command has finished. */
  private async exclusive<T>(label: string, fn: () => Promise<T>): Promise<T> {
    if (this.streaming !== null) {
      // Waiting would deadlock a caller that reads the stream only after this call returns.
      throw new MailsluiceError('INTERNAL', `Pop3Client: ${label} was called while the RETR ${this.streaming} stream is still open; read it to its end (or stop reading) first`);
    }
    const before = this.lock;
    let release!: () => void;
    this.lock = new Promise<void>((r) => (release = r));
    await before;
    try {
      this.usable();
      return await fn();
    } finally {
      release();
    }
  }

  /** A command with a one-line answer; -ERR becomes `onErr` (default SOURCE_PROTOCOL). */
  private async simple(command: string, onErr?: (text: string) => MailsluiceError): Promise<string> {
    this.wire.write(`${command}\r\n`);
    const st = await this.status(command);
    if (!st.ok) {
      throw onErr ? onErr(st.text) : new MailsluiceError('SOURCE_PROTOCOL', `POP3 server ${pop3Where(this.ctx)} refused ${command}: ${quoteServerLine(st.text)}`);
    }
    return st.text;
  }

  private badLine(label: string, line: string): MailsluiceError {
    return this.wire.fail(new MailsluiceError('SOURCE_PROTOCOL', `POP3 server ${pop3Where(this.ctx)} sent a malformed ${label} line ${quoteServerLine(line)}; connection dropped`));
  }

  /** STAT: number of messages and their total size in bytes (deleted ones excluded). */
  stat(): Promise<{ count: number; size: number }> {
    return this.exclusive('STAT', async () => {
      const text = await this.simple('STAT');
      const m = /^(\d+) (\d+)(?: |$)/.exec(text);
      if (!m) throw this.badLine('STAT', `+OK ${text}`);
      return { count: Number(m[1]), size: Number(m[2]) };
    });
  }

  /** LIST: every message's number and size in bytes. */
  list(): Promise<Array<{ msgno: number; size: number }>> {
    return this.exclusive('LIST', async () => {
      await this.simple('LIST');
      const lines = await this.multiline('the LIST listing');
      return lines.map((l) => {
        const m = /^(\d+) (\d+)(?: |$)/.exec(l);
        if (!m) throw this.badLine('LIST', l);
        return { msgno: Number(m[1]), size: Number(m[2]) };
      });
    });
  }

  /** UIDL: every message's number and unique id; SOURCE_PROTOCOL when the server lacks UIDL. */
  uidl(): Promise<Array<{ msgno: number; uidl: string }>> {
    return this.exclusive('UIDL', async () => {
      await this.simple(
        'UIDL',
        (text) =>
          new MailsluiceError(
            'SOURCE_PROTOCOL',
            `POP3 server ${pop3Where(this.ctx)} does not support UIDL (it answered -ERR ${quoteServerLine(text)}${this.caps.length && !this.caps.includes('UIDL') ? ' and its CAPA does not list UIDL' : ''}); mailsluice needs UIDL to remember which messages it took`,
            { retryable: false },
          ),
      );
      const lines = await this.multiline('the UIDL listing');
      return lines.map((l) => {
        // RFC 1939: the unique-id is 1 to 70 characters in the range 0x21 to 0x7E; longer ids
        // from lenient servers are kept, anything with spaces or control bytes is not an id.
        const m = /^(\d+) ([\x21-\x7e]+)$/.exec(l);
        if (!m) throw this.badLine('UIDL', l);
        return { msgno: Number(m[1]), uidl: m[2]! };
      });
    });
  }

  /**
   * RETR streamed: yields the message bytes exactly as stored (CRLF as the server sends them,
   * dot-unstuffed, without the terminating ".\r\n") in pieces of about
   * {@link POP3_LIMITS.yieldBytes}, reading from the socket only as fast as they are consumed.
   * The RETR is sent when iteration starts. Stopping early (break) reads and discards the rest,
   * so the session stays usable and this session's deletions survive. A message that no longer
   * exists (-ERR) is SOURCE_MESSAGE_VANISHED.
   */
  retr(msgno: number): AsyncIterable<Uint8Array> {
    return { [Symbol.asyncIterator]: () => this.retrStream(msgno) };
  }

  private async *retrStream(msgno: number): AsyncGenerator<Uint8Array, void, undefined> {
    if (this.streaming !== null) {
      throw new MailsluiceError('INTERNAL', `Pop3Client: RETR ${msgno} was started while the RETR ${this.streaming} stream is still open`);
    }
    const before = this.lock;
    let release!: () => void;
    this.lock = new Promise<void>((r) => (release = r));
    this.streaming = msgno;
    const decoder = new DotDecoder();
    let complete = false;
    try {
      await before;
      this.usable();
      const command = `RETR ${msgno}`;
      this.wire.write(`${command}\r\n`);
      const st = await this.status(command);
      if (!st.ok) {
        complete = true;
        throw new MailsluiceError('SOURCE_MESSAGE_VANISHED', `message ${msgno} is no longer on POP3 server ${pop3Where(this.ctx)} (RETR answered -ERR ${quoteServerLine(st.text)})`);
      }
      const what = `the rest of message ${msgno} (RETR)`;
      const parts: Buffer[] = [];
      let size = 0;
      const emit = (part: Buffer): void => {
        parts.push(part);
        size += part.length;
      };
      for (;;) {
        const rest = decoder.feed(this.wire.take() ?? (await this.wire.chunk(what)), emit);
        if (rest !== null) {
          complete = true;
          this.wire.unread(rest);
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
      if (!complete && !this.wire.failure) {
        // The consumer stopped early: discard the rest so the next command reads its own answer.
        // A failure here has already failed the session, which is all the next command needs.
        const ignore = (): void => undefined;
        try {
          while (decoder.feed(this.wire.take() ?? (await this.wire.chunk(`the rest of message ${msgno} (RETR, discarded)`)), ignore) === null);
        } catch {
          // the session is failed; the next command reports it
        }
      }
      this.streaming = null;
      release();
    }
  }

  /**
   * Whether the server announced PIPELINING (RFC 2449): the client may then send commands before
   * the answers to earlier ones arrive, which spares a round trip per message.
   */
  get pipelining(): boolean {
    return this.caps.includes('PIPELINING');
  }

  /**
   * RETR of many messages the caller knows to be small, each yielded whole (dot-unstuffed) in
   * order; a message answered -ERR (gone) is yielded with `body: null`. With PIPELINING up to
   * `window` RETRs are kept ahead of the one being read, so the server sends the next message
   * while this one is handed over; without it, one at a time. Memory: at most `window` messages
   * in flight. Stopping early reads and discards the answers still due, so the session stays
   * usable (and this session's deletions survive).
   */
  retrMany(msgnos: readonly number[], window = POP3_LIMITS.retrWindow): AsyncIterable<{ msgno: number; body: Buffer | null; text?: string }> {
    return { [Symbol.asyncIterator]: () => this.retrManyGen(msgnos, window) };
  }

  private async *retrManyGen(msgnos: readonly number[], window: number): AsyncGenerator<{ msgno: number; body: Buffer | null; text?: string }, void, undefined> {
    if (this.streaming !== null) {
      throw new MailsluiceError('INTERNAL', `Pop3Client: RETR of ${msgnos.length} messages was started while the RETR ${this.streaming} stream is still open`);
    }
    if (msgnos.length === 0) return;
    const before = this.lock;
    let release!: () => void;
    this.lock = new Promise<void>((r) => (release = r));
    this.streaming = msgnos[0]!;
    const ahead = this.pipelining ? Math.max(1, window) : 1;
    let sent = 0;
    let read = 0;
    const sendUpTo = (k: number): void => {
      let out = '';
      for (; sent < Math.min(k, msgnos.length); sent++) out += `RETR ${msgnos[sent]}\r\n`;
      if (out) this.wire.write(out);
    };
    /** Reads the answer to the next RETR sent; `keep` false discards the body. */
    const readOne = async (keep: boolean): Promise<{ msgno: number; body: Buffer | null; text?: string }> => {
      const msgno = msgnos[read]!;
      this.streaming = msgno;
      const st = await this.status(`RETR ${msgno}`);
      read++;
      if (!st.ok) return { msgno, body: null, text: st.text };
      const decoder = new DotDecoder();
      const parts: Buffer[] = [];
      let size = 0;
      const emit = keep
        ? (part: Buffer): void => {
            parts.push(part);
            size += part.length;
          }
        : (): void => undefined;
      const what = `the rest of message ${msgno} (RETR)`;
      for (;;) {
        const rest = decoder.feed(this.wire.take() ?? (await this.wire.chunk(what)), emit);
        if (rest !== null) {
          this.wire.unread(rest);
          break;
        }
      }
      return { msgno, body: keep ? (parts.length === 1 ? parts[0]! : Buffer.concat(parts, size)) : null };
    };
    try {
      await before;
      this.usable();
      sendUpTo(ahead);
      while (read < msgnos.length) {
        const m = await readOne(true);
        // Keep the window full before handing this one over: the server works while we do.
        sendUpTo(read + ahead);
        yield m;
      }
    } finally {
      if (read < sent && !this.wire.failure) {
        // Stopped early: the answers to RETRs already sent must be read, or the next command
        // would read them as its own.
        try {
          while (read < sent) await readOne(false);
        } catch {
          // the session is failed; the next command reports it
        }
      }
      this.streaming = null;
      release();
    }
  }

  /**
   * DELE of many messages; with PIPELINING the commands go out in groups of
   * {@link POP3_LIMITS.deleWindow} per write and their answers are read after. Returns the
   * messages the server refused (-ERR), with its text; the rest are marked deleted.
   */
  deleMany(msgnos: readonly number[]): Promise<Array<{ msgno: number; text: string }>> {
    return this.exclusive('DELE', async () => {
      const refused: Array<{ msgno: number; text: string }> = [];
      const group = this.pipelining ? POP3_LIMITS.deleWindow : 1;
      for (let i = 0; i < msgnos.length; i += group) {
        const g = msgnos.slice(i, i + group);
        this.wire.write(g.map((n) => `DELE ${n}\r\n`).join(''));
        for (const n of g) {
          const st = await this.status(`DELE ${n}`);
          if (!st.ok) refused.push({ msgno: n, text: st.text });
        }
      }
      return refused;
    });
  }

  /** DELE: marks a message deleted; the server removes it only at a successful {@link quit}. */
  dele(msgno: number): Promise<void> {
    return this.exclusive('DELE', async () => {
      await this.simple(`DELE ${msgno}`);
    });
  }

  /** RSET: un-marks every message deleted in this session. */
  rset(): Promise<void> {
    return this.exclusive('RSET', async () => {
      await this.simple('RSET');
    });
  }

  /** NOOP: proves the session is alive. */
  noop(): Promise<void> {
    return this.exclusive('NOOP', async () => {
      await this.simple('NOOP');
    });
  }

  /**
   * QUIT: on +OK the server commits deletions (UPDATE state). Rejects if the server answers -ERR
   * (deletions NOT committed) or the connection drops before +OK. Closes the socket afterwards.
   */
  async quit(): Promise<void> {
    const where = pop3Where(this.ctx);
    const failed = this.wire.failure;
    if (failed) {
      throw new MailsluiceError(failed.code, `cannot QUIT the POP3 session with ${where}, the deletions of this session were not committed: ${failed.message}`, {
        cause: failed,
        retryable: failed.retryable,
      });
    }
    try {
      await this.exclusive('QUIT', async () => {
        this.wire.write('QUIT\r\n');
        let line: string;
        try {
          line = this.wire.tryLine() ?? (await this.wire.line('the answer to QUIT'));
        } catch (err) {
          const e = mapPop3Error(err, this.ctx);
          throw new MailsluiceError(e.code, `${e.message}; the server did not confirm QUIT, so the deletions of this session may not have been committed`, { cause: e, retryable: e.retryable });
        }
        const st = this.parseStatus(line, 'QUIT');
        if (!st.ok) {
          throw new MailsluiceError('SOURCE_PROTOCOL', `POP3 server ${where} answered QUIT with -ERR ${quoteServerLine(st.text)}: the deletions of this session were NOT committed`);
        }
      });
    } finally {
      this.wire.fail(new MailsluiceError('SOURCE_NETWORK', `the POP3 session with ${where} has ended (QUIT)`));
    }
  }

  /** Destroys the socket without QUIT (the server rolls deletions back). Safe to call twice. */
  close(): void {
    this.wire.fail(new MailsluiceError('SOURCE_NETWORK', `the POP3 connection to ${pop3Where(this.ctx)} was closed by mailsluice`));
  }
}
