/**
 * The audit log on PostgreSQL (`AuditLog`): `audit_log` (append-only: a trigger refuses UPDATE and
 * DELETE but a retention move's), `audit_head` and `audit_checkpoint`. Each record is sealed by the
 * core's chain rule inside the append's transaction, which first locks `audit_head` (or, before
 * the first record, an advisory lock), so workers appending at once still make one unbroken chain.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { AuditCheckpoint, AuditEntry, AuditFilter, AuditLog, AuditRecord, ChainHead, RetentionMove } from '../../core/ports/audit-log.js';
import { sealRecord } from '../../core/audit/audit-chain.js';
import { MailsluiceError } from '../../core/errors/index.js';
import type { PostgresConnection } from './postgres-connection.js';

const COLUMNS = 'seq, at, who, origin, action, detail, prev_hash AS "prevHash", hash';
/** Records per page of `readAll`. */
const PAGE = 1000;
/** The advisory lock every append takes (ASCII "msal"): serialises appends, the first one too, when no head row exists yet to lock. */
const APPEND_LOCK = 0x6d73616c;

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** Appends and reads audit records in the deployment's schema. */
export class PostgresAuditLog implements AuditLog {
  constructor(private readonly conn: PostgresConnection) {}

  async append(entry: AuditEntry): Promise<AuditRecord> {
    return this.conn.tx(`appending to the audit log (${entry.action})`, (c) => this.appendInTransaction(c, entry));
  }

  /** Seals `entry` to the head and inserts it; `c` holds the transaction. */
  async appendInTransaction(c: pg.PoolClient, entry: AuditEntry): Promise<AuditRecord> {
    await c.query('SELECT pg_advisory_xact_lock($1)', [APPEND_LOCK]);
    // Sealed to the head, not to the last row: after a removed last record the next one leaves a
    // gap that verify names, instead of quietly taking the removed record's place.
    const last = (await c.query<ChainHead>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1')).rows[0] ?? null;
    const head = (await c.query<ChainHead>('SELECT seq, hash FROM audit_head WHERE id = 1')).rows[0] ?? null;
    const r = sealRecord(head && (!last || head.seq >= last.seq) ? head : last, entry, sha256);
    await c.query('INSERT INTO audit_log (seq, at, who, origin, action, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', [r.seq, r.at, r.who, r.origin, r.action, r.detail, r.prevHash, r.hash]);
    await c.query('INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash', [r.seq, r.hash]);
    return r;
  }

  async checkpoint(): Promise<AuditCheckpoint | null> {
    const rows = await this.conn.query<AuditCheckpoint>('SELECT seq, hash, file, file_sha256 AS "fileSha256", at FROM audit_checkpoint WHERE id = 1', [], 'reading the audit checkpoint');
    return rows[0] ?? null;
  }

  async commitRetention(move: RetentionMove, entry: AuditEntry): Promise<AuditRecord> {
    const refuse = (why: string): never => {
      throw new MailsluiceError('AUDIT_CHAIN_BROKEN', `records ${move.firstSeq} to ${move.lastSeq} were not moved: ${why}`, { details: { seq: move.firstSeq } });
    };
    return this.conn.tx(`moving audit records ${move.firstSeq} to ${move.lastSeq} to ${move.file}`, async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [APPEND_LOCK]);
      const from = (await c.query<{ seq: number }>('SELECT seq FROM audit_checkpoint WHERE id = 1')).rows[0]?.seq ?? 0;
      if (from !== move.firstSeq - 1) refuse(`the checkpoint is at ${from} now, not ${move.firstSeq - 1} (another move ran)`);
      const oldest = (await c.query<{ m: number | null }>('SELECT min(seq) AS m FROM audit_log')).rows[0]?.m ?? null;
      if (oldest !== move.firstSeq) refuse(`the oldest record in the database is ${oldest ?? 'none'}`);
      const hash = (await c.query<{ hash: string }>('SELECT hash FROM audit_log WHERE seq = $1', [move.lastSeq])).rows[0]?.hash;
      if (hash !== move.lastHash) refuse(`record ${move.lastSeq} is not the one written to ${move.file}`);
      await c.query(
        `INSERT INTO audit_checkpoint (id, seq, hash, file, file_sha256, at) VALUES (1, $1, $2, $3, $4, $5)
         ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, file = excluded.file, file_sha256 = excluded.file_sha256, at = excluded.at`,
        [move.lastSeq, move.lastHash, move.file, move.fileSha256, move.at],
      );
      // The one removal the trigger lets through: up to the checkpoint just recorded, in this transaction only.
      await c.query(`SELECT set_config('mailsluice.audit_prune_up_to', $1, true)`, [String(move.lastSeq)]);
      await c.query('DELETE FROM audit_log WHERE seq <= $1', [move.lastSeq]);
      await c.query(`SELECT set_config('mailsluice.audit_prune_up_to', '', true)`);
      return this.appendInTransaction(c, entry);
    });
  }

  async list(filter: AuditFilter = {}): Promise<AuditRecord[]> {
    const where = 'seq > $1 AND seq < $2 AND at >= $3 AND at < $4 AND ($5::text IS NULL OR who = $5) AND ($6::text IS NULL OR action = $6)';
    return this.conn.query<AuditRecord>(
      `SELECT ${COLUMNS} FROM audit_log WHERE ${where} ORDER BY seq ${filter.newestFirst ? 'DESC' : 'ASC'} LIMIT $7`,
      [
        filter.afterSeq ?? Number.MIN_SAFE_INTEGER,
        filter.beforeSeq ?? Number.MAX_SAFE_INTEGER,
        filter.since ?? Number.MIN_SAFE_INTEGER,
        filter.until ?? Number.MAX_SAFE_INTEGER,
        filter.who ?? null,
        filter.action ?? null,
        filter.limit ?? null,
      ],
      'listing the audit log',
    );
  }

  async *readAll(): AsyncIterable<AuditRecord> {
    let after = Number.MIN_SAFE_INTEGER;
    for (;;) {
      const page = await this.conn.query<AuditRecord>(`SELECT ${COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`, [after, PAGE], 'reading the audit log');
      yield* page;
      if (page.length < PAGE) return;
      after = page[page.length - 1]!.seq;
    }
  }

  async head(): Promise<ChainHead | null> {
    const rows = await this.conn.query<ChainHead>('SELECT seq, hash FROM audit_head WHERE id = 1', [], 'reading the audit log head');
    return rows[0] ?? null;
  }
}
