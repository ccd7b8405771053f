/**
 * The audit log's retention (ADR 0029), the pure part: the sealed archive files' format (record
 * lines and a trailer), the checkpoint the store keeps where the live chain now starts, the
 * `audit.retention` record that puts each checkpoint on the chain itself, and the walk that
 * checks archive files, checkpoint and live records as one chain. No I/O: the app reads and
 * writes the files and hands the lines and their SHA-256 in.
 */
import { ChainVerifier, GENESIS_HASH, type AuditRecord, type ChainHead, type ChainProblem, type Sha256Hex } from './audit-chain.js';

/** The action of the record that documents a move (appended in the move's transaction). */
export const RETENTION_ACTION = 'audit.retention';

/** The directory of the archive files, in the data directory. */
export const AUDIT_ARCHIVE_DIR = 'audit-archive';

/** The trailer's format tag: a reader refuses a trailer of another format rather than guess. */
export const ARCHIVE_FORMAT = 'mailsluice-audit-archive/1';

/** Where the live chain starts: the last record moved to an archive file, and that file. */
export interface AuditCheckpoint {
  /** The last moved record's sequence number: the live chain starts at `seq + 1`. */
  seq: number;
  /** The last moved record's hash: record `seq + 1` is chained to it. */
  hash: string;
  /** The archive file (a name in {@link AUDIT_ARCHIVE_DIR}) that holds records up to `seq`. */
  file: string;
  /** SHA-256 of that whole file (record lines and trailer). */
  fileSha256: string;
  /** When the move was committed (ms since the epoch). */
  at: number;
}

/** The last line of an archive file. */
export interface ArchiveTrailer {
  trailer: typeof ARCHIVE_FORMAT;
  /** Record lines before it. */
  count: number;
  firstSeq: number;
  lastSeq: number;
  /** The hash the first record continues from (the previous file's last, or the genesis). */
  fromHash: string;
  /** The last record's hash. */
  lastHash: string;
  /** SHA-256 of every byte before the trailer line (the record lines, each ending in `\n`). */
  recordsSha256: string;
}

/** The detail of an {@link RETENTION_ACTION} record: what one move took out of the database. */
export interface RetentionDetail {
  firstSeq: number;
  lastSeq: number;
  count: number;
  fromHash: string;
  lastHash: string;
  file: string;
  fileSha256: string;
}

/** A problem found by {@link ArchiveWalk} or {@link checkCheckpointWitness}: the chain's, perhaps in a file. */
export interface RetentionProblem extends ChainProblem {
  /** The archive file it is in (a name in {@link AUDIT_ARCHIVE_DIR}); absent: the live log or the checkpoint. */
  file?: string;
}

const pad = (n: number): string => String(n).padStart(12, '0');

/** `audit-<first>-<last>.jsonl`, zero-padded so the names sort in sequence order. */
export function archiveFileName(firstSeq: number, lastSeq: number): string {
  return `audit-${pad(firstSeq)}-${pad(lastSeq)}.jsonl`;
}

/** The sequence range a file's name claims, or null for a name that is not an archive file's. */
export function parseArchiveFileName(name: string): { firstSeq: number; lastSeq: number } | null {
  const m = /^audit-(\d{12})-(\d{12})\.jsonl$/.exec(name);
  return m ? { firstSeq: Number(m[1]), lastSeq: Number(m[2]) } : null;
}

/** One record as a line of an archive file: its stored fields, in a fixed order, and `\n`. */
export function archiveRecordLine(r: AuditRecord): string {
  return JSON.stringify({ seq: r.seq, at: r.at, who: r.who, origin: r.origin, action: r.action, detail: r.detail, prevHash: r.prevHash, hash: r.hash }) + '\n';
}

/** The trailer line (with `\n`) of a file holding `records` (non-empty, in order). */
export function archiveTrailerLine(records: readonly AuditRecord[], recordsSha256: string): string {
  const t: ArchiveTrailer = {
    trailer: ARCHIVE_FORMAT,
    count: records.length,
    firstSeq: records[0]!.seq,
    lastSeq: records.at(-1)!.seq,
    fromHash: records[0]!.prevHash,
    lastHash: records.at(-1)!.hash,
    recordsSha256,
  };
  return JSON.stringify(t) + '\n';
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => Number.isSafeInteger(v);
const isStr = (v: unknown): v is string => typeof v === 'string';

/** A record line parsed, or null when it is not one (not JSON, a field missing or of another type). */
export function parseArchiveRecord(line: string): AuditRecord | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (!isObj(v) || !isInt(v.seq) || !isInt(v.at) || ![v.who, v.origin, v.action, v.detail, v.prevHash, v.hash].every(isStr)) return null;
  return v as unknown as AuditRecord;
}

/** A trailer line parsed, or null when it is not one. */
export function parseArchiveTrailer(line: string): ArchiveTrailer | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (!isObj(v) || v.trailer !== ARCHIVE_FORMAT) return null;
  if (![v.count, v.firstSeq, v.lastSeq].every(isInt) || ![v.fromHash, v.lastHash, v.recordsSha256].every(isStr)) return null;
  return v as unknown as ArchiveTrailer;
}

/** A retention record's detail, or null when the record is not one (or its detail is not of that shape). */
export function retentionDetailOf(r: AuditRecord): RetentionDetail | null {
  if (r.action !== RETENTION_ACTION) return null;
  let v: unknown;
  try {
    v = JSON.parse(r.detail);
  } catch {
    return null;
  }
  if (!isObj(v) || ![v.firstSeq, v.lastSeq, v.count].every(isInt) || ![v.fromHash, v.lastHash, v.file, v.fileSha256].every(isStr)) return null;
  return v as unknown as RetentionDetail;
}

/**
 * Watches the live records for the `audit.retention` records and, at the end, checks that the
 * last one is the checkpoint's: the checkpoint cannot be moved (forward to hide records, or back)
 * or removed without contradicting a record on the chain, whose own hash the chain protects. A
 * move's record is appended after the records it moved, so it is always after its checkpoint
 * and stays in the live log until a later move (which appends its own).
 */
export class CheckpointWitness {
  private last: { seq: number; detail: RetentionDetail | null } | null = null;

  constructor(private readonly checkpoint: AuditCheckpoint | null) {}

  /** Sees the next live record (after the chain verifier passed it). */
  see(r: AuditRecord): void {
    if (r.action === RETENTION_ACTION) this.last = { seq: r.seq, detail: retentionDetailOf(r) };
  }

  /** Whether the checkpoint and the last retention record agree; null when they do. */
  end(): RetentionProblem | null {
    const c = this.checkpoint;
    if (!this.last) {
      return c ? { seq: c.seq, problem: `the checkpoint (records up to ${c.seq} moved to ${AUDIT_ARCHIVE_DIR}/${c.file}) is on no audit.retention record after it: the checkpoint was moved or the record removed` } : null;
    }
    const d = this.last.detail;
    if (!c) return { seq: this.last.seq, problem: `this audit.retention record says records were moved out of the database, but the store keeps no checkpoint (removed)` };
    if (!d || d.lastSeq !== c.seq || d.lastHash !== c.hash || d.file !== c.file || d.fileSha256 !== c.fileSha256) {
      const said = d ? `records up to ${d.lastSeq} moved to ${d.file}` : 'a detail of another shape';
      return { seq: this.last.seq, problem: `the checkpoint (seq ${c.seq}, ${c.file}) contradicts this audit.retention record (${said}): the checkpoint was moved or altered` };
    }
    return null;
  }
}

/** What one archive file was found to hold, measured by the app while it read the lines. */
export interface ArchiveFileReading {
  /** Its name in {@link AUDIT_ARCHIVE_DIR}. */
  name: string;
  /** The last line parsed as a trailer (null: the last line is none). */
  trailer: ArchiveTrailer | null;
  /** SHA-256 of the bytes before the trailer line. */
  recordsSha256: string;
  /** SHA-256 of the whole file. */
  fileSha256: string;
}

/**
 * Walks the archive files, oldest first, as one chain from the genesis: each file must start
 * where the previous ended (its name, its first record's link), hold records that verify, end in
 * a trailer that matches what it holds; the retention records inside name earlier files with the
 * hash they had; and the last file must end exactly at the checkpoint the store keeps.
 */
export class ArchiveWalk {
  private readonly v: ChainVerifier;
  private readonly seenFiles = new Map<string, string>();
  private fileRecords = 0;
  private fileFirst: AuditRecord | null = null;
  private fileLast: AuditRecord | null = null;
  private lastFile: { name: string; sha: string } | null = null;
  /** Files walked. */
  files = 0;

  constructor(sha256: Sha256Hex) {
    this.v = new ChainVerifier(sha256);
  }

  /** Records that passed, over every file. */
  get verified(): number {
    return this.v.verified;
  }

  /** Begins file `name`: its name must claim the range that continues the chain. */
  beginFile(name: string): RetentionProblem | null {
    this.fileRecords = 0;
    this.fileFirst = this.fileLast = null;
    const range = parseArchiveFileName(name);
    if (!range) return { seq: this.v.nextSeq, file: name, problem: 'not an archive file name (audit-<first>-<last>.jsonl)' };
    if (range.firstSeq !== this.v.nextSeq) {
      const problem =
        range.firstSeq > this.v.nextSeq
          ? `records ${this.v.nextSeq} to ${range.firstSeq - 1} are in no archive file (a file removed)`
          : `it starts at ${range.firstSeq}, inside the range of the file before it`;
      return { seq: this.v.nextSeq, file: name, problem };
    }
    return null;
  }

  /** The next record line of the current file (null: the line is no record). */
  record(file: string, r: AuditRecord | null): RetentionProblem | null {
    if (!r) return { seq: this.v.nextSeq, file, problem: 'a line that is no audit record (altered)' };
    const p = this.v.next(r);
    if (p) return { ...p, file };
    this.fileRecords++;
    this.fileFirst ??= r;
    this.fileLast = r;
    const d = retentionDetailOf(r);
    const sha = d ? this.seenFiles.get(d.file) : undefined;
    if (d && sha !== undefined && sha !== d.fileSha256) {
      return { seq: r.seq, file: d.file, problem: `its SHA-256 is not the one audit.retention record ${r.seq} recorded when it was written (the file was altered)` };
    }
    return null;
  }

  /** Ends the current file: its trailer must describe exactly what it held. */
  endFile(reading: ArchiveFileReading): RetentionProblem | null {
    const { name, trailer: t } = reading;
    const at = { seq: this.fileLast?.seq ?? this.v.nextSeq, file: name };
    if (!t) return { ...at, problem: 'its last line is no trailer (the file was cut or altered)' };
    if (this.fileRecords === 0 || !this.fileFirst || !this.fileLast) return { ...at, problem: 'it holds no record' };
    const range = parseArchiveFileName(name)!;
    const wrong: string[] = [];
    if (t.count !== this.fileRecords) wrong.push(`count ${t.count}, the file holds ${this.fileRecords}`);
    if (t.firstSeq !== this.fileFirst.seq || t.lastSeq !== this.fileLast.seq || range.lastSeq !== this.fileLast.seq) wrong.push('the sequence range');
    if (t.fromHash !== this.fileFirst.prevHash) wrong.push('the hash it continues from');
    if (t.lastHash !== this.fileLast.hash) wrong.push('the last hash');
    if (t.recordsSha256 !== reading.recordsSha256) wrong.push("the record lines' SHA-256");
    if (wrong.length > 0) return { ...at, problem: `its trailer does not match its records (${wrong.join('; ')}): the file was altered` };
    this.files++;
    this.seenFiles.set(name, reading.fileSha256);
    this.lastFile = { name, sha: reading.fileSha256 };
    return null;
  }

  /** After the last file: the files must end where the checkpoint says the live chain begins. */
  end(checkpoint: AuditCheckpoint | null): RetentionProblem | null {
    const lastSeq = this.v.nextSeq - 1;
    if (!checkpoint) return this.files === 0 ? null : { seq: lastSeq, problem: `${AUDIT_ARCHIVE_DIR}/ holds records up to ${lastSeq} but the store keeps no checkpoint (removed)` };
    if (checkpoint.seq !== lastSeq || checkpoint.hash !== this.v.lastHash) {
      const problem =
        checkpoint.seq > lastSeq
          ? `records ${lastSeq + 1} to ${checkpoint.seq} are in no archive file (the checkpoint says they were moved)`
          : `the archive files end at ${lastSeq} (hash ${this.v.lastHash.slice(0, 12)}…) but the checkpoint is at ${checkpoint.seq} (hash ${checkpoint.hash.slice(0, 12)}…)`;
      return { seq: Math.min(lastSeq + 1, checkpoint.seq), ...(this.lastFile ? { file: this.lastFile.name } : {}), problem };
    }
    if (!this.lastFile || this.lastFile.name !== checkpoint.file || this.lastFile.sha !== checkpoint.fileSha256) {
      return { seq: checkpoint.seq, file: checkpoint.file, problem: 'it is not the file, or its SHA-256 is not the one, the checkpoint recorded (the file was replaced or altered)' };
    }
    return null;
  }
}

/** The checkpoint as the start of the live chain's verifier (null: the genesis). */
export function checkpointHead(c: AuditCheckpoint | null): ChainHead | undefined {
  return c ? { seq: c.seq, hash: c.hash } : undefined;
}

/** Whether `r` (the first record a move takes) continues the checkpoint (or the genesis). */
export function continuesCheckpoint(c: AuditCheckpoint | null, r: AuditRecord): boolean {
  return r.seq === (c?.seq ?? 0) + 1 && r.prevHash === (c?.hash ?? GENESIS_HASH);
}
