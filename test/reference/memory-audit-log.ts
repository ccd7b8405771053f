/**
 * The in-memory reference adapter of `AuditLog`: an array of sealed records and the head, sealed
 * by the core's chain rule as the SQLite adapter does. `records` is open so the contract suite can
 * tamper with it the way someone with the database file could. Held to
 * `test/contract/audit-log.contract.ts`.
 */
import { createHash } from 'node:crypto';
import type { AuditCheckpoint, AuditEntry, AuditFilter, AuditLog, AuditRecord, ChainHead, RetentionMove } from '../../src/core/ports/audit-log.js';
import { MailsluiceError } from '../../src/core/errors/index.js';
import { sealRecord } from '../../src/core/audit/audit-chain.js';

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** See the module comment. */
export class MemoryAuditLog implements AuditLog {
  /** The records, in sequence order (open for tampering by tests). */
  readonly records: AuditRecord[] = [];
  /** The last record's place (open for tampering by tests). */
  headRow: ChainHead | null = null;
  /** The retention checkpoint (open for tampering by tests). */
  checkpointRow: AuditCheckpoint | null = null;

  async append(entry: AuditEntry): Promise<AuditRecord> {
    const last = this.records.at(-1) ?? null;
    const from = this.headRow && (!last || this.headRow.seq >= last.seq) ? this.headRow : last;
    const r = sealRecord(from, entry, sha256);
    this.records.push(r);
    this.headRow = { seq: r.seq, hash: r.hash };
    return { ...r };
  }

  async list(filter: AuditFilter = {}): Promise<AuditRecord[]> {
    const matches = (r: AuditRecord): boolean =>
      (filter.since === undefined || r.at >= filter.since) &&
      (filter.until === undefined || r.at < filter.until) &&
      (filter.who === undefined || r.who === filter.who) &&
      (filter.action === undefined || r.action === filter.action) &&
      (filter.afterSeq === undefined || r.seq > filter.afterSeq) &&
      (filter.beforeSeq === undefined || r.seq < filter.beforeSeq);
    const out = this.records.filter(matches);
    if (filter.newestFirst) out.reverse();
    return (filter.limit === undefined ? out : out.slice(0, filter.limit)).map((r) => ({ ...r }));
  }

  async *readAll(): AsyncIterable<AuditRecord> {
    for (const r of [...this.records]) yield { ...r };
  }

  async head(): Promise<ChainHead | null> {
    return this.headRow ? { ...this.headRow } : null;
  }

  async checkpoint(): Promise<AuditCheckpoint | null> {
    return this.checkpointRow ? { ...this.checkpointRow } : null;
  }

  async commitRetention(move: RetentionMove, entry: AuditEntry): Promise<AuditRecord> {
    const last = this.records.find((r) => r.seq === move.lastSeq);
    if ((this.checkpointRow?.seq ?? 0) !== move.firstSeq - 1 || this.records[0]?.seq !== move.firstSeq || last?.hash !== move.lastHash) {
      throw new MailsluiceError('AUDIT_CHAIN_BROKEN', `records ${move.firstSeq} to ${move.lastSeq} were not moved`);
    }
    this.checkpointRow = { seq: move.lastSeq, hash: move.lastHash, file: move.file, fileSha256: move.fileSha256, at: move.at };
    this.records.splice(0, this.records.findIndex((r) => r.seq === move.lastSeq) + 1);
    return this.append(entry);
  }
}
