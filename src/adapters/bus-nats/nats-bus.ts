/**
 * The buses' JetStream side (ADR 0052): the outbox relayed from PostgreSQL to a stream, and the
 * wake-ups a worker's lanes read from it. PostgreSQL keeps the truth (the order per pair, the
 * claims, every outcome: bus-postgres); the stream carries "this pair has something new", so a
 * lane learns it without polling the database.
 *
 * A delivery is in the stream if and only if its row committed: the store writes the row in the
 * parse save's transaction, the relay reads only committed rows, publishes each with
 * `Nats-Msg-Id` = the delivery id, awaits the stream's acknowledgements, then records them
 * relayed in the same transaction that selected them. A crash between the two publishes the
 * round again at the next start, and the stream's duplicate window drops the copies.
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { AckPolicy } from '@nats-io/jetstream';
import type { DeliveryPair } from '../../core/ports/message-bus.js';
import { DEFAULT_RELAY_BATCH, DUPLICATE_WINDOW_MS, laneSubject, type NatsRelayOptions } from './nats-bus-config.js';
import { mapNatsError } from './nats-error-map.js';

/** The first key of the relay's advisory lock (ASCII "msrl"); the second is the stream's hash. */
const RELAY_LOCK = 0x6d73726c;

/** What a lane's message says: the pair with something new. */
interface Wakeup {
  connection: string;
  route: string;
}

/** Creates the stream when missing: one subject per bus lane, work-queue retention, the duplicate window. */
export async function ensureStream(jsm: JetStreamManager, stream: string, servers: string): Promise<void> {
  try {
    await jsm.streams.info(stream).catch(async () => {
      await jsm.streams.add({ name: stream, subjects: [`${stream}.bus.>`], duplicate_window: DUPLICATE_WINDOW_MS * 1_000_000 });
    });
  } catch (err) {
    throw mapNatsError(err, servers, `creating the stream ${stream}`);
  }
}

/** Relays committed deliveries not yet in the stream; one relay at a time per stream across the cluster. */
export class NatsOutboxRelay {
  private readonly batch: number;

  constructor(
    private readonly options: NatsRelayOptions,
    private readonly js: JetStreamClient,
    /** For sentences: the servers (`scaleOut.nats.servers`). */
    private readonly servers: string,
  ) {
    this.batch = options.batch ?? DEFAULT_RELAY_BATCH;
  }

  /**
   * One round: up to `batch` committed, unrelayed rows published and recorded relayed. Answers how
   * many; 0 when there were none or another worker's relay holds the lock (it relays them).
   */
  async relayOnce(): Promise<number> {
    const { stream } = this.options;
    return this.options.db.tx('relaying deliveries to JetStream', async (c) => {
      const lock = await c.query<{ got: boolean }>('SELECT pg_try_advisory_xact_lock($1, hashtext($2)) AS got', [RELAY_LOCK, stream]);
      if (!lock.rows[0]!.got) return 0;
      const { rows } = await c.query<{ id: string; connection: string; route: string; bus: number }>(
        'SELECT id, connection, route, bus FROM deliveries WHERE relayed_at IS NULL ORDER BY message_id, id LIMIT $1',
        [this.batch],
      );
      if (rows.length === 0) return 0;
      try {
        // In flight together: a round costs about one round trip, not one per delivery.
        await Promise.all(rows.map((r) => this.js.publish(laneSubject(stream, r.bus), JSON.stringify({ connection: r.connection, route: r.route } satisfies Wakeup), { msgID: r.id })));
      } catch (err) {
        // Nothing recorded: the round is published again (the stream drops what it had).
        throw mapNatsError(err, this.servers, `publishing ${rows.length} deliveries to ${stream}`);
      }
      await c.query('UPDATE deliveries SET relayed_at = $1 WHERE id = ANY($2::text[])', [Date.now(), rows.map((r) => r.id)]);
      return rows.length;
    });
  }
}

/**
 * A lane's wake-ups: one durable consumer per bus lane of the stream, shared by every worker
 * (work-queue: each message goes to one of them). The pairs read are hints for `claim`; the lane
 * keeps a slow `duePairs` poll for retries that come due and for hints lost with a worker.
 */
export class NatsWakeups {
  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    private readonly servers: string,
  ) {}

  /** Creates the lane's durable consumer when missing (explicit acks, redelivered after `ackWaitMs` to another worker). */
  async open(bus: number, ackWaitMs = 30_000): Promise<void> {
    const name = `bus-${bus}`;
    try {
      await this.jsm.consumers.info(this.stream, name).catch(async () => {
        await this.jsm.consumers.add(this.stream, { durable_name: name, ack_policy: AckPolicy.Explicit, filter_subject: laneSubject(this.stream, bus), ack_wait: ackWaitMs * 1_000_000 });
      });
    } catch (err) {
      throw mapNatsError(err, this.servers, `opening the consumer ${name} of ${this.stream}`);
    }
  }

  /**
   * Up to `max` wake-ups of `bus` that arrive within `expiresMs` (at least 1 s: the client refuses
   * a shorter pull), as distinct pairs in arrival
   * order. Each message is acknowledged once read: the claim that follows reads PostgreSQL, so a
   * wake-up lost with this worker costs at most the lane's slow poll, never a delivery.
   */
  async next(bus: number, max: number, expiresMs: number): Promise<DeliveryPair[]> {
    try {
      const consumer = await this.js.consumers.get(this.stream, `bus-${bus}`);
      const messages = await consumer.fetch({ max_messages: max, expires: Math.max(1000, expiresMs) });
      const pairs = new Map<string, DeliveryPair>();
      for await (const m of messages) {
        const w = m.json<Wakeup>();
        pairs.set(`${w.connection}\u0000${w.route}`, { connection: w.connection, route: w.route });
        m.ack();
      }
      return [...pairs.values()];
    } catch (err) {
      throw mapNatsError(err, this.servers, `reading the wake-ups of bus ${bus} from ${this.stream}`);
    }
  }
}
