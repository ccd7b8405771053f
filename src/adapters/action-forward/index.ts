/**
 * The forward action adapter: the ScenarioAction port's `forward` step on nodemailer (SMTP or
 * LMTP). See README.md.
 */
export { createForwardAction } from './forward-action.js';
export { resolveForwardActionConfig, parseRelay, FORWARD_DEFAULTS, type ForwardActionOptions, type ForwardActionConfig } from './forward-action-config.js';
export { mapForwardError, mapPartialRejection, redact, type NodemailerLikeError } from './forward-error-map.js';
