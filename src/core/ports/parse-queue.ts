/**
 * The parse queue: committed messages wait here for the parse stage, which saves their parse
 * results (and the deliveries of the routes that take them, the outbox) back.
 */
import type { BlobLocation } from './blob-store.js';
import type { ParseResult } from '../message/parsed-record.js';

export type { ParseResult } from '../message/parsed-record.js';

/** A committed message waiting for the parse stage. */
export interface UnparsedMessage {
  id: number;
  /** The connection that took it: routing picks that connection's routes. */
  connection: string;
  sha256: string;
  size: number;
  blob: BlobLocation;
}

/** Committed messages waiting to be parsed, and where their parse results go. */
export interface ParseQueue {
  /** Messages waiting to be parsed, in id order (commit order), after `afterId`. */
  listUnparsed(limit: number, afterId?: number): Promise<UnparsedMessage[]>;
  /** How many messages wait to be parsed (cheap enough to ask every few hundred milliseconds). */
  countUnparsed(): Promise<number>;
  /**
   * Saves parse results and indexes them (the full-text rows durable before the messages count
   * as parsed), queueing each one's deliveries in the same transaction that marks it parsed (the
   * outbox, ADR 0006; a delivery whose id exists is not queued again), with bifurcated journal
   * reports merged as `planSave` (core/message/journal-merge.ts) decides, in that transaction.
   */
  saveParsed(results: ParseResult[]): Promise<void>;
}
