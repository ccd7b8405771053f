/**
 * The escrow parts' failures as catalogue codes: every way a set of parts cannot rebuild a key
 * (unreadable, not a part, damaged, too few, of different keys, the library refusing the shares,
 * a key that is not the one the parts name) is `KEY_PARTS_INVALID`, not retryable, the sentence
 * naming the files. A part file in the way of a split is `CONFIG_INVALID` (as a key file in the
 * way of `keys generate`); other write failures pass through as Node's errors.
 */
import { MailsluiceError } from '../../core/errors/index.js';

/** A set of parts that does not rebuild a key. */
export function partsInvalid(message: string, cause?: unknown): MailsluiceError {
  return new MailsluiceError('KEY_PARTS_INVALID', message, { retryable: false, ...(cause === undefined ? {} : { cause }) });
}

/** A part file read that failed, naming it. */
export function partUnreadable(file: string, err: unknown): MailsluiceError {
  return partsInvalid(`${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, err);
}

/** A write of part `file` that failed: an existing file is never overwritten. */
export function partWriteError(file: string, err: unknown): unknown {
  if ((err as NodeJS.ErrnoException).code === 'EEXIST') return new MailsluiceError('CONFIG_INVALID', `${file} exists already: a key part is never overwritten`);
  return err;
}
