/**
 * The audit log's archive files (ADR 0029), the I/O: writing one sealed file of moved records
 * (written, fsynced, renamed into place, directory fsynced, all before the database lets the rows
 * go), and reading the files back for `audit verify --with-archive`. The format and every check
 * are the core's (`core/audit/audit-retention.ts`).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditRecord } from '../core/ports/audit-log.js';
import {
  archiveRecordLine,
  archiveTrailerLine,
  parseArchiveFileName,
  parseArchiveRecord,
  parseArchiveTrailer,
  type ArchiveWalk,
  type RetentionProblem,
} from '../core/audit/audit-retention.js';
import { makePrivateDirSync, PRIVATE_FILE_MODE } from '../adapters/fs-node/private-files.js';
import { fsyncDirectory } from '../adapters/fs-node/fsync-directory.js';
import { MailsluiceError } from '../core/errors/index.js';

const NL = 0x0a;

/** The archive files in `dir`, oldest first (names sort in sequence order); none when there is no directory. */
export async function archiveFiles(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => !n.startsWith('.') && n.endsWith('.jsonl')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new MailsluiceError('STORE_WRITE_FAILED', `cannot read the audit archive directory ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
}

/**
 * Writes `records` (non-empty, in order) to `dir/name` as record lines and a trailer: to a
 * temporary name opened exclusively (0600), fsynced, renamed into place, the directory fsynced.
 * Answers the whole file's SHA-256. A file of that name already there is refused (the caller
 * removes leftovers of moves that never committed before it writes).
 */
export async function writeArchiveFile(dir: string, name: string, records: readonly AuditRecord[]): Promise<string> {
  makePrivateDirSync(dir);
  const tmp = join(dir, `.tmp-${name}`);
  const body = records.map(archiveRecordLine).join('');
  const recordsSha = createHash('sha256').update(body, 'utf8').digest('hex');
  const text = body + archiveTrailerLine(records, recordsSha);
  try {
    await rm(tmp, { force: true });
    const fh = await open(tmp, 'wx', PRIVATE_FILE_MODE);
    try {
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    // A sealed file is never replaced (the caller removed the leftovers of moves that never committed).
    if (existsSync(join(dir, name))) throw new MailsluiceError('STORE_WRITE_FAILED', `${join(dir, name)} exists already; it was not overwritten`);
    await rename(tmp, join(dir, name));
    await fsyncDirectory(dir);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    if (err instanceof MailsluiceError) throw err;
    throw new MailsluiceError('STORE_WRITE_FAILED', `cannot write the audit archive file ${join(dir, name)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
      cause: err,
      details: (err as NodeJS.ErrnoException).code === 'ENOSPC' ? { diskFull: true } : {},
    });
  }
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Removes `dir/name` (a move that did not commit) and syncs the directory; best effort. */
export async function removeArchiveFile(dir: string, name: string): Promise<void> {
  await rm(join(dir, name), { force: true }).catch(() => undefined);
  await fsyncDirectory(dir).catch(() => undefined);
}

/**
 * Removes what a move that never committed left in `dir`: temporary files, and the file whose
 * range starts right after the checkpoint (`covered`: the last seq the store says was moved),
 * which is the one file a crashed move can have left (each move commits before the next
 * writes). Nothing else is touched. Answers their names.
 */
export async function removeUncommitted(dir: string, covered: number): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const stale = names.filter((n) => n.startsWith('.tmp-') || parseArchiveFileName(n)?.firstSeq === covered + 1);
  for (const n of stale) await rm(join(dir, n), { force: true });
  if (stale.length > 0) await fsyncDirectory(dir);
  return stale;
}

/** Feeds one archive file to `walk`: its records, then its trailer and hashes. */
export async function walkArchiveFile(walk: ArchiveWalk, dir: string, name: string): Promise<RetentionProblem | null> {
  const begun = walk.beginFile(name);
  if (begun) return begun;
  const buf = await readFile(join(dir, name));
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  // The trailer is the last line: after the last newline but one (the file ends in a newline).
  const end = buf.length > 0 && buf[buf.length - 1] === NL ? buf.length - 1 : buf.length;
  const cut = buf.lastIndexOf(NL, end - 1) + 1;
  const records = buf.subarray(0, cut).toString('utf8');
  for (const line of records.split('\n')) {
    if (line === '') continue;
    const p = walk.record(name, parseArchiveRecord(line));
    if (p) return p;
  }
  const trailerLine = buf.subarray(cut, end).toString('utf8');
  return walk.endFile({ name, trailer: parseArchiveTrailer(trailerLine), recordsSha256: sha(buf.subarray(0, cut)), fileSha256: sha(buf) });
}
