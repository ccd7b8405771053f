/**
 * The webhook scenario action: the ScenarioAction port over HTTP POST with Node's fetch. See
 * README.md.
 */
export { WebhookAction, createWebhookAction, signBody, type WebhookBody, type WebhookAttachment } from './webhook-action.js';
export { resolveWebhookActionConfig, WEBHOOK_TUNING, type WebhookActionConfig, type WebhookActionOptions } from './webhook-action-config.js';
export { mapWebhookError, mapWebhookStatus, parseRetryAfter } from './webhook-error-map.js';
export { findAttachmentContents } from './webhook-attachments.js';
