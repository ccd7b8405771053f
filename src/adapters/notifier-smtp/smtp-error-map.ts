/**
 * nodemailer's failures → `ALERT_SEND_FAILED`, with a sentence naming the channel, the relay
 * and what it answered (its reply text, never the credentials).
 */
import { MailsluiceError } from '../../core/errors/index.js';

/** What nodemailer's errors carry. */
interface NodemailerError {
  code?: string;
  response?: string;
  responseCode?: number;
  message?: string;
}

/** A send the relay refused or that did not get through. */
export function mapSmtpNotifyError(channel: string, relay: string, err: unknown): MailsluiceError {
  const e = (err ?? {}) as NodemailerError;
  const why = e.response ? `the relay answered ${e.response}` : e.code ? `${e.code}${e.message ? ` (${e.message})` : ''}` : (e.message ?? String(err));
  return new MailsluiceError('ALERT_SEND_FAILED', `alert channel ${channel}: mail through ${relay} failed: ${why}`, { cause: err, details: { channel } });
}

/** Some recipients were refused. */
export function mapSmtpRejected(channel: string, relay: string, rejected: readonly string[]): MailsluiceError {
  return new MailsluiceError('ALERT_SEND_FAILED', `alert channel ${channel}: the relay ${relay} refused ${rejected.join(', ')}`, { details: { channel, rejected: [...rejected] } });
}
