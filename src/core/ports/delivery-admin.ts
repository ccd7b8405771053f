/**
 * The delivery-admin port: the operator's side of the buses (`deliveries list`, `deliveries
 * replay`, `stats`, the `drain` summary), apart from the dispatcher's `MessageBus`. The
 * embedded implementation is the `deliveries` table (`bus-sqlite/sqlite-bus.ts`).
 */
import type { DeliveryRecord, DeliveryState } from './message-bus.js';

/** Filters of {@link DeliveryAdmin.list}. */
export interface DeliveryQuery {
  state?: DeliveryState;
  route?: string;
  connection?: string;
  /** Only those after this one in the listing's order (message, then route): the next page of a listing. */
  after?: { messageId: number; route: string };
  /** At most this many, in message order (default 1000). */
  limit?: number;
}

/** Counts per route and state, for `stats` and the `drain` summary. */
export type DeliveryCounts = Record<string, { pending: number; done: number; dead: number }>;

/**
 * Listing, counting and replaying deliveries. A replayed delivery is pending again, due at the
 * given time, with its attempts reset (the failed step runs again, not the whole scenario) and
 * without the response and response result of its dead letter.
 */
export interface DeliveryAdmin {
  /** Deliveries by state, route and connection, in message (mailbox) order, at most `query.limit`. */
  list(query: DeliveryQuery): Promise<DeliveryRecord[]>;
  /** Puts the dead letters `ids`, or every dead one (of `route`), back to pending due at `now`, and returns the ids replayed. */
  replay(selection: { ids: string[] } | { allDead: true; route?: string }, now: number): Promise<string[]>;
  /** Counts per route and state. */
  counts(): Promise<DeliveryCounts>;
}
