/** The webhook alert channel (the AlertNotifier port over HTTP POST). See README.md. */
export { createWebhookNotifier, alertBody, type AlertWebhookBody } from './webhook-notifier.js';
export { ALERT_USER_AGENT, type SignWebhook, type WebhookNotifierOptions } from './webhook-notifier-config.js';
export { mapWebhookNotifyError, mapWebhookNotifyStatus, shownUrl } from './webhook-error-map.js';
