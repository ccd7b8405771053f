import { ERROR_CODES, type ErrorCode } from './codes.js';

/** Options for {@link MailsluiceError}. */
export interface MailsluiceErrorOptions {
  /** The underlying error, kept for logs; never compared by message. */
  cause?: unknown;
  /** Overrides the catalogue's retryable flag where the context knows better. */
  retryable?: boolean;
  /** Structured facts for logs and JSON output (never secrets). */
  details?: Record<string, unknown>;
}

/**
 * The one error class of mailsluice. Code paths branch on `code`, never on `message`.
 */
export class MailsluiceError extends Error {
  /** Stable code from the catalogue. */
  readonly code: ErrorCode;
  /** Whether trying again later may succeed. */
  readonly retryable: boolean;
  /** Structured facts for logs and JSON output. */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: MailsluiceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MailsluiceError';
    this.code = code;
    this.retryable = options.retryable ?? ERROR_CODES[code].retryable;
    this.details = options.details;
  }

  /** A JSON-safe view for `--json` output and structured logs. */
  toJSON(): { code: ErrorCode; message: string; retryable: boolean; details?: Record<string, unknown> } {
    return { code: this.code, message: this.message, retryable: this.retryable, ...(this.details ? { details: this.details } : {}) };
  }
}

/** True when `err` is a {@link MailsluiceError}, optionally with the given code. */
export function isMailsluiceError(err: unknown, code?: ErrorCode): err is MailsluiceError {
  return err instanceof MailsluiceError && (code === undefined || err.code === code);
}

/** Wraps anything thrown into a {@link MailsluiceError}, keeping one that already is. */
export function toMailsluiceError(err: unknown, fallback: ErrorCode = 'INTERNAL'): MailsluiceError {
  if (err instanceof MailsluiceError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new MailsluiceError(fallback, message, { cause: err });
}
