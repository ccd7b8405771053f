/**
 * The audit log as the commands use it (issue 14, item 4; ADR 0022): recording an action before
 * it reads or changes anything, naming the OS user for the command line, and verifying the chain.
 */
import { userInfo } from 'node:os';
import type { Clock } from '../core/ports/clock.js';
import type { AuditLog, AuditRecord } from '../core/ports/audit-log.js';
import { ChainVerifier, type ChainProblem } from '../core/audit/audit-chain.js';
import { sha256Hex } from './tokens.js';

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

/** What `audit verify` found: every record intact, or the first bad one. */
export type AuditVerdict = { ok: true; records: number; head: string } | ({ ok: false; verified: number } & ChainProblem);

/** Walks the whole chain and the head the store kept; names the first bad record. */
export async function verifyAuditLog(audit: AuditLog): Promise<AuditVerdict> {
  const v = new ChainVerifier(sha256Hex);
  for await (const r of audit.readAll()) {
    const problem = v.next(r);
    if (problem) return { ok: false, verified: v.verified, ...problem };
  }
  const problem = v.end(await audit.head());
  if (problem) return { ok: false, verified: v.verified, ...problem };
  return { ok: true, records: v.verified, head: v.lastHash };
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
