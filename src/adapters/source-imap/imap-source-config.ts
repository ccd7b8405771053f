import { SERVER_SILENCE } from '../../core/ports/mailbox-source.js';
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
  | 'pollIntervalMs'
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
   * A body larger than this streams out of the bulk FETCH to the blob writer as it arrives
   * (ImapWire, with back-pressure), so none sits whole in memory; smaller ones arrive whole and
   * are stored while the next ones are fetched (ADR 0009).
   */
  streamAboveBytes: 4 * 1024 * 1024,
  /**
   * Chunk size of partial fetches (`partialFetch`, BODY.PEEK[]<offset.length>): one round trip
   * each, and one literal held whole, so this bounds memory per message. Pinned by
   * test/e2e/imap-settings-fetch.test.ts (a 10 MB message in at least 10 chunks).
   */
  chunkBytes: 1024 * 1024,
  /**
   * Longest UID sequence set one command carries; a longer one is split over several commands
   * (`toSequenceSets`). Leaves room for the tag and the rest of a STORE line within the 8,192
   * octets RFC 7162 section 4 advises; Dovecot's own limit (imap_max_line_length) is 64 KiB.
   */
  maxSequenceSetChars: 7000,
  /**
   * With `dataTimeoutMs` 0: the silence a command may wait through before the session is dropped
   * (SOURCE_DATA_TIMEOUT), and how often a warning is logged meanwhile (`SERVER_SILENCE` has the
   * reasons). Lowered for tests through the app (MAILSLUICE_SILENCE_LIMIT_MS / _WARN_MS).
   */
  silenceLimitMs: SERVER_SILENCE.limitMs,
  silenceWarnEveryMs: SERVER_SILENCE.warnEveryMs,
  /** How long LOGOUT may take when closing before the socket is simply dropped (as POP3's QUIT). */
  logoutTimeoutMs: 5000,
  /** setTimeout's ceiling, used where the operator asked for "no timeout" (0). */
  noTimeoutMs: 2_147_483_647,
} as const;
