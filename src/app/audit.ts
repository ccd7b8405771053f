/**
 * The audit log as the commands use it (issue 14, item 4; ADR 0022): recording an action before
 * it reads or changes anything, naming the OS user for the command line, and verifying the chain.
 */
import { userInfo } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../core/ports/clock.js';
import type { AuditLog, AuditRecord } from '../core/ports/audit-log.js';
import { ChainVerifier } from '../core/audit/audit-chain.js';
import { ArchiveWalk, AUDIT_ARCHIVE_DIR, CheckpointWitness, checkpointHead, type RetentionProblem } from '../core/audit/audit-retention.js';
import { sha256Hex } from './tokens.js';
import { archiveFiles, walkArchiveFile } from './audit-archive.js';

/** What the command line records as `origin`. */
export const CLI_ORIGIN = 'cli';

/** The one acting at the command line: the OS user running it (`os.userInfo().username`). */
export function cliUser(): string {
  try {
    return userInfo().username;
  } catch {
    // No passwd entry for this uid (a container's arbitrary user): the uid still says who.
    return `uid:${process.getuid?.() ?? 'unknown'}`;
  }
}

/**
 * Records `action` by `who` from `origin` with `detail` (never a secret; secret-named keys are
 * redacted by the chain rule). Called before the action reads or changes anything: an action
 * that cannot be recorded is not done.
 */
export async function recordAction(
  audit: AuditLog,
  clock: Clock,
  who: string,
  origin: string,
  action: string,
  detail: Record<string, unknown>,
): Promise<AuditRecord> {
  return audit.append({ at: clock.now(), who, origin, action, detail });
}

/**
 * What `audit verify` found: every record intact, or the first bad one. With a retention
 * checkpoint (ADR 0029), `from` is the first live record's sequence number and `checkpoint` the
 * file the records before it went to; with the archive walked, `archive` counts its files and
 * records. A problem in an archive file names it in `file`.
 */
export type AuditVerdict =
  | {
      ok: true;
      records: number;
      head: string;
      from?: number;
      checkpoint?: { seq: number; file: string };
      archive?: { files: number; records: number };
    }
  | ({ ok: false; verified: number; from?: number } & RetentionProblem);

/** Options of {@link verifyAuditLog}. */
export interface VerifyOptions {
  /** Walk the archive files in this directory (`dataDir/audit-archive`) first, from the genesis. */
  archiveDir?: string;
}

/** The audit archive directory of a data directory. */
export function auditArchiveDir(dataDir: string): string {
  return join(dataDir, AUDIT_ARCHIVE_DIR);
}

/**
 * Walks the chain from the retention checkpoint (or the genesis) to the head the store kept,
 * checking the checkpoint against the last `audit.retention` record; with `archiveDir`, the
 * archive files first, which must end where the checkpoint begins. Names the first bad record.
 */
export async function verifyAuditLog(audit: AuditLog, options: VerifyOptions = {}): Promise<AuditVerdict> {
  // A move committed during the walk changes where the live records start: walked again then.
  for (let attempt = 0; ; attempt++) {
    const before = await audit.checkpoint();
    const verdict = await verifyOnce(audit, before, options);
    const after = await audit.checkpoint();
    if (attempt > 0 || (after?.seq ?? 0) === (before?.seq ?? 0)) return verdict;
  }
}

async function verifyOnce(audit: AuditLog, checkpoint: Awaited<ReturnType<AuditLog['checkpoint']>>, options: VerifyOptions): Promise<AuditVerdict> {
  const from = checkpoint ? { from: checkpoint.seq + 1 } : {};
  let archive: { files: number; records: number } | undefined;
  if (options.archiveDir !== undefined) {
    const walk = new ArchiveWalk(sha256Hex);
    const fail = (p: RetentionProblem): AuditVerdict => ({ ok: false, verified: walk.verified, from: 1, ...p });
    for (const name of await archiveFiles(options.archiveDir)) {
      const p = await walkArchiveFile(walk, options.archiveDir, name);
      if (p) return fail(p);
    }
    const p = walk.end(checkpoint);
    if (p) return fail(p);
    archive = { files: walk.files, records: walk.verified };
  }
  const v = new ChainVerifier(sha256Hex, checkpointHead(checkpoint));
  const witness = new CheckpointWitness(checkpoint);
  const fail = (p: RetentionProblem): AuditVerdict => ({ ok: false, verified: v.verified, ...from, ...p });
  for await (const r of audit.readAll()) {
    const problem = v.next(r);
    if (problem) return fail(problem);
    witness.see(r);
  }
  const problem = v.end(await audit.head()) ?? witness.end();
  if (problem) return fail(problem);
  return {
    ok: true,
    records: v.verified,
    head: v.lastHash,
    ...from,
    ...(checkpoint ? { checkpoint: { seq: checkpoint.seq, file: checkpoint.file } } : {}),
    ...(archive ? { archive } : {}),
  };
}

/** Records a command-line action: the OS user, from `cli` (see {@link recordAction}). */
export function recordCliAction(app: { audit: AuditLog; clock: Clock }, action: string, detail: Record<string, unknown>): Promise<AuditRecord> {
  return recordAction(app.audit, app.clock, cliUser(), CLI_ORIGIN, action, detail);
}

/** A record as the command line's `--json` and the API show it. */
export interface AuditRecordJson {
  seq: number;
  /** ISO 8601. */
  at: string;
  who: string;
  origin: string;
  action: string;
  /** The detail as an object (as text when it was altered into something that is no JSON). */
  detail: unknown;
  prevHash: string;
  hash: string;
}

/** A record as the command line's `--json` (and the API) shows it: the time in ISO 8601, the detail as an object. */
export function auditRecordJson(r: AuditRecord): AuditRecordJson {
  let detail: unknown;
  try {
    detail = JSON.parse(r.detail);
  } catch {
    detail = r.detail; // altered into text that is no JSON: shown as it is (verify names it)
  }
  return { seq: r.seq, at: new Date(r.at).toISOString(), who: r.who, origin: r.origin, action: r.action, detail, prevHash: r.prevHash, hash: r.hash };
}
