/**
 * The webhook alert channel: one `POST` of the notification as JSON with Node's `fetch`, signed
 * as Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`) when the channel
 * has a secret. A 2xx answer is success; anything else is `ALERT_SEND_FAILED`.
 */
import { randomUUID } from 'node:crypto';
import type { AlertNotification } from '../../core/alerts/index.js';
import type { AlertNotifier } from '../../core/ports/alert-notifier.js';
import { ALERT_USER_AGENT, type WebhookNotifierOptions } from './webhook-notifier-config.js';
import { mapWebhookNotifyError, mapWebhookNotifyStatus } from './webhook-error-map.js';

/** The JSON a receiver gets. */
export interface AlertWebhookBody {
  type: 'mailsluice.alert';
  event: AlertNotification['event'];
  rule: string;
  kind: string;
  summary: string;
  since: string | null;
  at: string;
}

/** The body of `n`. */
export function alertBody(n: AlertNotification): AlertWebhookBody {
  return {
    type: 'mailsluice.alert',
    event: n.event,
    rule: n.rule,
    kind: n.kind,
    summary: n.summary,
    since: n.since === null ? null : new Date(n.since).toISOString(),
    at: new Date(n.at).toISOString(),
  };
}

class WebhookNotifier implements AlertNotifier {
  readonly channel: string;

  constructor(private readonly o: WebhookNotifierOptions) {
    this.channel = o.name;
  }

  async send(n: AlertNotification, signal?: AbortSignal): Promise<void> {
    const o = this.o;
    const body = Buffer.from(JSON.stringify(alertBody(n)));
    const id = `alert_${randomUUID()}`;
    const timestamp = Math.floor(n.at / 1000);
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': ALERT_USER_AGENT, 'webhook-id': id, 'webhook-timestamp': String(timestamp) };
    if (o.secret !== undefined && o.sign) headers['webhook-signature'] = o.sign(id, timestamp, body, o.secret);
    const timeout = AbortSignal.timeout(o.timeoutMs);
    let res: Response;
    try {
      res = await fetch(o.url, { method: 'POST', headers, body, signal: signal ? AbortSignal.any([signal, timeout]) : timeout, redirect: 'error' });
      // The answer's body is not read; it is released so the connection can be reused.
      await res.body?.cancel().catch(() => undefined);
    } catch (err) {
      throw mapWebhookNotifyError(o.name, o.url, err, timeout.aborted, o.timeoutMs);
    }
    if (res.status < 200 || res.status > 299) throw mapWebhookNotifyStatus(o.name, o.url, res.status);
  }

  async close(): Promise<void> {
    // fetch keeps no connection of its own to close.
  }
}

/** The notifier of one webhook channel. */
export function createWebhookNotifier(options: WebhookNotifierOptions): AlertNotifier {
  return new WebhookNotifier(options);
}
