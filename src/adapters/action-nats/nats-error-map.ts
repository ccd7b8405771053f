/**
 * The one place where the NATS client's errors become catalogue codes. Decisions rest on the
 * error's class name (the client's own classes: `ConnectionError`, `AuthorizationError`,
 * `JetStreamApiError`, …), a JetStream API error's code and the socket's errno, never on wording,
 * as the webhook's map does for HTTP: the network and a broker that cannot take the message now
 * are retried, credentials, permissions and a message the broker can never take are not.
 * Credentials never reach a sentence (the client's messages carry none; the sentence names the
 * user only).
 */
import { MailsluiceError, type ErrorCode } from '../../core/errors/index.js';
import { TLS_UNTRUSTED_CODES } from '../tls-node/tls-untrusted-codes.js';
import type { NatsActionConfig } from './nats-action-config.js';

/** JetStream API error codes (`err_code`) that no retry can fix: the message is larger than the stream's `max_msg_size`. */
const JETSTREAM_PERMANENT = new Set([10054]);

/** The fields of a NATS client error this map reads. */
interface NatsLikeError {
  name?: string;
  message?: string;
  code?: unknown;
  status?: unknown;
  cause?: { name?: string; code?: string; message?: string } | undefined;
}

type Who = Pick<NatsActionConfig, 'route' | 'broker' | 'subject' | 'servers' | 'user'>;

function make(c: Who, code: ErrorCode, sentence: string, cause: unknown, details: Record<string, unknown> = {}): MailsluiceError {
  return new MailsluiceError(code, `publish of route "${c.route}" to NATS broker ${c.broker} (subject ${c.subject}): ${sentence}`, {
    cause,
    details: { route: c.route, broker: c.broker, subject: c.subject, ...details },
  });
}

/** The error of a connect, a publish, a flush or an ack wait that failed. */
export function mapNatsError(c: Who, err: unknown, why: { timedOut?: boolean; aborted?: boolean; timeoutMs?: number } = {}): MailsluiceError {
  if (err instanceof MailsluiceError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as NatsLikeError;
  const errno = e.cause?.code ?? (typeof e.code === 'string' ? e.code : undefined);
  const words = e.message ?? String(err);
  if (why.aborted) return make(c, 'ACTION_TIMEOUT', 'the attempt was stopped (the service is stopping or its time is up)', err);
  if (why.timedOut || e.name === 'TimeoutError') return make(c, 'ACTION_TIMEOUT', `the broker did not acknowledge within ${why.timeoutMs ?? '?'} ms`, err);
  if (errno && TLS_UNTRUSTED_CODES.has(errno)) return make(c, 'ACTION_TLS_UNTRUSTED', `the broker's certificate failed verification: ${errno}`, err, { errno });
  switch (e.name) {
    case 'AuthorizationError':
    case 'UserAuthenticationExpiredError':
      return make(c, 'ACTION_PUBLISH_AUTH_REJECTED', `the broker refused the credentials${c.user ? ` of user "${c.user}"` : ''}: ${words}`, err);
    case 'PermissionViolationError':
      return make(c, 'ACTION_PUBLISH_AUTH_REJECTED', `the broker does not let this user publish to ${c.subject}: ${words}`, err);
    case 'InvalidArgumentError':
      // The one an action can meet: a document over the server's max_payload.
      return make(c, 'ACTION_PUBLISH_REJECTED', `the message is larger than the broker takes (${words})`, err);
    case 'JetStreamApiError': {
      const apiCode = typeof e.code === 'number' ? e.code : undefined;
      const facts = { ...(apiCode !== undefined ? { jetStreamCode: apiCode } : {}), ...(typeof e.status === 'number' ? { status: e.status } : {}) };
      if (apiCode !== undefined && JETSTREAM_PERMANENT.has(apiCode)) return make(c, 'ACTION_PUBLISH_REJECTED', `the stream refused the message: ${words}`, err, facts);
      return make(c, 'ACTION_PUBLISH_DEFERRED', `the stream did not take the message for now: ${words}`, err, facts);
    }
    case 'JetStreamNotEnabled':
    case 'RequestError':
    case 'NoRespondersError':
      // The stream that captured the subject is gone (or has no leader just now).
      return make(c, 'ACTION_PUBLISH_DEFERRED', `no JetStream stream answered for the subject (deleted, or without a leader just now): ${words}`, err);
    default:
      break;
  }
  return make(c, 'ACTION_NETWORK', `the broker (${c.servers.join(', ')}) could not be reached or the connection failed: ${errno ? `${errno} (${words})` : words}`, err, errno ? { errno } : {});
}
