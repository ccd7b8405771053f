/** Structured logging; fields must never carry secrets. */
export interface Logger {
  /** Logs a fine-grained event (only in the connection's `full` log). */
  debug(msg: string, fields?: Record<string, unknown>): void;
  /** Logs a normal event. */
  info(msg: string, fields?: Record<string, unknown>): void;
  /** Logs something an operator should look at. */
  warn(msg: string, fields?: Record<string, unknown>): void;
  /** Logs a failure. */
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger that adds `fields` to every record. */
  child(fields: Record<string, unknown>): Logger;
}
