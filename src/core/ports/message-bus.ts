/**
 * The message-bus port: the durable queue of deliveries (a message on a route) that the
 * dispatcher works through, one lane per bus. Deliveries are created by the store in the
 * transaction that saves a message's parse result (the outbox, docs/adr/0006-outbox-and-buses.md);
 * this port claims them and records their progress; `delivery-admin.ts` lists, counts and replays
 * them for the operator.
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

/**
 * The durable queue of deliveries as the dispatcher works it; one implementation per deployment
 * (SQLite embedded). What callers rely on, held by `test/contract/message-bus.contract.ts`:
 * - A delivery is due only while it heads its (connection, route) pair (lowest pending message
 *   id), its `nextAt` has come, it is not claimed, and every earlier message of its connection has
 *   been routed (parsed): until then an earlier message's deliveries may still be queued ahead.
 * - Every record of an outcome (retry, dead letter, step done, done, release) ends the mark
 *   {@link MessageBus.attemptsStarted} set, and all but a step done end the claim too; a mark
 *   survives the process dying (the next claim reports `interrupted`), not necessarily a power
 *   cut (an uncounted attempt at most).
 * - `doneMany` is one durable write for a batch: the dispatcher flushes before it claims again,
 *   so nothing done is claimed twice.
 */
export interface MessageBus {
  /** Releases every claim left by a process that died (embedded mode runs one dispatcher) and returns how many were released. */
  releaseAll(): Promise<number>;
  /** The pairs of `bus` whose head is due at `now`, oldest due first, at most `limit`: the only deliveries a lane may start. */
  duePairs(bus: number, now: number, limit: number): Promise<DeliveryPair[]>;
  /** Claims up to `limit` pending deliveries of one pair until `leaseUntil`, lowest message id first and due or not (the caller stops at the first that is not), none behind an unrouted message. */
  claim(bus: number, pair: DeliveryPair, limit: number, leaseUntil: number): Promise<ClaimedDelivery[]>;
  /** Gives claimed deliveries back unchanged, forgetting an attempt recorded started (it never ran to an end). */
  release(ids: string[]): Promise<void>;
  /** In one write before the actions run, marks an attempt of their current step started for `started` and ended for `finished` (succeeded, waiting for {@link doneMany}). */
  attemptsStarted(started: readonly string[], finished: readonly string[]): Promise<void>;
  /** Records that `step` succeeded and the delivery continues at `nextStep`, attempts reset. */
  stepDone(id: string, nextStep: number): Promise<void>;
  /** Records deliveries done (every step succeeded), each with the response to apply, if any, in one durable write. */
  doneMany(records: ReadonlyArray<{ id: string; at: number; response: ServerResponse | null; attempts?: number }>): Promise<void>;
  /** Records a failed attempt of `step` and when to try again, releasing the claim. */
  retryLater(id: string, step: number, attempts: number, nextAt: number, error: string): Promise<void>;
  /** Moves a delivery to the dead letters (kept, listed, replayable) with the response to apply, if any. */
  deadLetter(id: string, step: number, attempts: number, at: number, error: string, response: ServerResponse | null): Promise<void>;
  /** The earliest due time of a pending delivery of `bus` on one of the configured `routes` (a gone route's deliveries must not keep a `drain` running), or null. */
  nextDue(bus: number, routes: readonly string[]): Promise<number | null>;
}
