/**
 * One process at a time takes from the mailboxes into one data directory (issue 12, item 4; ADR
 * 0014). Node has no `flock`; SQLite's locks are POSIX record locks (`fcntl`), which the kernel
 * drops when the process ends however it ends (SIGKILL, OOM kill, power cut of the process), so
 * there is never a stale lock to clean up. The lock is an exclusive transaction held open on an
 * empty database of its own, `lock.db`: never on `archive.db`, whose readers (stats, search,
 * export, the dispatcher's thread) must go on reading beside the service.
 *
 * The holder writes who it is to `lock.pid` (JSON), a plain file the refused process reads
 * without any lock, so the refusal names the pid to stop.
 */
import Database from 'better-sqlite3';
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { MailsluiceError } from '../../core/errors/index.js';
import { ensurePrivateFileSync, PRIVATE_FILE_MODE } from '../fs-node/private-files.js';
import { mapSqliteError } from './sqlite-error-map.js';
import { pragma, retain } from '../sqlite-node/sqlite-retain.js';

/** The lock database, empty, in the data directory. */
export const LOCK_FILE = 'lock.db';
/** Who holds the lock: `{ pid, command, host, since }`, written by the holder once it has it. */
export const LOCK_HOLDER_FILE = 'lock.pid';

/** What the holder writes to {@link LOCK_HOLDER_FILE}. */
export interface LockHolder {
  pid: number;
  command: string;
  host: string;
  since: string;
}

/** The data directory held by this process until {@link DataDirLock.release} or its end. */
export interface DataDirLock {
  /** The lock database's path. */
  readonly file: string;
  /** Lets the directory go (idempotent); the kernel does the same if the process dies. */
  release(): void;
}

/**
 * How long a refused process waits for the holder's pid to appear: the holder writes it just
 * after it took the lock, so a refusal can come in between; past this the refusal says the pid
 * is unknown rather than wait.
 */
const HOLDER_WAIT_MS = 500;

/**
 * Takes the data directory `dir` (which must exist) for this process, for `command` (`start`,
 * `drain`). Fails at once, without waiting, with `DATA_DIR_LOCKED` naming the holder's pid when
 * another process has it.
 */
export function lockDataDir(dir: string, command: string): DataDirLock {
  const file = join(dir, LOCK_FILE);
  let db: Database.Database;
  try {
    ensurePrivateFileSync(file);
  } catch (err) {
    throw new MailsluiceError('STORE_WRITE_FAILED', `cannot create the data directory's lock ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err, retryable: false });
  }
  try {
    db = retain(new Database(file));
  } catch (err) {
    throw mapSqliteError(err, `opening the data directory's lock ${file}`);
  }
  try {
    // No journal file (nothing is ever written); busy_timeout 0: a held lock is an answer, not a
    // wait. EXCLUSIVE locking mode keeps the lock for the connection's life; the open BEGIN
    // EXCLUSIVE takes it now, which in rollback mode also keeps every other connection out.
    db.exec('PRAGMA busy_timeout = 0; PRAGMA journal_mode = MEMORY; PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE');
  } catch (err) {
    db.close();
    const code = (err as { code?: string }).code ?? '';
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') throw lockedError(dir, readHolder(dir));
    throw mapSqliteError(err, `locking the data directory (${file})`);
  }
  const holderFile = join(dir, LOCK_HOLDER_FILE);
  const me: LockHolder = { pid: process.pid, command, host: hostname(), since: new Date().toISOString() };
  try {
    // Written whole under another name and renamed: a refused process never reads half of it.
    const tmp = `${holderFile}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(me) + '\n', { mode: PRIVATE_FILE_MODE });
    renameSync(tmp, holderFile);
  } catch (err) {
    db.close();
    throw new MailsluiceError('STORE_WRITE_FAILED', `cannot write ${holderFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  let held = true;
  return {
    file,
    release() {
      if (!held) return;
      held = false;
      // Only our own record: after a SIGKILL of ours, a later holder's is not ours to remove.
      if (readHolderOnce(dir)?.pid === process.pid) {
        try {
          unlinkSync(holderFile);
        } catch {
          // Gone already; the next holder overwrites it anyway.
        }
      }
      db.close();
    },
  };
}

function readHolderOnce(dir: string): LockHolder | null {
  try {
    const h = JSON.parse(readFileSync(join(dir, LOCK_HOLDER_FILE), 'utf8')) as Partial<LockHolder>;
    return typeof h.pid === 'number' ? { pid: h.pid, command: String(h.command ?? '?'), host: String(h.host ?? ''), since: String(h.since ?? '') } : null;
  } catch {
    return null;
  }
}

/** Whether `pid` names a live process on this host (EPERM: alive, another user's). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The holder's record, waiting briefly while there is none or it is a dead process's (left by a
 * holder that was killed, and not yet replaced by the new holder's).
 */
function readHolder(dir: string): LockHolder | null {
  const until = Date.now() + HOLDER_WAIT_MS;
  for (;;) {
    const h = readHolderOnce(dir);
    if (h && (h.host !== hostname() || alive(h.pid))) return h;
    if (Date.now() >= until) return null;
    // A synchronous pause: this runs once, before anything else has started.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
}

function lockedError(dir: string, holder: LockHolder | null): MailsluiceError {
  const who = holder
    ? `pid ${holder.pid}${holder.host !== hostname() ? ` on ${holder.host}` : ''}, "${holder.command}" since ${holder.since}`
    : 'its pid is not recorded';
  return new MailsluiceError(
    'DATA_DIR_LOCKED',
    `data directory ${dir} is in use by another mailsluice process (${who}); two processes on one archive would take and deliver messages twice: stop that one first, or give this one another dataDir`,
    { details: { dataDir: dir, ...(holder ? { holderPid: holder.pid, holderCommand: holder.command } : {}) } },
  );
}

/**
 * Whether a live process holds the data directory `dir` now (ADR 0025: the command line's answer
 * to a control socket that refuses). Asks the lock itself, not `lock.pid`: a read of `lock.db`
 * needs a shared lock, which the holder's exclusive one refuses at once (busy_timeout 0). The
 * shared lock is held for the one read, microseconds, so a `start` beginning at that instant is
 * not kept out in practice. No `lock.db`: nobody ever held it.
 */
export function dataDirHeld(dir: string): boolean {
  let db: Database.Database;
  try {
    db = retain(new Database(join(dir, LOCK_FILE), { readonly: true, fileMustExist: true }));
  } catch {
    return false;
  }
  try {
    pragma(db, 'busy_timeout = 0');
    retain(db.prepare('SELECT count(*) FROM sqlite_master')).get();
    return false;
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') return true;
    throw mapSqliteError(err, `reading the data directory's lock (${join(dir, LOCK_FILE)})`);
  } finally {
    db.close();
  }
}
