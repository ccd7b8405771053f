/** Options of the JetStream outbox relay and wake-ups, with reasons. */
import type { PostgresBusConnection } from '../bus-postgres/postgres-bus-config.js';

/** What `NatsOutboxRelay` takes. */
export interface NatsRelayOptions {
  /** The PostgreSQL store's connection (`PostgresStore.connection`), whose `deliveries` rows are the outbox. */
  db: PostgresBusConnection;
  /** The JetStream stream (`scaleOut.nats.stream`); each bus lane is the subject `<stream>.bus.<n>`. */
  stream: string;
  /** Rows relayed per round (one transaction, one publish each, acks awaited together); see {@link DEFAULT_RELAY_BATCH}. */
  batch?: number;
}

/**
 * 256 rows per round: the publishes of a round are in flight together (their acks awaited at
 * once), so a round costs about one round trip to the server plus one PostgreSQL commit.
 */
export const DEFAULT_RELAY_BATCH = 256;

/**
 * Two minutes of duplicate window: a relay that crashed after the stream acked a round and before
 * PostgreSQL recorded it publishes the round again at its restart, well within that window, and
 * the stream drops the copies by `Nats-Msg-Id`.
 */
export const DUPLICATE_WINDOW_MS = 2 * 60 * 1000;

/** The subject of bus lane `bus` in `stream`. */
export const laneSubject = (stream: string, bus: number): string => `${stream}.bus.${bus}`;
