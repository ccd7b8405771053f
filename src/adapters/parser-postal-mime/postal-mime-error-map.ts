/**
 * The one place where errors of postal-mime and of worker threads become mailsluice parse
 * codes. postal-mime throws plain `Error`s without a code, so its two limit errors can only be
 * told apart by their wording; that comparison lives here and nowhere else, and a unit test
 * pins it so a library upgrade that rewords them fails loudly instead of turning limit
 * breaches into PARSE_FAILED.
 */
import type { ParseOutcome } from '../../core/ports/message-parser.js';

/** A parse failure code, as the MessageParser port reports it. */
export type ParseFailureCode = Extract<ParseOutcome, { ok: false }>['code'];

/** A library or worker error turned into a parse failure code and a one-line reason. */
export interface MappedParseError {
  code: ParseFailureCode;
  reason: string;
}

// postal-mime 4: "Maximum MIME nesting depth of N levels exceeded",
// "Maximum header size of N bytes exceeded".
const POSTAL_MIME_LIMIT = /^Maximum (MIME nesting depth|header size) of \d+ \w+ exceeded/;

/** Maps an error thrown while postal-mime parsed a message. */
export function mapPostalMimeError(err: unknown): MappedParseError {
  const message = err instanceof Error ? err.message : String(err);
  if (POSTAL_MIME_LIMIT.test(message)) return { code: 'PARSE_LIMIT_EXCEEDED', reason: oneLine(message) };
  // A RangeError (stack or string length) is the JS engine hitting a size bound on hostile
  // input: a limit, not a bug in the message.
  if (err instanceof RangeError) return { code: 'PARSE_LIMIT_EXCEEDED', reason: `engine limit: ${oneLine(message)}` };
  return { code: 'PARSE_FAILED', reason: `unparsable message: ${oneLine(message)}` };
}

/**
 * Maps the death of a worker thread while it held a job. A worker that ran out of its heap
 * (resourceLimits) hit a memory limit; any other death is a parser crash.
 */
export function mapWorkerError(err: unknown): MappedParseError {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'ERR_WORKER_OUT_OF_MEMORY') return { code: 'PARSE_LIMIT_EXCEEDED', reason: `parser worker ran out of memory: ${oneLine(message)}` };
  return { code: 'PARSE_FAILED', reason: `parser worker crashed: ${oneLine(message)}` };
}

function oneLine(s: string): string {
  const line = s.replace(/\s+/g, ' ').trim();
  return line.length > 300 ? line.slice(0, 300) + '…' : line;
}
