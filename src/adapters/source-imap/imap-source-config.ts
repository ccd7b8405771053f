import type { ConnectionConfig } from '../../config/loader.js';

/** The IMAP source needs the connection's settings, as validated by the one schema. */
export type ImapSourceConfig = Pick<
  ConnectionConfig,
  | 'name'
  | 'host'
  | 'port'
  | 'tlsPort'
  | 'security'
  | 'tls'
  | 'auth'
  | 'mailbox'
  | 'unseenOnly'
  | 'idle'
  | 'idleSafetyPollMs'
  | 'partialFetch'
  | 'deletePolicy'
  | 'moveTo'
  | 'expungeEvery'
  | 'connectTimeoutMs'
  | 'dataTimeoutMs'
>;

/** Tunables with their reasons; not operator settings. */
export const IMAP_TUNING = {
  /**
   * Re-arm IDLE this often: RFC 2177 lets servers drop an IDLE after 30 minutes, and some stop
   * notifying silently long before; 5 minutes is well under the 29-minute ceiling.
   */
  idleRearmMs: 5 * 60 * 1000,
  /**
   * With `idle`, after a listing that found mail the source polls every {@link lingerPollMs} for
   * this long before it IDLEs again: Dovecot sends an IDLE notification 500 ms after the change
   * that caused it (NOTIFY_DELAY_MSECS in its mailbox-watch.c), so mail arriving in a burst, as a
   * journal mailbox's does, would otherwise wait half a second each time the burst pauses.
   */
  idleLingerMs: 1000,
  /** The poll interval while lingering (see {@link idleLingerMs}). */
  lingerPollMs: 50,
  /**
   * Messages larger than this are fetched in smaller bulk groups ({@link mediumFetchMessages}),
   * found with one `UID SEARCH ... LARGER`, which spares a size FETCH of every message.
   */
  mediumAboveBytes: 1024 * 1024,
  /**
   * Messages larger than this are always fetched in chunks, so none sits whole in memory; found
   * with a second `UID SEARCH ... LARGER` among the medium ones (only when there are any). Below
   * it a message costs one literal in a bulk FETCH instead of a round trip per chunk plus one
   * for its size: on the mixed set (5 % 200 KB–2 MB attachments) chunking everything over 1 MiB
   * left the main thread idle ~20 % of the drain waiting for chunk round trips.
   */
  chunkedAboveBytes: 4 * 1024 * 1024,
  /**
   * Chunk size of partial fetches (BODY.PEEK[]<offset.length>): one round trip each, and one
   * literal imapflow buffers whole, so this bounds memory per streamed message. Pinned by
   * test/e2e/imap-settings-fetch.test.ts (a 10 MB message in at least 10 chunks).
   */
  chunkBytes: 1024 * 1024,
  /**
   * One bulk FETCH carries at most this many messages: imapflow reads ahead without back-pressure,
   * so this (times mediumAboveBytes) bounds what can pile up unread in memory (100 MiB).
   */
  bulkFetchMessages: 100,
  /** The same for messages between mediumAboveBytes and chunkedAboveBytes: at most 64 MiB. */
  mediumFetchMessages: 16,
  /** How long LOGOUT may take when closing before the socket is simply dropped (as POP3's QUIT). */
  logoutTimeoutMs: 5000,
  /** setTimeout's ceiling, used where the operator asked for "no timeout" (0). */
  noTimeoutMs: 2_147_483_647,
} as const;
