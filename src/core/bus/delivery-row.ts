/**
 * A delivery as the SQL buses read it (bus-sqlite's `archive.db`, bus-postgres's schema): the
 * `deliveries` table's columns and, for a claim, its message's, mapped to the port's records in
 * one place so both backends hand the dispatcher the same thing.
 */
import type { ClaimedDelivery, DeliveryRecord, DeliveryState } from '../ports/message-bus.js';
import type { ServerResponse } from '../ports/scenario-action.js';
import type { PendingResponse } from '../ports/response-ledger.js';

/** A `deliveries` row. */
export interface DeliveryRow {
  id: string;
  message_id: number;
  connection: string;
  route: string;
  bus: number;
  step: number;
  attempts: number;
  next_at: number;
  state: DeliveryState;
  last_error: string | null;
  response: string | null;
  created_at: number;
  done_at: number | null;
}

/** A claimed row with its message's columns; `started` as the backend stores a boolean (0/1 or true/false). */
export interface ClaimedDeliveryRow extends DeliveryRow {
  sha256: string;
  size: number;
  mailbox: string;
  uid_validity: number;
  uid: number | null;
  uidl: string | null;
  parse_state: number;
  attributes: string | null;
  ref: string;
  stored_size: number;
  started: number | boolean;
}

/** The port's record of a row. */
export function toDeliveryRecord(r: DeliveryRow): DeliveryRecord {
  return {
    id: r.id,
    messageId: r.message_id,
    connection: r.connection,
    route: r.route,
    bus: r.bus,
    step: r.step,
    attempts: r.attempts,
    nextAt: r.next_at,
    state: r.state,
    lastError: r.last_error,
    response: r.response ? (JSON.parse(r.response) as ServerResponse) : null,
    createdAt: r.created_at,
    doneAt: r.done_at,
  };
}

/** The port's claimed delivery of a claimed row: an attempt marked started and never ended is `interrupted`. */
export function toClaimedDelivery(r: ClaimedDeliveryRow): ClaimedDelivery {
  return {
    ...toDeliveryRecord(r),
    message: {
      sha256: r.sha256,
      size: r.size,
      blob: { ref: r.ref, storedSize: r.stored_size },
      attributesJson: r.attributes,
      parsed: r.parse_state === 1,
      mailbox: r.mailbox,
      uidValidity: r.uid_validity,
      uid: r.uid,
      uidl: r.uidl,
    },
    interrupted: r.started === true || r.started === 1,
  };
}

/** A delivery with a server response, and where its message was taken (the response ledger's read). */
export interface ResponseRow {
  id: string;
  message_id: number;
  state: DeliveryState;
  response: string;
  mailbox: string;
  uid_validity: number;
  uid: number | null;
  source_key: string | null;
}

/** The responses to apply of `rows`: a pending delivery has none yet (done and deadLetter set it, replay clears it). */
export function toPendingResponses(rows: readonly ResponseRow[]): PendingResponse[] {
  return rows
    .filter((r) => r.state !== 'pending')
    .map((r) => ({
      deliveryId: r.id,
      messageId: r.message_id,
      state: r.state as 'done' | 'dead',
      response: JSON.parse(r.response) as ServerResponse,
      mailbox: r.mailbox,
      uidValidity: r.uid_validity,
      uid: r.uid,
      key: r.source_key,
    }));
}
