/**
 * The message-bus port: the durable queue of deliveries (a message on a route) that the
 * dispatcher works through, one lane per bus. Deliveries are created by the store in the
 * transaction that saves a message's parse result (the outbox, docs/adr/0006-outbox-and-buses.md);
 * this port claims them, records their progress and lists and replays dead letters.
 */
import type { BlobLocation } from './blob-store.js';
import type { ServerResponse } from './scenario-action.js';

/** Where a delivery stands. */
export type DeliveryState = 'pending' | 'done' | 'dead';

/** One delivery as stored. */
export interface DeliveryRecord {
  /** `<connection>.<route>.<message id>`. */
  id: string;
  messageId: number;
  connection: string;
  route: string;
  bus: number;
  /** Index of the next scenario action to run (the failed one, for a dead letter). */
  step: number;
  /** Attempts made on `step` so far; once done, the attempts its last step took (the successful one included). */
  attempts: number;
  /** When the delivery is due next (ms since the epoch). */
  nextAt: number;
  state: DeliveryState;
  /** The last failure, `CODE: sentence`, or null. */
  lastError: string | null;
  /** The server response to apply (route `response` after success, `errorResponse` after a dead letter). */
  response: ServerResponse | null;
  createdAt: number;
  doneAt: number | null;
}

/** What the dispatcher needs of the archived message behind a claimed delivery. */
export interface DeliveryMessage {
  /** SHA-256 of the raw bytes: the message's archive id (`ArchiveId`, `<sha256>.eml` in exports). */
  sha256: string;
  size: number;
  blob: BlobLocation;
  /** The saved attributes (without bodies) as JSON; null when none were saved. */
  attributesJson: string | null;
  /** Whether the parse was complete (false: unparsable, attributes partial). */
  parsed: boolean;
  /** Where it was taken: IMAP mailbox, UIDVALIDITY and UID, or POP3 UIDL. */
  mailbox: string;
  uidValidity: number;
  uid: number | null;
  uidl: string | null;
}

/** A delivery claimed for dispatch, with its message. */
export interface ClaimedDelivery extends DeliveryRecord {
  message: DeliveryMessage;
  /**
   * An attempt of `step` was recorded started ({@link MessageBus.attemptsStarted}) and never
   * ended: the process running it died (a script that killed its runner, a crash, a kill, a power
   * cut). It counts as a failed attempt (`DELIVERY_INTERRUPTED`), so a message that kills whatever
   * runs it is dead-lettered after its `maxAttempts` instead of killing every restart.
   */
  interrupted: boolean;
}

/** A (connection, route) pair of one bus: the unit that keeps mailbox order. */
export interface DeliveryPair {
  connection: string;
  route: string;
}

/** Filters of {@link MessageBus.list}. */
export interface DeliveryQuery {
  state?: DeliveryState;
  route?: string;
  connection?: string;
  /** At most this many, in message order (default 1000). */
  limit?: number;
}

/** Counts per route and state, for `stats` and the `drain` summary. */
export type DeliveryCounts = Record<string, { pending: number; done: number; dead: number }>;

/** The durable queue of deliveries; one implementation per deployment (SQLite embedded). */
export interface MessageBus {
  /**
   * Releases every claim (embedded mode runs one dispatcher: claims left by a process that died
   * are stale), so those deliveries are due again. Returns how many were released.
   */
  releaseAll(): Promise<number>;
  /**
   * Pairs of `bus` whose first pending delivery (lowest message id) is due at `now` and not
   * claimed: the only deliveries a lane may start, so each pair keeps mailbox order. A delivery
   * counts only once every earlier message of its connection has been routed (parsed): until
   * then an earlier message's deliveries may still be queued ahead of it.
   */
  duePairs(bus: number, now: number, limit: number): Promise<DeliveryPair[]>;
  /**
   * Claims up to `limit` pending deliveries of one pair, lowest message id first, whether due or
   * not (the caller stops at the first that is not), until `leaseUntil`; none behind a message of
   * the connection that is not routed yet (see {@link duePairs}).
   */
  claim(bus: number, pair: DeliveryPair, limit: number, leaseUntil: number): Promise<ClaimedDelivery[]>;
  /** Gives claimed deliveries back unchanged (an attempt recorded started is forgotten: it never ran to an end). */
  release(ids: string[]): Promise<void>;
  /**
   * In one write, before the actions run: an attempt of their current step starts for `started`,
   * and `finished` (deliveries whose attempt succeeded and that wait for {@link doneMany}) are no
   * longer running one. Durable against the process dying (the next claim reports `interrupted`);
   * it need not survive a power cut, which costs at most an uncounted attempt. Every other
   * record of an outcome (retry, dead letter, step done, done, release) ends the mark too.
   */
  attemptsStarted(started: readonly string[], finished: readonly string[]): Promise<void>;
  /** Records that `step` succeeded and the delivery continues at `nextStep` (attempts reset). */
  stepDone(id: string, nextStep: number): Promise<void>;
  /**
   * Records deliveries done (every step succeeded), each with the response to apply, if any, in
   * one durable write: one fsync for a batch instead of one per delivery (the dispatcher flushes
   * before it claims again, so nothing done is claimed twice).
   */
  doneMany(records: ReadonlyArray<{ id: string; at: number; response: ServerResponse | null; attempts?: number }>): Promise<void>;
  /** Records a failed attempt of `step` and when to try again; releases the claim. */
  retryLater(id: string, step: number, attempts: number, nextAt: number, error: string): Promise<void>;
  /** Moves a delivery to the dead letters (kept, listed, replayable). */
  deadLetter(id: string, step: number, attempts: number, at: number, error: string, response: ServerResponse | null): Promise<void>;
  /** Deliveries by state, route and connection, in message (mailbox) order. */
  list(query: DeliveryQuery): Promise<DeliveryRecord[]>;
  /**
   * Dead letters back to pending, due at `now`, attempts reset (the failed step runs again, not
   * the whole scenario). `ids` or every dead one (of `route`). Returns the ids replayed.
   */
  replay(selection: { ids: string[] } | { allDead: true; route?: string }, now: number): Promise<string[]>;
  /**
   * Earliest due time of a pending delivery of `bus` on one of `routes` (the configured ones:
   * deliveries of a route that is gone wait for it and must not keep a `drain` running), or null.
   */
  nextDue(bus: number, routes: readonly string[]): Promise<number | null>;
  /** Counts per route and state. */
  counts(): Promise<DeliveryCounts>;
}
