/**
 * The one place where amqplib's errors become catalogue codes. A channel or connection closed
 * by the broker carries the AMQP reply code (`code` on the error event's error, or
 * `403 (ACCESS-REFUSED)` in a refused handshake's message: the only place amqplib gives it);
 * decisions rest on that and on the socket's errno: the network and a nack are retried, refused
 * credentials and a missing exchange or virtual host are not (as the webhook's 4xx). The password
 * never reaches a sentence (amqplib's messages carry none; the sentence names the user only).
 */
import { MailsluiceError, type ErrorCode } from '../../core/errors/index.js';
import { TLS_UNTRUSTED_CODES } from '../tls-node/tls-untrusted-codes.js';
import type { AmqpActionConfig } from './amqp-action-config.js';

type Who = Pick<AmqpActionConfig, 'route' | 'broker' | 'host' | 'port' | 'vhost' | 'username' | 'exchange' | 'routingKey'>;

/** AMQP reply codes (the spec's constants) that a retry cannot fix, and what they mean here. */
const REPLY: Record<number, { code: ErrorCode; what: (c: Who) => string }> = {
  403: { code: 'ACTION_PUBLISH_AUTH_REJECTED', what: (c) => `the broker refused user "${c.username}" (credentials, or no permission to publish to exchange "${c.exchange}" in vhost ${c.vhost})` },
  404: { code: 'ACTION_PUBLISH_NOT_FOUND', what: (c) => `exchange "${c.exchange}" does not exist in vhost ${c.vhost} (mailsluice does not declare it: declare it on the broker)` },
  530: { code: 'ACTION_PUBLISH_NOT_FOUND', what: (c) => `vhost ${c.vhost} does not exist, or user "${c.username}" may not use it` },
};

function make(c: Who, code: ErrorCode, sentence: string, cause: unknown, details: Record<string, unknown> = {}): MailsluiceError {
  return new MailsluiceError(code, `publish of route "${c.route}" to RabbitMQ broker ${c.broker} (${c.host}:${c.port}, exchange "${c.exchange}"): ${sentence}`, {
    cause,
    details: { route: c.route, broker: c.broker, exchange: c.exchange, routingKey: c.routingKey, ...details },
  });
}

/** `403 (ACCESS-REFUSED)`: how amqplib writes the reply code of a handshake the broker ended. */
const HANDSHAKE_REPLY = /\b(\d{3}) \([A-Z_-]+\)/;

/**
 * The AMQP reply code an amqplib error carries, if any: `code` on a channel's or connection's
 * close, and only in the sentence of a handshake the broker ended (amqplib sets no field there).
 */
function replyCode(e: { code?: unknown; message?: string }): number | undefined {
  if (typeof e.code === 'number') return e.code;
  const m = HANDSHAKE_REPLY.exec(e.message ?? '');
  return m ? Number(m[1]) : undefined;
}

/**
 * The error of a connect, a channel or a publish that failed. `channelError`: what the broker
 * closed the channel with (amqplib hands the publish's callback only "channel closed").
 */
export function mapAmqpError(
  c: Who,
  err: unknown,
  why: { timedOut?: boolean; aborted?: boolean; timeoutMs?: number; channelError?: unknown; nacked?: boolean; handshake?: boolean } = {},
): MailsluiceError {
  if (err instanceof MailsluiceError) return err;
  if (why.aborted) return make(c, 'ACTION_TIMEOUT', 'the attempt was stopped (the service is stopping or its time is up)', err);
  if (why.timedOut) return make(c, 'ACTION_TIMEOUT', `the broker did not confirm within ${why.timeoutMs ?? '?'} ms`, err);
  const e = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; message?: string };
  const closedWith = (why.channelError ?? null) as { code?: unknown; message?: string } | null;
  const words = (closedWith?.message ?? e.message ?? String(err)).replace(/\s+/g, ' ').trim();
  const reply = (closedWith && replyCode(closedWith)) ?? replyCode(e);
  const known = reply !== undefined ? REPLY[reply] : undefined;
  if (known) return make(c, known.code, `${known.what(c)}: ${words}`, err, { replyCode: reply });
  if (typeof e.code === 'string' && TLS_UNTRUSTED_CODES.has(e.code)) return make(c, 'ACTION_TLS_UNTRUSTED', `the broker's certificate failed verification: ${e.code}`, err, { errno: e.code });
  if (why.nacked) return make(c, 'ACTION_PUBLISH_DEFERRED', 'the broker nacked the message (a queue refusing it, or a broker out of resources)', err);
  if (reply !== undefined) return make(c, 'ACTION_PUBLISH_DEFERRED', `the broker closed the channel: ${words}`, err, { replyCode: reply });
  const errno = typeof e.code === 'string' ? e.code : undefined;
  // The broker closed the connection while opening it, with no socket error and no reply code
  // amqplib passes on: RabbitMQ does that for a vhost that does not exist or the user may not use.
  if (why.handshake && errno === undefined) return make(c, 'ACTION_PUBLISH_NOT_FOUND', `vhost ${c.vhost} does not exist, or user "${c.username}" may not use it (${words})`, err);
  return make(c, 'ACTION_NETWORK', `the broker could not be reached or the connection failed: ${errno ? `${errno} (${words})` : words}`, err, errno ? { errno } : {});
}
