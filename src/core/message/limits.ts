/**
 * Parser limits: every bound the parse stage enforces, in one place, each with the reason it
 * exists. A parser adapter reads these and must turn a breach into a `PARSE_LIMIT_EXCEEDED`
 * (or `PARSE_TIMEOUT`) outcome, never a crash: the raw bytes are already archived before the
 * parse stage runs, so a limit only costs us the parsed attributes of one message, while an
 * unbounded parse can stall a whole connection or take the process down with it.
 *
 * Pure data: no I/O, no imports, so the core and every adapter agree on the same numbers.
 */

/**
 * Messages larger than this are not parsed in full; only their header block is read
 * (a header-only pass) and the outcome is `PARSE_LIMIT_EXCEEDED` with those headers as
 * `partial`. Why: a full parse holds the decoded bodies and attachments in the worker's
 * memory (roughly 2-3x the raw size), so 64 MiB keeps one worker under ~200 MB; journal
 * mailboxes rarely carry more because common server send limits are 25-50 MB. The raw
 * message is still archived whole.
 */
export const MAX_FULL_PARSE_BYTES = 64 * 1024 * 1024;

/**
 * Largest header block (all header lines of the top-level message plus every MIME part's
 * headers) that is read. Why: a header block is held as strings and unfolded in memory, and
 * header parsing is where pathological inputs (megabytes of folded lines) burn CPU. Real
 * messages with long Received chains and DKIM signatures stay well under 256 KiB; 2 MiB
 * leaves room for list traffic with huge To/Cc lists.
 */
export const MAX_HEADER_BYTES = 2 * 1024 * 1024;

/**
 * Deepest MIME nesting parsed. Why: parsers recurse per level, so a crafted message with
 * thousands of nested multiparts exhausts the stack or takes quadratic time. Legitimate mail
 * (forwarded-of-forwarded, signed-and-encrypted, journal-wrapped) stays below ~10 levels.
 */
export const MAX_MIME_DEPTH = 50;

/**
 * Most MIME parts (leaves and containers) parsed in one message. Why: each part costs a
 * header parse and an object per part; 10,000 empty parts in a 1 MB message is a cheap
 * denial-of-service. Real mail with hundreds of parts is already rare.
 */
export const MAX_PARTS = 2_000;

/**
 * Most attachments reported in the attributes. Why: every attachment is hashed and carried
 * into the index and to every route; beyond this the message is treated as hostile.
 */
export const MAX_ATTACHMENTS = 1_000;

/**
 * Wall-clock time one message may take to parse in a worker before the worker is terminated
 * and the message is reported as `PARSE_TIMEOUT`. Why: a parser bug or a regex with
 * catastrophic backtracking must not stall the connection's lane; a 64 MiB message parses in
 * well under a second on a small machine, so 10 s only fires on a genuine hang.
 */
export const PARSE_TIMEOUT_MS = 10_000;

/**
 * Most characters of TextBody and of HtmlBody kept in the attributes (each truncated on its
 * own). Why: the bodies feed the full-text index and are handed to every route; a 40 MB
 * text/plain log dump would bloat the index and every webhook payload. The full body stays
 * in the archived raw message.
 */
export const MAX_BODY_CHARS = 4 * 1024 * 1024;

/** The set of limits a parser works within; adapters accept overrides of any of them. */
export interface ParseLimits {
  /** See {@link MAX_FULL_PARSE_BYTES}. */
  readonly maxFullParseBytes: number;
  /** See {@link MAX_HEADER_BYTES}. */
  readonly maxHeaderBytes: number;
  /** See {@link MAX_MIME_DEPTH}. */
  readonly maxMimeDepth: number;
  /** See {@link MAX_PARTS}. */
  readonly maxParts: number;
  /** See {@link MAX_ATTACHMENTS}. */
  readonly maxAttachments: number;
  /** See {@link PARSE_TIMEOUT_MS}. */
  readonly parseTimeoutMs: number;
  /** See {@link MAX_BODY_CHARS}. */
  readonly maxBodyChars: number;
}

/** The limits used when a parser is created without overrides. */
export const DEFAULT_PARSE_LIMITS: ParseLimits = Object.freeze({
  maxFullParseBytes: MAX_FULL_PARSE_BYTES,
  maxHeaderBytes: MAX_HEADER_BYTES,
  maxMimeDepth: MAX_MIME_DEPTH,
  maxParts: MAX_PARTS,
  maxAttachments: MAX_ATTACHMENTS,
  parseTimeoutMs: PARSE_TIMEOUT_MS,
  maxBodyChars: MAX_BODY_CHARS,
});
