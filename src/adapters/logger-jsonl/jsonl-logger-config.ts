/**
 * What the JSON-lines logger is configured with (its sinks and their levels) and the fixed rules
 * behind it (level order, which field names are taken for secrets), each with its reason.
 */
import type { RotationPolicy } from './log-rotation.js';

/** Levels in order of severity. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Each level's rank: a sink takes the records at or above its level. */
export const LEVEL_RANK: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Where one logger writes and from which level. */
export interface LogSink {
  /** Lowest level written. */
  level: LogLevel;
  /** A file (JSON lines), or a writable such as process.stderr. */
  file?: string;
  /** A file's size cap and rotated files kept (log-rotation.ts); none: the file grows unbounded. */
  rotation?: RotationPolicy;
  stream?: { write(s: string): unknown };
}

/**
 * Field names whose values are replaced by `[redacted]`. Why: callers must never log secrets, but
 * a connection's password or a webhook secret passed by mistake should not reach a log file that
 * is kept for months; the names cover how the code base and its libraries name them.
 */
export const SECRET_KEYS = /pass(word)?|secret|token|authorization|cookie|key$/i;

/**
 * Field names that match {@link SECRET_KEYS} but never hold a secret: `key` is a message's source
 * key (`imap:<mailbox>:<uidvalidity>:<uid>`, `pop3:<uidl>`), which names the message an operator
 * has to find ("message archived", "message could not be archived").
 */
export const NOT_SECRET: ReadonlySet<string> = new Set(['key']);

/** The level of a connection's own log file for its `logging` setting, or null for off. */
export function connectionLogLevel(logging: 'full' | 'errors' | 'off'): LogLevel | null {
  return logging === 'full' ? 'debug' : logging === 'errors' ? 'warn' : null;
}
