/**
 * Opening an IMAP session (ADR 0009): imapflow connects, negotiates TLS, authenticates and
 * SELECTs with this connection's settings, then hands its socket to a new {@link ImapWire}. The
 * source opens its main session and its action session this way.
 */
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import type { SourceRuntime } from '../../core/ports/mailbox-source.js';
import type { Logger } from '../../core/ports/logger.js';
import { MailsluiceError } from '../../core/errors/index.js';
import { ImapWire } from './imap-wire.js';
import { useNtlm, type NtlmLoginInfo } from './imap-ntlm.js';
import { useOAuth, type OAuthLoginInfo } from './imap-oauth.js';
import type { AccessTokenSource } from '../../core/ports/access-token-source.js';
import { tlsClientOptions } from '../tls-node/tls-client-options.js';
import { IMAP_TUNING, type ImapSourceConfig } from './imap-source-config.js';
import { mapMarkSeenError, mapSelectError, mapSessionError, type ImapErrorContext } from './imap-error-map.js';

/** Builds imapflow's options from the connection settings. */
export function imapFlowOptions(cfg: ImapSourceConfig, silenceLimitMs: number = IMAP_TUNING.silenceLimitMs): ImapFlowOptions {
  const implicitTls = cfg.security === 'tls';
  const tls = tlsClientOptions(cfg.tls);
  const options: ImapFlowOptions = {
    host: cfg.host,
    port: implicitTls ? cfg.tlsPort : cfg.port,
    secure: implicitTls,
    // imapflow: true = STARTTLS required, false = never, undefined = when offered.
    doSTARTTLS: cfg.security === 'starttls' ? true : cfg.security === 'none' ? false : undefined,
    tls,
    logger: false,
    connectionTimeout: cfg.connectTimeoutMs || IMAP_TUNING.noTimeoutMs,
    greetingTimeout: cfg.connectTimeoutMs || IMAP_TUNING.noTimeoutMs,
    // Login and SELECT run under imapflow: the same bound on silence as ImapWire's commands.
    socketTimeout: cfg.dataTimeoutMs || silenceLimitMs || IMAP_TUNING.noTimeoutMs,
    // imapflow only opens the session; ImapWire drives it after SELECT (ADR 0009), so imapflow
    // must not IDLE, compress or ENABLE extensions that would change the answers ImapWire reads.
    disableAutoIdle: true,
    disableCompression: true,
    disableAutoEnable: true,
    clientInfo: { name: 'mailsluice' },
  } as ImapFlowOptions;
  if (cfg.auth.type === 'ntlm') {
    // The NTLM step replaces imapflow's login (useNtlm); imapflow is given no password at all,
    // so nothing of it can ever go out as LOGIN or PLAIN.
    (options as { auth?: unknown }).auth = { user: cfg.auth.username ?? '' };
  } else if (cfg.auth.type === 'xoauth2' || cfg.auth.type === 'oauthbearer') {
    // The token is set at login time by useOAuth, from the connection's token source.
    (options as { auth?: unknown }).auth = { user: cfg.auth.username ?? '' };
  } else if (cfg.auth.type !== 'none') {
    const auth: Record<string, unknown> = { user: cfg.auth.username ?? '', pass: cfg.auth.password ?? '' };
    // "Disable plain auth": the IMAP LOGIN command instead of AUTHENTICATE PLAIN (Exchange bug).
    if (cfg.auth.disablePlain) auth.loginMethod = 'LOGIN';
    (options as { auth?: unknown }).auth = auth;
  }
  return options;
}

/** The session an action or drain runs on: ImapWire over a socket imapflow opened and SELECTed. */
export interface OpenedSession {
  wire: ImapWire;
  uidValidity: number;
  exists: number;
  /** The mailbox's PERMANENTFLAGS (undefined when the server sent none). */
  permanentFlags: Set<string> | undefined;
}

/**
 * Opens the sessions of one source, and maps their failures: it keeps the last error imapflow
 * emitted (e.g. its socket timeout) to name the cause of a connection closed under a command.
 */
export class ImapSessionOpener {
  /** The last error imapflow emitted, to name the cause of a closed connection. */
  private lastClientError: unknown;
  /** Who the last NTLM login was (auth ntlm), for the connection test's sentence. */
  ntlmLogin: NtlmLoginInfo | undefined;
  /** How the last OAuth2 login went (auth xoauth2 / oauthbearer), for the connection test's sentence. */
  oauthLogin: OAuthLoginInfo | undefined;

  constructor(
    private readonly cfg: ImapSourceConfig,
    private readonly logger: Logger,
    private readonly runtime: SourceRuntime,
    private readonly ctx: ImapErrorContext & { mailbox: string },
  ) {}

  /** `host:port`, for messages. */
  get where(): string {
    return `${this.ctx.host}:${this.ctx.port}`;
  }

  /** The bound on a silent server (with `dataTimeoutMs` 0) and the warning interval. */
  get silence(): { limitMs: number; warnEveryMs: number } {
    return this.runtime.silence ?? { limitMs: IMAP_TUNING.silenceLimitMs, warnEveryMs: IMAP_TUNING.silenceWarnEveryMs };
  }

  /** The connection's OAuth2 token source, as the composition root handed it over (SourceRuntime). */
  get tokens(): AccessTokenSource {
    const t = this.runtime.accessTokens;
    if (!t) throw new MailsluiceError('CONFIG_INVALID', `auth is ${this.cfg.auth.type} for IMAP server ${this.where} but no token source was handed to the source`);
    return t;
  }

  /** Any failure of these sessions as a catalogue error (imapflow's errors stop here). */
  wrap(err: unknown): MailsluiceError {
    return mapSessionError(err, this.ctx, this.lastClientError);
  }

  /** A failure to flag `count` messages `\Seen` that could not be archived, as a catalogue error. */
  wrapMarkSeen(err: unknown, count: number): MailsluiceError {
    return mapMarkSeenError(err, count, this.ctx, this.lastClientError);
  }

  /** A new imapflow client with this connection's settings; its errors are kept to name a later failure. */
  newClient(logger?: ImapFlowOptions['logger']): ImapFlow {
    const client = new ImapFlow({ ...imapFlowOptions(this.cfg, this.silence.limitMs), ...(logger ? { logger } : {}) });
    if (this.cfg.auth.type === 'ntlm') useNtlm(client, this.cfg, this.where, (info) => (this.ntlmLogin = info));
    if (this.cfg.auth.type === 'xoauth2' || this.cfg.auth.type === 'oauthbearer') useOAuth(client, this.cfg, this.where, this.tokens, (info) => (this.oauthLogin = info));
    // An 'error' without a listener would crash the process; the next command reports it instead.
    client.on('error', (err: unknown) => {
      this.lastClientError = err;
      this.logger.debug('imap client error', { error: String((err as Error)?.message ?? err) });
    });
    return client;
  }

  /**
   * SELECTs the mailbox on a connected imapflow client and hands its socket to a new ImapWire.
   * The client is spent afterwards (imapflow marks it unusable and detaches its handlers).
   */
  async select(client: ImapFlow): Promise<OpenedSession> {
    let mb;
    try {
      mb = await client.mailboxOpen(this.cfg.mailbox);
    } catch (err) {
      throw mapSelectError(err, this.ctx, this.lastClientError);
    }
    const { readSocket, writeSocket } = client.unbind();
    const { limitMs, warnEveryMs } = this.silence;
    const wire = new ImapWire(
      readSocket,
      {
        dataTimeoutMs: this.cfg.dataTimeoutMs,
        where: this.where,
        silenceLimitMs: limitMs,
        warnEveryMs,
        onSilence: (ms, command) => {
          const verb = /^(UID \S+|\S+)/.exec(command)?.[1] ?? command;
          this.logger.warn(`no data from the server for ${Math.round(ms / 1000)} s during ${verb}`, { command: verb, silentMs: ms, limitMs: this.cfg.dataTimeoutMs || limitMs });
        },
      },
      writeSocket,
    );
    return { wire, uidValidity: Number(mb.uidValidity), exists: mb.exists, permanentFlags: mb.permanentFlags };
  }
}
