import { MailsluiceError } from '../../core/errors/index.js';

/**
 * Maps better-sqlite3 / SQLite errors to the catalogue. SQLite reports a full disk as
 * SQLITE_FULL and I/O trouble as SQLITE_IOERR_*; both mean nothing was committed.
 */
export function mapSqliteError(err: unknown, doing: string): MailsluiceError {
  if (err instanceof MailsluiceError) return err;
  const code = (err as { code?: string }).code ?? '';
  // diskFull: the service pauses and tries again rather than stopping (core/archive/disk-full.ts).
  if (code === 'SQLITE_FULL') return new MailsluiceError('STORE_WRITE_FAILED', `disk full while ${doing}`, { cause: err, details: { diskFull: true } });
  if (code.startsWith('SQLITE_IOERR')) return new MailsluiceError('STORE_WRITE_FAILED', `I/O error (${code}) while ${doing}`, { cause: err });
  if (code === 'SQLITE_READONLY' || code === 'SQLITE_CANTOPEN' || code === 'SQLITE_PERM') {
    return new MailsluiceError('STORE_WRITE_FAILED', `cannot write the archive database (${code}) while ${doing}`, { cause: err });
  }
  if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') return new MailsluiceError('STORE_CORRUPT', `archive database is corrupt (${code}) while ${doing}`, { cause: err });
  return new MailsluiceError('INTERNAL', `database error while ${doing}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
