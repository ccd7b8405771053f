/**
 * Options of the `publish` scenario action towards a RabbitMQ broker (AMQP 0-9-1), their
 * defaults and checks.
 */
import { MailsluiceError } from '../../core/errors/index.js';

/** Options of {@link createAmqpAction}: a route's publish step and the broker it names. */
export interface AmqpActionOptions {
  /** The route's system name, for sentences and logs. */
  route: string;
  /** The broker's name in the `brokers` section, for sentences. */
  broker: string;
  host: string;
  /** Default 5672, or 5671 with `tls`. */
  port?: number | undefined;
  /** Default `/`. */
  vhost?: string | undefined;
  /** Default `guest`. */
  username?: string | undefined;
  /** Default `guest`. */
  password?: string | undefined;
  /** Given: amqps (TLS from the first byte), checked as it says. */
  tls?: { verify?: boolean; ca?: string | undefined; servername?: string | undefined } | undefined;
  /** The exchange published to; it must exist. `""` is the default exchange (routing key = queue name). */
  exchange: string;
  /** Default `""`. */
  routingKey?: string | undefined;
  /** AMQP heartbeat in seconds (0: none). Default 30. */
  heartbeatSeconds?: number | undefined;
  /** Time limit for connecting and for the broker's confirm of one message. Default 10,000. */
  timeoutMs?: number | undefined;
  /** Attachments up to this many bytes go inline in the document. Default 0 (references only). */
  inlineAttachmentsUpTo?: number | undefined;
  /** Publishes on their way at once, awaiting their confirms (the action's `inOrder`). Default 32. */
  window?: number | undefined;
}

/** {@link AmqpActionOptions} checked, with defaults filled in. */
export interface AmqpActionConfig {
  readonly route: string;
  readonly broker: string;
  readonly host: string;
  readonly port: number;
  readonly vhost: string;
  readonly username: string;
  readonly password: string;
  readonly tls: { readonly verify: boolean; readonly ca: string | undefined; readonly servername: string | undefined } | undefined;
  readonly exchange: string;
  readonly routingKey: string;
  readonly heartbeatSeconds: number;
  readonly timeoutMs: number;
  readonly inlineAttachmentsUpTo: number;
  readonly window: number;
}

/** Defaults with their reasons. */
export const AMQP_DEFAULTS = {
  /** A broker on the same network confirms in milliseconds; ten seconds is a broker in trouble. */
  timeoutMs: 10_000,
  /** RabbitMQ's own suggestion is 60 s; half of it notices a dead peer within a minute. */
  heartbeatSeconds: 30,
  /**
   * Publishes awaiting their confirms at once: the webhook's pipeline default. One at a time, a
   * durable queue confirms 134 messages/s here (one fsync each); the broker batches the writes of
   * a window. A nacked message is retried after later ones were sent, as with a pipelined webhook.
   */
  window: 32,
} as const;

/** Validates options and fills in defaults; throws `CONFIG_INVALID` for a wiring mistake. */
export function resolveAmqpActionConfig(o: AmqpActionOptions): AmqpActionConfig {
  const problems: string[] = [];
  if (typeof o.host !== 'string' || o.host === '' || /[\s/]/.test(o.host)) problems.push(`host must be a bare host name (got ${JSON.stringify(o.host)})`);
  const port = o.port ?? (o.tls ? 5671 : 5672);
  if (!Number.isInteger(port) || port < 1 || port > 65535) problems.push(`port must be from 1 to 65535 (got ${String(port)})`);
  if (typeof o.exchange !== 'string' || o.exchange.length > 255) problems.push('exchange must be a name of at most 255 characters');
  const timeoutMs = o.timeoutMs ?? AMQP_DEFAULTS.timeoutMs;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) problems.push(`timeoutMs must be a positive whole number (got ${String(timeoutMs)})`);
  const inline = o.inlineAttachmentsUpTo ?? 0;
  if (!Number.isInteger(inline) || inline < 0) problems.push(`inlineAttachmentsUpTo must be 0 or more (got ${String(inline)})`);
  const window = o.window ?? AMQP_DEFAULTS.window;
  if (!Number.isInteger(window) || window < 1 || window > 1024) problems.push(`window must be from 1 to 1024 (got ${String(window)})`);
  if (problems.length > 0) throw new MailsluiceError('CONFIG_INVALID', `publish action of route "${o.route}" (broker ${o.broker}): ${problems.join('; ')}.`, { details: { problems } });
  return Object.freeze({
    route: o.route,
    broker: o.broker,
    host: o.host,
    port,
    vhost: o.vhost ?? '/',
    username: o.username ?? 'guest',
    password: o.password ?? 'guest',
    tls: o.tls ? Object.freeze({ verify: o.tls.verify ?? true, ca: o.tls.ca, servername: o.tls.servername }) : undefined,
    exchange: o.exchange,
    routingKey: o.routingKey ?? '',
    heartbeatSeconds: o.heartbeatSeconds ?? AMQP_DEFAULTS.heartbeatSeconds,
    timeoutMs,
    inlineAttachmentsUpTo: inline,
    window,
  });
}
