/**
 * `ProbeVerifier`: tells a probe message this archive issued (a connection test's, ADR 0027)
 * from one that merely carries the header. The check is a keyed MAC over the probe's id, so it
 * needs a key and a hash function: the composition root implements it (the core does no I/O and
 * has no crypto), the index stage asks it.
 */

/** Checks the value of a message's `X-Mailsluice-Probe` header. */
export interface ProbeVerifier {
  /** Whether `headerValue` (`<id>.<mac>`) was issued under this archive's probe key. Never throws. */
  issued(headerValue: string): boolean;
}
