/**
 * Reclaiming pack space (ADR 0034) against the readers that hold a whole set of refs while they
 * read the packs (a backup between its metadata snapshot and its last pack copy; `verify` and the
 * scrub between their scan and their look at the catalogue): they take `reclaim.lock` shared,
 * a reclaim run takes it exclusive, so a pack is never deleted under them. The lock is SQLite's
 * file lock on an empty database (POSIX locks: dropped by the kernel when the holder dies, even by
 * SIGKILL), across processes and within one.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensurePrivateFileSync } from '../fs-node/private-files.js';
import { retain } from '../sqlite-node/sqlite-retain.js';
import { mapSqliteError } from './sqlite-error-map.js';

/** The lock file in the data directory (not part of the archive: a backup leaves it out). */
export const RECLAIM_LOCK_FILE = 'reclaim.lock';

/** A lock taken; `release` is idempotent. */
export interface ReclaimLock {
  release(): void;
}

function openLock(dataDir: string): Database.Database {
  const file = join(dataDir, RECLAIM_LOCK_FILE);
  try {
    ensurePrivateFileSync(file);
    const db = retain(new Database(file));
    db.exec('PRAGMA busy_timeout = 0; PRAGMA journal_mode = MEMORY');
    return db;
  } catch (err) {
    throw mapSqliteError(err, `opening ${file}`);
  }
}

function busy(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
}

function held(db: Database.Database): ReclaimLock {
  let open = true;
  return {
    release() {
      if (!open) return;
      open = false;
      db.close();
    },
  };
}

/** Takes the lock `mode`, trying every 100 ms for up to `waitMs`; null when it stayed held. */
export async function takeReclaimLock(dataDir: string, mode: 'exclusive' | 'shared', waitMs: number): Promise<ReclaimLock | null> {
  const db = openLock(dataDir);
  const until = Date.now() + waitMs;
  for (;;) {
    try {
      if (mode === 'exclusive') db.exec('BEGIN EXCLUSIVE');
      else {
        // A read inside an open transaction holds SQLite's SHARED lock until it ends.
        db.exec('BEGIN');
        retain(db.prepare('SELECT COUNT(*) FROM sqlite_master')).get();
      }
      return held(db);
    } catch (err) {
      if (db.inTransaction) db.exec('ROLLBACK');
      if (!busy(err)) {
        db.close();
        throw mapSqliteError(err, `locking ${join(dataDir, RECLAIM_LOCK_FILE)}`);
      }
      if (Date.now() >= until) {
        db.close();
        return null;
      }
      await sleep(100);
    }
  }
}
