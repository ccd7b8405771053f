/**
 * The publish action towards NATS: the ScenarioAction port's `publish` step on the NATS client
 * (core publish, or JetStream publish with Nats-Msg-Id where a stream captures the subject). See README.md.
 */
export { createNatsAction } from './nats-action.js';
export { resolveNatsActionConfig, NATS_TUNING, type NatsActionOptions, type NatsActionConfig } from './nats-action-config.js';
export { mapNatsError } from './nats-error-map.js';
