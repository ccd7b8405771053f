/**
 * The alert-notifier port (issue 14, item 6): one configured alert channel (a webhook, a relay
 * for e-mail) that a notification is sent through. Implemented by `adapters/notifier-webhook`,
 * and for e-mail by `app/alert-mail-notifier.ts` (the core's mail through `adapters/relay-nodemailer`).
 */
import type { AlertNotification } from '../alerts/alert-book.js';

/** One alert channel. */
export interface AlertNotifier {
  /** The channel's name (`alerts.channels[].name`). */
  readonly channel: string;
  /**
   * Sends `notification`; resolves once the receiver accepted it. Rejects with an
   * `ALERT_SEND_FAILED` MailsluiceError naming the channel and why (the caller logs it and tries
   * again at the next check).
   */
  send(notification: AlertNotification, signal?: AbortSignal): Promise<void>;
  /** Releases its connections. */
  close(): Promise<void>;
}
