/**
 * The JSON-lines logger's failures. It maps none to the catalogue, on purpose: logging is never
 * the reason an operation fails, so no failure of a sink reaches a caller as a `MailsluiceError`.
 *
 * - A record that cannot be appended to a file sink (disk full, the file or its directory made
 *   read-only) is dropped by {@link dropUnwritableRecord}: a log that cannot be written must not
 *   stop the drain, and the same record still goes to the other sinks (stderr).
 * - A file sink's directory that cannot be created fails the logger's constructor with Node's own
 *   error, where a composition root builds its loggers.
 */

/** What a failed append to a file sink becomes: nothing (the record is dropped, see the module comment). */
export function dropUnwritableRecord(_err: unknown): void {
  // Deliberately empty: reporting it would mean logging, through the sink that just failed.
}
