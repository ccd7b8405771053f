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
  /** Start IDLE this soon after the last command, so a new message is seen within about a second. */
  autoIdleDelayMs: 100,
  /**
   * Messages larger than this are always fetched in chunks, so none sits whole in memory; found
   * with one `UID SEARCH ... LARGER`, which spares a size FETCH of every message.
   */
  chunkedAboveBytes: 1024 * 1024,
  /** Chunk size of partial fetches (BODY.PEEK[]<offset.length>). */
  chunkBytes: 1024 * 1024,
  /**
   * One bulk FETCH carries at most this many messages: imapflow reads ahead without back-pressure,
   * so this (times chunkedAboveBytes) bounds what can pile up unread in memory.
   */
  bulkFetchMessages: 100,
  /** setTimeout's ceiling, used where the operator asked for "no timeout" (0). */
  noTimeoutMs: 2_147_483_647,
} as const;
