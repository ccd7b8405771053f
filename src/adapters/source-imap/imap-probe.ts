import { lookup } from 'node:dns/promises';
import net from 'node:net';
import tls from 'node:tls';
import { MailsluiceError } from '../../core/errors/index.js';
import type { Logger } from '../../core/ports/logger.js';
import type { ImapSourceConfig } from './imap-source-config.js';
import { imapErrorContext, mapImapError, starttlsUnavailableError } from './imap-error-map.js';
import { ImapSource } from './imap-source.js';
import { tlsClientOptions } from '../tls-node/tls-client-options.js';
import { isOAuthType } from '../../config/oauth-checks.js';
import { tokenStep } from '../../core/ports/access-token-source.js';
import type { SourceRuntime } from '../../core/ports/mailbox-source.js';

/** One step of a connection test. */
export interface ProbeStep {
  /** `token`: an OAuth2 login's token obtained; `version`: EWS only (the server's ServerVersionInfo next to ews.version). */
  step: 'resolve' | 'connect' | 'tls' | 'greeting' | 'capabilities' | 'token' | 'auth' | 'version' | 'mailbox' | 'count';
  ok: boolean;
  detail: string;
  code?: string;
  ms: number;
}

/** The whole test. */
export interface ProbeResult {
  ok: boolean;
  steps: ProbeStep[];
  messages?: number;
  /** Whether the session ran over TLS (implicit or STARTTLS); known once the test logged in. */
  tls?: boolean;
  /** Things that work but the operator should know (credentials crossing unencrypted). */
  warnings?: string[];
}

/** Reads CRLF-terminated lines from a socket. */
class LineReader {
  private buf = '';
  private waiters: Array<(line: string) => void> = [];
  private lines: string[] = [];
  private failure: Error | null = null;
  private failWaiters: Array<(err: Error) => void> = [];

  constructor(sock: net.Socket) {
    this.attach(sock);
  }

  attach(sock: net.Socket): void {
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      this.buf += d;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i).replace(/\r$/, '');
        this.buf = this.buf.slice(i + 1);
        const w = this.waiters.shift();
        this.failWaiters.shift();
        if (w) w(line);
        else this.lines.push(line);
      }
    });
    const fail = (err: Error): void => {
      this.failure = err;
      for (const f of this.failWaiters.splice(0)) f(err);
      this.waiters = [];
    };
    sock.on('error', fail);
    sock.on('close', () => fail(Object.assign(new Error('connection closed by the server'), { code: 'ECONNRESET' })));
  }

  next(timeoutMs: number): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(Object.assign(new Error('timed out waiting for the server'), { code: 'GREETING_TIMEOUT' })), timeoutMs);
      this.waiters.push((line) => {
        clearTimeout(t);
        resolve(line);
      });
      this.failWaiters.push((err) => {
        clearTimeout(t);
        reject(err);
      });
    });
  }

  /** Reads until the tagged response of `tag`, returning the untagged lines and the tagged one. */
  async tagged(tag: string, timeoutMs: number): Promise<{ untagged: string[]; status: string }> {
    const untagged: string[] = [];
    for (;;) {
      const line = await this.next(timeoutMs);
      if (line.startsWith(`${tag} `)) return { untagged, status: line.slice(tag.length + 1) };
      untagged.push(line);
    }
  }
}

/** The probe's TLS options: the connection's, with the host as server name unless it is an address. */
function tlsOptions(cfg: ImapSourceConfig): tls.ConnectionOptions {
  return { ...tlsClientOptions(cfg.tls), servername: cfg.tls.servername ?? (net.isIP(cfg.host) ? '' : cfg.host) };
}

function describeCert(sock: tls.TLSSocket): string {
  const c = sock.getPeerCertificate();
  const subject = c && c.subject ? (c.subject.CN ?? '') : '';
  return `${sock.getProtocol() ?? 'TLS'}, certificate ${subject ? `CN=${subject}` : '(no subject)'}${sock.authorized ? ', verified' : ', NOT verified (tls.verify is false)'}`;
}

/** Told of each step of a probe as it completes, in order (the API streams them). */
export type ProbeStepListener = (step: ProbeStep) => void;

/** Runs one step of the probe: records it (with its failure mapped to a catalogue code) and returns its value. */
type StepRunner = <T>(step: ProbeStep['step'], fn: () => Promise<{ value: T; detail: string }>) => Promise<T>;

/** A TCP connection to `addr:port` within `timeout`. */
function tcpConnect(addr: string, port: number, timeout: number): Promise<{ value: net.Socket; detail: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: addr, port });
    const t = setTimeout(() => {
      s.destroy();
      reject(Object.assign(new Error('connect timeout'), { code: 'CONNECT_TIMEOUT' }));
    }, timeout);
    s.once('connect', () => {
      clearTimeout(t);
      resolve({ value: s, detail: `TCP connection to ${addr}:${port}` });
    });
    s.once('error', (err) => {
      clearTimeout(t);
      reject(err);
    });
  });
}

/**
 * TLS over `raw`, bounded like the connect: a server that accepts the connection and then says
 * nothing must fail this step, not hang the test.
 */
function tlsUpgrade(raw: net.Socket, cfg: ImapSourceConfig, port: number, timeout: number): Promise<{ value: tls.TLSSocket; detail: string }> {
  return new Promise((resolve, reject) => {
    raw.removeAllListeners('data');
    const s = tls.connect({ ...tlsOptions(cfg), socket: raw });
    const t = setTimeout(() => {
      s.destroy();
      reject(new MailsluiceError('SOURCE_TLS_FAILED', `${cfg.host}:${port} did not complete the TLS handshake within ${timeout} ms`));
    }, timeout);
    s.once('secureConnect', () => {
      clearTimeout(t);
      resolve({ value: s, detail: describeCert(s) });
    });
    s.once('error', (err) => {
      clearTimeout(t);
      reject(err);
    });
  });
}

/** The STARTTLS step (security starttls or starttls-if-available): the socket to go on with. */
async function starttlsStep(
  run: StepRunner,
  record: (s: ProbeStep) => void,
  cfg: ImapSourceConfig,
  at: { sock: net.Socket; reader: LineReader; caps: string[]; port: number; timeout: number },
): Promise<net.Socket> {
  const { sock, reader, caps, port, timeout } = at;
  if (caps.includes('STARTTLS')) {
    return run('tls', async () => {
      sock.write('A2 STARTTLS\r\n');
      const answer = await reader.tagged('A2', timeout);
      if (!/^OK\b/i.test(answer.status)) {
        throw new MailsluiceError('SOURCE_TLS_FAILED', `${cfg.host}:${port} offers STARTTLS but refused it: ${JSON.stringify(answer.status.slice(0, 120))}`);
      }
      return tlsUpgrade(sock, cfg, port, timeout);
    });
  }
  if (cfg.security === 'starttls') {
    await run('tls', async () => {
      throw starttlsUnavailableError(`${cfg.host}:${port}`);
    });
  }
  record({ step: 'tls', ok: true, detail: 'server offers no STARTTLS; continuing unencrypted (security: starttls-if-available)', ms: 0 });
  return sock;
}

/** The auth step's sentence after an NTLM login: who, which domain, bound to the TLS channel or not. */
export function ntlmLoginSentence(n: { user: string; domain: string; channelBound: boolean }): string {
  const dom = n.domain === '' ? 'the server\'s own domain (none given)' : `domain ${JSON.stringify(n.domain)}`;
  return `logged in with NTLM (NTLMv2) as ${JSON.stringify(n.user)} in ${dom}, ${n.channelBound ? 'bound to this TLS connection (tls-server-end-point)' : 'without channel binding (no TLS)'}`;
}

/** The auth step's sentence after an OAuth2 login (never the token). */
export function oauthLoginSentence(o: { mechanism: string; user: string; renewed: boolean }): string {
  return `logged in with ${o.mechanism} as ${JSON.stringify(o.user)}${o.renewed ? ' (the first token was refused; a new one was accepted)' : ''}`;
}

/** Auth, mailbox and count through the real source, so what passes here is what the drain will do. */
async function sourceSteps(run: StepRunner, steps: ProbeStep[], cfg: ImapSourceConfig, logger: Logger, runtime: SourceRuntime): Promise<ProbeResult> {
  // OAuth2: a token first (from the source the caller handed over), which the login then uses.
  if (isOAuthType(cfg.auth.type)) {
    await run('token', async () => {
      const said = await tokenStep(runtime.accessTokens, `connection ${cfg.name}`);
      return { value: undefined, detail: `${cfg.auth.tokenUrl !== undefined ? 'obtained' : 'using'} ${said}` };
    });
  }
  const source = new ImapSource(cfg, logger, runtime);
  try {
    await run('auth', async () => {
      await source.connect();
      const ntlm = source.ntlmLogin;
      if (ntlm) return { value: undefined, detail: ntlmLoginSentence(ntlm) };
      const oauth = source.oauthLogin;
      if (oauth) return { value: undefined, detail: oauthLoginSentence(oauth) };
      return { value: undefined, detail: cfg.auth.type === 'none' ? 'no authentication (auth: none)' : `logged in as ${JSON.stringify(cfg.auth.username ?? '')}` };
    });
    const session = await run('mailbox', async () => {
      const s = await source.open();
      return { value: s, detail: `opened ${JSON.stringify(cfg.mailbox)} (UIDVALIDITY ${s.uidValidity})` };
    });
    await run('count', async () => ({ value: undefined, detail: `${session.exists} message${session.exists === 1 ? '' : 's'} in the mailbox` }));
    return { ok: true, steps, messages: session.exists, tls: source.tlsInUse === true };
  } finally {
    await source.close();
  }
}

/**
 * The step-by-step IMAP connection test (SPEC "test connection"): resolve, connect, TLS,
 * greeting, capabilities on a raw socket, then auth, mailbox and count through the real source,
 * so what passes here is what the drain will do.
 */
export async function probeImap(cfg: ImapSourceConfig, logger: Logger, onStep?: ProbeStepListener, runtime: SourceRuntime = {}): Promise<ProbeResult> {
  const steps: ProbeStep[] = [];
  const record = (s: ProbeStep): void => {
    steps.push(s);
    onStep?.(s);
  };
  const port = cfg.security === 'tls' ? cfg.tlsPort : cfg.port;
  const timeout = cfg.connectTimeoutMs || 30000;
  const ctx = imapErrorContext(cfg);
  const run: StepRunner = async (step, fn) => {
    const t0 = Date.now();
    try {
      const { value, detail } = await fn();
      record({ step, ok: true, detail, ms: Date.now() - t0 });
      return value;
    } catch (err) {
      const e = mapImapError(err, ctx);
      record({ step, ok: false, detail: e.message, code: e.code, ms: Date.now() - t0 });
      throw e;
    }
  };
  let sock: net.Socket | null = null;
  try {
    const addr = await run('resolve', async () => {
      const a = await lookup(cfg.host);
      return { value: a.address, detail: `${cfg.host} is ${a.address}` };
    });
    sock = await run('connect', () => tcpConnect(addr, port, timeout));
    if (cfg.security === 'tls') sock = await run('tls', () => tlsUpgrade(sock!, cfg, port, timeout));
    const reader = new LineReader(sock);
    await run('greeting', async () => {
      const g = await reader.next(timeout);
      if (!/^\* (OK|PREAUTH)\b/i.test(g)) throw new MailsluiceError('SOURCE_GREETING_INVALID', `${cfg.host}:${port} did not greet as an IMAP server: ${JSON.stringify(g.slice(0, 80))}`);
      return { value: g, detail: g.slice(0, 120) };
    });
    const caps = await run('capabilities', async () => {
      sock!.write('A1 CAPABILITY\r\n');
      const r = await reader.tagged('A1', timeout);
      const line = r.untagged.find((l) => /^\* CAPABILITY /i.test(l)) ?? '';
      const list = line.replace(/^\* CAPABILITY /i, '').split(' ').filter(Boolean).map((x) => x.toUpperCase());
      return { value: list, detail: list.join(' ') };
    });
    if (cfg.security === 'starttls' || cfg.security === 'starttls-if-available') sock = await starttlsStep(run, record, cfg, { sock, reader, caps, port, timeout });
    sock.destroy();
    sock = null;
    return await sourceSteps(run, steps, cfg, logger, runtime);
  } catch {
    return { ok: false, steps };
  } finally {
    sock?.destroy();
  }
}
