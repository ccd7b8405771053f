/**
 * A file system failure of the files source as a catalogue code. Reading local files fails in few
 * ways: the path is gone or unreadable (the operator's to fix: `IMPORT_SOURCE_INVALID`), or the
 * process ran out of descriptors or memory (`STORE_RESOURCE_EXHAUSTED`, retryable: the runner
 * tries again). Errors already in the catalogue pass through.
 */
import { MailsluiceError } from '../../core/errors/index.js';

const EXHAUSTED = new Set(['EMFILE', 'ENFILE', 'ENOMEM', 'EAGAIN']);

/** `err`, met while reading `file`, as a catalogue error naming the file. */
export function mapFilesError(err: unknown, file: string): MailsluiceError {
  if (err instanceof MailsluiceError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const errno = typeof code === 'string' ? code : '';
  if (EXHAUSTED.has(errno)) {
    return new MailsluiceError('STORE_RESOURCE_EXHAUSTED', `cannot read ${file}: ${errno} (too many open files or no memory); trying again`, { cause: err });
  }
  const why = errno || String((err as Error)?.message ?? err);
  return new MailsluiceError('IMPORT_SOURCE_INVALID', `cannot read ${file}: ${why}`, { cause: err });
}
