/**
 * Options of the relay a connection's probe test sends through (`testRelay`), with the defaults
 * the config loader fills in.
 */

/** Where and how to send: a validated `testRelay` (config/loader.ts `TestRelayConfig`). */
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
}

/** One message to send: the envelope, and the bytes as they go out (nothing is added to them). */
export interface OutgoingMessage {
  from: string;
  to: readonly string[];
  raw: Buffer;
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
