/**
 * The response-ledger port: the server responses of finished deliveries (a route's `response`
 * after success, a script's returned one, `errorResponse` after a dead letter) that the connection
 * has not applied yet, and the record of how applying each ended. The embedded implementation is
 * the `deliveries` table (`bus-sqlite/sqlite-response-ledger.ts`); the connection runner drains it at the
 * start of every cycle (`core/archive/apply-responses.ts`).
 */
import type { ServerResponse } from './scenario-action.js';

/** A finished delivery whose response is still to be applied, with where its message was taken. */
export interface PendingResponse {
  /** The delivery, `<connection>.<route>.<message id>`. */
  deliveryId: string;
  messageId: number;
  /** `done`: the route's (or a script's) response; `dead`: the route's `errorResponse`. */
  state: 'done' | 'dead';
  response: ServerResponse;
  /** The message's source key as first taken: IMAP mailbox, UIDVALIDITY and UID (null for POP3). */
  mailbox: string;
  uidValidity: number;
  uid: number | null;
  /**
   * The candidate key the message was first taken under (`imap:…`, `pop3:…`, `ews:<ItemId>`);
   * null when the ledger has none (a message imported, not taken from a mailbox).
   */
  key: string | null;
}

/** How applying a response ended, as recorded; final (never tried again). */
export type ResponseResult = 'applied' | 'not-applicable' | 'failed';

/** One response's result. */
export interface ResponseRecord {
  deliveryId: string;
  result: ResponseResult;
  /** Why, for `not-applicable` and `failed`. */
  note: string | null;
}

/** Where a delivery's server response stands (`deliveries list`). */
export interface ResponseStatus {
  /** null while it waits to be applied. */
  result: ResponseResult | null;
  note: string | null;
  at: number | null;
}

/**
 * The responses of one database's deliveries. A delivery has a response from the moment it is
 * recorded done or dead with one until it is replayed (a pending delivery has none); the response
 * is pending until its result is recorded, and a replayed delivery's next response is pending
 * again. Held by `test/contract/response-ledger.contract.ts`.
 */
export interface ResponseLedger {
  /** Responses of `connection`'s finished deliveries not applied yet, in message (mailbox) order, at most `limit`, only of messages taken from `mailbox` when given (cheap when there are none: the runner asks before every cycle). */
  pendingResponses(connection: string, limit: number, mailbox?: string): Promise<PendingResponse[]>;
  /** Records results durably in one transaction, after which those responses are no longer pending. */
  recordResponses(records: ResponseRecord[], at: number): Promise<void>;
  /** Where the responses of these deliveries stand, leaving out ids without a response. */
  responseStatuses(ids: readonly string[]): Promise<Map<string, ResponseStatus>>;
}
