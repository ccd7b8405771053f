/**
 * A webhook alert's failures → `ALERT_SEND_FAILED`, with a sentence that names the channel and
 * the receiver (without its user, password or query: any may be a credential).
 */
import { MailsluiceError } from '../../core/errors/index.js';

/** The receiver URL as a log may show it. */
export function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

/** A request that did not get through (refused, timed out, cut). */
export function mapWebhookNotifyError(channel: string, url: string, err: unknown, timedOut: boolean, timeoutMs: number): MailsluiceError {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  const why = timedOut ? `no answer within ${timeoutMs} ms` : (cause?.code ?? cause?.message ?? (err as Error)?.message ?? String(err));
  return new MailsluiceError('ALERT_SEND_FAILED', `alert channel ${channel}: the webhook ${shownUrl(url)} could not be reached: ${why}`, { cause: err, details: { channel } });
}

/** An answer other than 2xx. */
export function mapWebhookNotifyStatus(channel: string, url: string, status: number): MailsluiceError {
  return new MailsluiceError('ALERT_SEND_FAILED', `alert channel ${channel}: the webhook ${shownUrl(url)} answered ${status}`, { details: { channel, status } });
}
