/**
 * A POP3 client of our own (RFC 1939, CAPA RFC 2449, STLS RFC 2595, AUTH RFC 5034) on node:net
 * and node:tls, built for draining: strict status lines, bounded buffers for every response, and
 * RETR bodies streamed as they arrive with back-pressure. This file holds the commands and the
 * session (greeting, CAPA, TLS, the command queue); the bytes, lines and timeouts are
 * {@link Pop3Wire}'s (pop3-wire.ts), the login is pop3-auth.ts's.
 */
import net from 'node:net';
import tls from 'node:tls';
import { MailsluiceError } from '../../core/errors/index.js';
import { pop3Login } from './pop3-auth.js';
import {
  mapPop3Error,
  pop3Aborted,
  pop3BadGreeting,
  pop3BadTlsSettings,
  pop3ConnectTimeout,
  pop3DataAfterStls,
  pop3Malformed,
  pop3NoStls,
  pop3NoUidl,
  pop3QuitRefused,
  pop3Refused,
  pop3StlsRefused,
  pop3Vanished,
  pop3Where,
  type Pop3ConnectWait,
  type Pop3ErrorContext,
} from './pop3-error-map.js';
import { POP3_LIMITS, type Pop3ClientOptions, type Pop3ConnectStep } from './pop3-source-config.js';
import { Pop3Wire } from './pop3-wire.js';
import { peerCertificateExpiry } from '../tls-node/tls-peer-certificate.js';
import { socketServerEndPoint } from '../tls-node/tls-channel-binding.js';

export type { Pop3AuthOptions, Pop3ClientOptions, Pop3ConnectStep, Pop3Security, Pop3Silence, Pop3TlsOptions } from './pop3-source-config.js';

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

/** One answer of {@link Pop3Client.retrMany}: the body whole, or null with the server's text when it answered -ERR. */
export interface Pop3Retrieved {
  msgno: number;
  body: Buffer | null;
  text?: string;
}

/**
 * One POP3 session. Commands run one at a time (calls made while another runs wait their turn);
 * a RETR stream holds the session until it is read to the end or abandoned.
 */
export class Pop3Client {
  private readonly wire: Pop3Wire;
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
    this.wire = new Pop3Wire(this.ctx, opts.dataTimeoutMs, opts.silence);
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

  /** When the server's certificate expires (ms since the epoch); undefined without TLS. */
  get certificateExpiresAt(): number | undefined {
    return this.tlsOn ? peerCertificateExpiry(this.wire.socket) : undefined;
  }

  /**
   * Connects, reads the greeting, CAPA, STLS (per security), re-CAPA after TLS, authenticates.
   * A failure is a {@link MailsluiceError} whose `details.step` names the step that failed.
   */
  static async connect(opts: Pop3ClientOptions, signal?: AbortSignal): Promise<Pop3Client> {
    const client = new Pop3Client(opts);
    const onAbort = (): void => {
      client.wire.fail(pop3Aborted(client.ctx, signal?.reason));
    };
    try {
      if (signal?.aborted) throw pop3Aborted(client.ctx, signal.reason);
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

  /** Bounds the waits that follow by the connect timeout, naming `wait` when it runs out. */
  private connectDeadline(wait: Pop3ConnectWait): void {
    const ms = this.opts.connectTimeoutMs;
    if (this.wire.deadline) this.wire.deadline.error = () => pop3ConnectTimeout(this.ctx, wait, ms);
  }

  private async open(): Promise<void> {
    const o = this.opts;
    const deadlineAt = o.connectTimeoutMs > 0 ? Date.now() + o.connectTimeoutMs : 0;
    await this.openSocket(deadlineAt);

    this.step = 'greeting';
    this.connectDeadline('greeting');
    const greeting = await this.wire.line('the greeting');
    this.wire.deadline = null;
    if (!/^\+OK(?: |$)/.test(greeting)) throw this.wire.fail(pop3BadGreeting(this.ctx, greeting));
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
        throw this.wire.fail(pop3NoStls(this.ctx, this.caps));
      } else {
        this.progress('tls', 'the server offers no STLS; continuing unencrypted (security: starttls-if-available)');
      }
    }

    this.step = 'auth';
    const certificateHash = this.tlsOn ? socketServerEndPoint(this.wire.socket) : undefined;
    const how = await pop3Login(this.wire, o.auth, { ctx: this.ctx, caps: this.caps, greeting: this.greetingLine, tlsOn: this.tlsOn, certificateHash });
    this.progress('auth', how);
  }

  /** The TCP connection and, with implicit TLS, the handshake, under the connect deadline (`deadlineAt`, 0: none). */
  private async openSocket(deadlineAt: number): Promise<void> {
    const o = this.opts;
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
      throw pop3BadTlsSettings(this.ctx, err);
    }
    sock.setNoDelay(true);
    this.wire.attach(sock);
    if (deadlineAt) this.wire.deadline = { at: deadlineAt, error: () => pop3ConnectTimeout(this.ctx, 'connect', o.connectTimeoutMs) };
    await this.wire.waitEvent('connect', 'the TCP connection', false);
    this.progress('connect', `TCP connection to ${sock.remoteAddress ?? o.host}:${sock.remotePort ?? o.port}`);

    if (implicit) {
      this.step = 'tls';
      this.wire.phase = 'tls';
      this.connectDeadline('tls');
      await this.wire.waitEvent('secureConnect', 'the TLS handshake', true);
      this.tlsOn = true;
      this.progress('tls', describeTls(sock as tls.TLSSocket));
    }
    this.wire.phase = 'session';
  }

  private async startTls(): Promise<void> {
    this.wire.write('STLS\r\n');
    const st = await this.wire.status('STLS');
    if (!st.ok) throw this.wire.fail(pop3StlsRefused(this.ctx, this.opts.security === 'starttls', st.text));
    // Bytes after "+OK" and before the handshake would be read as if they came over TLS
    // (the STARTTLS command-injection class of attacks): refuse them.
    if (this.wire.hasPending()) throw this.wire.fail(pop3DataAfterStls(this.ctx));
    const raw = this.wire.detach();
    this.wire.phase = 'tls';
    let secure: tls.TLSSocket;
    try {
      secure = tls.connect({ ...tlsConnectOptions(this.opts), socket: raw });
    } catch (err) {
      raw.destroy();
      throw this.wire.fail(pop3BadTlsSettings(this.ctx, err));
    }
    this.wire.attach(secure);
    await this.wire.waitEvent('secureConnect', 'the TLS handshake after STLS', true);
    this.wire.phase = 'session';
    this.tlsOn = true;
  }

  /** CAPA; [] when the server answers -ERR (CAPA is an extension, RFC 2449). */
  private async capa(): Promise<string[]> {
    this.wire.write('CAPA\r\n');
    const st = await this.wire.status('CAPA');
    if (!st.ok) return [];
    const lines = await this.wire.multiline('the CAPA list');
    return lines.map((l) => l.trim().toUpperCase()).filter(Boolean);
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
    const turn = this.queueTurn();
    await turn.before;
    try {
      this.usable();
      return await fn();
    } finally {
      turn.release();
    }
  }

  /** Takes a place at the tail of the command queue: `before` settles when it is this caller's turn, `release` passes it on. */
  private queueTurn(): { before: Promise<void>; release: () => void } {
    const before = this.lock;
    let release!: () => void;
    this.lock = new Promise<void>((r) => (release = r));
    return { before, release };
  }

  /** A command with a one-line answer; -ERR becomes `onErr` (default SOURCE_PROTOCOL). */
  private async simple(command: string, onErr?: (text: string) => MailsluiceError): Promise<string> {
    this.wire.write(`${command}\r\n`);
    const st = await this.wire.status(command);
    if (!st.ok) {
      throw onErr ? onErr(st.text) : pop3Refused(this.ctx, command, st.text);
    }
    return st.text;
  }

  private badLine(label: string, line: string): MailsluiceError {
    return this.wire.fail(pop3Malformed(this.ctx, label, line));
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
      const lines = await this.wire.multiline('the LIST listing');
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
      await this.simple('UIDL', (text) => pop3NoUidl(this.ctx, text, this.caps.length > 0 && !this.caps.includes('UIDL')));
      const lines = await this.wire.multiline('the UIDL listing');
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
    const turn = this.queueTurn();
    this.streaming = msgno;
    try {
      await turn.before;
      this.usable();
      const command = `RETR ${msgno}`;
      this.wire.write(`${command}\r\n`);
      const st = await this.wire.status(command);
      if (!st.ok) throw pop3Vanished(this.ctx, msgno, st.text);
      // Stopped early, the body stream reads and discards the rest before this releases the session.
      yield* this.wire.bodyStream(msgno);
    } finally {
      this.streaming = null;
      turn.release();
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
  retrMany(msgnos: readonly number[], window = POP3_LIMITS.retrWindow): AsyncIterable<Pop3Retrieved> {
    return { [Symbol.asyncIterator]: () => this.retrManyGen(msgnos, window) };
  }

  private async *retrManyGen(msgnos: readonly number[], window: number): AsyncGenerator<Pop3Retrieved, void, undefined> {
    if (this.streaming !== null) {
      throw new MailsluiceError('INTERNAL', `Pop3Client: RETR of ${msgnos.length} messages was started while the RETR ${this.streaming} stream is still open`);
    }
    if (msgnos.length === 0) return;
    const turn = this.queueTurn();
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
    const readOne = async (keep: boolean): Promise<Pop3Retrieved> => {
      const msgno = msgnos[read]!;
      this.streaming = msgno;
      const st = await this.wire.status(`RETR ${msgno}`);
      read++;
      if (!st.ok) return { msgno, body: null, text: st.text };
      return { msgno, body: await this.wire.body(msgno, keep) };
    };
    try {
      await turn.before;
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
      turn.release();
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
          const st = await this.wire.status(`DELE ${n}`);
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
        const st = this.wire.parseStatus(line, 'QUIT');
        if (!st.ok) {
          throw pop3QuitRefused(this.ctx, st.text);
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
