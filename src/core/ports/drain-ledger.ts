/**
 * The drain ledger: what the drain cycle records so no message is lost or taken twice — which
 * source keys were committed, which server actions are still owed, how far each mailbox was
 * read, and which blobs are stored already (single-instance storage).
 */
import type { BlobLocation } from './blob-store.js';
import type { CommitFence } from './connection-leases.js';

/** One message taken from a server, ready to commit. */
export interface TakenRecord {
  connection: string;
  /** The candidate key (`imap:<mailbox>:<uidvalidity>:<uid>` / `pop3:<uidl>`). */
  sourceKey: string;
  mailbox: string;
  uidValidity: number;
  uid: number | null;
  uidl: string | null;
  sha256: string;
  size: number;
  /** Where the raw bytes were written; null when the blob already existed. */
  blob: BlobLocation | null;
  /** Milliseconds since the epoch. */
  takenAt: number;
}

/** A committed message whose server action has not been confirmed yet. */
export interface PendingAction {
  sourceKey: string;
  uid: number | null;
  uidl: string | null;
}

/** A watermark: every UID up to `lastUid` of `uidValidity` was committed or had vanished. */
export interface MailboxWatermark {
  uidValidity: number;
  lastUid: number;
}

/** The drain's record of what was taken, what the servers still owe, and how far each mailbox was read. */
export interface DrainLedger {
  /** Whether a blob with this hash is stored (for single-instance storage); synchronous because the blob writer asks mid-stream. */
  hasBlob(sha256: string): boolean;
  /** Which of `keys` were committed already for the connection. */
  lookupTaken(connection: string, keys: string[]): Promise<Set<string>>;
  /** Which of `keys` were committed already and need no server action any more (done or superseded). */
  lookupSettled(connection: string, keys: string[]): Promise<Set<string>>;
  /**
   * Commits a batch in one transaction: blobs, messages (one per connection and content hash,
   * each queued for the parse stage), source keys with their pending server action, and the watermark.
   * With a `fence` (scale-out: the connection's lease, ADR 0053) the same transaction checks that
   * the lease is still held under that token and unexpired, and refuses with `LEASE_LOST`
   * (committing nothing) when it is not; the token is recorded with each message row. A backend
   * without leases (SQLite: one process holds the data directory) is never handed one.
   */
  commitTaken(records: TakenRecord[], watermark?: { connection: string; mailbox: string } & MailboxWatermark, fence?: CommitFence): Promise<void>;
  /** Records that the server action of these keys is done. */
  markActionDone(connection: string, keys: string[]): Promise<void>;
  /** Committed keys of this mailbox whose server action is not confirmed, oldest first. */
  pendingActions(connection: string, mailbox: string, uidValidity: number): Promise<PendingAction[]>;
  /** Marks pending actions of an older UIDVALIDITY as superseded (the messages got new UIDs) and says how many. */
  supersedePending(connection: string, mailbox: string, currentUidValidity: number): Promise<number>;
  /** The watermark of a mailbox, or null when nothing was taken from it yet. */
  getWatermark(connection: string, mailbox: string): Promise<MailboxWatermark | null>;
}
