/**
 * The bodies hand-off: the index stage gives the bodies (`TextBody`, `HtmlBody`) of a message
 * that routes take straight to the dispatcher, in memory, instead of the store keeping them in
 * the database for it (ADR 0011). It is best effort by design: what the dispatcher does not find
 * (the process restarted, an entry was dropped to bound memory, the hand-off lost a race) it
 * builds again from the archived raw message, as it does for any message saved without bodies.
 * So nothing here is durable, and nothing needs to be.
 */

/** The bodies of one routed message. */
export interface HandedBodies {
  messageId: number;
  /** `{ TextBody, HtmlBody }` as JSON. */
  bodiesJson: string;
  /** Deliveries that will ask for them; the entry is dropped after the last. */
  uses: number;
}

/** The index stage's side: called before the parse results (and their deliveries) are saved. */
export interface BodiesSink {
  handOver(entries: readonly HandedBodies[]): void;
}

/** The dispatcher's side. */
export interface BodiesSource {
  /**
   * The bodies handed over for `messageId` as JSON, or undefined when there are none (anymore).
   * Counts one use; a caller that gets undefined parses the raw message instead.
   */
  take(messageId: number): string | undefined;
}
