/**
 * The secret store's failures → catalogue codes: reading (the store or its key) is
 * `SECRETS_UNREADABLE`, writing `SECRETS_WRITE_FAILED`; the sentence names the file and the
 * system's error code, never a value or the key.
 */
import { MailsluiceError } from '../../core/errors/index.js';

/** What went wrong, in the sentence's words: the errno code, or the error's message. */
function why(err: unknown): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code) return code;
  return err instanceof Error ? err.message : String(err);
}

/** A failure to read `what` (the store's file or its key). */
export function unreadable(what: string, err: unknown): MailsluiceError {
  return new MailsluiceError('SECRETS_UNREADABLE', `cannot read the secret store's ${what}: ${why(err)}`, { cause: err });
}

/** A value that does not decrypt: a wrong key or a tampered file (GCM's tag refused it). */
export function undecryptable(name: string, file: string): MailsluiceError {
  return new MailsluiceError('SECRETS_UNREADABLE', `secret ${JSON.stringify(name)} in ${file} does not decrypt under the configured key (secretsKey): a wrong key, or the file was altered`, { details: { reason: 'undecryptable' } });
}

/** A failure to store into `file`. */
export function unwritable(file: string, err: unknown): MailsluiceError {
  if (err instanceof MailsluiceError) return new MailsluiceError('SECRETS_WRITE_FAILED', `cannot write the secret store ${file}: ${err.message}`, { cause: err });
  return new MailsluiceError('SECRETS_WRITE_FAILED', `cannot write the secret store ${file}: ${why(err)}`, { cause: err });
}
