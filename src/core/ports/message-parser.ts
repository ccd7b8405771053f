import type { MessageAttributes } from '../message/attributes.js';
import type { JournalUnwrap } from '../message/journal-report.js';
import type { ParsedRecord } from './message-store.js';

/**
 * The outcome of parsing one raw message. `journal` is present only for an Exchange journal
 * report: whether it was unwrapped (the attributes are then the original's), where the original
 * lies in the raw bytes, and why it was not unwrapped when it was not.
 */
export type ParseOutcome =
  | { ok: true; attributes: MessageAttributes; journal?: JournalUnwrap }
  | {
      ok: false;
      code: 'PARSE_FAILED' | 'PARSE_LIMIT_EXCEEDED' | 'PARSE_TIMEOUT';
      reason: string;
      partial?: Partial<MessageAttributes>;
      journal?: JournalUnwrap;
    };

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
   * (`toParsedRecord(outcome)`, core/ports/message-store.ts), built where the parse ran.
   */
  parseToRecord?(raw: Buffer, totalSize?: number): Promise<ParsedRecord>;
  /** Stops worker threads. */
  close(): Promise<void>;
}
