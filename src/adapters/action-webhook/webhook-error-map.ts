/**
 * The receiver's answers and node:http's errors → catalogue codes. The only place they are
 * looked at. Retryable: the network, a timeout, 408, 429 and 5xx (the receiver may well accept
 * the same request later). Not retryable: any other 4xx, and a redirect (a POST is not
 * re-sent elsewhere behind the operator's back): those go to the dead letters at once.
 */
import { TLS_UNTRUSTED_CODES } from '../tls-node/tls-untrusted-codes.js';
import { MailsluiceError } from '../../core/errors/index.js';

/** The error for a non-2xx answer. `retryAfter` is the header's text; `now` parses its date form. */
export function mapWebhookStatus(status: number, retryAfter: string | null, bodyText: string, now: number): MailsluiceError {
  const said = bodyText ? `: ${bodyText.replace(/\s+/g, ' ').trim()}` : '';
  if (status === 408 || status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(retryAfter, now);
    return new MailsluiceError('ACTION_RECEIVER_ERROR', `the receiver answered ${status}${said}`, {
      details: { status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) },
    });
  }
  if (status >= 300 && status < 400) {
    return new MailsluiceError('ACTION_REJECTED', `the receiver answered ${status} (a redirect, which is not followed: configure the final URL)`, { details: { status } });
  }
  return new MailsluiceError('ACTION_REJECTED', `the receiver refused the delivery with ${status}${said}`, { details: { status } });
}

/** `Retry-After`: delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/** The error for a request that got no answer. */
export function mapWebhookError(err: unknown, why: { timedOut: boolean; stopped: boolean; timeoutMs: number }): MailsluiceError {
  if (err instanceof MailsluiceError) return err;
  if (why.timedOut) return new MailsluiceError('ACTION_TIMEOUT', `the receiver did not answer within ${why.timeoutMs} ms`, { cause: err });
  if (why.stopped) return new MailsluiceError('ACTION_TIMEOUT', 'the attempt was stopped (the service is stopping)', { cause: err });
  // An answer that is not HTTP/1.x as it should be (http-pipeline.ts): retried, it may be a glitch.
  if ((err as { why?: string }).why === 'protocol') return new MailsluiceError('ACTION_NETWORK', `the receiver's answer could not be read: ${(err as Error).message}`, { cause: err });
  // The socket's error code (ECONNREFUSED, ECONNRESET, ENOTFOUND, …), on the error or its cause.
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? (err as { code?: string }).code;
  if (code && TLS_UNTRUSTED_CODES.has(code)) {
    return new MailsluiceError('ACTION_TLS_UNTRUSTED', `the receiver's certificate failed verification: ${code}${cause?.message ? ` (${cause.message})` : ''}`, { cause: err, details: { errno: code } });
  }
  const text = code ? `${code}${cause?.message ? ` (${cause.message})` : ''}` : err instanceof Error ? err.message : String(err);
  return new MailsluiceError('ACTION_NETWORK', `the receiver could not be reached: ${text}`, { cause: err, details: code ? { errno: code } : {} });
}
