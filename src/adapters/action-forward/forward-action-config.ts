/**
 * Options of the `forward` scenario action, their defaults and their checks.
 */
import { MailsluiceError } from '../../core/errors/index.js';

/** Options of {@link createForwardAction} (what a route's `forward` step configures). */
export interface ForwardActionOptions {
  /** Envelope recipients (RCPT TO). The message's own To/Cc headers are not looked at. */
  to: string[];
  /** The relay as `host`, `host:port`, or `[ipv6]:port`. Port default: 24 with `lmtp`, 465 with `secure`, else 25. */
  relay: string;
  /**
   * Envelope sender (MAIL FROM). Default: the null sender `<>`, so a bounce of a forwarded copy
   * never goes back to the original sender (who did not send it to these recipients) and cannot
   * loop into the journal mailbox. Set it when the relay refuses a null sender.
   */
  from?: string;
  /** Implicit TLS from the first byte (port 465). Otherwise STARTTLS is used when the relay offers it. */
  secure?: boolean;
  /** Speak LMTP (LHLO, one reply per recipient) instead of SMTP, e.g. to deliver into Dovecot. */
  lmtp?: boolean;
  /** The route's system name, for error sentences and logs. */
  route: string;
  /** SMTP AUTH credentials; the password never appears in an error or log. */
  auth?: { user: string; pass: string };
  /** TLS checks: `verify` (default true) and a PEM `ca` to trust, `servername` for SNI and the name check. */
  tls?: { verify?: boolean; ca?: string; servername?: string };
  /** Time limit for connecting, for the greeting and for any silence from the relay, in ms. Default 60,000. */
  timeoutMs?: number;
  /** Connections kept open to the relay and used in parallel. Default 2. */
  connections?: number;
}

/** {@link ForwardActionOptions} validated, with defaults filled in. */
export interface ForwardActionConfig {
  readonly to: readonly string[];
  readonly host: string;
  readonly port: number;
  /** The envelope sender; "" is the null sender. */
  readonly from: string;
  readonly secure: boolean;
  readonly lmtp: boolean;
  readonly route: string;
  readonly auth: { readonly user: string; readonly pass: string } | undefined;
  readonly tls: { readonly verify: boolean; readonly ca: string | undefined; readonly servername: string | undefined };
  readonly timeoutMs: number;
  readonly connections: number;
}

/** Defaults with their reasons. */
export const FORWARD_DEFAULTS = {
  /**
   * One minute for each wait: nodemailer's own (2 min to connect, 10 min of silence) would hold a
   * bus lane for minutes when a relay hangs; one minute is ample for a relay on the same network.
   */
  timeoutMs: 60_000,
  /** Two connections: enough to overlap one message's DATA with the next one's envelope. */
  connections: 2,
  /**
   * A pooled connection is closed and reopened after this many messages, so a relay's
   * per-session limits (Postfix `smtpd_client_message_rate_limit`, Exchange's 100) are never hit.
   */
  messagesPerConnection: 100,
} as const;

/** An address as an envelope path may carry it: no spaces, controls or angle brackets. */
const ENVELOPE_ADDRESS = /^[^\s<>\x00-\x1f\x7f]+$/;

/** Splits `host`, `host:port` or `[v6]:port`; the port is undefined when not given. */
export function parseRelay(relay: string): { host: string; port: number | undefined } | undefined {
  const m = /^\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?$/.exec(relay) ?? /^([^\s:/[\]]+)(?::(\d{1,5}))?$/.exec(relay);
  if (!m) return undefined;
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  return { host: m[1]!, port };
}

/** Validates options and fills in defaults; throws `CONFIG_INVALID` for a wiring mistake. */
export function resolveForwardActionConfig(options: ForwardActionOptions): ForwardActionConfig {
  const problems: string[] = [];
  const route = options.route;
  if (typeof route !== 'string' || route === '') problems.push('route must be the route system name');
  if (!Array.isArray(options.to) || options.to.length === 0) problems.push('to must list at least one recipient');
  else {
    for (const [i, a] of options.to.entries()) {
      if (typeof a !== 'string' || !ENVELOPE_ADDRESS.test(a)) problems.push(`to[${i}] is not an address (${JSON.stringify(a)})`);
    }
  }
  const from = options.from ?? '';
  if (typeof from !== 'string' || (from !== '' && !ENVELOPE_ADDRESS.test(from))) problems.push(`from is not an address (${JSON.stringify(from)})`);
  let relay: { host: string; port: number | undefined } | undefined;
  if (typeof options.relay !== 'string' || /^[a-z][a-z0-9+.-]*:\/\//i.test(options.relay)) {
    problems.push(`relay must be host[:port] without a protocol prefix (got ${JSON.stringify(options.relay)})`);
  } else {
    relay = parseRelay(options.relay);
    if (!relay) problems.push(`relay must be host[:port] with a port from 1 to 65535 (got ${JSON.stringify(options.relay)})`);
  }
  const secure = options.secure ?? false;
  const lmtp = options.lmtp ?? false;
  const timeoutMs = options.timeoutMs ?? FORWARD_DEFAULTS.timeoutMs;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) problems.push(`timeoutMs must be a positive whole number (got ${String(timeoutMs)})`);
  const connections = options.connections ?? FORWARD_DEFAULTS.connections;
  if (!Number.isInteger(connections) || connections < 1 || connections > 32) problems.push(`connections must be from 1 to 32 (got ${String(connections)})`);
  const auth = options.auth;
  if (auth !== undefined && (typeof auth.user !== 'string' || auth.user === '' || typeof auth.pass !== 'string')) {
    // Never echo the value: it holds a password.
    problems.push('auth must be { user, pass } with a non-empty user');
  }
  if (problems.length > 0) {
    throw new MailsluiceError('CONFIG_INVALID', `forward action of route "${String(route)}": ${problems.join('; ')}.`, { details: { problems } });
  }
  const r = relay!;
  return Object.freeze({
    to: Object.freeze([...options.to]),
    host: r.host,
    port: r.port ?? (lmtp ? 24 : secure ? 465 : 25),
    from,
    secure,
    lmtp,
    route,
    auth: auth ? Object.freeze({ user: auth.user, pass: auth.pass }) : undefined,
    tls: Object.freeze({ verify: options.tls?.verify ?? true, ca: options.tls?.ca, servername: options.tls?.servername }),
    timeoutMs,
    connections,
  });
}
