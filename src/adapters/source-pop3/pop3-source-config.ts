/**
 * What the POP3 source reads: the connection's settings, the client options built from them, and
 * the fixed values behind the adapter (`POP3_TUNING`, `POP3_LIMITS`), each with its reason.
 */
import type { AccessTokenSource } from '../../core/ports/access-token-source.js';
import { tlsClientOptions } from '../tls-node/tls-client-options.js';
import { SERVER_SILENCE } from '../../core/ports/mailbox-source.js';
import type { ConnectionConfig } from '../../config/loader.js';

/** The POP3 source needs the connection's settings, as validated by the one schema. */
export type Pop3SourceConfig = Pick<
  ConnectionConfig,
  'name' | 'host' | 'port' | 'tlsPort' | 'security' | 'tls' | 'auth' | 'deletePolicy' | 'expungeEvery' | 'connectTimeoutMs' | 'dataTimeoutMs'
>;

/** Tunables with their reasons; not operator settings. */
export const POP3_TUNING = {
  /**
   * A message LIST announces at most this big is read whole and handed over `buffered`, so the
   * blob writer hashes and compresses it while the next RETR runs; a bigger one is streamed to
   * the blob store chunk by chunk and never sits whole in memory (a 100 MB message included).
   */
  bufferUpToBytes: 1024 * 1024,
  /** UIDL keys asked of the archive per round when skipping what was taken already (`leave`). */
  settledLookupBatch: 1000,
  /** How long QUIT may take when closing before the socket is simply dropped. */
  quitTimeoutMs: 5000,
  /**
   * With `dataTimeoutMs` 0: the silence a command may wait through before the session is dropped
   * (SOURCE_DATA_TIMEOUT), and how often a warning is logged meanwhile (`SERVER_SILENCE` has the
   * reasons). Lowered for tests through the app (MAILSLUICE_SILENCE_LIMIT_MS / _WARN_MS).
   */
  silenceLimitMs: SERVER_SILENCE.limitMs,
  silenceWarnEveryMs: SERVER_SILENCE.warnEveryMs,
} as const;

/** The client's fixed limits with their reasons; not operator settings. */
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
   * RETRs kept ahead of the one being read when the server offers PIPELINING (`Pop3Client.retrMany`):
   * enough to hide the round trip behind handing a small message over, few enough that the
   * messages in flight stay small (callers use it for messages up to 1 MiB).
   */
  retrWindow: 8,
  /** DELE commands per write when the server offers PIPELINING: a few KB of commands. */
  deleWindow: 250,
  /** setTimeout's ceiling: a longer wait is checked again when it fires. */
  maxTimerMs: 2_147_483_647,
} as const;

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
  type: 'none' | 'basic' | 'ntlm' | 'xoauth2' | 'oauthbearer';
  username?: string;
  /** Windows domain (ntlm only; else from `DOMAIN\\user`). */
  domain?: string;
  password?: string;
  /** Never use SASL PLAIN (AUTH LOGIN or USER/PASS instead). */
  disablePlain: boolean;
  /** Log in with APOP (needs the `<timestamp>` of the greeting); not in the config schema yet. */
  apop?: boolean;
  /** xoauth2 / oauthbearer: where the tokens come from. */
  tokens?: AccessTokenSource;
}

/** The steps of `Pop3Client.connect`, in the order they can complete or fail. */
export type Pop3ConnectStep = 'connect' | 'tls' | 'greeting' | 'capabilities' | 'auth';

/**
 * With `dataTimeoutMs` 0: the silence a wait may still last before the connection is dropped
 * (`limitMs`, 0 = never), and how often `onSilence` is told meanwhile (also under a
 * `dataTimeoutMs`).
 */
export interface Pop3Silence {
  limitMs: number;
  warnEveryMs: number;
  onSilence?: (silentMs: number, waitingFor: string) => void;
}

/** Options of `Pop3Client.connect`. */
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
  /** See {@link Pop3Silence}. Absent: no limit and no warnings. */
  silence?: Pop3Silence;
  /**
   * Called as each step of `Pop3Client.connect` completes, with a sentence for the
   * operator (never a secret): the connection test reports these as its steps.
   */
  onProgress?: (step: Pop3ConnectStep, detail: string) => void;
}

/**
 * Builds the POP3 client's options from the connection settings. OAuth2 logins take their tokens
 * from `accessTokens`, the connection's token source as the composition root handed it over.
 */
export function pop3ClientOptions(cfg: Pop3SourceConfig, accessTokens?: AccessTokenSource): Pop3ClientOptions {
  const tls: Pop3TlsOptions = tlsClientOptions(cfg.tls) as Pop3TlsOptions;
  const tokens = cfg.auth.type === 'xoauth2' || cfg.auth.type === 'oauthbearer' ? accessTokens : undefined;
  return {
    host: cfg.host,
    port: cfg.security === 'tls' ? cfg.tlsPort : cfg.port,
    security: cfg.security,
    tls,
    auth: {
      type: cfg.auth.type,
      ...(cfg.auth.username !== undefined ? { username: cfg.auth.username } : {}),
      ...(cfg.auth.password !== undefined ? { password: cfg.auth.password } : {}),
      ...(cfg.auth.domain !== undefined ? { domain: cfg.auth.domain } : {}),
      disablePlain: cfg.auth.disablePlain,
      apop: cfg.auth.apop,
      ...(tokens ? { tokens } : {}),
    },
    connectTimeoutMs: cfg.connectTimeoutMs,
    dataTimeoutMs: cfg.dataTimeoutMs,
    // The connection test too: a server that goes silent after its greeting must not hang it.
    silence: { limitMs: POP3_TUNING.silenceLimitMs, warnEveryMs: POP3_TUNING.silenceWarnEveryMs },
  };
}
