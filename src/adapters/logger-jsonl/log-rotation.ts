/**
 * Size caps for the per-connection log files (issue 14, item 7): `<name>.log` is rotated to
 * `<name>.log.1` (the older ones moving up by one, the one past `keep` deleted) before a record
 * would take it past its cap, so a connection logged in full for months fills no disk. Each record
 * is appended whole to exactly one file, so none is lost or split across a rotation.
 */
import { appendFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { PRIVATE_FILE_MODE } from '../fs-node/private-files.js';

/** The cap of one log file and how many rotated files are kept. */
export interface RotationPolicy {
  /** Largest size of the live file in bytes; a single record larger than it still goes in whole. */
  maxBytes: number;
  /** Rotated files kept (`.1` … `.keep`); 0 keeps none. */
  keep: number;
}

/**
 * Each log file's size as this process last knew it, shared by every logger writing the file (a
 * child logger shares its parent's sinks). One process writes a data directory's logs at a time
 * (the data-directory lock); the size is read from the file the first time.
 */
const sizes = new Map<string, number>();

function sizeOf(file: string): number {
  let size = sizes.get(file);
  if (size === undefined) {
    try {
      size = statSync(file).size;
    } catch {
      size = 0;
    }
    sizes.set(file, size);
  }
  return size;
}

/** Moves `file` to `file.1`, `file.1` to `file.2` …, deleting the one that would pass `keep`. */
function rotate(file: string, keep: number): void {
  rmSync(`${file}.${keep}`, { force: true });
  for (let i = keep - 1; i >= 1; i--) {
    try {
      renameSync(`${file}.${i}`, `${file}.${i + 1}`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  if (keep > 0) renameSync(file, `${file}.1`);
  else rmSync(file, { force: true });
}

/**
 * Appends `record` (whole lines) to `file` (made 0600), rotating first when the record would take
 * a non-empty file past `policy.maxBytes`. Throws what the file system throws.
 */
export function appendWithRotation(file: string, record: string, policy: RotationPolicy | undefined): void {
  if (policy) {
    const bytes = Buffer.byteLength(record);
    const size = sizeOf(file);
    if (size > 0 && size + bytes > policy.maxBytes) {
      try {
        rotate(file, policy.keep);
        sizes.set(file, 0);
      } catch {
        // A rotation that failed (a file another user owns) leaves the file to grow: keeping the
        // record matters more than the cap. The next record tries again.
      }
    }
    appendFileSync(file, record, { mode: PRIVATE_FILE_MODE });
    sizes.set(file, (sizes.get(file) ?? 0) + bytes);
    return;
  }
  // Synchronous append keeps the order and survives a crash right after; logs are low-volume.
  appendFileSync(file, record, { mode: PRIVATE_FILE_MODE });
}
