/**
 * The e-mail alert channel (ADR 0026): the core's alert mail (`alertMailBytes`) sent through the
 * same relay adapter as the probe test's (`relay-nodemailer`), so mailsluice has one way to send
 * its own mail. A connection per send: alerts are rare.
 */
import { randomUUID } from 'node:crypto';
import { alertMailBytes } from '../core/alerts/index.js';
import type { AlertNotifier } from '../core/ports/alert-notifier.js';
import type { AlertChannelConfig } from '../config/loader.js';
import { sendThroughRelay } from '../adapters/relay-nodemailer/index.js';

/** An e-mail channel as the configuration gives it (its relay resolved). */
export type MailChannelConfig = Extract<AlertChannelConfig, { type: 'email' }>;

/** The notifier of one e-mail channel: failures are `ALERT_SEND_FAILED` naming the channel and the relay. */
export function createMailNotifier(ch: MailChannelConfig): AlertNotifier {
  const relay = { ...ch.relay, timeoutMs: ch.timeoutMs, label: `alert channel ${ch.name}: relay`, setting: `the alert channel ${ch.name}'s relay`, failure: 'ALERT_SEND_FAILED' as const };
  return {
    channel: ch.name,
    async send(n, signal) {
      const raw = alertMailBytes(n, ch.from, ch.to, { messageId: `alert-${randomUUID()}@mailsluice.invalid`, date: new Date(n.at) });
      // The envelope given as is: over LMTP a recipient may be a local user name without a domain.
      await sendThroughRelay(relay, { from: ch.from, to: ch.to, raw }, signal);
    },
    async close() {
      // A connection lives for one send only.
    },
  };
}
