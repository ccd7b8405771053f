/**
 * The audit log's retention (ADR 0029; issue 14, item 7): records older than `audit.keepDays`
 * move, oldest first, to sealed files in `dataDir/audit-archive/`, and the database keeps a
 * checkpoint where the live chain starts. Run by `start` once at its start and then daily, and
 * on demand by `mailsluice audit prune` (`POST /api/v1/audit/prune`). One move at a time: the
 * service serialises its own, and a command without a service holds the data directory's lock.
 */
import type { AuditLog } from '../core/ports/audit-log.js';
import type { Clock } from '../core/ports/clock.js';
import type { Logger } from '../core/ports/logger.js';
import { ChainVerifier } from '../core/audit/audit-chain.js';
import { archiveFileName, checkpointHead, continuesCheckpoint, RETENTION_ACTION, type RetentionDetail } from '../core/audit/audit-retention.js';
import { MailsluiceError } from '../core/errors/index.js';
import { sha256Hex } from './tokens.js';
import { auditArchiveDir } from './audit.js';
import { removeArchiveFile, removeUncommitted, writeArchiveFile } from './audit-archive.js';

/** Records per archive file at most: a file is read whole by `audit verify --with-archive` (about 300 bytes a record: 15 MB). */
export const MAX_RECORDS_PER_FILE = 50_000;

/** How often `start` moves what has grown old: daily, as the setting counts in days. */
export const RETENTION_EVERY_MS = 24 * 60 * 60 * 1000;

const DAY_MS = 24 * 60 * 60 * 1000;

/** Who the retention record names as having moved the records (the service's own action). */
export const RETENTION_WHO = 'mailsluice';

/** What a prune did. */
export interface PruneReport {
  keepDays: number;
  /** Records older than this were moved (ISO 8601). */
  cutoff: string;
  /** Records moved, over every file. */
  moved: number;
  /** The files written, oldest first. */
  files: Array<{ file: string; firstSeq: number; lastSeq: number; count: number }>;
  /** Where the live chain starts now (null: nothing was ever moved). */
  checkpoint: { seq: number; file: string } | null;
}

/** What a prune needs. */
export interface PruneDeps {
  audit: AuditLog;
  clock: Clock;
  logger: Logger;
  dataDir: string;
  /** Records per file (default {@link MAX_RECORDS_PER_FILE}; a test makes it small). */
  maxPerFile?: number;
}

/**
 * Moves every record older than `keepDays` (a prefix of the chain: it stops at the first record
 * that is not) to archive files of at most {@link MAX_RECORDS_PER_FILE}, each written and synced
 * before its rows are removed in the transaction that records the checkpoint and appends the
 * `audit.retention` record. Refuses (`AUDIT_CHAIN_BROKEN`) to move records that do not verify:
 * sealing a tampered stretch into a file and deleting the evidence would launder it.
 */
export async function pruneAuditLog(deps: PruneDeps, keepDays: number): Promise<PruneReport> {
  const now = deps.clock.now();
  const cutoff = now - keepDays * DAY_MS;
  const dir = auditArchiveDir(deps.dataDir);
  const files: PruneReport['files'] = [];
  const perFile = deps.maxPerFile ?? MAX_RECORDS_PER_FILE;
  let moved = 0;
  for (;;) {
    const checkpoint = await deps.audit.checkpoint();
    const page = await deps.audit.list({ afterSeq: checkpoint?.seq ?? 0, limit: perFile });
    const young = page.findIndex((r) => r.at >= cutoff);
    const old = young === -1 ? page : page.slice(0, young);
    if (old.length === 0) break;
    const v = new ChainVerifier(sha256Hex, checkpointHead(checkpoint));
    const bad = continuesCheckpoint(checkpoint, old[0]!) ? old.map((r) => v.next(r)).find((p) => p !== null) : { seq: (checkpoint?.seq ?? 0) + 1, problem: 'it is missing, or not chained to the checkpoint' };
    if (bad) {
      throw new MailsluiceError('AUDIT_CHAIN_BROKEN', `record ${bad.seq}: ${bad.problem}; nothing was moved (run mailsluice audit verify)`, { details: { seq: bad.seq } });
    }
    // Only now, with the records to move verified against the checkpoint: a checkpoint removed by
    // hand never makes the committed files look like leftovers.
    const removed = await removeUncommitted(dir, checkpoint?.seq ?? 0);
    if (removed.length > 0) deps.logger.warn('audit retention: removed files of a move that did not commit', { files: removed });
    const first = old[0]!;
    const last = old.at(-1)!;
    const file = archiveFileName(first.seq, last.seq);
    const fileSha256 = await writeArchiveFile(dir, file, old);
    const detail: RetentionDetail = { firstSeq: first.seq, lastSeq: last.seq, count: old.length, fromHash: first.prevHash, lastHash: last.hash, file, fileSha256 };
    try {
      await deps.audit.commitRetention(
        { firstSeq: first.seq, lastSeq: last.seq, lastHash: last.hash, file, fileSha256, at: deps.clock.now() },
        { at: deps.clock.now(), who: RETENTION_WHO, origin: 'retention', action: RETENTION_ACTION, detail: { ...detail, keepDays } },
      );
    } catch (err) {
      await removeArchiveFile(dir, file);
      throw err;
    }
    deps.logger.info('audit records moved to the archive', { file, firstSeq: first.seq, lastSeq: last.seq, count: old.length });
    files.push({ file, firstSeq: first.seq, lastSeq: last.seq, count: old.length });
    moved += old.length;
    if (old.length < page.length || page.length < perFile) break;
  }
  const c = await deps.audit.checkpoint();
  return { keepDays, cutoff: new Date(cutoff).toISOString(), moved, files, checkpoint: c ? { seq: c.seq, file: c.file } : null };
}

/** The service's retention: the daily run and the on-demand prune, one move at a time. */
export interface AuditRetention {
  /** Moves what is older than `keepDays` (default: `audit.keepDays`; `AUDIT_RETENTION_NOT_SET` when neither says). */
  prune(keepDays?: number): Promise<PruneReport>;
  /** At once and then daily until `signal`, while `audit.keepDays` is set; never rejects. */
  run(signal: AbortSignal): Promise<void>;
}

/** Throws `AUDIT_RETENTION_NOT_SET` unless a number of days was given or configured. */
export function retentionDays(keepDays: number | undefined, configured: number | null): number {
  const days = keepDays ?? configured;
  if (days === null || days === undefined) {
    throw new MailsluiceError('AUDIT_RETENTION_NOT_SET', 'no audit retention is configured (audit.keepDays) and none was asked for (--keep-days N, or keepDays in the request): nothing was moved');
  }
  return days;
}

/** The retention of a running service over its app. */
export function createAuditRetention(app: { audit: AuditLog; clock: Clock; logger: Logger; readonly config: { dataDir: string; audit: { keepDays: number | null } } }): AuditRetention {
  let tail: Promise<unknown> = Promise.resolve();
  const logger = app.logger.child({ component: 'audit-retention' });
  const prune = (keepDays?: number): Promise<PruneReport> => {
    const next = tail.then(() => pruneAuditLog({ audit: app.audit, clock: app.clock, logger, dataDir: app.config.dataDir }, retentionDays(keepDays, app.config.audit.keepDays)));
    tail = next.catch(() => undefined);
    return next;
  };
  return {
    prune,
    async run(signal) {
      while (!signal.aborted) {
        // Read at every turn: a reload that sets or changes audit.keepDays applies at the next.
        if (app.config.audit.keepDays !== null) {
          await prune().catch((err: unknown) => {
            // Tried again tomorrow; retention never stops the service.
            logger.error('audit retention failed', { error: String((err as Error)?.message ?? err), code: (err as { code?: string }).code });
          });
        }
        await app.clock.sleep(RETENTION_EVERY_MS, signal);
      }
    },
  };
}
