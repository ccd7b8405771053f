/**
 * Options of a relay mailsluice sends its own mail through (a connection's `testRelay`, an e-mail
 * alert channel's `relay`), with the defaults the config loader fills in, and who is sending.
 */
import type { ErrorCode } from '../../core/errors/index.js';

/** Where and how to send: a validated relay (config/loader.ts `RelayConfig`) and the sender's role. */
export interface RelayOptions {
  host: string;
  port: number;
  protocol: 'smtp' | 'lmtp';
  /** tls: implicit TLS; starttls: required (a relay that does not offer it fails); starttls-if-available: when offered; none: plain text. */
  security: 'tls' | 'starttls' | 'starttls-if-available' | 'none';
  tls: { verify: boolean; ca?: string; servername?: string };
  /** SMTP AUTH; the password never appears in an error or log. */
  auth?: { user: string; pass: string };
  /** Time limit for connecting, the greeting and any silence of the relay, in ms. */
  timeoutMs: number;
  /** How a failure's sentence names the relay, e.g. `test relay` or `alert channel ops_mail: relay`. */
  label: string;
  /** The setting the relay comes from, for the sentence's advice (`testRelay`, `alerts.channels[1].relay`). */
  setting: string;
  /** The catalogue code of a failure: the sender's (`PROBE_RELAY_FAILED`, `ALERT_SEND_FAILED`). */
  failure: ErrorCode;
}

/** One message to send: the envelope, and the bytes as they go out (nothing is added to them). */
export interface OutgoingMessage {
  from: string;
  to: readonly string[];
  raw: Uint8Array;
}

/** What the relay answered: the recipients it accepted and its last reply line. */
export interface RelayReceipt {
  accepted: string[];
  response: string;
}

/** `host:port` as sentences name the relay (an IPv6 host in brackets). */
export function relayAddress(o: Pick<RelayOptions, 'host' | 'port'>): string {
  return `${o.host.includes(':') ? `[${o.host}]` : o.host}:${o.port}`;
}
