import type { ParseOutcome } from '../message/parse-outcome.js';
import type { ParsedRecord } from '../message/parsed-record.js';

export type { ParseOutcome } from '../message/parse-outcome.js';

/** Turns raw bytes into message attributes, within the limits of `core/message/limits.ts`. */
export interface MessageParser {
  /**
   * Parses one message; never throws for bad mail, it reports an unparsable outcome instead.
   * When `totalSize` is larger than `raw`, `raw` is only the message's first bytes (a message over
   * the full-parse limit): the parser reads its headers and reports PARSE_LIMIT_EXCEEDED.
   */
  parse(raw: Buffer, totalSize?: number): Promise<ParseOutcome>;
  /**
   * Optional: as {@link parse}, but answers with the outcome already in the form the store saves
   * (`toParsedRecord(outcome)`, core/message/parsed-record.ts), built where the parse ran.
   */
  parseToRecord?(raw: Buffer, totalSize?: number): Promise<ParsedRecord>;
  /** Stops worker threads. */
  close(): Promise<void>;
}
