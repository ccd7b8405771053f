/**
 * The webhook scenario action: the ScenarioAction port over HTTP POST (HTTP/1.1, pipelined on
 * one connection). See README.md.
 */
export {
  WebhookAction,
  createWebhookAction,
  signBody,
  signStandardWebhook,
  type WebhookBody,
  type WebhookAttachment,
  type AttachmentReference,
  type WebhookActionDeps,
} from './webhook-action.js';
export { resolveWebhookActionConfig, WEBHOOK_TUNING, type WebhookActionConfig, type WebhookActionOptions } from './webhook-action-config.js';
export { mapWebhookError, mapWebhookStatus, parseRetryAfter } from './webhook-error-map.js';
