/**
 * The audit log on SQLite (`AuditLog`): `audit_log` (append-only: triggers refuse UPDATE and
 * DELETE) and `audit_head` in `archive.db`. Each record is sealed by the core's chain rule inside
 * the append's `BEGIN IMMEDIATE`, so two processes appending at once (the service and a CLI
 * command) still make one unbroken chain.
 */
import { createHash } from 'node:crypto';
import type { AuditCheckpoint, AuditEntry, AuditFilter, AuditLog, AuditRecord, ChainHead, RetentionMove } from '../../core/ports/audit-log.js';
import { sealRecord } from '../../core/audit/audit-chain.js';
import { MailsluiceError } from '../../core/errors/index.js';
import type { SqliteConnection } from './sqlite-connection.js';
import { mapSqliteError } from './sqlite-error-map.js';
import { immediateOnMain } from '../sqlite-node/sqlite-write-lock.js';

const COLUMNS = 'seq, at, who, origin, action, detail, prev_hash AS prevHash, hash';
/** Records per page of `readAll`. */
const PAGE = 1000;

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** Appends and reads audit records on the shared connection. */
export class SqliteAuditLog implements AuditLog {
  constructor(private readonly conn: SqliteConnection) {}

  async append(entry: AuditEntry): Promise<AuditRecord> {
    try {
      return immediateOnMain(this.conn.db, () => this.appendInTransaction(entry));
    } catch (err) {
      throw mapSqliteError(err, `appending to the audit log (${entry.action})`);
    }
  }

  /**
   * Seals `entry` to the head and inserts it; the caller holds the write transaction (the purge
   * writes its record in the transaction that removes the rows, docs/retention.md).
   */
  appendInTransaction(entry: AuditEntry): AuditRecord {
    // Sealed to the head, not to the last row: after a removed last record the next one
    // leaves a gap that verify names, instead of quietly taking the removed record's place.
    const last = (this.conn.stmt('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1').get() as ChainHead | undefined) ?? null;
    const head = (this.conn.stmt('SELECT seq, hash FROM audit_head WHERE id = 1').get() as ChainHead | undefined) ?? null;
    const r = sealRecord(head && (!last || head.seq >= last.seq) ? head : last, entry, sha256);
    this.conn
      .stmt('INSERT INTO audit_log (seq, at, who, origin, action, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(r.seq, r.at, r.who, r.origin, r.action, r.detail, r.prevHash, r.hash);
    this.conn.stmt('INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash').run(r.seq, r.hash);
    return r;
  }

  async checkpoint(): Promise<AuditCheckpoint | null> {
    try {
      if (!this.conn.hasTable('audit_checkpoint')) return null;
      return (this.conn.stmt('SELECT seq, hash, file, file_sha256 AS fileSha256, at FROM audit_checkpoint WHERE id = 1').get() as AuditCheckpoint | undefined) ?? null;
    } catch (err) {
      throw mapSqliteError(err, 'reading the audit checkpoint');
    }
  }

  async commitRetention(move: RetentionMove, entry: AuditEntry): Promise<AuditRecord> {
    const refuse = (why: string): never => {
      throw new MailsluiceError('AUDIT_CHAIN_BROKEN', `records ${move.firstSeq} to ${move.lastSeq} were not moved: ${why}`, { details: { seq: move.firstSeq } });
    };
    try {
      return immediateOnMain(this.conn.db, () => {
        const from = (this.conn.stmt('SELECT seq FROM audit_checkpoint WHERE id = 1').pluck().get() as number | undefined) ?? 0;
        if (from !== move.firstSeq - 1) refuse(`the checkpoint is at ${from} now, not ${move.firstSeq - 1} (another move ran)`);
        const oldest = this.conn.stmt('SELECT min(seq) FROM audit_log').pluck().get() as number | null;
        if (oldest !== move.firstSeq) refuse(`the oldest record in the database is ${oldest ?? 'none'}`);
        const hash = this.conn.stmt('SELECT hash FROM audit_log WHERE seq = ?').pluck().get(move.lastSeq) as string | undefined;
        if (hash !== move.lastHash) refuse(`record ${move.lastSeq} is not the one written to ${move.file}`);
        this.conn
          .stmt('INSERT INTO audit_checkpoint (id, seq, hash, file, file_sha256, at) VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, file = excluded.file, file_sha256 = excluded.file_sha256, at = excluded.at')
          .run(move.lastSeq, move.lastHash, move.file, move.fileSha256, move.at);
        // The one removal the DELETE trigger lets through: while this row exists, which only this
        // transaction can see, and only up to the checkpoint just recorded.
        this.conn.stmt('INSERT INTO audit_prune_guard (id, up_to) VALUES (1, ?)').run(move.lastSeq);
        this.conn.stmt('DELETE FROM audit_log WHERE seq <= ?').run(move.lastSeq);
        this.conn.stmt('DELETE FROM audit_prune_guard WHERE id = 1').run();
        return this.appendInTransaction(entry);
      });
    } catch (err) {
      throw mapSqliteError(err, `moving audit records ${move.firstSeq} to ${move.lastSeq} to ${move.file}`);
    }
  }

  async list(filter: AuditFilter = {}): Promise<AuditRecord[]> {
    try {
      if (!this.conn.hasTable('audit_log')) return []; // an older archive opened read-only
      // One fixed text: every bound is always bound, an absent one to a value that passes all.
      // Two texts, one per order (an ORDER BY direction cannot be bound).
      const where = 'seq > ? AND seq < ? AND at >= ? AND at < ? AND (? IS NULL OR who = ?) AND (? IS NULL OR action = ?)';
      return this.conn
        .stmt(`SELECT ${COLUMNS} FROM audit_log WHERE ${where} ORDER BY seq ${filter.newestFirst ? 'DESC' : 'ASC'} LIMIT ?`)
        .all(
          filter.afterSeq ?? Number.MIN_SAFE_INTEGER,
          filter.beforeSeq ?? Number.MAX_SAFE_INTEGER,
          filter.since ?? Number.MIN_SAFE_INTEGER,
          filter.until ?? Number.MAX_SAFE_INTEGER,
          filter.who ?? null,
          filter.who ?? null,
          filter.action ?? null,
          filter.action ?? null,
          filter.limit ?? -1,
        ) as AuditRecord[];
    } catch (err) {
      throw mapSqliteError(err, 'listing the audit log');
    }
  }

  async *readAll(): AsyncIterable<AuditRecord> {
    if (!this.conn.hasTable('audit_log')) return;
    let after = Number.MIN_SAFE_INTEGER;
    for (;;) {
      let page: AuditRecord[];
      try {
        page = this.conn.stmt(`SELECT ${COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`).all(after, PAGE) as AuditRecord[];
      } catch (err) {
        throw mapSqliteError(err, 'reading the audit log');
      }
      yield* page;
      if (page.length < PAGE) return;
      after = page[page.length - 1]!.seq;
    }
  }

  async head(): Promise<ChainHead | null> {
    try {
      if (!this.conn.hasTable('audit_head')) return null;
      return (this.conn.stmt('SELECT seq, hash FROM audit_head WHERE id = 1').get() as ChainHead | undefined) ?? null;
    } catch (err) {
      throw mapSqliteError(err, 'reading the audit log head');
    }
  }
}
