/**
 * The audit log (issue 14, item 4; ADR 0022): who read archived content or changed the
 * configuration, when, what and from where. Append-only: this port can add records and read
 * them, never change or remove one; each record is sealed to the one before it by the core's
 * chain rule (`core/audit/audit-chain.ts`), so a change made around the port is detected.
 */
import type { AuditEntry, AuditRecord, ChainHead } from '../audit/audit-chain.js';

export type { AuditEntry, AuditRecord, ChainHead } from '../audit/audit-chain.js';

/** Which records to list; every bound optional. */
export interface AuditFilter {
  /** At or after (ms since the epoch). */
  since?: number;
  /** Before (ms since the epoch). */
  until?: number;
  /** Only this principal's (a token name or an OS user). */
  who?: string;
  /** Only records after this sequence number (a page's cursor). */
  afterSeq?: number;
  /** At most this many, the oldest first. */
  limit?: number;
}

/** The append-only, hash-chained record of reads of the archive and changes of configuration. */
export interface AuditLog {
  /** Seals `entry` to the last record (`sealRecord`) and appends it in one transaction, answering the record stored. */
  append(entry: AuditEntry): Promise<AuditRecord>;
  /** The records that match `filter`, in sequence order. */
  list(filter?: AuditFilter): Promise<AuditRecord[]>;
  /** Every record as stored, in sequence order, read a page at a time (for `audit verify`). */
  readAll(): AsyncIterable<AuditRecord>;
  /** The last record's sequence number and hash as recorded when it was appended, kept apart from the records; null before the first. */
  head(): Promise<ChainHead | null>;
}
