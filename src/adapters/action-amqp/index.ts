/**
 * The publish action towards RabbitMQ: the ScenarioAction port's `publish` step on amqplib
 * (AMQP 0-9-1, a confirm channel). See README.md.
 */
export { createAmqpAction } from './amqp-action.js';
export { resolveAmqpActionConfig, AMQP_DEFAULTS, type AmqpActionOptions, type AmqpActionConfig } from './amqp-action-config.js';
export { mapAmqpError } from './amqp-error-map.js';
