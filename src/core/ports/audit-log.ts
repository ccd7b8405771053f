/**
 * The audit log (issue 14, item 4; ADR 0022): who read archived content or changed the
 * configuration, when, what and from where. Append-only: this port can add records and read
 * them, never change or remove one; each record is sealed to the one before it by the core's
 * chain rule (`core/audit/audit-chain.ts`), so a change made around the port is detected.
 */
import type { AuditEntry, AuditRecord, ChainHead } from '../audit/audit-chain.js';
import type { AuditCheckpoint } from '../audit/audit-retention.js';

export type { AuditEntry, AuditRecord, ChainHead } from '../audit/audit-chain.js';
export type { AuditCheckpoint } from '../audit/audit-retention.js';

/** One move of the oldest records to a sealed archive file (ADR 0029), as it is committed. */
export interface RetentionMove {
  /** The first record moved: the one after the current checkpoint (1 without one). */
  firstSeq: number;
  /** The last record moved, and its hash: the new checkpoint. */
  lastSeq: number;
  lastHash: string;
  /** The archive file that holds them, written and synced before the commit, and its SHA-256. */
  file: string;
  fileSha256: string;
  /** When (ms since the epoch). */
  at: number;
}

/** Which records to list; every bound optional. */
export interface AuditFilter {
  /** At or after (ms since the epoch). */
  since?: number;
  /** Before (ms since the epoch). */
  until?: number;
  /** Only this principal's (a token name or an OS user). */
  who?: string;
  /** Only this action's (`archive.search`, `token.create`…). */
  action?: string;
  /** Only records after this sequence number (a page's cursor, oldest first). */
  afterSeq?: number;
  /** Only records before this sequence number (a page's cursor, newest first). */
  beforeSeq?: number;
  /** The newest first (the console's order) instead of the oldest first. */
  newestFirst?: boolean;
  /** At most this many, in the order asked for. */
  limit?: number;
}

/** The append-only, hash-chained record of reads of the archive and changes of configuration. */
export interface AuditLog {
  /** Seals `entry` to the last record (`sealRecord`) and appends it in one transaction, answering the record stored. */
  append(entry: AuditEntry): Promise<AuditRecord>;
  /** The records that match `filter`, in sequence order (descending with `newestFirst`). */
  list(filter?: AuditFilter): Promise<AuditRecord[]>;
  /** Every record as stored, in sequence order, read a page at a time (for `audit verify`). */
  readAll(): AsyncIterable<AuditRecord>;
  /** The last record's sequence number and hash as recorded when it was appended, kept apart from the records; null before the first. */
  head(): Promise<ChainHead | null>;
  /** Where the live chain starts: the last move's checkpoint (ADR 0029); null when nothing was ever moved. */
  checkpoint(): Promise<AuditCheckpoint | null>;
  /**
   * Commits a move in one transaction: checks that the records `firstSeq`..`lastSeq` are still
   * the oldest and end in `lastHash` (else `AUDIT_CHAIN_BROKEN`, nothing changed), records the
   * checkpoint, removes those records (the only removal the store allows), and appends `entry`
   * (the `audit.retention` record) sealed to the head. Answers the appended record.
   */
  commitRetention(move: RetentionMove, entry: AuditEntry): Promise<AuditRecord>;
}
