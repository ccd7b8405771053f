/**
 * Finds an attachment's bytes again in the raw message. The archive keeps an attachment's name,
 * type, size and SHA-256 (in the message attributes), not its bytes: whoever needs them (a
 * webhook inlining small ones, the API serving a reference) reads the raw message back and asks
 * this port for them by hash.
 */

/** See the module comment. */
export interface AttachmentFinder {
  /**
   * The decoded bytes of the attachments whose `Sha256` (as the message attributes give it) is in
   * `wanted`, by hash. One that cannot be found is missing from the map; bad mail never throws.
   */
  find(raw: Uint8Array, wanted: ReadonlySet<string>): Promise<Map<string, Uint8Array>>;
}
