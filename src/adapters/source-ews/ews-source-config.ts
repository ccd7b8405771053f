/**
 * What the EWS source reads: the connection's settings, the client options built from them, and
 * the fixed values behind the adapter (`EWS_TUNING`), each with its reason.
 */
import { MailsluiceError } from '../../core/errors/index.js';
import { tlsClientOptions } from '../tls-node/tls-client-options.js';
import { SERVER_SILENCE } from '../../core/ports/mailbox-source.js';
import type { ConnectionConfig } from '../../config/loader.js';

/** The EWS source needs the connection's settings, as validated by the one schema. */
export type EwsSourceConfig = Pick<
  ConnectionConfig,
  | 'name'
  | 'ews'
  | 'tls'
  | 'auth'
  | 'mailbox'
  | 'unseenOnly'
  | 'idle'
  | 'idleSafetyPollMs'
  | 'deletePolicy'
  | 'moveTo'
  | 'connectTimeoutMs'
  | 'dataTimeoutMs'
>;

/** The Exchange versions of the config (`ews.version`). */
export type EwsVersion = NonNullable<ConnectionConfig['ews']>['version'];

/** `ews.version` → the `RequestServerVersion` value it asks for (MS-OXWSCDATA 2.2.5.x `ExchangeVersionType`). */
export const REQUEST_SERVER_VERSION: Readonly<Record<EwsVersion, string>> = {
  '2007SP1': 'Exchange2007_SP1',
  '2010': 'Exchange2010',
  '2010SP1': 'Exchange2010_SP1',
  '2010SP2': 'Exchange2010_SP2',
  '2013': 'Exchange2013',
  '2013SP1': 'Exchange2013_SP1',
  '2016': 'Exchange2016',
};

/** Whether `version` has streaming notifications (Exchange 2010 SP1 and later); before it, pull subscriptions. */
export function hasStreamingNotifications(version: EwsVersion): boolean {
  return version !== '2007SP1' && version !== '2010';
}

/** Tunables with their reasons; not operator settings. */
export const EWS_TUNING = {
  /**
   * An item FindItem says is at most this big is fetched in a batch with others and handed over
   * `buffered`, so the blob writer stores it while the next batch is fetched; a bigger one gets a
   * GetItem of its own and its MimeContent is decoded as it streams into the blob store, never
   * whole in memory. FindItem's `item:Size` counts the whole item (properties too), so it is an
   * upper bound of the MIME size, which keeps the bound conservative.
   */
  bufferUpToBytes: 1024 * 1024,
  /**
   * ItemIds per batched GetItem: with items under {@link bufferUpToBytes} a response holds at
   * most about 16 MiB of base64 (held decoded, 12 MiB), while a round trip per 16 small items is
   * already hidden behind hashing and writing them. Exchange's default throttling policy allows far
   * more ids per request (EWSFindCountLimit and friends concern finds, not GetItem).
   */
  getItemBatch: 16,
  /** Items per FindItem page: Exchange caps a page at 1000 by default (EWSFindCountLimit). */
  findPageSize: 500,
  /**
   * Most changes per SyncFolderItems page (MaxChangesReturned is 1 to 512 by the schema); a
   * listing asks for no more than its cycle takes, so a page it could not take whole is short.
   */
  syncPageSize: 512,
  /** ItemIds per DeleteItem / MoveItem / UpdateItem: well under Exchange's per-request limits, one round trip for a usual cycle. */
  actionBatch: 250,
  /** How many times a throttled request (ErrorServerBusy, HTTP 503/429) is waited out and sent again before the cycle fails. */
  throttleRetries: 5,
  /** Longest single wait on a throttling answer; a server asking more is waited this long and asked again (the retries bound the total). */
  throttleMaxWaitMs: 5 * 60 * 1000,
  /** Throttled without a BackOffMilliseconds or Retry-After: wait this long. */
  throttleDefaultWaitMs: 2000,
  /**
   * Minutes a GetStreamingEvents request stays open (ConnectionTimeout, 1 to 30): well under the
   * 30 minutes proxies and load balancers in front of Exchange tend to allow an idle response.
   */
  streamingConnectionMinutes: 10,
  /** Minutes a pull subscription lives without a GetEvents (Timeout, 1 to 1440): a missed poll or two does not lose it. */
  pullTimeoutMinutes: 10,
  /** Pause between GetEvents polls of a pull subscription while waiting for new mail. */
  pullEveryMs: 5000,
  /** With `dataTimeoutMs` 0: the silence a request may wait through, and how often a warning is logged meanwhile (`SERVER_SILENCE`). */
  silenceLimitMs: SERVER_SILENCE.limitMs,
  silenceWarnEveryMs: SERVER_SILENCE.warnEveryMs,
  /** Longest SOAP answer read whole (every answer but GetItem's MimeContent): a server that sends more is refused. */
  maxEnvelopeBytes: 64 * 1024 * 1024,
} as const;

/** Where the EWS endpoint is: `ews.url` split into host, port and path. */
export interface EwsEndpoint {
  host: string;
  port: number;
  path: string;
}

/**
 * Splits `ews.url` (`host[:port]/path`, no scheme: always HTTPS) into host, port and path.
 * Throws CONFIG_INVALID for a URL with a scheme or without a host.
 */
export function ewsEndpoint(name: string, url: string): EwsEndpoint {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new MailsluiceError('CONFIG_INVALID', `connection ${name}: ews.url ${JSON.stringify(url)} has a protocol prefix; write it without one (EWS is always HTTPS), e.g. mail.example.com/EWS/Exchange.asmx`);
  }
  let u: URL;
  try {
    u = new URL(`https://${url}`);
  } catch {
    throw new MailsluiceError('CONFIG_INVALID', `connection ${name}: ews.url ${JSON.stringify(url)} is not host[:port]/path`);
  }
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  return { host, port: u.port ? Number(u.port) : 443, path: `${u.pathname}${u.search}` || '/EWS/Exchange.asmx' };
}

/** Login settings. */
export interface EwsAuthOptions {
  type: 'none' | 'basic' | 'ntlm';
  username?: string;
  /** Windows domain (ntlm only; else from `DOMAIN\\user`). */
  domain?: string;
  password?: string;
}

/** TLS settings, in node:tls terms. */
export type EwsTlsOptions = ReturnType<typeof tlsClientOptions>;

/** Options of `EwsClient`. */
export interface EwsClientOptions {
  endpoint: EwsEndpoint;
  /** The `RequestServerVersion` sent with every request (`Exchange2016`, …). */
  requestVersion: string;
  /** `ews.version` as configured, for sentences. */
  version: EwsVersion;
  tls: EwsTlsOptions;
  auth: EwsAuthOptions;
  /** Bounds the TCP connect and the TLS handshake; 0 = none. */
  connectTimeoutMs: number;
  /** Drop the request when nothing arrives for this long while waiting on the server; 0 = `silence`. */
  dataTimeoutMs: number;
  /** With `dataTimeoutMs` 0: the limit on silence and how often to warn of it. */
  silence?: { limitMs: number; warnEveryMs: number; onSilence?: (silentMs: number, waitingFor: string) => void };
}

/** Builds the EWS client's options from the connection settings. */
export function ewsClientOptions(cfg: EwsSourceConfig): EwsClientOptions {
  if (!cfg.ews) throw new MailsluiceError('CONFIG_INVALID', `connection ${cfg.name}: protocol ews needs the ews section (url, version)`);
  if (cfg.auth.type !== 'none' && cfg.auth.type !== 'basic' && cfg.auth.type !== 'ntlm') {
    throw new MailsluiceError('SOURCE_AUTH_UNSUPPORTED', `connection ${cfg.name}: auth ${cfg.auth.type} is not available over EWS in this build (use ntlm, basic or none)`);
  }
  return {
    endpoint: ewsEndpoint(cfg.name, cfg.ews.url),
    requestVersion: REQUEST_SERVER_VERSION[cfg.ews.version],
    version: cfg.ews.version,
    tls: tlsClientOptions(cfg.tls),
    auth: {
      type: cfg.auth.type,
      ...(cfg.auth.username !== undefined ? { username: cfg.auth.username } : {}),
      ...(cfg.auth.password !== undefined ? { password: cfg.auth.password } : {}),
      ...(cfg.auth.domain !== undefined ? { domain: cfg.auth.domain } : {}),
    },
    connectTimeoutMs: cfg.connectTimeoutMs,
    dataTimeoutMs: cfg.dataTimeoutMs,
    silence: { limitMs: EWS_TUNING.silenceLimitMs, warnEveryMs: EWS_TUNING.silenceWarnEveryMs },
  };
}
