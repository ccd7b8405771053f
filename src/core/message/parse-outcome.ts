/**
 * What parsing one raw message gives: the type the parser port answers with and the parse queue
 * saves. It lives in the core's message module, not in a port, so the parser and store ports
 * both name it without importing each other.
 */
import type { MessageAttributes } from './attributes.js';
import type { JournalUnwrap } from './journal-report.js';

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
