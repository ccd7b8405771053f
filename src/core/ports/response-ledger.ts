/**
 * The response-ledger port: the server responses of finished deliveries (a route's `response`
 * after success, a script's returned one, `errorResponse` after a dead letter) that the connection
 * has not applied yet, and the record of how applying each ended. The embedded implementation is
 * the `deliveries` table (`store-sqlite/sqlite-bus.ts`); the connection runner drains it at the
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

/** The responses of one database's deliveries. */
export interface ResponseLedger {
  /**
   * Responses of `connection`'s finished deliveries not applied yet, in message (mailbox) order,
   * at most `limit`; with `mailbox`, only of messages taken from that folder (a connection that
   * drains several folders applies each folder's on a session of that folder). Cheap when there
   * are none (the runner asks before every cycle).
   */
  pendingResponses(connection: string, limit: number, mailbox?: string): Promise<PendingResponse[]>;
  /** Records results durably, in one transaction; a recorded response is no longer pending. */
  recordResponses(records: ResponseRecord[], at: number): Promise<void>;
}
