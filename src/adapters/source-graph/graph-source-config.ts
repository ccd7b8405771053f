/**
 * What the Graph source reads: the connection's settings, the client options built from them, and
 * the fixed values behind the adapter (`GRAPH_TUNING`), each with its reason. The app-only token
 * comes from the composition root (`app/access-tokens.ts`), as IMAP's and POP3's do.
 */
import { MailsluiceError } from '../../core/errors/index.js';
import { SERVER_SILENCE } from '../../core/ports/mailbox-source.js';
import type { ConnectionConfig, GraphConfig } from '../../config/loader.js';
import { tlsClientOptions } from '../tls-node/tls-client-options.js';

/** The Graph source needs the connection's settings, as validated by the one schema. */
export type GraphSourceConfig = Pick<ConnectionConfig, 'name' | 'graph' | 'tls' | 'unseenOnly' | 'deletePolicy' | 'moveTo' | 'connectTimeoutMs' | 'dataTimeoutMs'>;

/** Tunables with their reasons; not operator settings. */
export const GRAPH_TUNING = {
  /** The Graph version every path is under: v1.0, the one Microsoft supports for production use (beta may change without notice). */
  version: 'v1.0',
  /**
   * A message whose `/$value` answer says (Content-Length) it is at most this big is read whole
   * and handed over `buffered`, so the blob writer stores it while the next one is fetched; a
   * bigger one, or one without a length, streams into the blob store, never whole in memory.
   */
  bufferUpToBytes: 1024 * 1024,
  /** Messages per listing page (`$top`): the listing asks only id and receivedDateTime, so a page is small; Graph allows up to 1000. */
  listPageSize: 500,
  /** Requests per `$batch`: Graph's limit (JSON batching: "currently limited to 20"). */
  batchSize: 20,
  /** How many times a throttled request (HTTP 429/503, or one request of a `$batch`) is waited out and sent again before the cycle fails. */
  throttleRetries: 5,
  /** Longest single wait on a throttling answer; a server asking more is waited this long and asked again (the retries bound the total). */
  throttleMaxWaitMs: 5 * 60 * 1000,
  /** Throttled without a Retry-After: wait this long. */
  throttleDefaultWaitMs: 2000,
  /** With `dataTimeoutMs` 0: the silence a request may wait through, and how often a warning is logged meanwhile (`SERVER_SILENCE`). */
  silenceLimitMs: SERVER_SILENCE.limitMs,
  silenceWarnEveryMs: SERVER_SILENCE.warnEveryMs,
  /** Longest JSON answer read whole (every answer but `/$value`): a server that sends more is refused. */
  maxJsonBytes: 32 * 1024 * 1024,
  /**
   * Small messages' `/$value` requests in flight ahead of the one handed over, in listing order.
   * With one ahead the main thread sat idle waiting on each round trip (docs/benchmark.md,
   * fifteenth session); four measured 674–895 msgs/s against 485–746 with one (ADR 0048,
   * Revision). Four is also Exchange Online's limit of concurrent requests per app and mailbox,
   * and the source sends nothing else meanwhile (`concurrentActions` false). At most this many
   * times `bufferUpToBytes` is held ahead; a large (streamed) message is read alone.
   */
  valueAhead: 4,
  /** Sockets kept alive to Graph: one per `/$value` in flight (`valueAhead`), one spare for a request whose socket the server closed meanwhile. */
  sockets: 5,
} as const;

/** Where Graph is: scheme, host, port, and the origin nextLinks must stay on. */
export interface GraphEndpoint {
  secure: boolean;
  host: string;
  port: number;
  /** `https://graph.microsoft.com` (no trailing slash), for sentences, the token scope and nextLinks. */
  origin: string;
}

/** `graph.endpoint` split; CONFIG_INVALID when it is no http(s) URL. */
export function graphEndpoint(name: string, endpoint: string): GraphEndpoint {
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    throw new MailsluiceError('CONFIG_INVALID', `connection ${name}: graph.endpoint ${JSON.stringify(endpoint)} is not a URL (write e.g. https://graph.microsoft.com)`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new MailsluiceError('CONFIG_INVALID', `connection ${name}: graph.endpoint must be an https URL`);
  const secure = u.protocol === 'https:';
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return { secure, host, port: u.port ? Number(u.port) : secure ? 443 : 80, origin: u.origin };
}

/** TLS settings, in node:tls terms. */
export type GraphTlsOptions = ReturnType<typeof tlsClientOptions>;

/** Options of `GraphClient`. */
export interface GraphClientOptions {
  endpoint: GraphEndpoint;
  /** `/users/{mailbox}`, the root of every mailbox path (under the version). */
  userPath: string;
  /** `graph.mailbox` as configured, for sentences. */
  mailbox: string;
  tls: GraphTlsOptions;
  /** Bounds the TCP connect and the TLS handshake; 0 = none. */
  connectTimeoutMs: number;
  /** Drop the request when nothing arrives for this long while waiting on the server; 0 = `silence`. */
  dataTimeoutMs: number;
  /** With `dataTimeoutMs` 0: the limit on silence and how often to warn of it. */
  silence?: { limitMs: number; warnEveryMs: number; onSilence?: (silentMs: number, waitingFor: string) => void };
}

/** The `graph` section, or CONFIG_INVALID naming what is missing. */
export function graphSettings(cfg: Pick<GraphSourceConfig, 'name' | 'graph'>): GraphConfig {
  if (!cfg.graph) throw new MailsluiceError('CONFIG_INVALID', `connection ${cfg.name}: protocol graph needs the graph section (tenant, clientId, clientSecret or clientCertificate, mailbox)`);
  return cfg.graph;
}

/** Builds the Graph client's options from the connection settings. */
export function graphClientOptions(cfg: GraphSourceConfig): GraphClientOptions {
  const g = graphSettings(cfg);
  return {
    endpoint: graphEndpoint(cfg.name, g.endpoint),
    userPath: `/users/${encodeURIComponent(g.mailbox)}`,
    mailbox: g.mailbox,
    tls: tlsClientOptions(cfg.tls),
    connectTimeoutMs: cfg.connectTimeoutMs,
    dataTimeoutMs: cfg.dataTimeoutMs,
    silence: { limitMs: GRAPH_TUNING.silenceLimitMs, warnEveryMs: GRAPH_TUNING.silenceWarnEveryMs },
  };
}
