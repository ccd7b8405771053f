/**
 * Options of the `publish` scenario action towards a NATS broker, their defaults and checks.
 */
import { MailsluiceError } from '../../core/errors/index.js';

/** Options of {@link createNatsAction}: a route's publish step and the broker it names. */
export interface NatsActionOptions {
  /** The route's system name, for sentences and logs. */
  route: string;
  /** The broker's name in the `brokers` section, for sentences. */
  broker: string;
  /** `host:port`, `nats://host:port` or `tls://host:port`; tried in turn. */
  servers: string[];
  /** The subject every message of the step is published to (no wildcards). */
  subject: string;
  user?: string | undefined;
  password?: string | undefined;
  token?: string | undefined;
  /** Given: the connection must be TLS, checked as it says. Absent: TLS only if the server asks. */
  tls?: { verify?: boolean; ca?: string | undefined; servername?: string | undefined } | undefined;
  /** Time limit for connecting and for one message's ack (JetStream) or flush (core). Default 10,000. */
  timeoutMs?: number;
  /** Attachments up to this many bytes go inline in the document. Default 0 (references only). */
  inlineAttachmentsUpTo?: number;
}

/** {@link NatsActionOptions} checked, with defaults filled in. */
export interface NatsActionConfig {
  readonly route: string;
  readonly broker: string;
  readonly servers: readonly string[];
  readonly subject: string;
  readonly user: string | undefined;
  readonly password: string | undefined;
  readonly token: string | undefined;
  readonly tls: { readonly verify: boolean; readonly ca: string | undefined; readonly servername: string | undefined } | undefined;
  readonly timeoutMs: number;
  readonly inlineAttachmentsUpTo: number;
}

/** Tunables with their reasons. */
export const NATS_TUNING = {
  /**
   * How long the answer to "does a JetStream stream capture this subject?" is kept. One lookup
   * per message would double the round trips; never looking again would miss a stream created
   * (or deleted) while the service runs. Half a minute bounds how long a new stream goes
   * unused; a deleted one is noticed at once (the publish fails, the answer is dropped).
   */
  streamLookupTtlMs: 30_000,
  /** Default time limit: a broker on the same network acks in milliseconds. */
  timeoutMs: 10_000,
  /** Reconnect wait between tries of the client's own reconnect (its default is 2 s). */
  reconnectTimeWaitMs: 1_000,
} as const;

/** A subject without wildcards: dot-separated tokens, no spaces. */
const SUBJECT = /^[^\s*>.]+(\.[^\s*>.]+)*$/;

/** Validates options and fills in defaults; throws `CONFIG_INVALID` for a wiring mistake. */
export function resolveNatsActionConfig(o: NatsActionOptions): NatsActionConfig {
  const problems: string[] = [];
  if (!Array.isArray(o.servers) || o.servers.length === 0) problems.push('servers must list at least one server');
  if (typeof o.subject !== 'string' || !SUBJECT.test(o.subject)) problems.push(`subject must be a NATS subject without wildcards (got ${JSON.stringify(o.subject)})`);
  const timeoutMs = o.timeoutMs ?? NATS_TUNING.timeoutMs;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) problems.push(`timeoutMs must be a positive whole number (got ${String(timeoutMs)})`);
  const inline = o.inlineAttachmentsUpTo ?? 0;
  if (!Number.isInteger(inline) || inline < 0) problems.push(`inlineAttachmentsUpTo must be 0 or more (got ${String(inline)})`);
  if (o.token !== undefined && o.user !== undefined) problems.push('give token or user and password, not both');
  if (problems.length > 0) throw new MailsluiceError('CONFIG_INVALID', `publish action of route "${o.route}" (broker ${o.broker}): ${problems.join('; ')}.`, { details: { problems } });
  return Object.freeze({
    route: o.route,
    broker: o.broker,
    servers: Object.freeze([...o.servers]),
    subject: o.subject,
    user: o.user,
    password: o.password,
    token: o.token,
    tls: o.tls ? Object.freeze({ verify: o.tls.verify ?? true, ca: o.tls.ca, servername: o.tls.servername }) : undefined,
    timeoutMs,
    inlineAttachmentsUpTo: inline,
  });
}
