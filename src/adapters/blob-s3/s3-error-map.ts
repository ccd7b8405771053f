/**
 * Turns S3 SDK and socket errors into MailsluiceErrors with a sentence an operator can act on.
 * No S3 error leaves this adapter unmapped.
 *
 * The three an operator meets first each get their own sentence: the endpoint cannot be reached,
 * the keys are refused, the bucket does not exist. All three are `STORE_UNAVAILABLE`: the archive
 * is not damaged, it cannot be reached; the first is retryable (a server restarting, a network
 * blip), the other two need the configuration fixed.
 */
import { MailsluiceError } from '../../core/errors/index.js';

/** What the store was doing when the error happened. */
export type S3Operation = 'writing' | 'reading' | 'checking';

/** Where the error happened, for the sentence. */
export interface S3ErrorContext {
  endpoint: string;
  bucket: string;
  key?: string;
}

const NETWORK: Record<string, string> = {
  ECONNREFUSED: 'connection refused: nothing listens there',
  ECONNRESET: 'the connection was reset',
  EPIPE: 'the connection was closed mid-request',
  ETIMEDOUT: 'the connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name could not be resolved (DNS temporarily failing)',
  ECONNABORTED: 'the connection was aborted',
};

const CREDENTIALS: Record<string, string> = {
  InvalidAccessKeyId: 'the access key id is unknown to the server',
  SignatureDoesNotMatch: 'the secret access key does not match the access key id',
  AccessDenied: 'access denied by the bucket\'s or the user\'s policy',
  InvalidToken: 'the session token is invalid',
  ExpiredToken: 'the session token has expired',
  RequestTimeTooSkewed: 'this machine\'s clock is too far from the server\'s',
};

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $fault?: string;
}

/** The HTTP status of an SDK error, if it got one. */
export function s3Status(err: unknown): number | undefined {
  return (err as SdkError | null)?.$metadata?.httpStatusCode;
}

/** The S3 error code (`NoSuchKey`, `PreconditionFailed`…) or the socket's errno code. */
export function s3Code(err: unknown): string | undefined {
  const e = err as SdkError | null;
  if (!e) return undefined;
  if (typeof e.code === 'string') return e.code;
  return typeof e.name === 'string' ? e.name : undefined;
}

/** True for "the key does not exist" (GET's NoSuchKey, HEAD's bare 404). */
export function isNotFound(err: unknown): boolean {
  const code = s3Code(err);
  return code === 'NoSuchKey' || code === 'NotFound' || (s3Status(err) === 404 && code !== 'NoSuchBucket');
}

/** True for If-None-Match's "an object is there already". */
export function isPreconditionFailed(err: unknown): boolean {
  return s3Status(err) === 412 || s3Code(err) === 'PreconditionFailed';
}

function networkCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as SdkError).code;
    if (typeof code === 'string' && (NETWORK[code] || code.startsWith('E'))) return code;
    const name = (e as SdkError).name;
    if (name === 'TimeoutError' || name === 'RequestTimeout') return 'ETIMEDOUT';
  }
  return undefined;
}

/**
 * Maps any error of an S3 call: unreachable endpoint, refused keys, missing bucket, server
 * overload → STORE_UNAVAILABLE; a missing key on a read → STORE_NOT_FOUND; anything else on a
 * write → STORE_WRITE_FAILED (nothing was taken from the server), on a read → STORE_UNAVAILABLE.
 */
export function mapS3Error(err: unknown, operation: S3Operation, ctx: S3ErrorContext): MailsluiceError {
  if (err instanceof MailsluiceError) return err;
  const where = ctx.key ? `${ctx.key} in bucket "${ctx.bucket}"` : `bucket "${ctx.bucket}"`;
  const status = s3Status(err);
  const code = s3Code(err);
  const details: Record<string, unknown> = { endpoint: ctx.endpoint, bucket: ctx.bucket, operation, ...(ctx.key ? { key: ctx.key } : {}), ...(status ? { httpStatus: status } : {}), ...(code ? { s3Code: code } : {}) };
  const net = status === undefined ? networkCode(err) : undefined;
  if (net !== undefined) {
    const why = NETWORK[net] ?? net;
    return new MailsluiceError('STORE_UNAVAILABLE', `cannot reach the S3 endpoint ${ctx.endpoint} (${why}) ${operation} ${where}; it is tried again`, { cause: err, details: { ...details, reason: 'unreachable', errno: net } });
  }
  if (code && CREDENTIALS[code] || status === 403) {
    const why = (code && CREDENTIALS[code]) ?? `HTTP 403 ${code ?? ''}`.trim();
    return new MailsluiceError('STORE_UNAVAILABLE', `the S3 endpoint ${ctx.endpoint} refused mailsluice ${operation} ${where}: ${why}; check accessKeyId, secretAccessKey and the bucket's policy`, { cause: err, retryable: false, details: { ...details, reason: 'access-denied' } });
  }
  if (code === 'NoSuchBucket') {
    return new MailsluiceError('STORE_UNAVAILABLE', `bucket "${ctx.bucket}" does not exist on ${ctx.endpoint}; create it (the store never creates one) or fix the bucket name`, { cause: err, retryable: false, details: { ...details, reason: 'no-such-bucket' } });
  }
  if (status !== undefined && (status >= 500 || status === 429 || code === 'SlowDown')) {
    return new MailsluiceError('STORE_UNAVAILABLE', `the S3 endpoint ${ctx.endpoint} is overloaded or failing (HTTP ${status}${code ? ` ${code}` : ''}) ${operation} ${where}; it is tried again`, { cause: err, details: { ...details, reason: 'server-error' } });
  }
  if (operation === 'reading' && isNotFound(err)) {
    return new MailsluiceError('STORE_NOT_FOUND', `blob ${where} does not exist on ${ctx.endpoint}`, { cause: err, details });
  }
  // The SDK's text, for the operator to read; never compared.
  const text = err instanceof Error ? err.message : String(err);
  const what = [status ? `HTTP ${status}` : '', code ?? '', text].filter((part) => part !== '').join(' ');
  if (operation === 'writing') return new MailsluiceError('STORE_WRITE_FAILED', `S3 refused ${operation} ${where} on ${ctx.endpoint} (${what})`, { cause: err, details });
  return new MailsluiceError('STORE_UNAVAILABLE', `S3 failed ${operation} ${where} on ${ctx.endpoint} (${what})`, { cause: err, retryable: false, details });
}
