/**
 * The buses' JetStream side (scale-out): the outbox relayed from PostgreSQL to a stream, and the
 * lanes' wake-ups read from it. See README.md.
 */
export { ensureStream, NatsOutboxRelay, NatsWakeups } from './nats-bus.js';
export { DEFAULT_RELAY_BATCH, DUPLICATE_WINDOW_MS, laneSubject, type NatsRelayOptions } from './nats-bus-config.js';
export { mapNatsError } from './nats-error-map.js';
