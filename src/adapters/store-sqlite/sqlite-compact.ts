/**
 * Giving a purge's freed database pages back to the file system (ADR 0037, amendment "The
 * databases' space"; docs/retention.md). SQLite keeps the pages a DELETE frees on its freelist and
 * the file never shrinks; a WAL that grew during the purge keeps its size too. So:
 *
 * - both databases run with `auto_vacuum = INCREMENTAL`: set at creation for a new file, and an
 *   existing file is converted by one `VACUUM` (the first compaction that finds it otherwise);
 * - after a purge, `PRAGMA incremental_vacuum(N)` in steps of {@link STEP_PAGES} pages, each its
 *   own short write transaction, `between()` awaited after each so other writers get the lock;
 * - then `wal_checkpoint(TRUNCATE)` with a short busy timeout, tried a few times: a reader of
 *   another connection still on an older snapshot makes it give up (the WAL is then truncated by
 *   a later checkpoint), never the drain wait long.
 *
 * Works the same on an encrypted file (SQLite3MultipleCiphers encrypts the pages VACUUM and
 * incremental_vacuum write; ADR 0035).
 */
import type Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { pragma } from '../sqlite-node/sqlite-retain.js';

/** Pages moved and freed per incremental_vacuum step (4 KiB each: 8 MiB, a few ms of write lock). */
export const STEP_PAGES = 2048;
/** Busy timeout of one TRUNCATE checkpoint try (ms), and the tries. */
const CHECKPOINT_WAIT_MS = 200;
const CHECKPOINT_TRIES = 5;

/** Size on disk of one file (allocated blocks), 0 when missing. */
export function bytesOnDisk(file: string): number {
  try {
    return statSync(file).blocks * 512;
  } catch {
    return 0;
  }
}

/** A database file and its WAL, on disk (bytes). */
export function databaseFiles(file: string): Record<string, number> {
  const name = file.slice(file.lastIndexOf('/') + 1);
  return { [name]: bytesOnDisk(file), [`${name}-wal`]: bytesOnDisk(`${file}-wal`) };
}

/** What compacting one database did. */
export interface CompactResult {
  /** Whether it was converted to incremental auto-vacuum (one full VACUUM) now. */
  converted: boolean;
  /** Pages given back by incremental_vacuum. */
  pagesFreed: number;
  /** Whether the WAL was checkpointed and truncated (false: a reader kept it; a later checkpoint does). */
  walTruncated: boolean;
}

/** Sets incremental auto-vacuum for a database created now (no effect on a file with tables: {@link compactDatabase} converts those). */
export function preferIncrementalVacuum(db: Database.Database): void {
  pragma(db, 'auto_vacuum = INCREMENTAL');
}

/** `PRAGMA <name>` of schema `schema` as a number. */
function numberPragma(db: Database.Database, schema: string, name: string): number {
  const row = pragma(db, `${schema}.${name}`)[0] as Record<string, number> | undefined;
  return row ? Number(Object.values(row)[0]) : 0;
}

/**
 * Converts `schema` of `db` to incremental auto-vacuum if it is not yet (one VACUUM: the write
 * lock for its duration and room for a copy), frees its freelist in steps, then truncates its WAL.
 */
export async function compactDatabase(db: Database.Database, schema: string, between: () => Promise<void> | void): Promise<CompactResult> {
  let converted = false;
  if (numberPragma(db, schema, 'auto_vacuum') !== 2) {
    pragma(db, `${schema}.auto_vacuum = INCREMENTAL`);
    db.exec(`VACUUM ${schema}`);
    converted = true;
  }
  let pagesFreed = 0;
  for (;;) {
    const free = numberPragma(db, schema, 'freelist_count');
    if (free === 0) break;
    pragma(db, `${schema}.incremental_vacuum(${STEP_PAGES})`);
    const left = numberPragma(db, schema, 'freelist_count');
    pagesFreed += free - left;
    await between();
    if (left >= free) break; // nothing moved (should not happen): never loop forever
  }
  return { converted, pagesFreed, walTruncated: await truncateWal(db, schema, between) };
}

/** `wal_checkpoint(TRUNCATE)` with a short busy timeout, a few tries; true when it completed. */
async function truncateWal(db: Database.Database, schema: string, between: () => Promise<void> | void): Promise<boolean> {
  const timeout = Number(Object.values((pragma(db, 'busy_timeout')[0] as Record<string, number> | undefined) ?? { t: 0 })[0]);
  try {
    pragma(db, `busy_timeout = ${CHECKPOINT_WAIT_MS}`);
    for (let i = 0; i < CHECKPOINT_TRIES; i++) {
      const r = pragma(db, `${schema}.wal_checkpoint(TRUNCATE)`)[0] as { busy: number } | undefined;
      if (r && r.busy === 0) return true;
      await between();
    }
    return false;
  } finally {
    pragma(db, `busy_timeout = ${timeout}`);
  }
}
