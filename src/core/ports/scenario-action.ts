/**
 * The scenario-action port: one step of a route's scenario (webhook, script, forward, publish,
 * archive) run for one message. It does not queue, retry or record anything: the bus dispatcher
 * does (docs/pipeline.md, "dispatch").
 */
import type { AttributeMapping } from '../routing/route-attributes.js';
import type { MessageAttributes } from '../message/attributes.js';
import type { MailsluiceError } from '../errors/index.js';

/** What a scenario may ask the connection to do on the server with the message afterwards. */
export interface ServerResponse {
  /** IMAP flags to add, e.g. `\Seen`, `$Processed`. */
  addFlags?: string[];
  /** IMAP folder to move the message to. */
  moveTo?: string;
}

/** One attempt of one delivery (a message to a route), as an action sees it. */
export interface DeliveryContext {
  route: string;
  connection: string;
  /** The delivery's stable id: the same on every retry of this message on this route. */
  deliveryId: string;
  /**
   * The key a receiver deduplicates by: stable per delivery and scenario step, so a retry sends
   * the same key and two steps of one scenario never share one.
   */
  idempotencyKey: string;
  /** Index of this action in the route's scenario (0-based). */
  step: number;
  /** 1 on the first try of this step. */
  attempt: number;
  /** The archived raw message, exactly as the server sent it (forward, RawBody). */
  readRaw(): Promise<Buffer>;
  /** Aborted when the service stops or the attempt's time is up; give up promptly. */
  signal: AbortSignal;
  /**
   * The route's `attributes` setting: an action applies it (`mapAttributes`) to the message it
   * hands over (a webhook's body, a script's argument) after using the full message for its own
   * work (inlining attachments). Absent: every attribute as it is (ADR 0027).
   */
  attributes?: AttributeMapping | undefined;
}

/** How an attempt ended. A failure's `error.retryable` decides between retry and dead letter. */
export type ActionOutcome = { ok: true; response?: ServerResponse } | { ok: false; error: MailsluiceError };

/** One configured action of one route, ready to run. */
export interface ScenarioAction {
  readonly kind: 'archive' | 'webhook' | 'script' | 'publish' | 'forward';
  /**
   * Calls of `run` that may be in flight at once and still reach their destination in call
   * order (a webhook pipelined on one connection). Absent or 1: the dispatcher awaits each
   * call before the next, the only way an action without this promise keeps mailbox order.
   */
  readonly inOrder?: number;
  /** Runs the action for one message; never throws for an expected failure (returns it). */
  run(message: MessageAttributes, ctx: DeliveryContext): Promise<ActionOutcome>;
  /** Releases what the action holds (worker threads, connection pools). */
  close?(): Promise<void>;
}
