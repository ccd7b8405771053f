/**
 * The audit log on SQLite (`AuditLog`): `audit_log` (append-only: triggers refuse UPDATE and
 * DELETE) and `audit_head` in `archive.db`. Each record is sealed by the core's chain rule inside
 * the append's `BEGIN IMMEDIATE`, so two processes appending at once (the service and a CLI
 * command) still make one unbroken chain.
 */
import { createHash } from 'node:crypto';
import type { AuditEntry, AuditFilter, AuditLog, AuditRecord, ChainHead } from '../../core/ports/audit-log.js';
import { sealRecord } from '../../core/audit/audit-chain.js';
import type { SqliteConnection } from './sqlite-connection.js';
import { mapSqliteError } from './sqlite-error-map.js';

const COLUMNS = 'seq, at, who, origin, action, detail, prev_hash AS prevHash, hash';
/** Records per page of `readAll`. */
const PAGE = 1000;

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** Appends and reads audit records on the shared connection. */
export class SqliteAuditLog implements AuditLog {
  constructor(private readonly conn: SqliteConnection) {}

  async append(entry: AuditEntry): Promise<AuditRecord> {
    try {
      return this.conn.db.transaction(() => {
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
      }).immediate();
    } catch (err) {
      throw mapSqliteError(err, `appending to the audit log (${entry.action})`);
    }
  }

  async list(filter: AuditFilter = {}): Promise<AuditRecord[]> {
    try {
      if (!this.conn.hasTable('audit_log')) return []; // an older archive opened read-only
      // One fixed text: every bound is always bound, an absent one to a value that passes all.
      return this.conn
        .stmt(`SELECT ${COLUMNS} FROM audit_log WHERE seq > ? AND at >= ? AND at < ? AND (? IS NULL OR who = ?) ORDER BY seq LIMIT ?`)
        .all(filter.afterSeq ?? Number.MIN_SAFE_INTEGER, filter.since ?? Number.MIN_SAFE_INTEGER, filter.until ?? Number.MAX_SAFE_INTEGER, filter.who ?? null, filter.who ?? null, filter.limit ?? -1) as AuditRecord[];
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
