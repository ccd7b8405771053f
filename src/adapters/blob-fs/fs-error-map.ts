/**
 * Turns Node file-system errors into MailsluiceErrors with a sentence an operator can act on.
 * No file-system error leaves this adapter unmapped.
 */
import { MailsluiceError } from '../../core/errors/index.js';

/** What the store was doing when the error happened. */
export type FsOperation = 'writing' | 'creating' | 'syncing' | 'reading';

const PROBLEMS: Record<string, string> = {
  ENOSPC: 'disk full',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'file system is read-only',
  EIO: 'I/O error (the disk may be failing)',
  EFBIG: 'file too large for the file system',
  EMFILE: 'too many open files in this process',
  ENFILE: 'too many open files on this system',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a path component is not a directory',
  EISDIR: 'path is a directory',
  ENAMETOOLONG: 'path too long',
  ENOMEM: 'out of memory',
};

/** Transient on the read side: trying again later may succeed. */
const TRANSIENT = new Set(['EMFILE', 'ENFILE', 'EAGAIN', 'ENOMEM', 'EBUSY', 'EINTR']);
/**
 * The process or the system ran out of something (descriptors, memory): whatever the operation,
 * a resource problem that passes, never a fault of the archive's files (a script that exhausted
 * descriptors once had the compress stage report STORE_CORRUPT and stop the service).
 */
const RESOURCE = new Set(['EMFILE', 'ENFILE', 'ENOMEM', 'EAGAIN']);

/** The errno code of a Node system error, if it has one. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Maps a lack of resources (EMFILE, ENFILE, ENOMEM, EAGAIN) to STORE_RESOURCE_EXHAUSTED
 * (retryable) whatever the operation; otherwise an error from a write, create or fsync to
 * STORE_WRITE_FAILED ("disk full writing /path"), and from a read to STORE_NOT_FOUND (missing
 * file) or STORE_CORRUPT (unreadable file; an unreadable blob cannot be served either way).
 */
export function mapFsError(err: unknown, operation: FsOperation, path: string): MailsluiceError {
  if (err instanceof MailsluiceError) return err;
  const code = errnoCode(err);
  const problem = (code && PROBLEMS[code]) ?? (code ? `${code}` : err instanceof Error ? err.message : String(err));
  const message = `${problem} ${operation} ${path}`;
  const details = { path, operation, ...(code ? { errno: code } : {}) };
  if (code !== undefined && RESOURCE.has(code)) return new MailsluiceError('STORE_RESOURCE_EXHAUSTED', `${message}; it is tried again`, { cause: err, details });
  if (operation === 'reading') {
    if (code === 'ENOENT') return new MailsluiceError('STORE_NOT_FOUND', `blob file ${path} does not exist`, { cause: err, details });
    return new MailsluiceError('STORE_CORRUPT', message, { cause: err, details, retryable: code !== undefined && TRANSIENT.has(code) });
  }
  // After a failed fsync the kernel may have dropped the dirty pages: the batch must be
  // treated as lost, which is what STORE_WRITE_FAILED tells the caller (nothing is deleted).
  return new MailsluiceError('STORE_WRITE_FAILED', message, { cause: err, details });
}
