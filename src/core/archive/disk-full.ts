/**
 * A full disk (or an exceeded quota) is not a failure of the archive: it is a pause. Nothing
 * is committed, so nothing is deleted on the server, and everything works again once space
 * returns. The stages that write (drain, index, compress) tell it apart from other write
 * failures by this predicate, so the service waits and tries again instead of stopping
 * (docs/pipeline.md, "A full disk").
 */
import { isMailsluiceError } from '../errors/index.js';
import type { BackoffPolicy } from '../connection/backoff.js';

/** errno codes that mean "no space": the disk, or the user's quota on it. */
const NO_SPACE = new Set(['ENOSPC', 'EDQUOT']);

/**
 * Whether `err` (or an error it wraps) is a write that failed for want of space: a
 * `STORE_WRITE_FAILED` whose details name `ENOSPC`/`EDQUOT` (the blob store) or say `diskFull`
 * (SQLite's `SQLITE_FULL`).
 */
export function isDiskFull(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    if (isMailsluiceError(e, 'STORE_WRITE_FAILED')) {
      const d = e.details;
      if (d?.diskFull === true || (typeof d?.errno === 'string' && NO_SPACE.has(d.errno))) return true;
    }
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (NO_SPACE.has(code) || code === 'SQLITE_FULL')) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * How often a paused stage looks again while the disk is full: soon at first (space freed by an
 * operator is used at once), then every 30 s at most: each look by a connection fetches the
 * message that did not fit once more, so not at full speed, and not as rarely as the 5 minutes
 * of the network back-off either.
 */
export const DISK_FULL_BACKOFF: BackoffPolicy = { baseMs: 1000, maxMs: 30_000 };
